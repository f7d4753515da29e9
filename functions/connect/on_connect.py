"""$connect: admit a browser's WebSocket and give its Lex session to this connection.

Order of checks, cheapest safe order first:
1. The event must carry a connection id (API Gateway always sends one).
2. The source network (the address; an IPv6 address's /64) has at most
   `per_source_limit` connects per quota period, in both modes, counted before anything
   else, so that minting identities from one machine stops there → 429.
   With `iam` auth the caller must be a Cognito identity (API Gateway lets no unsigned
   connect through, so its absence means a misrouted event) → 403; and the identity has
   at most `per_identity_limit` connects per quota period, counted before the shared
   quota, so one identity cannot spend the quota for everyone → 429.
3. The shared quota counts the request, valid or not, so junk traffic costs quota like
   any other request and cannot be used to run the function for free. Full → 429.
4. `sessionId` must look like a Lex V2 session id. Missing or malformed → 400.
5. With `iam` auth a session id shaped like a Cognito identity id may be registered
   only by that identity. → 403. Any other session id is accepted: the stock Lex Web UI
   sends `lex-web-ui-` + 4 hex digits, not its identity id.
6. The session must be free, held by a connection that is gone, or (only when the
   session id is the caller's own identity id) the caller's own row
   (`lexstream_runtime.sessions`): a live session cannot be taken over. → 403.
7. DynamoDB or the management API failing → 500 with no detail.
A refused connect never writes a connection item, and its log line says why.
"""

from __future__ import annotations

from lexstream_runtime import cold_init  # first: the init below runs without the cycle collector

# isort: split
from typing import Any

from lexstream_runtime import aws, contract, environment, websocket
from lexstream_runtime.quota import RequestQuota
from lexstream_runtime.sessions import OwnerKey, SessionRegistry

CONNECTION_TABLE = environment.required(contract.ENV_CONNECTION_TABLE)
AUTH_MODE = environment.one_of(contract.ENV_AUTH_MODE, contract.AUTH_MODES)
DYNAMODB = aws.dynamodb_client()
QUOTA = RequestQuota.from_environment(
    DYNAMODB, per_identity=AUTH_MODE == contract.AUTH_IAM, per_source=True
)
# Asked whether a session's connection is still live (GetConnection); made on first use.
MANAGEMENT = websocket.own_api_management_client()
SESSIONS = SessionRegistry(
    DYNAMODB, CONNECTION_TABLE, MANAGEMENT, owner_key=OwnerKey(DYNAMODB, QUOTA.table_name)
)

ROUTE = contract.ROUTE_CONNECT
INVALID_SESSION_ID = (
    f"query parameter {contract.CONNECT_QUERY_PARAMETER} must be 2-100 characters "
    "of 0-9 a-z A-Z . _ : -"
)
cold_init.done()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    connection_id = websocket.connection_id(event)
    if connection_id is None:
        return websocket.decide(ROUTE, 400, "Bad request", "malformed_event")
    fields = {"connectionId": connection_id}
    source = websocket.source_ip(event)
    refusal = websocket.count(
        ROUTE, lambda: QUOTA.admit_source(source), "source_quota_exceeded", **fields
    )
    if refusal is not None:
        return refusal
    owner = None
    if AUTH_MODE == contract.AUTH_IAM:
        owner = websocket.cognito_identity_id(event)
        if owner is None:
            return websocket.decide(ROUTE, 403, "Forbidden", "identity_missing", **fields)
        fields["identity"] = owner
        refusal = websocket.count(
            ROUTE, lambda: QUOTA.admit_identity(owner), "identity_quota_exceeded", **fields
        )
        if refusal is not None:
            return refusal
    refusal = websocket.count(ROUTE, QUOTA.admit, "quota_exceeded", **fields)
    if refusal is not None:
        return refusal
    fields["quota_consumed"] = True  # every decision from here on was counted

    session_id = websocket.query_parameter(event, contract.CONNECT_QUERY_PARAMETER)
    if session_id is None or not contract.SESSION_ID_PATTERN.fullmatch(session_id):
        return websocket.decide(ROUTE, 400, INVALID_SESSION_ID, "invalid_session_id", **fields)
    fields["sessionId"] = session_id
    names_identity = contract.COGNITO_IDENTITY_ID_PATTERN.fullmatch(session_id)
    if owner is not None and names_identity and session_id != owner:
        return websocket.decide(ROUTE, 403, "Forbidden", "identity_session_of_another", **fields)

    try:
        claim = SESSIONS.claim(session_id, connection_id, owner)
    except aws.AWS_ERRORS as error:
        return websocket.failed(ROUTE, "table_unavailable", error, **fields)
    if claim.previous_connection is not None:
        fields["previousConnectionId"] = claim.previous_connection
    if not claim.granted:
        return websocket.decide(ROUTE, 403, "Forbidden", claim.reason, **fields)
    return websocket.decide(ROUTE, 200, "Connected", claim.reason, **fields)
