"""A Bedrock runtime on loopback: `converse` and `converse_stream`, no account needed.

boto3's `bedrock-runtime` client talks to it unchanged through `endpoint_url` (or the
standard `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` variable) with any fake credentials:

    with LocalBedrock(tokens_per_second=40.0) as bedrock:
        client = boto3.client("bedrock-runtime", endpoint_url=bedrock.endpoint_url)
        reply = client.converse_stream(modelId="any.model", messages=[...])
        for event in reply["stream"]:
            ...

Routes, as AWS serves them:
- `POST /model/{modelId}/converse`: one JSON answer, after the time the whole answer
  would take to generate.
- `POST /model/{modelId}/converse-stream`: `application/vnd.amazon.eventstream` frames
  messageStart, contentBlockDelta x N, contentBlockStop, messageStop, metadata, paced at
  `tokens_per_second`, so streaming behaves as it does with a real model.

The answer is `answer(request)` when given, otherwise a built-in Markdown answer about the
question; the local stack uses that built-in as its account-free model. `maxTokens` is
honoured (stopReason `max_tokens`). Faults are injected with `http_error` (an HTTP error
before any output, e.g. "ThrottlingException") and `stream_error_after` (an exception event
such as modelStreamErrorException after that many tokens). Both are plain attributes and
may be changed while the server runs. Every request is recorded in `requests`.

The server runs on its own thread and event loop and binds 127.0.0.1 on a free port. The
event-stream framing is in `eventstream`, the built-in answer and tokens in
`model_answers`.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import signals
from .eventstream import EVENTSTREAM_CONTENT_TYPE, event_message, exception_message
from .model_answers import ModelRequest, default_answer, question_topic, split_tokens

log = logging.getLogger("lexstream.local")

# The answer helpers stay importable from here, beside the server that uses them.
__all__ = ["LocalBedrock", "ModelRequest", "default_answer", "question_topic", "split_tokens"]

# Modelled errors, with the HTTP status Bedrock answers them with (botocore maps the
# x-amzn-ErrorType header back to the exception class).
HTTP_ERRORS = {
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ValidationException": 400,
    "ThrottlingException": 429,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
# Exception events that can end a converse_stream after it started.
STREAM_ERRORS = (
    "modelStreamErrorException",
    "internalServerException",
    "throttlingException",
    "validationException",
    "serviceUnavailableException",
)


def _request_text(blocks: Any) -> str:
    if not isinstance(blocks, list):
        return ""
    return "\n".join(b["text"] for b in blocks if isinstance(b, dict) and "text" in b)


def _model_request(model_id: str, operation: str, body: dict[str, Any]) -> ModelRequest:
    messages = body.get("messages") or []
    user_messages = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    question = _request_text(user_messages[-1].get("content")) if user_messages else ""
    inference = body.get("inferenceConfig") or {}
    max_tokens = inference.get("maxTokens") if isinstance(inference, dict) else None
    return ModelRequest(
        model_id=model_id,
        operation=operation,
        question=question,
        system=_request_text(body.get("system")),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        body=body,
    )


class LocalBedrock:
    """A loopback Bedrock runtime for boto3's `bedrock-runtime` client.

    Args:
        answer: `answer(request: ModelRequest) -> str` gives the model's full answer.
            Default: `default_answer`, a Markdown overview of the question's topic.
        tokens_per_second: generation speed; tokens are whitespace-led words. Default 50.0.
        first_token_delay_s: time before the first token (model "thinking"). Default 0.0.
        http_error: when set, every request fails before any output with this modelled
            error, e.g. "ThrottlingException" (one of HTTP_ERRORS). Default None.
        stream_error_after: when set, converse_stream sends this many tokens and then the
            exception event `stream_error`. Default None.
        stream_error: the exception event for `stream_error_after` (one of STREAM_ERRORS).
            Default "modelStreamErrorException".
        host: the loopback address to bind. Default "127.0.0.1".
    """

    def __init__(
        self,
        answer: Callable[[ModelRequest], str] | None = None,
        tokens_per_second: float = 50.0,
        first_token_delay_s: float = 0.0,
        http_error: str | None = None,
        stream_error_after: int | None = None,
        stream_error: str = "modelStreamErrorException",
        host: str = "127.0.0.1",
    ) -> None:
        if tokens_per_second <= 0:
            raise ValueError(f"tokens_per_second must be > 0, got {tokens_per_second!r}")
        if first_token_delay_s < 0:
            raise ValueError(f"first_token_delay_s must be >= 0, got {first_token_delay_s!r}")
        if http_error is not None and http_error not in HTTP_ERRORS:
            raise ValueError(
                f"unknown http_error {http_error!r}; expected one of {', '.join(HTTP_ERRORS)}"
            )
        if stream_error not in STREAM_ERRORS:
            raise ValueError(
                f"unknown stream_error {stream_error!r}; expected one of {', '.join(STREAM_ERRORS)}"
            )
        if stream_error_after is not None and stream_error_after < 0:
            raise ValueError(f"stream_error_after must be >= 0, got {stream_error_after!r}")
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"host must be a loopback address, got {host!r}")
        self.answer = answer or default_answer
        self.tokens_per_second = tokens_per_second
        self.first_token_delay_s = first_token_delay_s
        self.http_error = http_error
        self.stream_error_after = stream_error_after
        self.stream_error = stream_error
        self.host = host
        self.requests: list[ModelRequest] = []
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    @property
    def endpoint_url(self) -> str:
        """The `endpoint_url` for boto3, e.g. http://127.0.0.1:41234."""
        if self.port is None:
            raise RuntimeError("LocalBedrock is not started; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> LocalBedrock:
        """Bind a free port and serve on a background thread; returns self."""
        if self._thread is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            app = web.Application(middlewares=[_modelled_errors])
            app.router.add_post("/model/{model_id}/converse", self._converse)
            app.router.add_post("/model/{model_id}/converse-stream", self._converse_stream)
            # A short shutdown grace: a stopped stub must not wait on half-read streams.
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(serve())
            except BaseException as error:  # surfaced to start()'s caller below
                failure.append(error)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="local-bedrock", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            loop.close()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving and release the port. Safe to call twice."""
        if self._thread is None or self._loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        except (concurrent.futures.TimeoutError, RuntimeError):
            log.warning("the local model's server did not shut down within 5 s")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        # A loop still running (its thread stuck) cannot be closed; it ends with the
        # process, its thread being a daemon.
        if not self._loop.is_running():
            self._loop.close()
        self._thread = None
        self._loop = None
        self._runner = None

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Streams still sleeping towards their next token end here, not at loop close.
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def __enter__(self) -> LocalBedrock:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- routes ---

    async def _read_request(self, request: web.Request, operation: str) -> ModelRequest:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            raise _ModelledError("ValidationException", "The request body must be a JSON object")
        model_request = _model_request(request.match_info["model_id"], operation, body)
        self.requests.append(model_request)
        if self.http_error is not None:
            raise _ModelledError(self.http_error, f"Injected {self.http_error}")
        return model_request

    def _tokens(self, model_request: ModelRequest) -> tuple[list[str], str]:
        tokens = split_tokens(self.answer(model_request))
        limit = model_request.max_tokens
        if limit is not None and len(tokens) > limit:
            return tokens[:limit], "max_tokens"
        return tokens, "end_turn"

    def _usage(self, model_request: ModelRequest, output_tokens: int) -> dict[str, int]:
        input_tokens = len(split_tokens(model_request.system + " " + model_request.question))
        return {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        }

    async def _converse(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        model_request = await self._read_request(request, "converse")
        tokens, stop_reason = self._tokens(model_request)
        await asyncio.sleep(self.first_token_delay_s + len(tokens) / self.tokens_per_second)
        body = {
            "output": {"message": {"role": "assistant", "content": [{"text": "".join(tokens)}]}},
            "stopReason": stop_reason,
            "usage": self._usage(model_request, len(tokens)),
            "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
        }
        return web.json_response(body, headers={"x-amzn-RequestId": str(uuid.uuid4())})

    async def _converse_stream(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        model_request = await self._read_request(request, "converse-stream")
        tokens, stop_reason = self._tokens(model_request)
        response = web.StreamResponse(
            headers={
                "Content-Type": EVENTSTREAM_CONTENT_TYPE,
                "x-amzn-RequestId": str(uuid.uuid4()),
            }
        )
        await response.prepare(request)
        try:
            await response.write(event_message("messageStart", {"role": "assistant"}))
            # Tokens follow an absolute schedule, so slow writes do not stretch the answer.
            first_at = time.monotonic() + self.first_token_delay_s
            failing = self.stream_error_after is not None
            for index, token in enumerate(tokens[: self.stream_error_after]):
                await asyncio.sleep(
                    max(0.0, first_at + index / self.tokens_per_second - time.monotonic())
                )
                delta = {"delta": {"text": token}, "contentBlockIndex": 0}
                await response.write(event_message("contentBlockDelta", delta))
            if failing:
                await response.write(exception_message(self.stream_error, "Injected fault"))
                return response
            await response.write(event_message("contentBlockStop", {"contentBlockIndex": 0}))
            await response.write(event_message("messageStop", {"stopReason": stop_reason}))
            metadata = {
                "usage": self._usage(model_request, len(tokens)),
                "metrics": {"latencyMs": int((time.monotonic() - started) * 1000)},
            }
            await response.write(event_message("metadata", metadata))
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            # The caller stopped reading (e.g. its turn budget ran out): nothing to finish.
            pass
        return response


@web.middleware
async def _modelled_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except _ModelledError as error:
        return error.response()


class _ModelledError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        return web.json_response(
            {"message": self.message},
            status=HTTP_ERRORS[self.code],
            headers={"x-amzn-ErrorType": self.code, "x-amzn-RequestId": str(uuid.uuid4())},
        )


def main() -> None:
    """Serve until interrupted: `python -m local_stack.bedrock --tokens-per-second 30`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens-per-second", type=float, default=50.0)
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    args = parser.parse_args()
    # The stop signals reach the main thread whichever thread the kernel picks.
    with (
        signals.stop_signals_to_main_thread(),
        LocalBedrock(
            tokens_per_second=args.tokens_per_second, first_token_delay_s=args.first_token_delay
        ) as bedrock,
    ):
        print(f"AWS_ENDPOINT_URL_BEDROCK_RUNTIME={bedrock.endpoint_url}", flush=True)
        signals.wait_for_stop_signal()


if __name__ == "__main__":
    main()
