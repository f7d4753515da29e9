"""$disconnect: remove the session's mapping, but only if it still names this connection.

The event carries only the connection id, so the row is found through the
`byConnectionId` index. When the user opened a newer tab, that tab's $connect has already
replaced the row with its own connection id; the conditional delete then leaves it alone.
A duplicate or late disconnect finds nothing and succeeds.
"""

from __future__ import annotations

from lexstream_runtime import cold_init  # first: the init below runs without the cycle collector

# isort: split
from typing import Any

from lexstream_runtime import aws, contract, environment, websocket

CONNECTION_TABLE = environment.required(contract.ENV_CONNECTION_TABLE)
DYNAMODB = aws.dynamodb_client()

ROUTE = contract.ROUTE_DISCONNECT
cold_init.done()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    connection_id = websocket.connection_id(event)
    if connection_id is None:
        return websocket.decide(ROUTE, 400, "Bad request", "malformed_event")
    removed = kept = 0
    try:
        for session_id in _sessions_of(connection_id):
            if _delete_if_still_mapped(session_id, connection_id):
                removed += 1
            else:
                kept += 1
    except aws.AWS_ERRORS as error:
        return websocket.failed(ROUTE, "table_unavailable", error, connectionId=connection_id)
    reason = "removed" if removed else "replaced_by_newer_connection" if kept else "not_found"
    return websocket.decide(
        ROUTE, 200, "Disconnected", reason, connectionId=connection_id, removed=removed
    )


def _sessions_of(connection_id: str) -> list[str]:
    sessions: list[str] = []
    query: dict[str, Any] = {
        "TableName": CONNECTION_TABLE,
        "IndexName": contract.CONNECTION_INDEX,
        "KeyConditionExpression": "#connection = :connection",
        "ExpressionAttributeNames": {"#connection": contract.CONNECTION_ID},
        "ExpressionAttributeValues": {":connection": {"S": connection_id}},
    }
    while True:
        page = DYNAMODB.query(**query)
        sessions += [item[contract.SESSION_ID]["S"] for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return sessions
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _delete_if_still_mapped(session_id: str, connection_id: str) -> bool:
    try:
        DYNAMODB.delete_item(
            TableName=CONNECTION_TABLE,
            Key={contract.SESSION_ID: {"S": session_id}},
            ConditionExpression="#connection = :connection",
            ExpressionAttributeNames={"#connection": contract.CONNECTION_ID},
            ExpressionAttributeValues={":connection": {"S": connection_id}},
        )
    except DYNAMODB.exceptions.ConditionalCheckFailedException:
        return False  # a newer connection owns the session now
    return True
