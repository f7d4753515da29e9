"""Who may stream a Lex session: the connection table's ownership of live sessions.

The stock Lex Web UI (release 0.24.1) sends `lex-web-ui-` and 4 random hex digits as its
session id, a new one per page load, and never reconnects; a patched or future client
may send its Cognito identity id. Either way the fulfillment streams to whichever
connection the table maps the session to, so a connect that replaced the row would read
the owner's stream. The rules, applied by `SessionRegistry.claim`:

- A free session id goes to the first connect that asks for it.
- The identity that registered a row may replace it (the same user's new tab).
- Anyone else, and in `none` mode everyone (nobody has an identity there), gets the
  session only once its connection is gone: the row's TTL has passed, or API Gateway
  answers GoneException for the connection.
- Every write is conditional on the row it judged, so DynamoDB settles races: of two
  connects for one free id, exactly one writes, and the other then finds a live row.

Liveness comes from API Gateway itself (GetConnection on the management API), asked only
when a connect meets a row it may not simply replace. A row younger than
`PENDING_SECONDS` counts as live without asking: API Gateway answers 410 for a
connection until its $connect has returned, and the row is written just before that.
"""

from __future__ import annotations

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


class SessionRegistry:
    """Claims rows of the connection table for new connections (see the module docstring).

    Args:
        dynamodb: a boto3 DynamoDB client.
        table_name: the connection table (contract.CONNECTION_TABLE_SCHEMA).
        management: a boto3 `apigatewaymanagementapi` client for this API's stage.
        clock: epoch seconds now. Default time.time.
    """

    def __init__(
        self,
        dynamodb: Any,
        table_name: str,
        management: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dynamodb = dynamodb
        self.table_name = table_name
        self.management = management
        self.clock = clock

    def claim(self, session_id: str, connection_id: str, owner: str | None) -> Claim:
        """Map `session_id` to `connection_id` if the rules allow it; writes nothing if not.

        `owner` is the caller's Cognito identity id (`iam` mode), or None.
        AWS errors propagate (botocore exceptions): the caller answers 500.
        """
        previous: dict[str, Any] | None = None  # the row this round may replace, if any
        for _ in range(MAX_ROUNDS):
            current = self._write(session_id, connection_id, owner, previous)
            if current is None:
                return _granted(previous)
            mine = owner is not None and _text(current, contract.OWNER_IDENTITY) == owner
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
        owner: str | None,
        previous: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        """One conditional PutItem; None when it wrote, else the row that stopped it.

        With `previous` it replaces exactly that row (same connection id); otherwise it
        writes a free id or, for an identity, the row that identity registered.
        """
        now = self.clock()
        item = {
            contract.SESSION_ID: {"S": session_id},
            contract.CONNECTION_ID: {"S": connection_id},
            contract.TTL: {"N": str(contract.connection_ttl(now))},
        }
        if owner is not None:
            item[contract.OWNER_IDENTITY] = {"S": owner}
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
            if owner is not None:
                names["#owner"] = contract.OWNER_IDENTITY
                values[":owner"] = {"S": owner}
                condition += " OR #owner = :owner"
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
