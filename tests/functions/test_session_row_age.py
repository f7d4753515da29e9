"""How old a session's row is decides whether API Gateway is asked about its connection:
for its first 30 s a row counts as live without asking (docs/security.md), from its TTL
on it counts as gone without asking, and a row whose TTL is not a whole number (as the
public reference writes them, which DynamoDB never expires) is judged by API Gateway."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from lexstream_runtime import aws, contract
from lexstream_runtime.sessions import Claim, OwnerKey, SessionRegistry

from tests.functions.test_gone_by_status import ManagementStub, gone_answer, management  # noqa: F401

NOW = 1_800_000_000
SESSION = "lex-web-ui-9f3c"
LIVE = (200, {}, json.dumps({"connectedAt": "2027-01-15T08:00:00Z"}).encode())


@pytest.fixture
def registry(
    dynamodb: Any,
    connection_table: str,
    quota_table: str,
    management: ManagementStub,  # noqa: F811
) -> Callable[[float], SessionRegistry]:
    """`registry(at)` → the connect function's registry with the clock stopped at `at`."""
    client = aws.route_management_client(management.url)
    owner_key = OwnerKey(dynamodb, quota_table)
    return lambda at: SessionRegistry(
        dynamodb, connection_table, client, owner_key=owner_key, clock=lambda: at
    )


IN_USE = Claim(False, "session_in_use", "conn-A")
TAKEN_OVER = Claim(True, "took_over_gone", "conn-A")


@pytest.fixture
def row(dynamodb: Any, connection_table: str) -> Callable[..., None]:
    """`row({attribute: value})` writes SESSION's row by hand, as another writer might."""

    def write(attributes: dict[str, dict[str, str]]) -> None:
        item = {contract.SESSION_ID: {"S": SESSION}, **attributes}
        dynamodb.put_item(TableName=connection_table, Item=item)

    return write


@pytest.mark.parametrize(
    ("age", "asked", "claim"),
    [(0, False, IN_USE), (29, False, IN_USE), (30, True, TAKEN_OVER), (31, True, TAKEN_OVER)],
)
def test_a_row_counts_as_live_without_asking_for_its_first_30_seconds(
    registry,
    management,  # noqa: F811
    age,
    asked,
    claim,
):
    registry(NOW).claim(SESSION, "conn-A", None)
    management.answer = gone_answer({"x-amzn-ErrorType": "GoneException"}, {"message": "Gone"})

    assert registry(NOW + age).claim(SESSION, "conn-B", None) == claim
    assert bool(management.asked) is asked


@pytest.mark.parametrize(("past_ttl", "granted"), [(-1, False), (0, True), (1, True)])
def test_from_its_ttl_on_a_row_counts_as_gone_without_asking(
    registry,
    management,  # noqa: F811
    past_ttl,
    granted,
):
    registry(NOW).claim(SESSION, "conn-A", None)
    management.answer = LIVE  # asked, API Gateway would say the connection is open

    claim = registry(contract.connection_ttl(NOW) + past_ttl).claim(SESSION, "conn-B", None)

    assert claim.granted is granted
    assert bool(management.asked) is not granted


def test_a_row_with_a_fractional_ttl_is_judged_by_api_gateway(
    registry,
    management,  # noqa: F811
    row,
):
    row({contract.CONNECTION_ID: {"S": "conn-A"}, contract.TTL: {"N": f"{NOW + 7200}.5"}})
    management.answer = gone_answer({}, {"message": "Gone"})

    claim = registry(NOW + 60).claim(SESSION, "conn-B", None)

    assert claim == Claim(True, "took_over_gone", "conn-A")
    assert management.asked == ["/local/@connections/conn-A"]


def test_a_row_without_a_ttl_is_judged_by_api_gateway(
    registry,
    management,  # noqa: F811
    row,
):
    row({contract.CONNECTION_ID: {"S": "conn-A"}})
    management.answer = LIVE

    assert registry(NOW).claim(SESSION, "conn-B", None) == IN_USE
    assert management.asked == ["/local/@connections/conn-A"]


def test_a_row_that_names_no_connection_is_taken_without_asking(
    registry,
    management,  # noqa: F811
    row,
):
    row({contract.TTL: {"N": str(NOW + 7200)}})
    management.answer = LIVE

    assert registry(NOW).claim(SESSION, "conn-B", None) == Claim(True, "took_over_gone", None)
    assert management.asked == []


@pytest.mark.parametrize(
    ("holder", "caller"),
    [("us-east-1:aaaa0000", "us-east-1:bbbb1111"), ("us-east-1:bbbb1111", "us-east-1:aaaa0000")],
)
def test_a_live_row_of_another_identity_is_in_use_whichever_way_the_ids_sort(
    registry,
    management,  # noqa: F811
    holder,
    caller,
):
    # The holder's own identity id is the session id: only then may it replace its row.
    registry(NOW).claim(holder, "conn-A", holder)
    management.answer = LIVE

    assert registry(NOW + 60).claim(holder, "conn-B", caller) == IN_USE
    assert registry(NOW + 60).claim(holder, "conn-C", holder) == Claim(True, "registered")


@pytest.mark.parametrize("session", ["us-east-1:ffff9999", "lex-web-ui-0a0b", "zz-session"])
def test_an_identity_replaces_its_live_row_only_for_the_session_named_by_its_id(
    registry,
    management,  # noqa: F811
    session,
):
    identity = "us-east-1:bbbb1111"
    registry(NOW).claim(session, "conn-A", identity)
    registry(NOW).claim(identity, "conn-A", identity)
    management.answer = LIVE

    assert registry(NOW + 60).claim(session, "conn-B", identity) == IN_USE
    assert registry(NOW + 60).claim(identity, "conn-B", identity) == Claim(True, "registered")
