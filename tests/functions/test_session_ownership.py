"""Who may hold a session's stream: $connect's ownership rules, with real sockets.

Every test connects through the local gateway (SigV4-presigned as the stock Lex Web UI
presigns in `iam` mode) to our $connect function on DynamoDB Local; $connect asks that
same gateway's management API whether a connection is live, as deployed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from lexstream_runtime import aws, contract
from lexstream_runtime.logs import identity_tag
from lexstream_runtime.sessions import PENDING_SECONDS, Claim, OwnerKey, SessionRegistry
from lexstream_runtime.streaming import open_stream

from local_stack.gateway import LocalGateway
from local_stack.identity import LocalCredentials
from tests.conftest import WebSocketClient
from tests.functions.conftest import UNREACHABLE_CALLBACK_URL
from tests.functions.waiting import eventually
from tests.stock_web_ui import stock_connect_url, stock_session_attributes, stock_session_id

MODES = [contract.AUTH_NONE, contract.AUTH_IAM]
T = TypeVar("T")
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

    def connect_url(self, session_id: str) -> str:
        """The presigned URL this page opens (valid for an hour, like the stock client's)."""
        return stock_connect_url(self.gateway.websocket_url, session_id, self.credentials, REGION)

    def connect(self, session_id: str, url: str | None = None) -> WebSocketClient:
        url = url or self.connect_url(session_id)
        try:
            socket = WebSocketClient(url)
        except ConnectionError as error:
            raise Refused(int(re.findall(r"\d+", str(error))[-1])) from None
        Browser.opened.append(socket)
        return socket

    def status(self, session_id: str, url: str | None = None) -> int:
        """101 when the connect is admitted (the socket stays open), else the refusal."""
        try:
            self.connect(session_id, url)
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
def owner_digest(dynamodb: Any, quota_table: str) -> Callable[[str], str]:
    """`owner_digest(identity_id)` → what the table stores for that owner: its HMAC-SHA256
    under the stack's key, which the first `iam` connect created in the quota table."""

    def digest(identity_id: str) -> str:
        item = dynamodb.get_item(
            TableName=quota_table,
            Key={contract.QUOTA_PERIOD_KEY: {"S": contract.OWNER_KEY_ITEM}},
            ConsistentRead=True,
        )["Item"]
        key = item[contract.OWNER_KEY_SECRET]["B"]
        return hmac.new(key, identity_id.encode(), hashlib.sha256).hexdigest()

    return digest


def streams_to(
    socket: WebSocketClient, session_id: str, gateway: LocalGateway, event, table, dynamodb
) -> None:
    """A turn for `session_id` streams in full to `socket`, as the stock client sets it up."""
    turn = event("lexv2-fulfillment-streaming")
    turn["sessionId"] = session_id
    turn["sessionState"]["sessionAttributes"] = stock_session_attributes(
        gateway.websocket_url, table
    )
    text = f"Only for {session_id}."
    with open_stream(turn, dynamodb=dynamodb) as stream:
        assert stream.streaming
        stream.write(text)
    assert socket.wait_for(lambda c: c.text == text)


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


def test_the_victims_own_identity_cannot_take_its_live_stock_session_and_the_victim_keeps_streaming(
    serve_routes, row, event, connection_table, dynamodb, capsys
):
    # The attacker holds the victim's identity (an identity id is enough to get its
    # credentials): as that identity it connects with the victim's stock session id.
    gateway, _ = serve_routes(auth=contract.AUTH_IAM)
    session_id = stock_session_id()
    victim = Browser.new(gateway)
    victim_socket = victim.connect(session_id)
    before = row(session_id)
    capsys.readouterr()

    assert victim.new_tab().status(session_id) == 403

    assert row(session_id) == before
    [refusal] = decisions(capsys.readouterr().out)
    assert refusal["reason"] == "session_in_use"
    streams_to(victim_socket, session_id, gateway, event, connection_table, dynamodb)


def test_a_replayed_presigned_connect_url_cannot_take_a_live_stock_session(
    serve_routes, row, event, connection_table, dynamodb
):
    gateway, _ = serve_routes(auth=contract.AUTH_IAM)
    session_id = stock_session_id()
    victim = Browser.new(gateway)
    url = victim.connect_url(session_id)
    victim_socket = victim.connect(session_id, url)
    before = row(session_id)

    # The same URL, within its hour: the gateway admits the signature, $connect refuses.
    assert Browser(gateway, None).status(session_id, url) == 403

    assert row(session_id) == before
    streams_to(victim_socket, session_id, gateway, event, connection_table, dynamodb)


def test_an_identity_whose_id_is_the_session_id_replaces_its_own_live_row_from_a_new_tab(
    serve_routes, row, owner_digest
):
    gateway, _ = serve_routes(auth=contract.AUTH_IAM)
    old_tab = Browser.new(gateway)
    identity = old_tab.credentials.identity_id
    old_tab.connect(identity)
    old_connection = only_connection(gateway)

    old_tab.new_tab().connect(identity)

    assert eventually(lambda: len(gateway.open_connection_ids()) == 2)
    [new_connection] = set(gateway.open_connection_ids()) - {old_connection}
    assert row(identity) == {"connection": new_connection, "owner": owner_digest(identity)}


def test_a_row_written_with_the_raw_owner_id_keeps_working_until_its_ttl(
    serve_routes, row, dynamodb, connection_table, event, owner_digest
):
    # The previous version stored the identity id itself as the owner.
    gateway, _ = serve_routes(auth=contract.AUTH_IAM)
    owner = Browser.new(gateway)
    identity = owner.credentials.identity_id
    old_socket = owner.connect(identity)
    old_connection = only_connection(gateway)
    dynamodb.update_item(
        TableName=connection_table,
        Key={contract.SESSION_ID: {"S": identity}},
        UpdateExpression="SET #owner = :raw",
        ExpressionAttributeNames={"#owner": contract.OWNER_IDENTITY},
        ExpressionAttributeValues={":raw": {"S": identity}},
    )

    # Its session still streams, another identity still cannot take it, and its own
    # identity's new tab still replaces it (the new row then holds the keyed digest).
    streams_to(old_socket, identity, gateway, event, connection_table, dynamodb)
    assert Browser.new(gateway).status(identity) == 403
    owner.new_tab().connect(identity)
    assert eventually(lambda: len(gateway.open_connection_ids()) == 2)
    [new_connection] = set(gateway.open_connection_ids()) - {old_connection}
    assert row(identity) == {"connection": new_connection, "owner": owner_digest(identity)}


def test_the_connection_table_holds_no_identity_id_but_the_session_id_a_client_chose(
    serve_routes, connection_items, owner_digest
):
    gateway, _ = serve_routes(auth=contract.AUTH_IAM)
    stock, patched = Browser.new(gateway), Browser.new(gateway)
    stock.connect(stock_session_id())
    patched.connect(patched.credentials.identity_id)

    rows = connection_items()
    assert len(rows) == 2
    stock_id = stock.credentials.identity_id
    patched_id = patched.credentials.identity_id
    assert stock_id not in json.dumps(rows)
    for item in rows:
        owner = item[contract.OWNER_IDENTITY]["S"]
        assert owner in (owner_digest(stock_id), owner_digest(patched_id))
        # Keyed: not the plain hash that anyone holding a candidate id could compute.
        assert owner not in (
            hashlib.sha256(stock_id.encode()).hexdigest(),
            hashlib.sha256(patched_id.encode()).hexdigest(),
        )
    # The one place an identity id remains is a session id that *is* one: the patched
    # client chose it, and the Lex Web UI's fulfillment looks rows up by it.
    without_session_ids = [
        {k: v for k, v in item.items() if k != contract.SESSION_ID} for item in rows
    ]
    assert patched_id not in json.dumps(without_session_ids)


def test_an_identity_shaped_session_id_can_be_registered_only_by_that_identity(
    serve_routes, row, capsys, owner_digest
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
    assert row(identity)["owner"] == owner_digest(identity)
    # Whoever holds it, a session named for an identity stays that identity's.
    assert other.status(identity) == 403
    assert row(identity)["owner"] == owner_digest(identity)


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


def race(*calls: Callable[[], T]) -> list[T]:
    """Run every call on its own thread, all released at once; their results, in order."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.parametrize("auth", MODES)
@pytest.mark.parametrize("session", ["free", "gone"])
def test_connects_racing_for_one_session_leave_exactly_one_owner_and_one_row(
    serve_routes, row, age_row, connection_items, auth, session
):
    gateway, _ = serve_routes(auth=auth, with_disconnect=False)
    session_id = stock_session_id()
    if session == "gone":  # its socket closed, and no $disconnect removed the row
        Browser.new(gateway).connect(session_id).close()
        assert eventually(lambda: gateway.open_connection_ids() == [])
        age_row(session_id, PENDING_SECONDS + 5)
    browsers = [Browser.new(gateway) for _ in range(6)]

    statuses = race(*(lambda b=b: b.status(session_id) for b in browsers))

    assert sorted(statuses) == [101] + [403] * (len(browsers) - 1)
    assert len(connection_items()) == 1
    assert row(session_id)["connection"] == only_connection(gateway)


class PausingManagement:
    """The gateway's real management API client, with a hook that runs inside the first
    GetConnection, between a claim's liveness check and its conditional write: what
    another connect can do in that moment."""

    def __init__(self, gateway: LocalGateway, during_check: Callable[[], None]) -> None:
        self.client = aws.route_management_client(gateway.callback_url)
        self.during_check = during_check
        self.checks = 0

    def get_connection(self, **request: Any) -> Any:
        self.checks += 1
        if self.checks == 1:
            self.during_check()
        return self.client.get_connection(**request)


@pytest.fixture
def registry(dynamodb, connection_table, quota_table) -> Callable[[Any], SessionRegistry]:
    """`registry(management)` → a SessionRegistry on this test's tables, as $connect has."""
    owner_key = OwnerKey(dynamodb, quota_table)
    return lambda management: SessionRegistry(
        dynamodb, connection_table, management, owner_key=owner_key
    )


@pytest.mark.parametrize("auth", MODES)
def test_two_takeovers_of_a_gone_session_leave_one_owner_and_never_overwrite_the_fresh_row(
    serve_routes, put_row, row, registry, auth
):
    gateway, _ = serve_routes(auth=auth)
    session_id = stock_session_id()
    # Old enough to be judged by the management API, which answers 410: gone.
    put_row(session_id, "GoneLongAgo=", contract.connection_ttl(time.time() - 600))
    both_judged = threading.Barrier(2)
    owners = {
        contract.AUTH_IAM: ["us-east-1:" + str(uuid.uuid4()) for _ in range(2)],
        contract.AUTH_NONE: [None, None],
    }[auth]

    def take_over(connection_id: str, owner: str | None) -> Claim:
        # Both connects have judged the row gone before either writes.
        management = PausingManagement(gateway, lambda: both_judged.wait(30))
        return registry(management).claim(session_id, connection_id, owner)

    first, second = race(
        lambda: take_over("Successor-A=", owners[0]), lambda: take_over("Successor-B=", owners[1])
    )

    claims = {"Successor-A=": first, "Successor-B=": second}
    winners = [c for c, claim in claims.items() if claim.granted]
    assert len(winners) == 1
    [loser] = [claim for claim in claims.values() if not claim.granted]
    assert claims[winners[0]].reason == "took_over_gone"
    # The loser's write was conditional on the gone row, which the winner had replaced;
    # it then found the winner's fresh row, which counts as live, and left it alone.
    assert (loser.reason, loser.previous_connection) == ("session_in_use", winners[0])
    assert row(session_id)["connection"] == winners[0]


@pytest.mark.parametrize("session", ["identity id", "stock id"])
def test_a_retry_round_that_finds_its_own_identitys_row_takes_it_only_for_its_identity_id(
    serve_routes, put_row, row, registry, owner_digest, session
):
    gateway, _ = serve_routes(auth=contract.AUTH_IAM)
    identity = "us-east-1:" + str(uuid.uuid4())
    session_id = identity if session == "identity id" else stock_session_id()
    # A row nobody owns (written in `none` mode), whose connection is gone.
    put_row(session_id, "GoneLongAgo=", contract.connection_ttl(time.time() - 600))

    # While the first tab checks that connection, the same identity's other tab takes
    # the session; the first tab's write then fails on a fresh row of its own identity.
    other_tab = registry(aws.route_management_client(gateway.callback_url))
    management = PausingManagement(
        gateway, lambda: other_tab.claim(session_id, "OtherTab=", identity)
    )
    claim = registry(management).claim(session_id, "FirstTab=", identity)

    if session == "identity id":
        # The row is its own: the next round's free-or-own write replaces it.
        assert (claim.granted, claim.reason) == (True, "registered")
        assert row(session_id) == {"connection": "FirstTab=", "owner": owner_digest(identity)}
    else:
        # A stock id is never replaced by the same identity while live.
        assert (claim.granted, claim.reason) == (False, "session_in_use")
        assert row(session_id) == {"connection": "OtherTab=", "owner": owner_digest(identity)}


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


def test_cold_starts_racing_to_create_the_owner_key_all_use_the_same_key(dynamodb, quota_table):
    identity = "us-east-1:6f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    keys = [OwnerKey(dynamodb, quota_table) for _ in range(8)]

    digests = race(*(lambda key=key: key.digest(identity) for key in keys))

    assert None not in digests
    assert len(set(digests)) == 1


def test_identity_ids_never_reach_the_turn_and_metric_lines_in_clear(
    serve_routes, event, connection_table, dynamodb, capsys
):
    gateway, _ = serve_routes(auth=contract.AUTH_IAM)
    patched = Browser.new(gateway)
    identity = patched.credentials.identity_id
    socket = patched.connect(identity)
    turn = event("lexv2-fulfillment-streaming")
    turn["sessionId"] = identity
    turn["sessionState"]["sessionAttributes"] = stock_session_attributes(
        gateway.websocket_url, connection_table
    )

    with open_stream(turn, dynamodb=dynamodb, metrics_namespace="Lexstream/test") as stream:
        stream.write(f"Answer for {identity}.")
    assert socket.wait_for(lambda c: c.text == f"Answer for {identity}.")

    output = capsys.readouterr().out
    lines = [json.loads(raw) for raw in output.splitlines() if raw.startswith("{")]
    # The runtime's own JSON log lines (botocore's, through logging) have no "event".
    closed = [line for line in lines if line.get("event") == "stream_closed"]
    assert len(closed) == 1
    assert "_aws" in closed[0]  # the metric lines
    assert identity not in output
    assert closed[0]["sessionId"] == identity_tag(identity)
