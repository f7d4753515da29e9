"""The request quota: atomic counters in the quota table.

Every admitted $connect and every counted $default message costs one request of the
shared quota. Each request is a single conditional UpdateItem on the period's item
("DAY#2026-11-25"), so concurrent callers at the limit can never overshoot: DynamoDB
serialises the writes on the item and admits exactly `limit` of them. The item expires
(TTL) a day after its period.

The shared quota is a fixed window: it starts again at each period boundary, so up to
twice the limit can pass in the moments around one boundary.

Smaller counters keep one client from spending the shared quota for everyone, each
also a conditional UpdateItem, checked before the shared counter is touched:
- a connection's budget: only its first `CONNECTION_MESSAGE_BUDGET` client messages
  count; later ones are refused without counting (and $default closes the connection);
- a source address's connects per period (both auth modes): at most `per_source_limit`.
  IPv4 addresses count one by one; IPv6 addresses count per /64, because one subscriber
  usually holds a whole /64 and could otherwise take a new address for every connect;
- an identity's connects per period (`iam` auth): at most `per_identity_limit`.

Neither an identity id nor an address is stored: their counters are keyed by a SHA-256.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

from . import contract, environment

# Keep a finished period's counter one more day, so operators can still read it.
_COUNTER_GRACE = timedelta(days=1)
# The stock Lex Web UI sends nothing that reaches $default (its heartbeat has its own
# route), so a handful of counted messages per connection is generous for any client.
CONNECTION_MESSAGE_BUDGET = 5
CONNECTION_KEY_PREFIX = "CONNECTION#"
IDENTITY_KEY_PREFIX = "IDENTITY#"
SOURCE_KEY_PREFIX = "SOURCE#"
# IPv6 addresses count per network of this prefix length (one subscriber's usual share).
IPV6_SOURCE_PREFIX = 64
# A connect whose source address cannot be read (API Gateway always sends one) counts
# under this one shared key, so leaving it out buys nothing.
UNKNOWN_SOURCE = "unknown"


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


def is_period_key(key: str) -> bool:
    """Whether a quota table key is a period's shared counter (not a connection's or an
    identity's own)."""
    return key.partition("#")[0] in contract.QUOTA_PERIODS


def identity_key(identity_id: str, period_key: str) -> str:
    """The counter of one identity's connects in one period. The identity id itself is
    never stored: it is enough to obtain an unauthenticated identity's credentials."""
    digest = hashlib.sha256(identity_id.encode("utf-8")).hexdigest()
    return f"{IDENTITY_KEY_PREFIX}{digest}#{period_key}"


def source_network(source_ip: str | None) -> str:
    """The network a source address counts under: an IPv4 address itself, an IPv6
    address's /64 (an IPv4-mapped IPv6 address as its IPv4 address), else UNKNOWN_SOURCE."""
    try:
        address = ipaddress.ip_address((source_ip or "").strip())
    except ValueError:
        return UNKNOWN_SOURCE
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_SOURCE_PREFIX}", strict=False))
    return str(address)


def source_key(source_ip: str | None, period_key: str) -> str:
    """The counter of one source network's connects in one period (see source_network);
    the address is stored only as a SHA-256, like an identity."""
    digest = hashlib.sha256(source_network(source_ip).encode("utf-8")).hexdigest()
    return f"{SOURCE_KEY_PREFIX}{digest}#{period_key}"


def connection_key(connection_id: str) -> str:
    """The counter of one connection's counted client messages."""
    return CONNECTION_KEY_PREFIX + connection_id


