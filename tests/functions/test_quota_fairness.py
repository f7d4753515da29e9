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
from lexstream_runtime.quota import CONNECTION_MESSAGE_BUDGET

from local_stack.gateway import LocalGateway
from tests.conftest import WebSocketClient
from tests.functions.waiting import eventually
from tests.stock_web_ui import STOCK_SESSION_PREFIX, stock_connect_url

REGION = "us-east-1"
JUNK = '{"action": "hello"}'
# Stock-shaped session ids, but never two alike: a collision would be refused as a
# session in use, which is not what these tests are about.
_SESSION_NUMBERS = itertools.count()


def connect(
    gateway: LocalGateway,
    credentials: Any,
    opened: list[WebSocketClient],
    source: str | None = None,
) -> int:
    """101 when the connect is admitted (the socket is kept in `opened`), else the status.
    `source`: the loopback address to connect from (default 127.0.0.1)."""
    session_id = f"{STOCK_SESSION_PREFIX}{next(_SESSION_NUMBERS) % 0x10000:04x}"
    url = stock_connect_url(gateway.websocket_url, session_id, credentials, REGION)
    try:
        socket = WebSocketClient(url, source=source)
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


def test_the_quota_table_never_stores_the_identity_id_or_the_source_address(
    routes, event, dynamodb, quota_table: str
):
    connect = routes(auth=contract.AUTH_IAM)[contract.ROUTE_CONNECT]
    request = event("websocket-connect-iam")
    identity = request["requestContext"]["identity"]["cognitoIdentityId"]
    address = request["requestContext"]["identity"]["sourceIp"]

    assert connect.invoke(request)["statusCode"] == 200

    items = dynamodb.scan(TableName=quota_table, ConsistentRead=True)["Items"]
    keys = sorted(item[contract.QUOTA_PERIOD_KEY]["S"] for item in items)
    # The period's shared counter, the identity's and the source's own, and the key that
    # the connection table's owners are hashed with.
    assert [key.partition("#")[0] for key in keys] == ["DAY", "IDENTITY", "SECRET", "SOURCE"]
    stored = json.dumps(items, default=str)
    assert identity not in stored
    assert address not in stored


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


def test_identities_minted_on_one_source_stop_at_its_limit_while_another_source_connects(
    serve_routes, quota_count, opened, capsys
):
    # Minting an unauthenticated identity costs nothing (the pool id is public), so the
    # per-identity cap alone does not bound one machine; the source's does.
    limit, per_source, minted = 100, 5, 9
    gateway, _ = serve_routes(auth=contract.AUTH_IAM, limit=limit, per_source_limit=per_source)

    statuses = [connect(gateway, gateway.identity_pool.issue(), opened) for _ in range(minted)]

    assert statuses == [101] * per_source + [429] * (minted - per_source)
    assert quota_count() == per_source  # refused connects never reached the shared counter
    refusals = [line["reason"] for line in route_lines(capsys.readouterr().out, "$connect")]
    assert refusals.count("source_quota_exceeded") == minted - per_source
    # Another address still connects, and so does its own next identity.
    assert connect(gateway, gateway.identity_pool.issue(), opened, source="127.0.0.2") == 101
    assert connect(gateway, gateway.identity_pool.issue(), opened, source="127.0.0.2") == 101


@pytest.mark.parametrize("auth", [contract.AUTH_NONE, contract.AUTH_IAM])
def test_one_source_spends_at_most_its_limit_times_six_of_the_shared_quota(
    serve_routes, quota_count, opened, auth
):
    # Connects and a junk flood on every admitted socket, from fresh identities (iam) or
    # none at all: one source network spends per_source * (1 + message budget).
    limit, per_source = 60, 3
    gateway, _ = serve_routes(auth=auth, limit=limit, per_source_limit=per_source)
    iam = auth == contract.AUTH_IAM

    def new_client() -> Any:
        return gateway.identity_pool.issue() if iam else None

    statuses = [connect(gateway, new_client(), opened) for _ in range(per_source + 3)]
    assert statuses == [101] * per_source + [429] * 3
    for socket in opened:
        for _ in range(CONNECTION_MESSAGE_BUDGET + 5):
            with contextlib.suppress(Exception):  # the socket closes under the flood
                socket.send(JUNK)
    assert all(socket.closed.wait(10) for socket in opened), "the flood left a socket open"

    spent = per_source * (1 + CONNECTION_MESSAGE_BUDGET)
    assert eventually(lambda: quota_count() == spent)
    assert connect(gateway, new_client(), opened, source="127.0.0.3") == 101


def test_ipv6_sources_count_per_64_and_ipv4_per_address(routes, event):
    connect_function = routes(per_source_limit=1)[contract.ROUTE_CONNECT]

    def status(number: int, source_ip: str) -> int:
        request = event("websocket-connect-none")
        request["requestContext"]["connectionId"] = f"Conn{number}="
        request["requestContext"]["identity"]["sourceIp"] = source_ip
        request["queryStringParameters"] = {contract.CONNECT_QUERY_PARAMETER: f"tab-{number}"}
        return connect_function.invoke(request)["statusCode"]

    sources = [
        ("2001:db8:1:2::1", 200),
        ("2001:db8:1:2:ffff:ffff:ffff:fffe", 429),  # the same /64
        ("2001:DB8:1:2::abcd", 429),  # the same /64, spelt otherwise
        ("2001:db8:1:3::1", 200),  # the next /64
        ("198.51.100.1", 200),
        ("198.51.100.2", 200),  # IPv4 counts per address
        ("::ffff:198.51.100.1", 429),  # the same IPv4 address, IPv4-mapped
        (None, 200),  # unreadable addresses share one counter
        ("not an address", 429),
    ]
    assert [status(n, ip) for n, (ip, _) in enumerate(sources)] == [code for _, code in sources]
