"""$connect: admit a browser's WebSocket and map its Lex session to the connection.

Order of checks, cheapest safe order first:
1. The event must carry a connection id (API Gateway always sends one).
2. The quota counts the request, valid or not, so junk traffic costs quota like any
   other request and cannot be used to run the function for free. Full → 429.
3. `sessionId` must look like a Lex V2 session id. Missing or malformed → 400.
4. With `iam` auth, the session id must be the caller's own Cognito identity id, which
   is what the Lex Web UI uses as its session id; otherwise anyone holding identity-pool
   credentials could register another user's session and read their stream. → 403.
5. Write {sessionId, connectionId, ttl}; a reconnect (a new tab) replaces the old row.
   DynamoDB failing → 500 with no detail.
A rejected connect never writes a connection item.
"""

from __future__ import annotations

import time
from typing import Any

from lexstream_runtime import aws, contract, environment, websocket
from lexstream_runtime.quota import RequestQuota

CONNECTION_TABLE = environment.required(contract.ENV_CONNECTION_TABLE)
AUTH_MODE = environment.one_of(contract.ENV_AUTH_MODE, contract.AUTH_MODES)
DYNAMODB = aws.dynamodb_client()
QUOTA = RequestQuota.from_environment(DYNAMODB)

ROUTE = contract.ROUTE_CONNECT
INVALID_SESSION_ID = (
    f"query parameter {contract.CONNECT_QUERY_PARAMETER} must be 2-100 characters "
    "of 0-9 a-z A-Z . _ : -"
)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    connection_id, refusal = websocket.counted_request(event, ROUTE, QUOTA)
    if refusal is not None:
        return refusal

    session_id = websocket.query_parameter(event, contract.CONNECT_QUERY_PARAMETER)
    if session_id is None or not contract.SESSION_ID_PATTERN.fullmatch(session_id):
        return websocket.decide(
            ROUTE, 400, INVALID_SESSION_ID, "invalid_session_id", connectionId=connection_id
        )

    owner = websocket.cognito_identity_id(event)
    if AUTH_MODE == contract.AUTH_IAM and owner != session_id:
        return websocket.decide(
            ROUTE,
            403,
            "Forbidden",
            "session_not_owned_by_caller",
            connectionId=connection_id,
            sessionId=session_id,
            identity=owner,
        )
    return _register(connection_id, session_id, owner)


def _register(connection_id: str, session_id: str, owner: str | None) -> dict[str, Any]:
    item = {
        contract.SESSION_ID: {"S": session_id},
        contract.CONNECTION_ID: {"S": connection_id},
        # Whole seconds: DynamoDB ignores a TTL that is fractional.
        contract.TTL: {"N": str(int(time.time()) + contract.CONNECTION_TTL_SECONDS)},
    }
    if AUTH_MODE == contract.AUTH_IAM and owner is not None:
        item[contract.OWNER_IDENTITY] = {"S": owner}
    try:
        DYNAMODB.put_item(TableName=CONNECTION_TABLE, Item=item)
    except aws.AWS_ERRORS as error:
        return websocket.failed(
            ROUTE, "table_unavailable", error, connectionId=connection_id, sessionId=session_id
        )
    return websocket.decide(
        ROUTE, 200, "Connected", "registered", connectionId=connection_id, sessionId=session_id
    )
