"""Where the helper may post: the callback policy, and an unpinned function under attack.

The browser names the callback URL, and the helper's posts carry the function's signed
headers. On Lambda a loopback listener is the Runtime API, so the attack tests stand one
up on loopback and check that an unpinned function never reaches it unless the local
stack's switch is on. The policy's tests run against the Python and the Node.js helper.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lexstream_runtime import contract

from functions import layout
from local_stack.lambda_runtime import LambdaFunction
from tests.functions.stream_helpers import both_helpers

STAGE_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/Prod"
# Policies as CallbackPolicy's arguments, so that each helper builds its own.
UNPINNED: dict[str, Any] = {}
LOCAL = {"loopback": True}
PINNED = {"pinned": STAGE_URL}


@both_helpers
@pytest.mark.parametrize(
    "endpoint",
    [
        STAGE_URL,
        "https://abc123defg.execute-api.us-east-1.amazonaws.com/Prod/",
        "https://ABC123DEFG.execute-api.us-east-1.amazonaws.com:443/Prod",
        "wss://abc123defg.execute-api.eu-central-1.amazonaws.com/live_2",
        "https://abc123defg.execute-api.cn-north-1.amazonaws.com.cn/Prod",
        "https://abc123defg.execute-api.us-gov-west-1.amazonaws.com/Prod",
    ],
)
def test_an_unpinned_function_posts_to_any_api_gateway_stage(helper, endpoint):
    # Posted to as named; a socket URL (wss) names its https callback URL.
    assert helper.resolve(**UNPINNED, endpoint=endpoint) == (
        endpoint.replace("wss://", "https://"),
        "",
    )


@both_helpers
@pytest.mark.parametrize(
    "endpoint",
    [
        # Loopback: on Lambda, the Runtime API.
        "http://127.0.0.1:9001/2018-06-01/runtime/invocation/x",
        "http://localhost:9001/Prod",
        "http://[::1]:9001/Prod",
        "https://127.0.0.1/Prod",
        "ws://127.0.0.1:8080/Prod",
        # Any https host that is not an API Gateway stage.
        "https://evil.example/Prod",
        "https://169.254.169.254/latest",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com.evil.example/Prod",
        "https://evil.example/abc123defg.execute-api.us-east-1.amazonaws.com/Prod",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com.cn.evil.example/Prod",
        # An API Gateway host, but not a stage URL.
        "https://abc123defg.execute-api.us-east-1.amazonaws.com:8443/Prod",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com/Prod/@connections",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com",
        "https://abc.execute-api.us-east-1.amazonaws.com/Prod",
        "https://abc123defg.execute-api.localhost/Prod",
    ],
)
def test_an_unpinned_function_refuses_loopback_and_hosts_that_are_no_stage(helper, endpoint):
    assert helper.resolve(**UNPINNED, endpoint=endpoint) == ("", "endpoint_not_allowed")


@both_helpers
@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:8080/Prod", "http://localhost:8080/Prod", "http://[::1]/Prod"]
)
def test_the_local_stacks_switch_lets_loopback_through(helper, endpoint):
    assert helper.resolve(**UNPINNED, endpoint=endpoint) == ("", "endpoint_not_allowed")
    assert helper.resolve(**LOCAL, endpoint=endpoint) == (endpoint, "")


@both_helpers
@pytest.mark.parametrize(
    "endpoint",
    [
        "http://localhost.evil.example/Prod",
        "http://127.0.0.1.nip.io/Prod",
        "http://localhost.evil.example:8080/2018-06-01/runtime/invocation/x",
        "https://localhost.evil.example/Prod",
        "https://127.0.0.1.nip.io/Prod",
        "http://[::1].evil.example/Prod",
        "http://127.0.0.2/Prod",
    ],
)
def test_a_host_that_only_starts_like_a_loopback_name_is_refused_even_locally(helper, endpoint):
    for policy in (UNPINNED, LOCAL):
        assert helper.resolve(**policy, endpoint=endpoint)[1] in (
            "endpoint_not_allowed",
            "endpoint_invalid",
        )
        assert helper.resolve(**policy, endpoint=endpoint)[0] == ""


@both_helpers
@pytest.mark.parametrize(
    "endpoint",
    [
        "https://other12345.execute-api.us-east-1.amazonaws.com/Prod",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com/Dev",
        "http://127.0.0.1:8080/Prod",
    ],
)
def test_a_pinned_function_posts_only_to_its_own_url(helper, endpoint):
    for policy in (PINNED, {"pinned": STAGE_URL, "loopback": True}):
        assert helper.resolve(**policy, endpoint=endpoint) == ("", "endpoint_not_allowed")
        assert helper.resolve(**policy, endpoint=STAGE_URL) == (STAGE_URL, "")


@both_helpers
def test_the_execute_api_pattern_needs_the_stage_as_the_only_path_segment(helper):
    assert helper.is_stage_url(STAGE_URL)
    assert not helper.is_stage_url(STAGE_URL + "/extra")
    assert not helper.is_stage_url(STAGE_URL + "?x=1")
    assert not helper.is_stage_url(STAGE_URL.replace("https://", "https://user@"))


# --- An unpinned bot function, run as Lambda runs it, with a loopback listener ---

BOT_SOURCE = """
import boto3
from lexstream_runtime import close_response, open_stream

