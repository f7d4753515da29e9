"""One client cannot spend the shared quota for everyone.

A connection's client messages count only up to its budget, after which they are refused
without counting and the connection is closed; in `iam` mode an identity's connects per
period are capped too. Proved with real sockets through the local gateway (SigV4-presigned
as the stock Lex Web UI presigns), the route functions and DynamoDB Local, and with
concurrent invocations for exactness.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from lexstream_runtime import contract
from lexstream_runtime.quota import CONNECTION_MESSAGE_BUDGET, is_period_key

from local_stack.gateway import LocalGateway
from tests.conftest import WebSocketClient
from tests.functions.waiting import eventually
from tests.stock_web_ui import STOCK_SESSION_PREFIX, stock_connect_url

REGION = "us-east-1"
JUNK = '{"action": "hello"}'
# Stock-shaped session ids, but never two alike: a collision would be refused as a
# session in use, which is not what these tests are about.
_SESSION_NUMBERS = itertools.count()


def connect(gateway: LocalGateway, credentials: Any, opened: list[WebSocketClient]) -> int:
    """101 when the connect is admitted (the socket is kept in `opened`), else the status."""
    session_id = f"{STOCK_SESSION_PREFIX}{next(_SESSION_NUMBERS) % 0x10000:04x}"
    url = stock_connect_url(gateway.websocket_url, session_id, credentials, REGION)
    try:
        socket = WebSocketClient(url)
    except ConnectionError as refused:
        return int(str(refused).rsplit(" ", 1)[-1])
    opened.append(socket)
    return 101


@pytest.fixture
def opened() -> Any:
    sockets: list[WebSocketClient] = []
    yield sockets
    for socket in sockets:
        socket.close()


def route_lines(output: str, route: str) -> list[dict[str, Any]]:
    lines = (json.loads(raw) for raw in output.splitlines() if raw.startswith("{"))
    return [line for line in lines if line.get("route") == route]


def test_a_connect_storm_and_a_junk_flood_from_one_identity_leave_the_rest_of_the_quota(
    serve_routes, quota_count, opened, capsys
):
    limit, per_identity, storm = 40, 4, 12
    gateway, _ = serve_routes(auth=contract.AUTH_IAM, limit=limit, per_identity_limit=per_identity)
    attacker = gateway.identity_pool.issue()

    with ThreadPoolExecutor(max_workers=storm) as pool:
        statuses = list(pool.map(lambda _: connect(gateway, attacker, opened), range(storm)))
    assert sorted(statuses) == [101] * per_identity + [429] * (storm - per_identity)
    assert quota_count() == per_identity  # refused storm connects never reached the counter

    for socket in opened:
        for _ in range(CONNECTION_MESSAGE_BUDGET + 5):
            with contextlib.suppress(Exception):  # the socket closes under the flood
                socket.send(JUNK)
    assert all(socket.closed.wait(10) for socket in opened), "the flood left a socket open"
    spent = per_identity * (1 + CONNECTION_MESSAGE_BUDGET)
    # A message within the budget may still be counting when a later one closes the socket.
    assert eventually(lambda: quota_count() == spent)

    # Everyone else still has exactly what is left of the period's quota.
    others = [connect(gateway, gateway.identity_pool.issue(), opened) for _ in range(limit - spent)]
    assert others == [101] * (limit - spent)
    assert connect(gateway, gateway.identity_pool.issue(), opened) == 429
    assert quota_count() == limit

    reasons = [line["reason"] for line in route_lines(capsys.readouterr().out, "$default")]
    assert reasons.count("connection_budget_spent") >= per_identity
    assert set(reasons) <= {"unknown_action", "connection_budget_spent"}


def test_concurrent_messages_on_one_connection_count_exactly_its_budget(
    routes, event, quota_count, capsys
):
    default = routes()[contract.ROUTE_DEFAULT]
    default.invoke(None)  # cold init first, so every message races on the counters only
    attempts = 30

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        statuses = list(
            pool.map(lambda _: default.invoke(event("websocket-message-default")), range(attempts))
        )

    codes = [response["statusCode"] for response in statuses]
    assert codes.count(400) == CONNECTION_MESSAGE_BUDGET  # counted, then judged as junk
    assert codes.count(429) == attempts - CONNECTION_MESSAGE_BUDGET
    assert quota_count() == CONNECTION_MESSAGE_BUDGET
    refused = [
        line
        for line in route_lines(capsys.readouterr().out, "$default")
        if line["reason"] == "connection_budget_spent"
    ]
    assert len(refused) == attempts - CONNECTION_MESSAGE_BUDGET
    # Nothing listens at the test's callback URL, so each close attempt names its failure.
    assert all(line["closed"] != "closed" for line in refused)


def test_a_connection_over_its_budget_is_closed_by_the_management_api(
    serve_routes, quota_count, open_socket
):
    gateway, _ = serve_routes()
    socket = open_socket(f"{gateway.websocket_url}?{contract.CONNECT_QUERY_PARAMETER}=tab-1")

    for _ in range(CONNECTION_MESSAGE_BUDGET):
        socket.send(JUNK)
    with contextlib.suppress(Exception):
        socket.send(JUNK)

    assert socket.closed.wait(10)
    assert socket.close_code == 1000  # DeleteConnection closes normally
    assert socket.frames == []  # nothing is ever answered into the chat
    assert eventually(lambda: quota_count() == 1 + CONNECTION_MESSAGE_BUDGET)


def test_concurrent_connects_of_one_identity_admit_exactly_its_limit(
    routes, event, quota_count, connection_items
):
    per_identity, attempts = 5, 24
    connect = routes(auth=contract.AUTH_IAM, per_identity_limit=per_identity)[
        contract.ROUTE_CONNECT
    ]

    def attempt(number: int) -> int:
        request = event("websocket-connect-iam")
        request["requestContext"]["connectionId"] = f"conn{number:04d}="
        request["queryStringParameters"] = {contract.CONNECT_QUERY_PARAMETER: f"tab-{number}"}
        return connect.invoke(request)["statusCode"]

    connect.invoke(None)
    with ThreadPoolExecutor(max_workers=attempts) as pool:
        codes = list(pool.map(attempt, range(attempts)))

    assert codes.count(200) == per_identity
    assert codes.count(429) == attempts - per_identity
    assert len(connection_items()) == per_identity
    assert quota_count() == per_identity


def test_identity_counters_never_store_the_identity_id(routes, event, dynamodb, quota_table: str):
    connect = routes(auth=contract.AUTH_IAM)[contract.ROUTE_CONNECT]
    request = event("websocket-connect-iam")
    identity = request["requestContext"]["identity"]["cognitoIdentityId"]

    assert connect.invoke(request)["statusCode"] == 200

    keys = [
        item[contract.QUOTA_PERIOD_KEY]["S"]
        for item in dynamodb.scan(TableName=quota_table, ConsistentRead=True)["Items"]
    ]
    assert len(keys) == 2  # the period's shared counter and the identity's own
    assert sum(is_period_key(key) for key in keys) == 1
    assert all(identity not in key for key in keys)


@pytest.mark.parametrize("auth", [contract.AUTH_NONE, contract.AUTH_IAM])
def test_the_per_identity_limit_counts_only_identities(
    routes, event, dynamodb, quota_table: str, auth: str
):
    connect = routes(auth=auth, per_identity_limit=1)[contract.ROUTE_CONNECT]

    def request(n: int) -> dict[str, Any]:
        return {
            **event(f"websocket-connect-{auth}"),
            "queryStringParameters": {contract.CONNECT_QUERY_PARAMETER: f"tab-{n}"},
        }

    codes = [connect.invoke(request(n))["statusCode"] for n in range(3)]

    # Without auth there is no identity to count: only the shared quota applies.
    assert codes == ([200, 200, 200] if auth == contract.AUTH_NONE else [200, 429, 429])
