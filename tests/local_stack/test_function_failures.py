"""A function's failure reaches its caller the way the real service reports it: Lex
answers DependencyFailedException, the gateway refuses the $connect handshake."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from lexstream_runtime import contract

from local_stack.lambda_runtime import LambdaFunction
from local_stack.lex_runtime import LexRuntime
from tests.conftest import WebSocketClient

# A fulfillment or $connect handler that fails as the event's text (or query) asks.
HANDLER = textwrap.dedent(
    """
    import os
    import time

    if os.environ.get("FAIL_INIT"):
        raise RuntimeError("cannot start")


    def handler(event, context):
        how = event.get("inputTranscript") or (event.get("queryStringParameters") or {}).get("how")
        if how == "slow":
            time.sleep(30)
        if how == "crash":
            os._exit(1)
        if "requestContext" in event:
            return {"statusCode": 200}
        return {
            "sessionState": {
                "dialogAction": {"type": "Close"},
                "intent": {"name": "FallbackIntent", "state": "Fulfilled"},
            },
            "messages": [{"contentType": "PlainText", "content": "fine"}],
        }
    """
)
LIMIT_S = 1.0


@pytest.fixture(scope="module")
def handler_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("failing") / "failing.py"
    path.write_text(HANDLER)
    return path


@pytest.fixture
def function(handler_file: Path) -> Iterator[Any]:
    made: list[LambdaFunction] = []

    def make(**environment: str) -> LambdaFunction:
        made.append(
            LambdaFunction(
                "failing",
                "failing.handler",
                {"failing.py": handler_file},
                environment,
                timeout_s=LIMIT_S,
                output=lambda line, request_id: None,
            )
        )
        return made[-1]

    yield make
    for each in made:
        each.close()


def lex_turn(make_gateway: Any, function: LambdaFunction, text: str) -> dict[str, Any]:
    lex = LexRuntime(function.invoke)
    gateway = make_gateway({}, extra_routes=lex.routes())
    client = boto3.client(
        "lexv2-runtime",
        endpoint_url=gateway.base_url,
        region_name="us-east-1",
        aws_access_key_id="failures",
        aws_secret_access_key="failures",
    )
    try:
        return client.recognize_text(
            botId=lex.bot_id,
            botAliasId=lex.bot_alias_id,
            localeId=lex.locale_id,
            sessionId="lex-web-ui-0f0f",
            text=text,
        )
    finally:
        lex.close()


@pytest.mark.parametrize("how", ["slow", "crash"])
def test_lex_answers_dependency_failed_when_the_fulfillment_times_out_or_crashes(
    make_gateway, function, how
):
    fulfillment = function()
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        lex_turn(make_gateway, fulfillment, how)

    error = raised.value.response["Error"]
    assert error["Code"] == "DependencyFailedException"
    assert error["Message"] == (
        "Invalid Lambda Response: Received error response from Lambda: Unhandled"
    )
    # The next turn gets a new instance, which answers.
    assert lex_turn(make_gateway, fulfillment, "hello")["messages"][0]["content"] == "fine"
    assert fulfillment.instances_started == 2


def test_lex_answers_dependency_failed_when_the_fulfillment_cannot_start(make_gateway, function):
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        lex_turn(make_gateway, function(FAIL_INIT="1"), "hello")
    assert raised.value.response["Error"]["Code"] == "DependencyFailedException"


@pytest.mark.parametrize(
    ("how", "environment"), [("slow", {}), ("crash", {}), ("fine", {"FAIL_INIT": "1"})]
)
def test_the_gateway_refuses_the_handshake_when_connect_fails(
    make_gateway, function, how, environment
):
    connect = function(**environment)
    gateway = make_gateway({contract.ROUTE_CONNECT: connect.invoke})

    with pytest.raises(ConnectionError, match="HTTP 500"):
        WebSocketClient(f"{gateway.websocket_url}?how={how}")
    assert gateway.open_connection_ids() == []
