"""A whole streaming deployment on loopback, for the fault matrix.

The route functions behind the local gateway, the example Bedrock fulfillment that Lex
would call, the local Bedrock, and DynamoDB Local (optionally behind a proxy that fails
on command). Every fault test reads three things from it: what the browser received
(the streamed frames), what Lex would show (the final message), and what was logged
(the functions' JSON lines).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from lexstream_runtime import contract
from lexstream_runtime.plain_text import markdown_to_plain_text

from local_stack.bedrock import LocalBedrock
from local_stack.gateway import LocalGateway
from local_stack.lambda_runtime import LambdaFunction
from tests.conftest import WebSocketClient, load_event
from tests.faults.dynamodb_faults import FaultyDynamoDB
from tests.functions.waiting import eventually

SESSION = "us-east-1:6f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"  # the fixtures' Lex session id
# The model's whole answer: a Markdown paragraph with multi-byte characters, 80 tokens.
ANSWER = "".join(f"Wort{i} é流 " if i % 9 == 0 else f"word{i} " for i in range(80)) + "**end** ✅"
# The example streams the plain-text rendering of the model's Markdown.
STREAMED_ANSWER = markdown_to_plain_text(ANSWER)
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


@dataclass
class Deployment:
    """One local deployment; the parts a fault test drives and reads."""

    gateway: LocalGateway
    bedrock: LocalBedrock
    example: LambdaFunction
    routes: dict[str, LambdaFunction]
    connection_table: str
    dynamodb: Any
    capsys: pytest.CaptureFixture[str]
    sockets: list[WebSocketClient] = field(default_factory=list)
    _log_lines: list[dict[str, Any]] = field(default_factory=list)

    def connect(self, url: str | None = None) -> WebSocketClient:
        """A browser tab for SESSION (raises ConnectionError with the status if refused)."""
        client = WebSocketClient(url or self.connect_url())
        self.sockets.append(client)
        return client

    def open_connections(self, count: int) -> list[str]:
        """The gateway's open connection ids, once there are `count` of them (the client's
        handshake can complete a moment before the gateway records the socket)."""
        assert eventually(lambda: len(self.gateway.open_connection_ids()) == count)
        return self.gateway.open_connection_ids()

    def connect_url(self) -> str:
        return f"{self.gateway.websocket_url}?{contract.CONNECT_QUERY_PARAMETER}={quote(SESSION)}"

    def lex_event(self, streaming: bool = True) -> dict[str, Any]:
        """The Lex V2 fulfillment event of the next turn, as the Web UI's attributes make it."""
        if not streaming:
            return load_event("lexv2-fulfillment-plain")
        event = load_event("lexv2-fulfillment-streaming")
        event["sessionState"]["sessionAttributes"] = {
            contract.SESSION_ATTR_ENDPOINT: self.gateway.callback_url,
            contract.SESSION_ATTR_TABLE: self.connection_table,
        }
        return event

    def turn(self, streaming: bool = True) -> str:
        """Run one Lex turn through the example; the final message's text."""
        [message] = self.example.invoke(self.lex_event(streaming))["messages"]
        return message["content"]

    def row(self) -> dict[str, Any] | None:
        return self.dynamodb.get_item(
            TableName=self.connection_table,
            Key={contract.SESSION_ID: {"S": SESSION}},
            ConsistentRead=True,
        ).get("Item")

    def logs(self, event: str | None = None) -> list[dict[str, Any]]:
        """Every JSON line the functions wrote so far (only `event` ones when given)."""
        out = self.capsys.readouterr().out
        for line in out.splitlines():
            if line.startswith("{"):
                self._log_lines.append(json.loads(line))
        return [line for line in self._log_lines if event is None or line.get("event") == event]


