"""The request quota's periods and counters, against DynamoDB Local."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from lexstream_runtime import contract
from lexstream_runtime.quota import RequestQuota, period_bounds

MOMENT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday
# The tests that store counters count far in the future: DynamoDB Local deletes items
# whose TTL has passed, at moments of its own, so a counter of a past period could vanish
# in the middle of a test.
STORED_MOMENT = datetime(2099, 11, 25, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "now", "key", "ends"),
    [
        ("DAY", MOMENT, "DAY#2026-11-25", datetime(2026, 11, 26, tzinfo=UTC)),
        ("WEEK", MOMENT, "WEEK#2026-W48", datetime(2026, 11, 30, tzinfo=UTC)),
        ("MONTH", MOMENT, "MONTH#2026-11", datetime(2026, 12, 1, tzinfo=UTC)),
        (
            "MONTH",
            datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
            "MONTH#2026-12",
            datetime(2027, 1, 1, tzinfo=UTC),
        ),
        # ISO weeks: 2027-01-01 is a Friday in week 53 of 2026.
        (
            "WEEK",
            datetime(2027, 1, 1, tzinfo=UTC),
            "WEEK#2026-W53",
            datetime(2027, 1, 4, tzinfo=UTC),
        ),
        # Periods follow UTC, whatever the caller's zone.
        (
            "DAY",
            datetime(2026, 11, 25, 23, 30, tzinfo=timezone(timedelta(hours=-2))),
            "DAY#2026-11-26",
            datetime(2026, 11, 27, tzinfo=UTC),
        ),
    ],
)
def test_each_period_has_its_own_key_and_ends_at_the_next_utc_boundary(period, now, key, ends):
    assert period_bounds(period, now) == (key, ends)


def test_an_unknown_period_is_rejected_naming_the_valid_ones():
    with pytest.raises(ValueError, match="DAY, WEEK, MONTH"):
        period_bounds("HOUR", MOMENT)


def test_a_limit_below_one_is_rejected(dynamodb, quota_table):
    with pytest.raises(ValueError, match=">= 1"):
        RequestQuota(dynamodb, quota_table, 0, "DAY")


def test_the_quota_admits_up_to_the_limit_per_period_and_starts_again_next_period(
    dynamodb, quota_table
):
    quota = RequestQuota(dynamodb, quota_table, 2, "DAY")
    tomorrow = STORED_MOMENT + timedelta(days=1)

    today_results = [quota.admit(STORED_MOMENT) for _ in range(3)]
    tomorrow_results = [quota.admit(tomorrow) for _ in range(3)]

    assert today_results == [True, True, False]
    assert tomorrow_results == [True, True, False]


def test_the_counter_item_expires_a_day_after_its_period(dynamodb, quota_table):
    RequestQuota(dynamodb, quota_table, 5, "DAY").admit(STORED_MOMENT)

    item = dynamodb.get_item(
        TableName=quota_table,
        Key={contract.QUOTA_PERIOD_KEY: {"S": "DAY#2099-11-25"}},
        ConsistentRead=True,
    )["Item"]

    assert item[contract.QUOTA_REQUESTS] == {"N": "1"}
    expected = datetime(2099, 11, 27, tzinfo=UTC).timestamp()
    assert item[contract.TTL] == {"N": str(int(expected))}


@pytest.mark.parametrize("period", contract.QUOTA_PERIODS)
def test_an_identitys_and_a_sources_connect_caps_start_again_in_the_next_period(
    dynamodb, quota_table, period
):
    quota = RequestQuota(
        dynamodb, quota_table, 100, period, per_identity_limit=2, per_source_limit=3
    )
    identity = "us-east-1:6f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    _, ends = period_bounds(period, STORED_MOMENT)
    last_moment, next_period = ends - timedelta(seconds=1), ends

    assert [quota.admit_identity(identity, STORED_MOMENT) for _ in range(2)] == [True, True]
    assert quota.admit_identity(identity, last_moment) is False
    assert [quota.admit_identity(identity, next_period) for _ in range(3)] == [True, True, False]

    assert [quota.admit_source("198.51.100.7", STORED_MOMENT) for _ in range(4)] == [True] * 3 + [
        False
    ]
    assert quota.admit_source("198.51.100.7", last_moment) is False
    assert [quota.admit_source("198.51.100.7", next_period) for _ in range(4)] == (
        [True] * 3 + [False]
    )
    # Other identities and sources were never touched by either cap.
    assert quota.admit_identity("us-east-1:00000000-0000-4000-8000-000000000000", STORED_MOMENT)
    assert quota.admit_source("198.51.100.8", STORED_MOMENT)
