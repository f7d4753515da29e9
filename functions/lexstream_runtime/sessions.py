"""Who may stream a Lex session: the connection table's ownership of live sessions.

The stock Lex Web UI (release 0.24.1) sends `lex-web-ui-` and 4 random hex digits as its
session id, a new one per page load, and never reconnects; a patched or future client
may send its Cognito identity id. Either way the fulfillment streams to whichever
connection the table maps the session to, so a connect that replaced the row would read
the owner's stream. The rules, applied by `SessionRegistry.claim`:

- A free session id goes to the first connect that asks for it.
- A live row is replaced by the same identity only when the session id *is* that
  identity's id (a patched client's new tab). The stock client's `lex-web-ui-xxxx` ids
  are new on every page load, so it never needs the replacement, and allowing it would
  let anyone holding the victim's identity (its id leaked, or its presigned connect URL
  replayed within the hour) take the victim's live stream.
- Everyone else, and in `none` mode everyone (nobody has an identity there), gets the
  session only once its connection is gone: the row's TTL has passed, or API Gateway
  answers GoneException for the connection.
- Every write is conditional on the row it judged, so DynamoDB settles races: of two
  connects for one free id, exactly one writes, and the other then finds a live row.

Liveness comes from API Gateway itself (GetConnection on the management API), asked only
when a connect meets a row it may not simply replace. A row younger than
`PENDING_SECONDS` counts as live without asking: API Gateway answers 410 for a
connection until its $connect has returned, and the row is written just before that.

The row's `ownerIdentity` is not the identity id but its HMAC-SHA256 under a per-stack
key (`OwnerKey`): the fulfillment policy may read any row, and an unauthenticated
identity's id is all it takes to get that identity's credentials. The key lives in the
quota table, which only the route functions (and the stack's operators) can read; the
fulfillment policy and log readers cannot, so a reader of the connection table can
neither recover an id nor test a guessed one. Rows written before the owner was hashed
hold the raw id; they keep working until their TTL (at most 2 h 10 min).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import aws, contract

# API Gateway gives a $connect integration 29 s: a connection whose row is older than
# this either opened or never will, so GetConnection's answer is then final.
PENDING_SECONDS = 30
# Each failed conditional write means another connect changed the row meanwhile; a few
# rounds settle any real contention, and a connect must finish well inside 10 s.
MAX_ROUNDS = 3
_GONE = "GoneException"


@dataclass(frozen=True)
class Claim:
    """The outcome of a claim: `granted`, and a reason for the log.

    Reasons: "registered" (the id was free, or the row was the caller's own),
    "took_over_gone" (the previous connection is gone), "session_in_use" (another live
    connection holds it), "contended" (the row kept changing under the claim).
    """

    granted: bool
    reason: str
    previous_connection: str | None = None


class OwnerKey:
    """The stack's secret key for `ownerIdentity`, kept in the quota table.

    Why there: the key must be readable by $connect and by nobody who can read the
    connection table without being an operator. The fulfillment policy may read any row
    of the connection table but nothing of the quota table; logs never carry the key; and
    $connect already may UpdateItem the quota table, so keeping the key there needs no
    new grant, no secret store call on the connect path and no deploy-time secret in the
    function's configuration (which `lambda:GetFunction` would show). The first connect
    of the stack creates it (`if_not_exists`, so racing cold starts agree on one key);
    every cold start reads it once, on its first `iam` connect.

    Args:
        dynamodb: a boto3 DynamoDB client.
        quota_table: the quota table (contract.QUOTA_TABLE_SCHEMA).
    """

    def __init__(self, dynamodb: Any, quota_table: str) -> None:
        self.dynamodb = dynamodb
        self.quota_table = quota_table
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def digest(self, identity_id: str) -> str:
        """`identity_id`'s HMAC-SHA256 under the stack's key, as hex. AWS errors propagate."""
        return hmac.new(self._secret(), identity_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def _secret(self) -> bytes:
        with self._lock:
            if self._key is None:
                item = self.dynamodb.update_item(
                    TableName=self.quota_table,
                    Key={contract.QUOTA_PERIOD_KEY: {"S": contract.OWNER_KEY_ITEM}},
                    UpdateExpression="SET #secret = if_not_exists(#secret, :fresh)",
                    ExpressionAttributeNames={"#secret": contract.OWNER_KEY_SECRET},
                    ExpressionAttributeValues={":fresh": {"B": secrets.token_bytes(32)}},
                    ReturnValues="ALL_NEW",
                )["Attributes"]
                self._key = bytes(item[contract.OWNER_KEY_SECRET]["B"])
            return self._key


class SessionRegistry:
    """Claims rows of the connection table for new connections (see the module docstring).

    Args:
        dynamodb: a boto3 DynamoDB client.
        table_name: the connection table (contract.CONNECTION_TABLE_SCHEMA).
        management: a boto3 `apigatewaymanagementapi` client for this API's stage.
        owner_key: hashes the owner stored in each row; needed for claims with an owner.
            Default None.
        clock: epoch seconds now. Default time.time.
    """

    def __init__(
        self,
        dynamodb: Any,
        table_name: str,
        management: Any,
        owner_key: OwnerKey | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dynamodb = dynamodb
        self.table_name = table_name
        self.management = management
        self.owner_key = owner_key
        self.clock = clock

    def claim(self, session_id: str, connection_id: str, owner: str | None) -> Claim:
        """Map `session_id` to `connection_id` if the rules allow it; writes nothing if not.

        `owner` is the caller's Cognito identity id (`iam` mode), or None.
        AWS errors propagate (botocore exceptions): the caller answers 500.
        """
        owned: _Owner | None = None
        if owner is not None:
            if self.owner_key is None:
                raise ValueError("a claim with an owner needs the registry's owner_key")
            owned = _Owner(self.owner_key.digest(owner), replaces=session_id == owner, raw=owner)
        previous: dict[str, Any] | None = None  # the row this round may replace, if any
        for _ in range(MAX_ROUNDS):
            current = self._write(session_id, connection_id, owned, previous)
            if current is None:
                return _granted(previous)
            mine = owned is not None and owned.owns(current)
            if not current or mine:
                # Deleted meanwhile ($disconnect), or our own row after all: the next
                # round's free-or-own condition covers both.
                previous = None
                continue
            if self._is_live(current):
                return Claim(False, "session_in_use", _text(current, contract.CONNECTION_ID))
            previous = current
        return Claim(False, "contended")

    def _write(
        self,
        session_id: str,
        connection_id: str,
        owner: _Owner | None,
        previous: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        """One conditional PutItem; None when it wrote, else the row that stopped it.

        With `previous` it replaces exactly that row (same connection id); otherwise it
        writes a free id or, for an identity whose id the session id is, its own row.
        """
        now = self.clock()
        item = {
            contract.SESSION_ID: {"S": session_id},
            contract.CONNECTION_ID: {"S": connection_id},
            contract.TTL: {"N": str(contract.connection_ttl(now))},
        }
        if owner is not None:
            item[contract.OWNER_IDENTITY] = {"S": owner.digest}
        # DynamoDB refuses names and values that the condition does not use.
        names = {"#session": contract.SESSION_ID, "#connection": contract.CONNECTION_ID}
        values: dict[str, Any] = {}
        if previous is not None and contract.CONNECTION_ID in previous:
            condition = "#connection = :previous"
            values[":previous"] = previous[contract.CONNECTION_ID]
            del names["#session"]
        elif previous is not None:
            condition = "attribute_exists(#session) AND attribute_not_exists(#connection)"
        else:
            condition = "attribute_not_exists(#session)"
            del names["#connection"]
            if owner is not None and owner.replaces:
                names["#owner"] = contract.OWNER_IDENTITY
                values[":owner"] = {"S": owner.digest}
                # A row of the previous version holds the raw id, which is the session id
                # itself here, so matching it reveals nothing new.
                values[":legacy"] = {"S": owner.raw}
                condition += " OR #owner IN (:owner, :legacy)"
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": item,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            # The row that failed the condition comes back with the error: no extra read.
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self.dynamodb.put_item(**request)
        except self.dynamodb.exceptions.ConditionalCheckFailedException as error:
            # No row: it was deleted since ($disconnect); the next round finds it free.
            return error.response.get("Item") or {}
        return None

    def _is_live(self, row: dict[str, Any]) -> bool:
        """Whether the row's connection may still be open (see the module docstring)."""
        connection_id = _text(row, contract.CONNECTION_ID)
        if not connection_id:
            return False  # not a connection at all
        now = self.clock()
        ttl = _number(row, contract.TTL)
        if ttl is not None:
            if ttl <= now:
                return False  # expired; DynamoDB deletes expired rows only eventually
            if now - contract.registered_at(ttl) < PENDING_SECONDS:
                return True
        try:
            self.management.get_connection(ConnectionId=connection_id)
        except aws.AWS_ERRORS as error:
            # 410 is the answer for a connection that is not open, whatever code comes
            # with it: botocore reports "410" as the code when the error type is absent.
            if aws.error_code(error) == _GONE or aws.http_status(error) == 410:
                return False
            raise
        return True


@dataclass(frozen=True)
class _Owner:
    """The claiming identity: its keyed digest, and whether the narrowed same-identity
    rule lets it replace its own live row (only when the session id is its identity id)."""

    digest: str
    replaces: bool
    raw: str

    def owns(self, row: dict[str, Any]) -> bool:
        """Whether `row` is this identity's own and replaceable by it (a row of the
        previous version, which stored the raw id, counts until its TTL)."""
        stored = _text(row, contract.OWNER_IDENTITY)
        return self.replaces and stored is not None and stored in (self.digest, self.raw)


def _granted(previous: dict[str, Any] | None) -> Claim:
    if previous is not None:
        return Claim(True, "took_over_gone", _text(previous, contract.CONNECTION_ID))
    return Claim(True, "registered")


def _text(row: dict[str, Any], name: str) -> str | None:
    value = row.get(name, {}).get("S")
    return value if isinstance(value, str) else None


def _number(row: dict[str, Any], name: str) -> int | None:
    try:
        return int(row[name]["N"])
    except (KeyError, TypeError, ValueError):
        return None
