"""The request quota: one atomic counter per period in the quota table.

Every $connect and every $default message that reaches a function costs one request. Each
request is a single conditional UpdateItem on the period's item ("DAY#2026-11-25"), so
concurrent callers at the limit can never overshoot: DynamoDB serialises the writes on the
item and admits exactly `limit` of them. The item expires (TTL) a day after its period.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from . import contract, environment

# Keep a finished period's counter one more day, so operators can still read it.
_COUNTER_GRACE = timedelta(days=1)


def period_bounds(period: str, now: datetime) -> tuple[str, datetime]:
    """The item key of the period containing `now` (UTC) and the moment that period ends.

    DAY → "DAY#2026-11-25"; WEEK (ISO weeks, from Monday) → "WEEK#2026-W48";
    MONTH → "MONTH#2026-11". Raises ValueError for any other period.
    """
    now = now.astimezone(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "DAY":
        return f"DAY#{now:%Y-%m-%d}", midnight + timedelta(days=1)
    if period == "WEEK":
        year, week, weekday = now.isocalendar()
        return f"WEEK#{year}-W{week:02d}", midnight + timedelta(days=8 - weekday)
    if period == "MONTH":
        first_of_next = (midnight.replace(day=1) + timedelta(days=32)).replace(day=1)
        return f"MONTH#{now:%Y-%m}", first_of_next
    raise ValueError(
        f"unknown quota period {period!r}; expected one of {', '.join(contract.QUOTA_PERIODS)}"
    )


class RequestQuota:
    """Admits at most `limit` requests per `period` (DAY, WEEK or MONTH, in UTC).

    Args:
        dynamodb: a boto3 DynamoDB client.
        table_name: the quota table (contract.QUOTA_TABLE_SCHEMA).
        limit: requests admitted per period, >= 1.
        period: one of contract.QUOTA_PERIODS.
    """

    def __init__(self, dynamodb: Any, table_name: str, limit: int, period: str) -> None:
        if limit < 1:
            raise ValueError(f"quota limit must be >= 1, got {limit!r}")
        period_bounds(period, datetime.now(UTC))  # validates the period name
        self.dynamodb = dynamodb
        self.table_name = table_name
        self.limit = limit
        self.period = period

    @classmethod
    def from_environment(cls, dynamodb: Any) -> RequestQuota:
        """The quota the component configured: ENV_QUOTA_TABLE, _LIMIT and _PERIOD."""
        return cls(
            dynamodb,
            environment.required(contract.ENV_QUOTA_TABLE),
            environment.positive_int(contract.ENV_QUOTA_LIMIT),
            environment.one_of(contract.ENV_QUOTA_PERIOD, contract.QUOTA_PERIODS),
        )

    def admit(self, now: datetime | None = None) -> bool:
        """Count one request; True while the period is under its limit, False once it is full.

        AWS errors other than the full-quota condition propagate (botocore exceptions).
        """
        key, ends = period_bounds(self.period, now or datetime.now(UTC))
        try:
            self.dynamodb.update_item(
                TableName=self.table_name,
                Key={contract.QUOTA_PERIOD_KEY: {"S": key}},
                UpdateExpression="ADD #requests :one SET #ttl = :ttl",
                ConditionExpression="attribute_not_exists(#requests) OR #requests < :limit",
                ExpressionAttributeNames={
                    "#requests": contract.QUOTA_REQUESTS,
                    "#ttl": contract.TTL,
                },
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(self.limit)},
                    ":ttl": {"N": str(int((ends + _COUNTER_GRACE).timestamp()))},
                },
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True
