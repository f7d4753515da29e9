"""`python -m local_stack`: run the whole streaming path locally and print the URL to open."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any, TextIO

from functions.lexstream_runtime import contract

from .stack import SESSION_ID_KINDS, LocalStack, StackError, StackSettings

DEFAULT_PORT = 8080


def parse_arguments(argv: list[str] | None = None) -> tuple[StackSettings, bool]:
    """Command-line flags → (StackSettings, verbose); unset flags keep Pulumi.yaml defaults."""
    parser = argparse.ArgumentParser(
        prog="scripts/local",
        description=(
            "Run lexstream's streaming path on this machine: WebSocket gateway, route "
            "functions, DynamoDB, a Lex runtime, a model and a chat page, all on 127.0.0.1."
        ),
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to serve on (default 8080); 0 = any free port",
    )
    parser.add_argument(
        "--auth",
        dest="auth_mode",
        choices=contract.AUTH_MODES,
        help="how $connect is authorized (default: Pulumi.yaml's authMode)",
    )
    parser.add_argument(
        "--session-ids",
        choices=SESSION_ID_KINDS,
        default="stock",
        help=(
            "the chat page's session ids: stock (lex-web-ui- + 4 hex digits per page load, "
            "as the Lex Web UI release does; default) or identity (its Cognito identity id)"
        ),
    )
    parser.add_argument("--stage", help="API stage name (default: Pulumi.yaml's stageName)")
    parser.add_argument("--region", default="us-east-1", help="AWS region (default us-east-1)")
    parser.add_argument(
        "--token-rate",
        dest="tokens_per_second",
        type=float,
        default=40.0,
        help="tokens per second of the built-in model (default 40)",
    )
    parser.add_argument(
        "--dynamodb-endpoint",
        help="use this DynamoDB (e.g. http://127.0.0.1:8000 for DynamoDB Local) "
        "instead of the embedded one",
    )
    parser.add_argument(
        "--bedrock",
        dest="use_bedrock",
        action="store_true",
        help="answer with real Amazon Bedrock, using your AWS credentials",
    )
    parser.add_argument("--model-id", help="Bedrock model id (default: Pulumi.yaml's)")
    parser.add_argument(
        "--handler",
        help="your own fulfillment, path/to/file.py:function, instead of the Bedrock example",
    )
    parser.add_argument("--quota-limit", type=int, help="requests per quota period")
    parser.add_argument("--quota-period", choices=contract.QUOTA_PERIODS, help="quota period")
    parser.add_argument(
        "--callback-latency-ms",
        type=float,
        default=0.0,
        help="delay added to every post_to_connection, in milliseconds (default 0)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also show the functions' own JSON log lines"
    )
    arguments = parser.parse_args(argv)
    return StackSettings(
        port=arguments.port,
        auth_mode=arguments.auth_mode,
        stage=arguments.stage,
        region=arguments.region,
        tokens_per_second=arguments.tokens_per_second,
        dynamodb_endpoint=arguments.dynamodb_endpoint,
        use_bedrock=arguments.use_bedrock,
        model_id=arguments.model_id,
        handler=arguments.handler,
        quota_limit=arguments.quota_limit,
        quota_period=arguments.quota_period,
        callback_latency_s=arguments.callback_latency_ms / 1000,
        session_ids=arguments.session_ids,
    ), arguments.verbose


class FunctionOutput:
    """Sends what the functions print (one JSON line per decision) to a debug logger.

    On Lambda that output goes to CloudWatch; in the terminal it would drown the concise
    lines, so it shows only with --verbose. Output from other threads passes through.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.logger = logging.getLogger("lexstream.local.functions")

    def write(self, text: str) -> int:
        if threading.current_thread().name.startswith("lambda"):
            for line in text.splitlines():
                if line.strip():
                    self.logger.debug("%s", line)
            return len(text)
        return self.stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def main(argv: list[str] | None = None) -> int:
    settings, verbose = parse_arguments(argv)
    # Only the stack's own concise lines; the servers' and SDK's chatter stays quiet.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s  %(message)s", datefmt="%H:%M:%S"
    )
    logging.getLogger("lexstream").setLevel(logging.INFO)
    logging.getLogger("lexstream.local.functions").setLevel(
        logging.DEBUG if verbose else logging.WARNING
    )
    sys.stdout = FunctionOutput(sys.stdout)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stack = LocalStack(settings).start()
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        print(
            f"\n  lexstream local stack is running ({stack.settings.auth_mode} auth).\n"
            f"  Open  {stack.page_url}\n"
            f"  WebSocket  {stack.websocket_url}\n"
            f"  Callback   {stack.callback_url}\n"
            "  Press Ctrl+C to stop.\n",
            flush=True,
        )
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
