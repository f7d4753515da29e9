"""$default: every client message that no route matched.

The Lex Web UI only ever sends `{"action": "ping"}`, which the MOCK `ping` route answers
without a Lambda, so whatever lands here comes from something else. It is answered
cheaply and predictably, and nothing is ever posted back to the connection: the Web UI
appends every frame it receives to the visible chat text.

Order: the connection's budget first: only its first `CONNECTION_MESSAGE_BUDGET`
messages count, and a message beyond it is refused (429) without touching the shared
quota, and the connection is closed, so one socket cannot spend the quota for everyone.
Then the shared quota counts the message (it costs a request like any other; full → 429),
then the size is checked before any parsing (> 1 KB → 413), then the body must be a JSON
object with a known action (otherwise 400). A `ping` that reaches here gets 200.
"""

from __future__ import annotations

from lexstream_runtime import cold_init  # first: the init below runs without the cycle collector

# isort: split
import json
from typing import Any

from lexstream_runtime import aws, contract, websocket
from lexstream_runtime.quota import CONNECTION_MESSAGE_BUDGET, RequestQuota

DYNAMODB = aws.dynamodb_client()
QUOTA = RequestQuota.from_environment(DYNAMODB)
# Closes a connection that has spent its budget (DeleteConnection); made on first use.
MANAGEMENT = websocket.own_api_management_client()

ROUTE = contract.ROUTE_DEFAULT
# A heartbeat is 17 bytes; anything near this bound is not from the Web UI, and a small
# bound keeps a hostile client from making the function parse megabytes.
MAX_MESSAGE_BYTES = 1024
KNOWN_ACTIONS = (contract.ROUTE_PING,)
cold_init.done()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    connection_id = websocket.connection_id(event)
    if connection_id is None:
        return websocket.decide(ROUTE, 400, "Bad request", "malformed_event")
    try:
        within_budget = QUOTA.admit_message(connection_id)
    except aws.AWS_ERRORS as error:
        return websocket.failed(ROUTE, "quota_unavailable", error, connectionId=connection_id)
    if not within_budget:
        return websocket.decide(
            ROUTE,
            429,
            "Too many requests",
            "connection_budget_spent",
            connectionId=connection_id,
            budget=CONNECTION_MESSAGE_BUDGET,
            closed=_close(connection_id),
        )
    refusal = websocket.count(ROUTE, QUOTA.admit, "quota_exceeded", connectionId=connection_id)
    if refusal is not None:
        return refusal
    status, message, reason = _judge(event)
    return websocket.decide(
        ROUTE, status, message, reason, quota_consumed=True, connectionId=connection_id
    )


def _close(connection_id: str) -> str:
    """Close the connection; "closed", or the error code (GoneException: it already was)."""
    try:
        MANAGEMENT.delete_connection(ConnectionId=connection_id)
    except aws.AWS_ERRORS as error:
        return aws.error_code(error)
    return "closed"


def _judge(event: dict[str, Any]) -> tuple[int, str, str]:
    body = event.get("body")
    if event.get("isBase64Encoded"):
        return 400, "Binary messages are not accepted; send a JSON text message", "binary"
    if not isinstance(body, str) or not body:
        return 400, 'Expected a JSON message such as {"action": "ping"}', "empty"
    # Length in characters bounds the UTF-8 size from below: reject huge bodies before
    # encoding them, then check the exact size of what is left.
    if len(body) > MAX_MESSAGE_BYTES or len(body.encode("utf-8", "replace")) > MAX_MESSAGE_BYTES:
        return 413, f"Messages are limited to {MAX_MESSAGE_BYTES} bytes", "too_large"
    try:
        message = json.loads(body)
    except ValueError:
        return 400, 'Expected a JSON message such as {"action": "ping"}', "not_json"
    action = message.get("action") if isinstance(message, dict) else None
    if action not in KNOWN_ACTIONS:
        valid = ", ".join(KNOWN_ACTIONS)
        return 400, f"Unknown action; valid actions: {valid}", "unknown_action"
    return 200, "pong", "heartbeat"
