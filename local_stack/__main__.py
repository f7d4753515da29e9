"""`python -m local_stack`: run the whole streaming path locally and print the URL to open."""

from __future__ import annotations

import argparse
import logging
import math
import re
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from lexstream_runtime import contract

from . import signals
from .lambda_runtime import kill_every_instance
from .stack import SESSION_ID_KINDS, LocalStack, StackError, StackSettings
from .terminal import Terminal

DEFAULT_PORT = 8080


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one `error:` line naming the flag, then exit 2.

    argparse prints its usage block first; a bad flag deserves only the one line that
    says what to change.
    """

    def error(self, message: str) -> NoReturn:
        # "argument --port: must be ..." → "--port must be ..."
        message = re.sub(r"^argument (\S+?): ", r"\1 ", message)
        if "must be" not in message:
            message += f"; {self.prog} --help lists the flags"
        self.exit(2, f"error: {message}\n")

    def flag_of(self, setting: str) -> str:
        """The flag that sets StackSettings field `setting` (itself if none does)."""
        for action in self._actions:
            if action.dest == setting and action.option_strings:
                return action.option_strings[0]
        return setting


def whole_number(text: str) -> int:
    """argparse type: an int, with a message that says so."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None


def number(text: str) -> float:
    """argparse type: a finite float, with a message that says so."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number (got {text!r})")
    return value


def milliseconds(text: str) -> float:
    """argparse type: milliseconds, 0 or more, as seconds (the flag's unit is checked
    here, so that the message names milliseconds)."""
    value = number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"must be a number of milliseconds, 0 or more (got {text!r})"
        )
    return value / 1000


def one_of(choices: Sequence[str]) -> Callable[[str], str]:
    """argparse type: one of `choices`, with a message that lists them."""

    def choose(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"must be one of {', '.join(choices)} (got {text!r})")
        return text

    return choose


def build_parser() -> OneLineParser:
    """The flags of `scripts/local`; each dest is the StackSettings field it sets."""
    parser = OneLineParser(
        prog="scripts/local",
        description=(
            "Run lexstream's streaming path on this machine: WebSocket gateway, route "
            "functions, DynamoDB, a Lex runtime, a model and a chat page, all on 127.0.0.1."
        ),
    )
    parser.add_argument(
        "--port",
        type=whole_number,
        default=DEFAULT_PORT,
        help="port to serve on (default 8080); 0 = any free port",
    )
    parser.add_argument(
        "--auth",
        dest="auth_mode",
        type=one_of(contract.AUTH_MODES),
        metavar="|".join(contract.AUTH_MODES),
        help="how $connect is authorized (default: Pulumi.yaml's authMode)",
    )
    parser.add_argument(
        "--session-ids",
        type=one_of(SESSION_ID_KINDS),
        metavar="|".join(SESSION_ID_KINDS),
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
        type=number,
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
    parser.add_argument("--quota-limit", type=whole_number, help="requests per quota period")
    parser.add_argument(
        "--quota-period",
        type=one_of(contract.QUOTA_PERIODS),
        metavar="|".join(contract.QUOTA_PERIODS),
        help="quota period",
    )
    parser.add_argument(
        "--quota-per-identity-limit",
        type=whole_number,
        help="connects one identity may make per quota period (with --auth iam)",
    )
    parser.add_argument(
        "--quota-per-source-limit",
        type=whole_number,
        help="connects one source address (IPv6: /64) may make per quota period",
    )
    parser.add_argument(
        "--callback-latency-ms",
        dest="callback_latency_s",
        type=milliseconds,
        default=0.0,
        help="delay added to every post_to_connection, in milliseconds (default 0)",
    )
    parser.add_argument(
        "--web-ui",
        metavar="DIR",
        help="serve your own built Lex Web UI from DIR (e.g. aws-lex-web-ui/dist) instead "
        "of the chat page, with a loader config generated for this stack",
    )
    parser.add_argument(
        "--allow-origin",
        dest="allow_origins",
        metavar="URL",
        action="append",
        default=[],
        help="also accept pages from this exact origin (e.g. http://127.0.0.1:5173, a page "
        "that embeds the Web UI); repeatable. Default: the stack's own origin only",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print every post and the functions' own log lines too, not only one line per "
        "connect, turn and disconnect",
    )
    return parser


def parse_arguments(
    argv: list[str] | None = None, parser: OneLineParser | None = None
) -> tuple[StackSettings, bool]:
    """Command-line flags → (StackSettings, verbose); unset flags keep Pulumi.yaml defaults."""
    arguments = (parser or build_parser()).parse_args(argv)
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
        quota_per_identity_limit=arguments.quota_per_identity_limit,
        quota_per_source_limit=arguments.quota_per_source_limit,
        callback_latency_s=arguments.callback_latency_s,
        session_ids=arguments.session_ids,
        web_ui=arguments.web_ui,
        allow_origins=tuple(arguments.allow_origins),
    ), arguments.verbose


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    settings, verbose = parse_arguments(argv, parser)
    # Only the stack's own concise lines; the servers' and SDK's chatter stays quiet.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s  %(message)s", datefmt="%H:%M:%S"
    )
    logging.getLogger("lexstream").setLevel(logging.INFO)
    with signals.stop_signals_to_main_thread():
        try:
            stack = LocalStack(settings)
            stack.activity.subscribe(Terminal(verbose))
            signals.start_or_stop_signal(stack.start)
        except StackError as error:
            print(f"error: {error.describe(parser.flag_of)}", file=sys.stderr)
            return 2
        except signals.StoppedWhileStarting as stopped:
            # Stopped while starting: stop what started, quietly.
            signals.exit_after(signals.STOP_LIMIT_SECONDS, 1, kill_every_instance)
            stack.stop()
            return 130 if stopped.signal_number == signal.SIGINT else 0
        print(
            f"\n  lexstream local stack is running ({stack.settings.auth_mode} auth).\n"
            f"  Open  {stack.page_url}\n"
            + "".join(f"  Also  {url}\n" for url in stack.other_page_urls)
            + f"  WebSocket  {stack.websocket_url}\n"
            f"  Callback   {stack.callback_url}\n"
            "  Press Ctrl+C to stop.\n",
            flush=True,
        )
        signals.wait_for_stop_signal()
        # Every part gets its share of the limit; past it, what is left is ended.
        signals.exit_after(signals.STOP_LIMIT_SECONDS, 1, kill_every_instance)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
