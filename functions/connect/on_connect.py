"""$connect: admit a browser's WebSocket and give its Lex session to this connection.

Order of checks, cheapest safe order first:
1. The event must carry a connection id (API Gateway always sends one).
2. The quota counts the request, valid or not, so junk traffic costs quota like any
   other request and cannot be used to run the function for free. Full → 429.
3. `sessionId` must look like a Lex V2 session id. Missing or malformed → 400.
4. With `iam` auth the caller must be a Cognito identity, and a session id shaped like a
   Cognito identity id may be registered only by that identity. → 403.
   Any other session id is accepted: the stock Lex Web UI sends `lex-web-ui-` + 4 hex
   digits, not its identity id.
5. The session must be free, the caller's own, or held by a connection that is gone
   (`lexstream_runtime.sessions`): a live session cannot be taken over. → 403.
6. DynamoDB or the management API failing → 500 with no detail.
A refused connect never writes a connection item, and its log line says why.
"""

from __future__ import annotations

from typing import Any

from lexstream_runtime import aws, contract, environment, websocket
from lexstream_runtime.quota import RequestQuota
from lexstream_runtime.sessions import SessionRegistry

CONNECTION_TABLE = environment.required(contract.ENV_CONNECTION_TABLE)
AUTH_MODE = environment.one_of(contract.ENV_AUTH_MODE, contract.AUTH_MODES)
CALLBACK_URL = environment.required(contract.ENV_CALLBACK_URL)
DYNAMODB = aws.dynamodb_client()
QUOTA = RequestQuota.from_environment(DYNAMODB)
try:
    # Asked whether a session's connection is still live (GetConnection).
    MANAGEMENT = aws.route_management_client(CALLBACK_URL)
except ValueError as error:  # botocore refuses an endpoint URL it cannot use
    raise environment.ConfigurationError(
        f"environment variable {contract.ENV_CALLBACK_URL}={CALLBACK_URL!r} must be the "
        f"API stage's https callback URL: {error}"
    ) from None
SESSIONS = SessionRegistry(DYNAMODB, CONNECTION_TABLE, MANAGEMENT)

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

    fields = {"connectionId": connection_id, "sessionId": session_id}
    owner = websocket.cognito_identity_id(event) if AUTH_MODE == contract.AUTH_IAM else None
    if AUTH_MODE == contract.AUTH_IAM:
        if owner is None:
            return websocket.decide(ROUTE, 403, "Forbidden", "identity_missing", **fields)
        names_identity = contract.COGNITO_IDENTITY_ID_PATTERN.fullmatch(session_id)
        if names_identity and session_id != owner:
            return websocket.decide(
                ROUTE, 403, "Forbidden", "identity_session_of_another", identity=owner, **fields
            )
        fields["identity"] = owner

    try:
        claim = SESSIONS.claim(session_id, connection_id, owner)
    except aws.AWS_ERRORS as error:
        return websocket.failed(ROUTE, "table_unavailable", error, **fields)
    if claim.previous_connection is not None:
        fields["previousConnectionId"] = claim.previous_connection
    if not claim.granted:
        return websocket.decide(ROUTE, 403, "Forbidden", claim.reason, **fields)
    return websocket.decide(ROUTE, 200, "Connected", claim.reason, **fields)