@pytest.fixture
def deploy(
    # The tables first: set up before the gateways, they are deleted only after every
    # gateway has stopped and run its last $disconnect.
    connection_table: str,
    route_environment: dict[str, str],
    dynamodb: Any,
    make_function: Callable[..., LambdaFunction],
    make_bedrock: Callable[..., LocalBedrock],
    make_gateway: Callable[..., LocalGateway],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> Iterator[Callable[..., Deployment]]:
    """`deploy(...)` → a started Deployment; every socket is closed at the end.

    Args:
        tokens_per_second: the model's speed. Default 2000 (ANSWER in a blink); the
            tests that act mid-stream slow it down.
        timeout_s: the example's Lambda timeout. Default 30.
        route_dynamodb: DynamoDB endpoint of the route functions. Default DynamoDB Local.
        example_dynamodb: DynamoDB endpoint of the example. Default DynamoDB Local.
        gateway: more LocalGateway options (auth_mode, identity_pool, ...).
        bedrock: more LocalBedrock options (stream_error_after, ...).
        turn_budget_s: the example's turn budget, scaled down from its 25 s (its module
            constant, set by a wrapper module in the archive). Default: unchanged.
    """
    made: list[Deployment] = []

    def make(
        tokens_per_second: float = 2000.0,
        timeout_s: float = 30.0,
        route_dynamodb: str | None = None,
        example_dynamodb: str | None = None,
        gateway: dict[str, Any] | None = None,
        bedrock: dict[str, Any] | None = None,
        turn_budget_s: float | None = None,
    ) -> Deployment:
        model_options = {"answer": lambda request: ANSWER, **(bedrock or {})}
        model = make_bedrock(tokens_per_second=tokens_per_second, **model_options)
        route_gateway = make_gateway({}, **(gateway or {}))
        route_env = dict(route_environment)
        route_env[contract.ENV_AUTH_MODE] = route_gateway.auth_mode
        route_env[contract.ENV_CALLBACK_URL] = route_gateway.callback_url
        if route_dynamodb:
            route_env["AWS_ENDPOINT_URL_DYNAMODB"] = route_dynamodb
        routes = {
            route: make_function(name, route_env)
            for route, name in (
                (contract.ROUTE_CONNECT, "connect"),
                (contract.ROUTE_DISCONNECT, "disconnect"),
                (contract.ROUTE_DEFAULT, "default"),
            )
        }
        example_env = {
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": model.endpoint_url,
            contract.ENV_MODEL_ID: MODEL,
            contract.ENV_MAX_TOKENS: "1000",
        }
        if example_dynamodb:
            example_env["AWS_ENDPOINT_URL_DYNAMODB"] = example_dynamodb
        if turn_budget_s is None:
            example = make_function("bedrock_fulfillment", example_env, timeout_s=timeout_s)
        else:
            example = make_function(
                "bedrock_fulfillment",
                example_env,
                timeout_s=timeout_s,
                handler="scaled_budget.handler",
                extra_files={"scaled_budget.py": _scaled_budget(tmp_path, turn_budget_s)},
            )
        route_gateway.serve_routes(routes)
        deployment = Deployment(
            gateway=route_gateway,
            bedrock=model,
            example=example,
            routes=routes,
            connection_table=connection_table,
            dynamodb=dynamodb,
            capsys=capsys,
        )
        made.append(deployment)
        return deployment

    yield make
    for deployment in made:
        for client in deployment.sockets:
            client.close()


def _scaled_budget(folder: Path, seconds: float) -> Path:
    """A handler module that runs the example with its turn budget set to `seconds`."""
    module = folder / "scaled_budget.py"
    module.write_text(
        "import bedrock_fulfillment\n\n"
        f"bedrock_fulfillment.TURN_BUDGET_S = {seconds!r}\n"
        "handler = bedrock_fulfillment.handler\n"
    )
    return module


@pytest.fixture
def route_environment(connection_table: str, quota_table: str) -> dict[str, str]:
    """What the component sets on the route functions, for this test's tables."""
    return {
        contract.ENV_CONNECTION_TABLE: connection_table,
        contract.ENV_QUOTA_TABLE: quota_table,
        contract.ENV_QUOTA_LIMIT: "1000",
        contract.ENV_QUOTA_PERIOD: contract.QUOTA_PERIODS[0],
        contract.ENV_QUOTA_PER_IDENTITY_LIMIT: "50",
        # Every test socket comes from 127.0.0.1.
        contract.ENV_QUOTA_PER_SOURCE_LIMIT: "1000000",
        contract.ENV_AUTH_MODE: contract.AUTH_NONE,
    }


@pytest.fixture
def faulty_dynamodb(dynamodb_local: str) -> Iterator[FaultyDynamoDB]:
    """DynamoDB Local behind a proxy that fails the operations it is told to."""
    with FaultyDynamoDB(dynamodb_local) as proxy:
        yield proxy