DYNAMODB = boto3.client("dynamodb")


def handler(event, context):
    with open_stream(event, dynamodb=DYNAMODB) as stream:
        stream.write("The answer.")
    return close_response(event, stream.text)
"""


class Listener:
    """A loopback HTTP server that records every request, as the Runtime API would see it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length),
                    }
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.stop()


@pytest.fixture
def bot_function(
    tmp_path: Path, dynamodb_local: str
) -> Iterator[Callable[[str], tuple[LambdaFunction, list[str]]]]:
    """`bot_function(local_switch)` → (an unpinned bot fulfillment using the helper, the
    lines it prints). `local_switch` is its LEXSTREAM_LOCAL_LOOPBACK_CALLBACKS ("" off)."""
    source = tmp_path / "bot.py"
    source.write_text(BOT_SOURCE)
    made: list[LambdaFunction] = []

    def make(local_switch: str) -> tuple[LambdaFunction, list[str]]:
        printed: list[str] = []
        function = LambdaFunction(
            f"bot-{len(made)}",
            "bot.handler",
            {"bot.py": source, **layout.runtime_files()},
            {
                "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local,
                contract.ENV_LOCAL_LOOPBACK_CALLBACKS: local_switch,
            },
            output=printed.append,
        )
        made.append(function)
        return function, printed

    yield make
    for function in made:
        function.close()


def turn_towards(event, dynamodb, connection_table: str, endpoint: str) -> dict[str, Any]:
    """A Lex turn whose browser names `endpoint`, for a session with a live-looking row."""
    turn = event("lexv2-fulfillment-streaming")
    dynamodb.put_item(
        TableName=connection_table,
        Item={
            contract.SESSION_ID: {"S": turn["sessionId"]},
            contract.CONNECTION_ID: {"S": "Victim="},
            contract.TTL: {"N": str(contract.connection_ttl(0) + 2_000_000_000)},
        },
    )
    turn["sessionState"]["sessionAttributes"] = {
        contract.SESSION_ATTR_ENDPOINT: endpoint,
        contract.SESSION_ATTR_TABLE: connection_table,
    }
    return turn


def json_lines(printed: list[str], name: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in printed if line.startswith("{"))
    return [line for line in lines if line.get("event") == name]


def test_an_unpinned_function_never_posts_its_signed_headers_to_a_loopback_listener(
    bot_function, listener, event, dynamodb, connection_table
):
    runtime_api_shape = f"http://127.0.0.1:{listener.port}/2018-06-01/runtime/invocation/x"
    bot, printed = bot_function("")

    for _ in range(2):
        response = bot.invoke(turn_towards(event, dynamodb, connection_table, runtime_api_shape))
        assert response["messages"][0]["content"] == "The answer."

    assert listener.requests == []
    assert [line["stopReason"] for line in json_lines(printed, "stream_opened")] == [
        "endpoint_not_allowed"
    ] * 2
    # One warning per cold start, however many turns follow.
    [warning] = json_lines(printed, "callback_url_unpinned")
    assert warning["level"] == "WARNING"
    assert contract.ENV_CALLBACK_URL in warning["message"]


def test_with_the_local_stacks_switch_the_same_function_does_post_to_loopback(
    bot_function, listener, event, dynamodb, connection_table
):
    # The control for the test above: the listener does see the post when it is allowed.
    endpoint = f"http://127.0.0.1:{listener.port}/2018-06-01/runtime/invocation/x"
    bot, _ = bot_function("1")

    bot.invoke(turn_towards(event, dynamodb, connection_table, endpoint))

    assert [r["path"] for r in listener.requests] == [
        "/2018-06-01/runtime/invocation/x/@connections/Victim%3D"
    ]
    assert "Authorization" in listener.requests[0]["headers"]
    assert listener.requests[0]["body"] == b"The answer."


@pytest.mark.parametrize("helper_language", ["node"])
@pytest.mark.parametrize("local_switch", ["", "1"])
def test_the_node_helper_posts_to_a_loopback_listener_only_with_the_local_switch(
    make_helper, listener, event, dynamodb, connection_table, capsys, local_switch
):
    # The two tests above, for the Node.js helper: unpinned in a process of its own.
    endpoint = f"http://127.0.0.1:{listener.port}/2018-06-01/runtime/invocation/x"
    node = make_helper(
        **{contract.ENV_CALLBACK_URL: "", contract.ENV_LOCAL_LOOPBACK_CALLBACKS: local_switch}
    )
    capsys.readouterr()

    for _ in range(2):
        with node.open(turn_towards(event, dynamodb, connection_table, endpoint)) as stream:
            stream.write("The answer.")
        assert stream.text == "The answer."

    printed = capsys.readouterr().out.splitlines()
    [warning] = json_lines(printed, "callback_url_unpinned")
    assert warning["level"] == "WARNING"
    if local_switch:
        assert [r["path"] for r in listener.requests] == [
            "/2018-06-01/runtime/invocation/x/@connections/Victim%3D"
        ] * 2
        # Header names are case-insensitive; Node.js sends them in lower case.
        assert "authorization" in {name.lower() for name in listener.requests[0]["headers"]}
    else:
        assert listener.requests == []
        opened = json_lines(printed, "stream_opened")
        assert [line["stopReason"] for line in opened] == ["endpoint_not_allowed"] * 2
