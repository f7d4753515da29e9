"""Who may hold a session's stream: $connect's ownership rules, with real sockets.

Every test connects through the local gateway (SigV4-presigned as the stock Lex Web UI
presigns in `iam` mode) to our $connect function on DynamoDB Local; $connect asks that
same gateway's management API whether a connection is live, as deployed.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from lexstream_runtime import contract
from lexstream_runtime.logs import identity_tag
from lexstream_runtime.sessions import PENDING_SECONDS
from lexstream_runtime.streaming import open_stream

from local_stack.gateway import LocalGateway
from local_stack.identity import LocalCredentials
from tests.conftest import WebSocketClient
from tests.functions.conftest import UNREACHABLE_CALLBACK_URL
from tests.functions.waiting import eventually
from tests.stock_web_ui import stock_connect_url, stock_session_attributes, stock_session_id

MODES = [contract.AUTH_NONE, contract.AUTH_IAM]
REGION = "us-east-1"


class Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"refused with {status}")
        self.status = status


class Browser:
    """One page of the stock client: its credentials (iam) and its sockets, if admitted."""

    opened: list[WebSocketClient] = []  # every socket any page opened, closed after each test

    def __init__(self, gateway: LocalGateway, credentials: LocalCredentials | None) -> None:
        self.gateway = gateway
        self.credentials = credentials

    @classmethod
    def new(cls, gateway: LocalGateway) -> Browser:
        iam = gateway.auth_mode == contract.AUTH_IAM
        return cls(gateway, gateway.identity_pool.issue() if iam else None)

    def new_tab(self) -> Browser:
        """Another page of the same browser: the same identity (iam), a socket of its own."""
        return Browser(self.gateway, self.credentials)

    def connect(self, session_id: str) -> WebSocketClient:
        url = stock_connect_url(self.gateway.websocket_url, session_id, self.credentials, REGION)
        try:
            socket = WebSocketClient(url)
        except ConnectionError as error:
            raise Refused(int(re.findall(r"\d+", str(error))[-1])) from None
        Browser.opened.append(socket)
        return socket

    def status(self, session_id: str) -> int:
        """101 when the connect is admitted (the socket stays open), else the refusal."""
        try:
            self.connect(session_id)
        except Refused as refused:
            return refused.status
        return 101


@pytest.fixture(autouse=True)
def _close_sockets():
    yield
    while Browser.opened:
        Browser.opened.pop().close()


def decisions(output: str) -> list[dict[str, Any]]:
    lines = (json.loads(raw) for raw in output.splitlines() if raw.startswith("{"))
    return [line for line in lines if line.get("route") == contract.ROUTE_CONNECT]


@pytest.fixture
def row(connection_item: Callable[[str], dict | None]) -> Callable[[str], dict[str, str] | None]:
    """`row(session_id)` → {"connection": id, "owner": identity or None} or None."""

    def read(session_id: str) -> dict[str, str] | None:
        item = connection_item(session_id)
        if item is None:
            return None
        owner = item.get(contract.OWNER_IDENTITY, {}).get("S")
        return {"connection": item[contract.CONNECTION_ID]["S"], "owner": owner}

    return read


@pytest.fixture
def age_row(dynamodb: Any, connection_table: str) -> Callable[[str, float], None]:
    """`age_row(session_id, seconds)`: make the row look registered `seconds` ago."""

    def age(session_id: str, seconds: float) -> None:
        dynamodb.update_item(
            TableName=connection_table,
            Key={contract.SESSION_ID: {"S": session_id}},
            UpdateExpression="SET #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": contract.TTL},
            ExpressionAttributeValues={
                ":ttl": {"N": str(contract.connection_ttl(time.time() - seconds))}
            },
        )

    return age


@pytest.fixture
def put_row(dynamodb: Any, connection_table: str) -> Callable[[str, str, int], None]:
    """`put_row(session_id, connection_id, ttl)`: a row as another $connect wrote it."""

    def put(session_id: str, connection_id: str, ttl: int) -> None:
        dynamodb.put_item(
            TableName=connection_table,
            Item={
                contract.SESSION_ID: {"S": session_id},
                contract.CONNECTION_ID: {"S": connection_id},
                contract.TTL: {"N": str(ttl)},
            },
        )

    return put


def only_connection(gateway: LocalGateway) -> str:
    assert eventually(lambda: len(gateway.open_connection_ids()) == 1)
    [connection] = gateway.open_connection_ids()
    return connection


@pytest.mark.parametrize("auth", MODES)
def test_the_stock_clients_connect_is_admitted_and_its_next_typed_turn_streams(
    serve_routes, event, connection_table, dynamodb, row, auth
):
    gateway, _ = serve_routes(auth=auth)
    session_id = stock_session_id()
    socket = Browser.new(gateway).connect(session_id)

    assert row(session_id)["connection"] == only_connection(gateway)
    turn = event("lexv2-fulfillment-streaming")
    turn["sessionId"] = session_id
    # As the stock client sets them: a ws:// endpoint stays ws://.
    turn["sessionState"]["sessionAttributes"] = stock_session_attributes(
        gateway.websocket_url, connection_table
    )
    with open_stream(turn, dynamodb=dynamodb) as stream:
        assert stream.streaming
        stream.write("Streamed ")
        stream.write("to the stock client.")
    assert socket.wait_for(lambda c: c.text == "Streamed to the stock client.")


@pytest.mark.parametrize("auth", MODES)
def test_another_connection_cannot_take_over_a_live_session_and_nothing_is_written(
    serve_routes, row, capsys, auth
):
    gateway, _ = serve_routes(auth=auth)
    session_id = stock_session_id()
    owner = Browser.new(gateway)
    owner.connect(session_id)
    before = row(session_id)
    capsys.readouterr()

    # Another user (another identity in iam mode; anyone at all in none mode).
    assert Browser.new(gateway).status(session_id) == 403

    assert row(session_id) == before
    [refusal] = decisions(capsys.readouterr().out)
    assert (refusal["status"], refusal["reason"]) == (403, "session_in_use")
    assert refusal["previousConnectionId"] == before["connection"]


def test_in_none_mode_a_second_tab_cannot_take_a_live_session_either(serve_routes, row):
    gateway, _ = serve_routes(auth=contract.AUTH_NONE)
    session_id = stock_session_id()
    first = Browser.new(gateway)
    first.connect(session_id)
    before = row(session_id)

    assert first.new_tab().status(session_id) == 403
    assert row(session_id) == before


def test_in_iam_mode_the_same_identity_replaces_its_own_row_from_a_new_tab(serve_routes, row):
    gateway, _ = serve_routes(auth=contract.AUTH_IAM)
    session_id = stock_session_id()
    old_tab = Browser.new(gateway)
    old_tab.connect(session_id)
    old_connection = only_connection(gateway)

    new_tab = old_tab.new_tab()
    new_tab.connect(session_id)

    assert eventually(lambda: len(gateway.open_connection_ids()) == 2)
    [new_connection] = set(gateway.open_connection_ids()) - {old_connection}
    assert row(session_id) == {
        "connection": new_connection,
        "owner": old_tab.credentials.identity_id,
    }


def test_an_identity_shaped_session_id_can_be_registered_only_by_that_identity(
    serve_routes, row, capsys
):
    gateway, _ = serve_routes(auth=contract.AUTH_IAM)
    owner, other = Browser.new(gateway), Browser.new(gateway)
    identity = owner.credentials.identity_id

    assert other.status(identity) == 403
    assert row(identity) is None
    assert [d["reason"] for d in decisions(capsys.readouterr().out)] == [
        "identity_session_of_another"
    ]
    owner.connect(identity)
    assert row(identity)["owner"] == identity
    # Whoever holds it, a session named for an identity stays that identity's.
    assert other.status(identity) == 403
    assert row(identity)["owner"] == identity


@pytest.mark.parametrize("auth", MODES)
def test_a_session_whose_connection_is_gone_can_be_taken_over(
    serve_routes, row, age_row, capsys, auth
):
    # No $disconnect: the row outlives its socket, as when API Gateway never runs it.
    gateway, _ = serve_routes(auth=auth, with_disconnect=False)
    session_id = stock_session_id()
    gone = Browser.new(gateway).connect(session_id)
    gone_connection = row(session_id)["connection"]
    gone.close()
    assert eventually(lambda: gateway.open_connection_ids() == [])
    age_row(session_id, PENDING_SECONDS + 5)
    capsys.readouterr()

    successor = Browser.new(gateway)
    successor.connect(session_id)

    assert row(session_id)["connection"] == only_connection(gateway)
    [decision] = decisions(capsys.readouterr().out)
    assert (decision["status"], decision["reason"]) == (200, "took_over_gone")
    assert decision["previousConnectionId"] == gone_connection


@pytest.mark.parametrize("auth", MODES)
def test_a_live_session_stays_protected_after_its_pending_window(serve_routes, row, age_row, auth):
    gateway, _ = serve_routes(auth=auth)
    session_id = stock_session_id()
    Browser.new(gateway).connect(session_id)
    age_row(session_id, PENDING_SECONDS + 5)
    before = row(session_id)

    # Old enough that only the management API's answer (200: live) protects it.
    assert Browser.new(gateway).status(session_id) == 403
    assert row(session_id) == before


def test_a_row_within_its_pending_window_counts_as_live_until_the_window_ends(
    serve_routes, put_row, row, age_row
):
    gateway, _ = serve_routes(auth=contract.AUTH_NONE)
    session_id = stock_session_id()
    # A $connect that wrote its row a moment ago: API Gateway answers 410 for its
    # connection until that $connect returns, so 410 cannot mean gone yet.
    put_row(session_id, "StillConnecting=", contract.connection_ttl(time.time()))
    assert Browser.new(gateway).status(session_id) == 403
    assert row(session_id)["connection"] == "StillConnecting="

    age_row(session_id, PENDING_SECONDS + 1)
    Browser.new(gateway).connect(session_id)
    assert row(session_id)["connection"] == only_connection(gateway)


def test_an_expired_row_is_taken_over_without_asking_the_management_api(
    make_function, route_environment, event, put_row, row
):
    # The management API cannot be reached: only the expired TTL can free the session.
    connect = make_function("connect", route_environment(callback_url=UNREACHABLE_CALLBACK_URL))
    request = event("websocket-connect-none")
    session_id = request["queryStringParameters"][contract.CONNECT_QUERY_PARAMETER]
    put_row(session_id, "ExpiredLongAgo=", int(time.time()) - 1)

    assert connect.invoke(request)["statusCode"] == 200
    assert row(session_id)["connection"] == request["requestContext"]["connectionId"]


def test_connect_answers_500_and_writes_nothing_when_liveness_cannot_be_told(
    make_function, route_environment, event, put_row, row, capsys
):
    connect = make_function("connect", route_environment(callback_url=UNREACHABLE_CALLBACK_URL))
    request = event("websocket-connect-none")
    session_id = request["queryStringParameters"][contract.CONNECT_QUERY_PARAMETER]
    put_row(session_id, "MaybeLive=", contract.connection_ttl(time.time() - 600))
    capsys.readouterr()

    response = connect.invoke(request)

    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"message": "Internal error"}
    assert row(session_id)["connection"] == "MaybeLive="
    [decision] = decisions(capsys.readouterr().out)
    assert (decision["reason"], decision["error"]) == (
        "table_unavailable",
        "EndpointConnectionError",
    )


@pytest.mark.parametrize("auth", MODES)
def test_connects_racing_for_one_free_session_leave_exactly_one_owner_and_one_row(
    serve_routes, row, connection_items, auth
):
    gateway, _ = serve_routes(auth=auth)
    session_id = stock_session_id()
    browsers = [Browser.new(gateway) for _ in range(6)]
    start = threading.Barrier(len(browsers))
    statuses: list[int] = []
    lock = threading.Lock()

    def race(browser: Browser) -> None:
        start.wait()
        status = browser.status(session_id)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=race, args=(b,)) for b in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(statuses) == [101] + [403] * (len(browsers) - 1)
    assert len(connection_items()) == 1
    assert row(session_id)["connection"] == only_connection(gateway)


def test_identity_ids_never_reach_the_connect_logs_in_clear(serve_routes, capsys):
    gateway, _ = serve_routes(auth=contract.AUTH_IAM)
    owner, other = Browser.new(gateway), Browser.new(gateway)
    identity = owner.credentials.identity_id
    owner.connect(identity)
    other.status(identity)

    output = capsys.readouterr().out
    lines = decisions(output)
    assert [line["status"] for line in lines] == [200, 403]
    assert identity not in output
    assert other.credentials.identity_id not in output
    assert lines[0]["sessionId"] == lines[0]["identity"] == identity_tag(identity)
    assert lines[1]["identity"] == identity_tag(other.credentials.identity_id)
