"""A claim whose row keeps changing under it, against DynamoDB Local: another writer acts
just before each of the claim's conditional writes. Three rounds settle two changes, a
third change leaves the claim `contended` (nothing written), and a row deleted meanwhile
($disconnect) makes the session free again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lexstream_runtime import aws, contract
from lexstream_runtime.sessions import Claim, SessionRegistry

from tests.functions.test_gone_by_status import ManagementStub, gone_answer, management  # noqa: F401

NOW = 1_800_000_000
SESSION = "lex-web-ui-77aa"


class InterleavedWrites:
    """The claim's DynamoDB client: before each of its writes, the next of `moves` (another
    connect or a $disconnect) runs against the same table."""

    def __init__(self, client: Any, moves: list[Callable[[], None]]) -> None:
        self._client = client
        self.moves = list(moves)

    def put_item(self, **request: Any) -> Any:
        if self.moves:
            self.moves.pop(0)()
        return self._client.put_item(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def table(dynamodb: Any, connection_table: str, management: ManagementStub):  # noqa: F811
    """Helpers on this test's table; API Gateway answers that every connection is gone."""
    management.answer = gone_answer({"x-amzn-ErrorType": "GoneException"}, {"message": "Gone"})

    class Table:
        @staticmethod
        def rival(connection_id: str) -> Callable[[], None]:
            """Another connect's row for SESSION, registered a minute ago."""

            def write() -> None:
                dynamodb.put_item(
                    TableName=connection_table,
                    Item={
                        contract.SESSION_ID: {"S": SESSION},
                        contract.CONNECTION_ID: {"S": connection_id},
                        contract.TTL: {"N": str(contract.connection_ttl(NOW - 60))},
                    },
                )

            return write

        @staticmethod
        def disconnect() -> None:
            dynamodb.delete_item(
                TableName=connection_table, Key={contract.SESSION_ID: {"S": SESSION}}
            )

        @staticmethod
        def claim(moves: list[Callable[[], None]]) -> Claim:
            client = InterleavedWrites(dynamodb, moves)
            management_client = aws.route_management_client(management.url)
            registry = SessionRegistry(
                client, connection_table, management_client, clock=lambda: NOW
            )
            return registry.claim(SESSION, "conn-new", None)

        @staticmethod
        def holder() -> str:
            return dynamodb.get_item(
                TableName=connection_table,
                Key={contract.SESSION_ID: {"S": SESSION}},
                ConsistentRead=True,
            )["Item"][contract.CONNECTION_ID]["S"]

    return Table


def test_a_claim_settles_a_row_that_changed_twice_in_its_third_round(table):
    table.rival("conn-0")()

    claim = table.claim([table.rival("conn-1"), table.rival("conn-2")])

    assert claim == Claim(True, "took_over_gone", "conn-2")
    assert table.holder() == "conn-new"


def test_a_row_that_changes_before_each_of_three_rounds_leaves_the_claim_contended(table):
    table.rival("conn-0")()

    claim = table.claim([table.rival("conn-1"), table.rival("conn-2"), table.rival("conn-3")])

    assert claim == Claim(False, "contended")
    assert table.holder() == "conn-3"


def test_a_row_deleted_between_two_rounds_leaves_the_session_free_for_the_claim(table):
    table.rival("conn-0")()

    claim = table.claim([lambda: None, table.disconnect])

    assert claim == Claim(True, "registered")
    assert table.holder() == "conn-new"
