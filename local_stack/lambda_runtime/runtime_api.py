"""The Lambda Runtime API (2018-06-01), served on loopback to every function instance.

A runtime interface client finds the API at `AWS_LAMBDA_RUNTIME_API=host:port` and asks
for the fixed paths `/2018-06-01/runtime/invocation/next`, `…/{id}/response`,
`…/{id}/error` and `/2018-06-01/runtime/init/error`; nothing in a request names the
instance. So each instance gets its own listening port (a `Channel`), all served by one
aiohttp application on one event loop thread.

Written here because no maintained Python library serves the Runtime API: AWS's own
emulator is a Go binary that runs one function per container.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import secrets
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API = "/2018-06-01/runtime"
# Lambda serves events with exactly this type: awslambdaric hands a handler the raw
# JSON string, not the parsed event, when a charset follows it.
EVENT_CONTENT_TYPE = "application/json"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


@dataclass
class Invocation:
    """One event on its way to an instance, and the outcome it comes back with."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    cognito_identity: str | None = None
    trace_id: str = field(default_factory=lambda: _trace_id())
    # Resolves to (kind, body, error type): kind is "response" or "error".
    done: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)

    def headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": EVENT_CONTENT_TYPE,
            "Lambda-Runtime-Aws-Request-Id": self.request_id,
            "Lambda-Runtime-Deadline-Ms": str(self.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Lambda-Runtime-Trace-Id": self.trace_id,
        }
        if self.cognito_identity is not None:
            headers["Lambda-Runtime-Cognito-Identity"] = self.cognito_identity
        return headers


def _trace_id() -> str:
    return (
        f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};"
        f"Parent={secrets.token_hex(8)};Sampled=0"
    )


class Channel:
    """One instance's Runtime API: its port, its next event, what it reported."""

    def __init__(self, api: RuntimeApi, port: int, site: web.BaseSite) -> None:
        self.api = api
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.site = site
        self.queue: asyncio.Queue[Invocation] = asyncio.Queue()
        # Set when the instance first asks for an event: its init is over.
        self.ready = threading.Event()
        self.ready_at: float | None = None
        self.init_error: tuple[str, bytes] | None = None
        self.current: Invocation | None = None

    def send(self, invocation: Invocation) -> None:
        """Hand the instance its next event (from any thread)."""
        self.current = invocation
        self.api.loop.call_soon_threadsafe(self.queue.put_nowait, invocation)

    def close(self) -> None:
        """Stop listening (from any thread); waits at most a second."""
        future = asyncio.run_coroutine_threadsafe(self.api.remove(self), self.api.loop)
        try:
            future.result(timeout=1.0)
        except (concurrent.futures.TimeoutError, RuntimeError):
            future.cancel()


class RuntimeApi:
    """The event loop thread and application every channel is served by."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._channels: dict[int, Channel] = {}
        self._runner: web.AppRunner | None = None
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="lambda-runtime-api", daemon=True
        )
        self._thread.start()
        started.wait()

    def _run(self, started: threading.Event) -> None:
        # Signals are the main thread's to handle (see local_stack.signals).
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        asyncio.set_event_loop(self.loop)
        app = web.Application(client_max_size=6 * 1024 * 1024 + 1024)
        app.router.add_get(f"{API}/invocation/next", self._next)
        app.router.add_post(f"{API}/invocation/{{request_id}}/response", self._response)
        app.router.add_post(f"{API}/invocation/{{request_id}}/error", self._error)
        app.router.add_post(f"{API}/init/error", self._init_error)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self.loop.run_until_complete(self._runner.setup())
        started.set()
        self.loop.run_forever()

    def open_channel(self) -> Channel:
        """A new instance's Runtime API, listening on a free loopback port."""
        return asyncio.run_coroutine_threadsafe(self._open(), self.loop).result(timeout=10)

    async def _open(self) -> Channel:
        assert self._runner is not None
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, listener)
        await site.start()
        channel = Channel(self, listener.getsockname()[1], site)
        self._channels[channel.port] = channel
        return channel

    async def remove(self, channel: Channel) -> None:
        self._channels.pop(channel.port, None)
        await channel.site.stop()

    def _channel(self, request: web.Request) -> Channel:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        channel = self._channels.get(sockname[1]) if sockname else None
        if channel is None:
            raise web.HTTPNotFound(text="no such instance")
        return channel

    async def _next(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if not channel.ready.is_set():
            channel.ready_at = time.monotonic()
            channel.ready.set()
        invocation = await channel.queue.get()
        return web.Response(body=invocation.payload, headers=invocation.headers())

    async def _response(self, request: web.Request) -> web.Response:
        return await self._finish(request, "response")

    async def _error(self, request: web.Request) -> web.Response:
        return await self._finish(request, "error")

    async def _finish(self, request: web.Request, kind: str) -> web.Response:
        channel = self._channel(request)
        body = await request.read()
        invocation = channel.current
        if invocation is None or invocation.request_id != request.match_info["request_id"]:
            return _api_error(400, "InvalidRequestID", "not the request being handled")
        error_type = _error_type(body, request.headers.get(ERROR_TYPE_HEADER))
        if not invocation.done.done():
            invocation.done.set_result((kind, body, error_type))
        return web.json_response({"status": "OK"}, status=202)

    async def _init_error(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        body = await request.read()
        error_type = _error_type(body, request.headers.get(ERROR_TYPE_HEADER))
        channel.init_error = (error_type, body)
        return web.json_response({"status": "OK"}, status=202)


def _error_type(body: bytes, header: str | None) -> str:
    """The error's type: the body's `errorType`, else the header's, else Unhandled."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("errorType"):
        return str(parsed["errorType"])
    return header or "Unhandled"


def _api_error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"errorType": error_type, "errorMessage": message}, status=status)


_shared: RuntimeApi | None = None
_shared_lock = threading.Lock()


def shared_api() -> RuntimeApi:
    """The one Runtime API server of this process, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RuntimeApi()
        return _shared
