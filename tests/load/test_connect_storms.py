"""Connect storms on the local stack, beyond the quota, the stage throttle, or both.

All connects of a storm are in flight at once, against the real route functions and a
real DynamoDB (the local stack's embedded one, and DynamoDB Local). Exactly the
configured number get through; every other connect is refused with 429; the rows that
were written are exactly those of the admitted connections, each whole and correct;
the quota counter holds exactly what was admitted; and closing every socket leaves
nothing behind. Storms are bounded (at most 80 sockets) and stay on loopback.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import boto3
import pytest
from lexstream_runtime import contract
from lexstream_runtime.quota import is_period_key

from local_stack.stack import LocalStack, StackSettings
from tests.functions.waiting import eventually

pytestmark = pytest.mark.timeout(180)


@dataclass(frozen=True)
class Storm:
    connects: int
    quota_limit: int
    throttle_burst: int
    # Refill so slow that no token comes back during the storm: the burst is the limit.
    throttle_rate: float = 0.001

    @property
    def passing_throttle(self) -> int:
        return min(self.connects, self.throttle_burst)

    @property
    def admitted(self) -> int:
        return min(self.passing_throttle, self.quota_limit)


STORMS = {
    "beyond-quota": Storm(connects=60, quota_limit=25, throttle_burst=200),
    "beyond-throttle": Storm(connects=60, quota_limit=1000, throttle_burst=20),
    "beyond-both": Storm(connects=80, quota_limit=25, throttle_burst=40),
}


@pytest.fixture(params=["embedded", "dynamodb-local"])
def dynamodb_backend(request: pytest.FixtureRequest) -> str | None:
    """None for the local stack's embedded DynamoDB, else DynamoDB Local's endpoint."""
    if request.param == "embedded":
        return None
    return request.getfixturevalue("dynamodb_local")


@dataclass
class Outcome:
    statuses: dict[str, int]  # session id → 101 (open) or the refusal status
    rows: list[dict[str, Any]]
    open_connections: set[str]
    counted: int
    written_between: tuple[int, int]


def run_storm(stack: LocalStack, storm: Storm, tables: tuple[str, str]) -> Outcome:
    sessions = [f"storm-{index:03d}" for index in range(storm.connects)]
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint)

    async def connect(http: aiohttp.ClientSession, session_id: str) -> tuple[str, Any]:
        url = f"{stack.websocket_url}?{contract.CONNECT_QUERY_PARAMETER}={session_id}"
        try:
            return session_id, await http.ws_connect(url)
        except aiohttp.WSServerHandshakeError as refused:
            return session_id, refused.status

    async def storm_then_close() -> Outcome:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            before = int(time.time())
            results = await asyncio.gather(*(connect(http, s) for s in sessions))
            after = int(time.time()) + 1
            sockets = [result for _, result in results if not isinstance(result, int)]
            assert eventually(lambda: len(stack.gateway.open_connection_ids()) == len(sockets))
            outcome = Outcome(
                statuses={s: r if isinstance(r, int) else 101 for s, r in results},
                rows=dynamodb.scan(TableName=tables[0], ConsistentRead=True)["Items"],
                open_connections=set(stack.gateway.open_connection_ids()),
                counted=sum(
                    int(item[contract.QUOTA_REQUESTS]["N"])
                    for item in dynamodb.scan(TableName=tables[1], ConsistentRead=True)["Items"]
                    if is_period_key(item[contract.QUOTA_PERIOD_KEY]["S"])
                ),
                written_between=(before, after),
            )
            await asyncio.gather(*(socket.close() for socket in sockets))
        return outcome

    return asyncio.run(storm_then_close())


@pytest.fixture
def storm_stack(dynamodb_backend: str | None) -> Iterator[Any]:
    made: list[tuple[LocalStack, tuple[str, str]]] = []

    def start(storm: Storm) -> tuple[LocalStack, tuple[str, str]]:
        tables = (f"storm-connections-{uuid.uuid4()}", f"storm-quota-{uuid.uuid4()}")
        stack = LocalStack(
            StackSettings(
                auth_mode=contract.AUTH_NONE,
                dynamodb_endpoint=dynamodb_backend,
                quota_limit=storm.quota_limit,
                quota_period=contract.QUOTA_PERIODS[0],
                throttle_rate=storm.throttle_rate,
                throttle_burst=storm.throttle_burst,
                connection_table=tables[0],
                quota_table=tables[1],
            )
        ).start()
        made.append((stack, tables))
        return stack, tables

    yield start
    for stack, tables in made:
        endpoint = stack.dynamodb_endpoint
        stack.stop()
        if dynamodb_backend is not None:
            client = boto3.client("dynamodb", endpoint_url=endpoint)
            for table in tables:
                client.delete_table(TableName=table)


@pytest.mark.parametrize("name", list(STORMS))
def test_a_connect_storm_admits_exactly_the_configured_number(storm_stack: Any, name: str) -> None:
    storm = STORMS[name]
    stack, tables = storm_stack(storm)

    outcome = run_storm(stack, storm, tables)

    # Exactly the configured number get through; all the others are told 429.
    opened = {s for s, status in outcome.statuses.items() if status == 101}
    refused = [status for status in outcome.statuses.values() if status != 101]
    assert len(opened) == storm.admitted
    assert refused == [429] * (storm.connects - storm.admitted)
    counters = stack.gateway.counters
    assert counters.throttled == storm.connects - storm.passing_throttle
    assert counters.connects_accepted == storm.admitted
    # The quota counted exactly the admitted connects, never one more.
    assert outcome.counted == storm.admitted
    # No corrupted item: one whole, correct row per admitted connection, nothing else.
    assert len(outcome.rows) == storm.admitted
    low, high = outcome.written_between
    for row in outcome.rows:
        assert set(row) == {contract.SESSION_ID, contract.CONNECTION_ID, contract.TTL}
        ttl = int(row[contract.TTL]["N"])
        assert (
            low + contract.CONNECTION_TTL_SECONDS <= ttl <= high + contract.CONNECTION_TTL_SECONDS
        )
    assert {row[contract.SESSION_ID]["S"] for row in outcome.rows} == opened
    assert {row[contract.CONNECTION_ID]["S"] for row in outcome.rows} == outcome.open_connections
    # Every close ran $disconnect and removed its own row.
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint)
    assert eventually(
        lambda: dynamodb.scan(TableName=tables[0], ConsistentRead=True)["Count"] == 0,
        timeout=30,
    )