class RequestQuota:
    """Admits at most `limit` requests per `period` (DAY, WEEK or MONTH, in UTC).

    Args:
        dynamodb: a boto3 DynamoDB client.
        table_name: the quota table (contract.QUOTA_TABLE_SCHEMA).
        limit: requests admitted per period, >= 1.
        period: one of contract.QUOTA_PERIODS.
        per_identity_limit: connects admitted per identity per period, >= 1; None when
            connects carry no identity (`none` auth). Default None.
        per_source_limit: connects admitted per source network per period, >= 1; None
            for no such limit. Default None.
    """

    def __init__(
        self,
        dynamodb: Any,
        table_name: str,
        limit: int,
        period: str,
        per_identity_limit: int | None = None,
        per_source_limit: int | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError(f"quota limit must be >= 1, got {limit!r}")
        if per_identity_limit is not None and per_identity_limit < 1:
            raise ValueError(f"per-identity limit must be >= 1, got {per_identity_limit!r}")
        if per_source_limit is not None and per_source_limit < 1:
            raise ValueError(f"per-source limit must be >= 1, got {per_source_limit!r}")
        period_bounds(period, datetime.now(UTC))  # validates the period name
        self.dynamodb = dynamodb
        self.table_name = table_name
        self.limit = limit
        self.period = period
        self.per_identity_limit = per_identity_limit
        self.per_source_limit = per_source_limit

    @classmethod
    def from_environment(
        cls, dynamodb: Any, *, per_identity: bool = False, per_source: bool = False
    ) -> RequestQuota:
        """The quota the component configured: ENV_QUOTA_TABLE, _LIMIT and _PERIOD, with
        `per_identity` also ENV_QUOTA_PER_IDENTITY_LIMIT, with `per_source` also
        ENV_QUOTA_PER_SOURCE_LIMIT."""
        return cls(
            dynamodb,
            environment.required(contract.ENV_QUOTA_TABLE),
            environment.positive_int(contract.ENV_QUOTA_LIMIT),
            environment.one_of(contract.ENV_QUOTA_PERIOD, contract.QUOTA_PERIODS),
            (
                environment.positive_int(contract.ENV_QUOTA_PER_IDENTITY_LIMIT)
                if per_identity
                else None
            ),
            environment.positive_int(contract.ENV_QUOTA_PER_SOURCE_LIMIT) if per_source else None,
        )

    def admit(self, now: datetime | None = None) -> bool:
        """Count one request; True while the period is under its limit, False once it is full.

        AWS errors other than the full-quota condition propagate (botocore exceptions).
        """
        key, ends = period_bounds(self.period, now or datetime.now(UTC))
        return self._count(key, self.limit, ends + _COUNTER_GRACE)

    def admit_identity(self, identity_id: str, now: datetime | None = None) -> bool:
        """Count one connect of `identity_id`; False once it has had its connects this
        period (and always True without a per-identity limit)."""
        if self.per_identity_limit is None:
            return True
        period_key, ends = period_bounds(self.period, now or datetime.now(UTC))
        key = identity_key(identity_id, period_key)
        return self._count(key, self.per_identity_limit, ends + _COUNTER_GRACE)

    def admit_source(self, source_ip: str | None, now: datetime | None = None) -> bool:
        """Count one connect from `source_ip` (its network: see source_network); False once
        that network has had its connects this period (always True without a limit)."""
        if self.per_source_limit is None:
            return True
        period_key, ends = period_bounds(self.period, now or datetime.now(UTC))
        key = source_key(source_ip, period_key)
        return self._count(key, self.per_source_limit, ends + _COUNTER_GRACE)

    def admit_message(self, connection_id: str, now: datetime | None = None) -> bool:
        """Count one client message of `connection_id` against its budget; False once the
        connection has spent it. The counter outlives the longest connection."""
        expires = (now or datetime.now(UTC)) + timedelta(seconds=contract.CONNECTION_TTL_SECONDS)
        return self._count(connection_key(connection_id), CONNECTION_MESSAGE_BUDGET, expires)

    def _count(self, key: str, limit: int, expires: datetime) -> bool:
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
                    ":limit": {"N": str(limit)},
                    ":ttl": {"N": str(int(expires.timestamp()))},
                },
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True
