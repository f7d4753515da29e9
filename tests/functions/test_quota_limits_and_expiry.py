"""The quota's edges, against DynamoDB Local: which period names and limits it takes, a
connection's documented budget of 5 messages, when its counter expires, and that without
a per-identity limit no identity is counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lexstream_runtime import contract
from lexstream_runtime.quota import (
    RequestQuota,
    connection_key,
    identity_key,
    period_bounds,
    source_key,
)

# Still to come: DynamoDB Local's TTL sweep deletes counters whose expiry has passed.
MOMENT = datetime(2099, 11, 25, 10, 0, tzinfo=UTC)


def items(dynamodb: Any, table: str) -> dict[str, dict[str, Any]]:
    found = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return {item[contract.QUOTA_PERIOD_KEY]["S"]: item for item in found}


@pytest.mark.parametrize("period", ["YEAR", "ZZZ", "DAYS", "WEEKLY", "MONTHS", "day", ""])
def test_a_period_that_only_resembles_day_week_or_month_is_rejected(period):
    with pytest.raises(ValueError, match="DAY, WEEK, MONTH"):
        period_bounds(period, MOMENT)


@pytest.mark.parametrize(
    ("limit", "per_identity_limit", "per_source_limit", "problem"),
    [
        (0, None, None, "quota limit"),
        (1, 0, None, "per-identity limit"),
        (1, -1, None, "per-identity limit"),
        (1, None, 0, "per-source limit"),
        (1, None, -1, "per-source limit"),
    ],
)
def test_limits_below_one_are_rejected_naming_the_limit(
    dynamodb, quota_table, limit, per_identity_limit, per_source_limit, problem
):
    with pytest.raises(ValueError, match=f"{problem} must be >= 1"):
        RequestQuota(
            dynamodb,
            quota_table,
            limit,
            "DAY",
            per_identity_limit=per_identity_limit,
            per_source_limit=per_source_limit,
        )


def test_limits_of_exactly_one_admit_exactly_one(dynamodb, quota_table):
    quota = RequestQuota(dynamodb, quota_table, 1, "DAY", per_identity_limit=1)

    assert [quota.admit_identity("us-east-1:a", MOMENT) for _ in range(2)] == [True, False]
    assert [quota.admit(MOMENT) for _ in range(2)] == [True, False]


def test_a_connection_counts_its_first_5_messages_then_refuses_without_counting(
    dynamodb, quota_table
):
    quota = RequestQuota(dynamodb, quota_table, 100, "DAY")

    admitted = [quota.admit_message("conn-1", MOMENT) for _ in range(7)]

    assert admitted == [True] * 5 + [False] * 2
    counter = items(dynamodb, quota_table)[connection_key("conn-1")]
    assert counter[contract.QUOTA_REQUESTS] == {"N": "5"}


def test_a_connections_counter_expires_after_the_longest_connection_could_last(
    dynamodb, quota_table
):
    RequestQuota(dynamodb, quota_table, 100, "DAY").admit_message("conn-1", MOMENT)

    counter = items(dynamodb, quota_table)[connection_key("conn-1")]
    expires = MOMENT + timedelta(seconds=contract.CONNECTION_TTL_SECONDS)
    assert counter[contract.TTL] == {"N": str(int(expires.timestamp()))}
    assert contract.CONNECTION_TTL_SECONDS >= 2 * 3600  # API Gateway's longest connection


def test_an_identitys_counter_expires_a_day_after_its_period(dynamodb, quota_table):
    RequestQuota(dynamodb, quota_table, 100, "DAY", per_identity_limit=3).admit_identity(
        "us-east-1:a", MOMENT
    )

    counter = items(dynamodb, quota_table)[identity_key("us-east-1:a", "DAY#2099-11-25")]
    assert counter[contract.QUOTA_REQUESTS] == {"N": "1"}
    assert counter[contract.TTL] == {"N": str(int(datetime(2099, 11, 27, tzinfo=UTC).timestamp()))}


def test_a_source_networks_counter_expires_a_day_after_its_period(dynamodb, quota_table):
    RequestQuota(dynamodb, quota_table, 100, "DAY", per_source_limit=3).admit_source(
        "203.0.113.7", MOMENT
    )

    counter = items(dynamodb, quota_table)[source_key("203.0.113.7", "DAY#2099-11-25")]
    assert counter[contract.QUOTA_REQUESTS] == {"N": "1"}
    assert counter[contract.TTL] == {"N": str(int(datetime(2099, 11, 27, tzinfo=UTC).timestamp()))}


def test_without_a_per_identity_limit_every_identity_is_admitted_and_nothing_is_counted(
    dynamodb, quota_table
):
    quota = RequestQuota(dynamodb, quota_table, 1, "DAY", per_identity_limit=None)

    assert all(quota.admit_identity("us-east-1:a", MOMENT) for _ in range(3))
    assert items(dynamodb, quota_table) == {}


def test_without_a_per_source_limit_every_source_is_admitted_and_nothing_is_counted(
    dynamodb, quota_table
):
    quota = RequestQuota(dynamodb, quota_table, 1, "DAY", per_source_limit=None)

    assert all(quota.admit_source("203.0.113.7", MOMENT) for _ in range(3))
    assert items(dynamodb, quota_table) == {}
