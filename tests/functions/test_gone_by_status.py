"""A connection that API Gateway's management API answers with HTTP 410 is gone, whatever
error code comes with the 410: a connect may then take over its session.

410 is what the management API answers for a connection that is not open, and HTTP's own
meaning of the status. The error code is only a label: botocore reads it from the
`x-amzn-ErrorType` header or the body, and falls back to the status number itself ("410")
when a proxy or an answer without that header leaves it out. Any other refusal is not
proof that the connection is gone, so the claim fails with that error instead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.exceptions
import pytest
from lexstream_runtime import aws, contract
from lexstream_runtime.sessions import PENDING_SECONDS, Claim, SessionRegistry

NOW = 1_800_000_000.0


class ManagementStub:
    """A loopback management API whose GetConnection gives one fixed answer, recorded."""

    def __init__(self) -> None:
        self.answer: tuple[int, dict[str, str], bytes] = (200, {}, b"{}")
        self.asked: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.asked.append(self.path)
                status, headers, body = stub.answer
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/local"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def management() -> Iterator[ManagementStub]:
    stub = ManagementStub()
    yield stub
    stub.stop()


@pytest.fixture
def claim_later(
    dynamodb: Any, connection_table: str, management: ManagementStub
) -> Callable[[], Claim]:
    """Registers "conn-A" for the session, then returns a claim for "conn-B" made once
    conn-A's row is past its pending time, so only GetConnection can tell."""
    client = aws.route_management_client(management.url)

    def registry(at: float) -> SessionRegistry:
        return SessionRegistry(dynamodb, connection_table, client, clock=lambda: at)

    assert registry(NOW).claim("lex-web-ui-1a2b", "conn-A", None) == Claim(True, "registered")
    return lambda: registry(NOW + PENDING_SECONDS + 5).claim("lex-web-ui-1a2b", "conn-B", None)


def gone_answer(headers: dict[str, str], body: dict[str, str]) -> tuple[int, dict, bytes]:
    return 410, headers, json.dumps(body).encode()


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"x-amzn-ErrorType": "GoneException"}, {"message": "Gone"}),
        # No error type at all: botocore's error code is then the status, "410".
        ({}, {"message": "Gone"}),
        ({"x-amzn-ErrorType": "ConnectionClosedException"}, {"message": "Closed"}),
    ],
)
def test_a_410_from_get_connection_lets_the_next_connect_take_over_whatever_its_code(
    claim_later, management, dynamodb, connection_table, headers, body
):
    management.answer = gone_answer(headers, body)

    claim = claim_later()

    assert claim == Claim(True, "took_over_gone", "conn-A")
    assert management.asked == ["/local/@connections/conn-A"]
    row = dynamodb.get_item(
        TableName=connection_table,
        Key={contract.SESSION_ID: {"S": "lex-web-ui-1a2b"}},
        ConsistentRead=True,
    )["Item"]
    assert row[contract.CONNECTION_ID] == {"S": "conn-B"}


def test_botocore_reads_a_410_without_an_error_type_as_code_410(management):
    management.answer = gone_answer({}, {"message": "Gone"})
    client = aws.route_management_client(management.url)

    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client.get_connection(ConnectionId="conn-A")

    assert (aws.error_code(raised.value), aws.http_status(raised.value)) == ("410", 410)


def test_a_connection_that_get_connection_finds_keeps_its_session(claim_later, management):
    management.answer = (200, {}, json.dumps({"connectedAt": "2027-01-15T08:00:00Z"}).encode())

    assert claim_later() == Claim(False, "session_in_use", "conn-A")


@pytest.mark.parametrize(
    ("status", "code"), [(403, "ForbiddenException"), (400, "GoneException_Not"), (500, "")]
)
def test_any_other_refusal_of_get_connection_fails_the_claim_with_that_error(
    claim_later, management, status, code
):
    headers = {"x-amzn-ErrorType": code} if code else {}
    management.answer = (status, headers, b'{"message": "no"}')

    with pytest.raises(botocore.exceptions.ClientError) as raised:
        claim_later()

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
