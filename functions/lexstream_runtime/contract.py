"""The names the infrastructure and the function code must agree on.

This is the one home of every table attribute, environment variable, route key and Lex
session attribute name that crosses the line between the Pulumi component and the
Lambda code. The component imports this module to set what it deploys; the functions
import it to read what they were given. Nothing here may import Pulumi or boto3.
"""

from __future__ import annotations

import re

# --- Connection table (the Lex Web UI's documented fulfillment reads this shape) ---
SESSION_ID = "sessionId"  # partition key, S
CONNECTION_ID = "connectionId"  # S; also the partition key of the lookup index
TTL = "ttl"  # N, whole epoch seconds (DynamoDB ignores fractional or string TTLs)
# S, the HMAC-SHA256 (hex) of the Cognito identity that registered the session, under the
# stack's key (lexstream_runtime.sessions.OwnerKey); never the identity id itself.
OWNER_IDENTITY = "ownerIdentity"
# A row's registration time is its TTL less CONNECTION_TTL_SECONDS (see connection_ttl).
CONNECTION_INDEX = "byConnectionId"  # GSI, KEYS_ONLY: $disconnect only knows connectionId

# --- Quota table: one atomic counter item per quota period, plus the narrower counters
# of one connection's messages and one identity's connects (lexstream_runtime.quota) ---
QUOTA_PERIOD_KEY = "period"  # partition key, S, e.g. "DAY#2026-11-25"
QUOTA_REQUESTS = "requests"  # N, requests admitted under the item's key
# The stack's secret key for OWNER_IDENTITY: one item of the quota table, which only the
# route functions may read (not the fulfillment policy), created by the first connect.
OWNER_KEY_ITEM = "SECRET#ownerIdentityKey"
OWNER_KEY_SECRET = "secret"  # B, 32 random bytes

# API Gateway closes every WebSocket after 2 hours; the row lives a little longer so a
# stream that is still open never loses its mapping to TTL.
MAX_CONNECTION_SECONDS = 2 * 60 * 60
CONNECTION_TTL_SECONDS = MAX_CONNECTION_SECONDS + 10 * 60


def connection_ttl(registered_at: float) -> int:
    """The TTL of a row registered at `registered_at` (epoch seconds), in whole seconds:
    DynamoDB ignores a TTL that is fractional."""
    return int(registered_at) + CONNECTION_TTL_SECONDS


def registered_at(ttl: int) -> int:
    """When a row with this TTL was registered (the inverse of connection_ttl)."""
    return ttl - CONNECTION_TTL_SECONDS


# --- Environment variables the component sets on the functions ---
ENV_CONNECTION_TABLE = "LEXSTREAM_CONNECTION_TABLE"
ENV_QUOTA_TABLE = "LEXSTREAM_QUOTA_TABLE"
ENV_QUOTA_LIMIT = "LEXSTREAM_QUOTA_LIMIT"
ENV_QUOTA_PERIOD = "LEXSTREAM_QUOTA_PERIOD"
ENV_QUOTA_PER_IDENTITY_LIMIT = "LEXSTREAM_QUOTA_PER_IDENTITY_LIMIT"
ENV_QUOTA_PER_SOURCE_LIMIT = "LEXSTREAM_QUOTA_PER_SOURCE_LIMIT"
ENV_AUTH_MODE = "LEXSTREAM_AUTH_MODE"
ENV_MODEL_ID = "LEXSTREAM_MODEL_ID"
ENV_SYSTEM_PROMPT = "LEXSTREAM_SYSTEM_PROMPT"
ENV_MAX_TOKENS = "LEXSTREAM_MAX_TOKENS"
# The deployment's own callback URL. The browser names the URL to post to (a session
# attribute), so a fulfillment function with this set streams only to its own API; the
# connect function asks it whether a session's connection is still live.
ENV_CALLBACK_URL = "LEXSTREAM_CALLBACK_URL"

# --- Metrics: CloudWatch Embedded Metric Format, inside the functions' JSON log lines ---
# The namespace the component sets (a bot's own function using the helper may set its own);
# without it the lines carry no metrics.
ENV_METRICS_NAMESPACE = "LEXSTREAM_METRICS_NAMESPACE"
# Route functions, one value per decision.
METRIC_CONNECTS_ADMITTED = "ConnectsAdmitted"
METRIC_CONNECTS_REFUSED = "ConnectsRefused"  # by DIMENSION_REASON: one of REFUSAL_REASONS
METRIC_QUOTA_CONSUMED = "QuotaConsumed"  # requests counted by the shared quota
REFUSAL_REASONS = ("quota", "invalid", "ownership")
# The helper, one value each per turn.
METRIC_TURNS = "Turns"  # by DIMENSION_OUTCOME: one of TURN_OUTCOMES
METRIC_MESSAGES_POSTED = "MessagesPosted"
METRIC_BYTES_POSTED = "BytesPosted"
METRIC_POST_RETRIES = "PostRetries"
METRIC_FAILED_POSTS = "FailedPosts"
METRIC_FIRST_POST_DELAY = "FirstPostDelay"  # milliseconds from the first write to the first post
# How a turn's stream ended; a turn that did not stream is "off_" + why not.
TURN_OUTCOMES = (
    "complete",
    "gone",
    "throttled",
    "failed",
    "off_attributes_missing",
    "off_connection_not_found",
    "off_session_id_missing",
    "off_endpoint_invalid",
    "off_endpoint_not_allowed",
    "off_lookup_failed",
    "off_table_invalid",
    "off_other",  # a turn made without a target by the caller's own code
)
DIMENSION_REASON = "Reason"
DIMENSION_OUTCOME = "Outcome"

# The local stack's switch that lets the helper post to plain http on loopback ("1": on).
# Only the local stack sets it; the component never does, because on Lambda loopback is
# where the Runtime API listens.
ENV_LOCAL_LOOPBACK_CALLBACKS = "LEXSTREAM_LOCAL_LOOPBACK_CALLBACKS"

# --- Custom domain: the URL the browser names when the socket is on the stack's own
# domain. A function with LEXSTREAM_CALLBACK_URL set treats it as that URL. ---
ENV_CALLBACK_ALIAS = "LEXSTREAM_CALLBACK_ALIAS"

# --- Auth modes for $connect ---
AUTH_IAM = "iam"
AUTH_NONE = "none"
AUTH_MODES = (AUTH_IAM, AUTH_NONE)

# --- Quota periods, as API Gateway usage plans name them ---
QUOTA_PERIODS = ("DAY", "WEEK", "MONTH")

# --- API Gateway stage names: letters, digits, hyphens and underscores, at most 128 ---
STAGE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")

# --- WebSocket routes (route selection is $request.body.action) ---
ROUTE_SELECTION_EXPRESSION = "$request.body.action"
ROUTE_CONNECT = "$connect"
ROUTE_DISCONNECT = "$disconnect"
ROUTE_DEFAULT = "$default"
ROUTE_PING = "ping"  # the Lex Web UI's heartbeat: {"action": "ping"} every 9 minutes
CONNECT_QUERY_PARAMETER = "sessionId"

# --- Lex session attributes the Web UI sets on every streamed turn ---
SESSION_ATTR_ENDPOINT = "streamingEndpoint"  # https callback URL including the stage
SESSION_ATTR_TABLE = "streamingDynamoDbTable"

# --- Lex Web UI configuration keys (for the ready-to-paste fragment) ---
WEB_UI_ALLOW_STREAMING = "allowStreamingResponses"
WEB_UI_WEBSOCKET_ENDPOINT = "streamingWebSocketEndpoint"
WEB_UI_TABLE = "streamingDynamoDbTable"

# --- Session ids: Lex V2 accepts 2-100 characters of [0-9a-zA-Z._:-] ---
SESSION_ID_PATTERN = re.compile(r"[0-9a-zA-Z._:-]{2,100}")
# A Cognito identity id, `<region>:<uuid>`. A session id of this shape names an identity,
# so only that identity may register it. Identity ids of unauthenticated identities are
# enough to obtain their credentials, so logs never carry them in clear. Case-insensitive
# so that a variant in other letters cannot pass as an ordinary session id.
COGNITO_IDENTITY_ID_PATTERN = re.compile(
    r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    re.IGNORECASE,
)

# --- API Gateway WebSocket limits ---
MAX_FRAME_BYTES = 32 * 1024
MAX_MESSAGE_BYTES = 128 * 1024
IDLE_TIMEOUT_SECONDS = 10 * 60
BILLING_UNIT_BYTES = 32 * 1024

# --- Function handlers: module.function inside each function's archive ---
HANDLERS = {
    "connect": "on_connect.handler",
    "disconnect": "on_disconnect.handler",
    "default": "on_default.handler",
    "bedrock_fulfillment": "bedrock_fulfillment.handler",
}
RUNTIME_PACKAGE = "lexstream_runtime"


# --- Table schemas, in DynamoDB CreateTable terms. The component declares exactly these,
# and the local stack and tests create exactly these, so the three cannot drift apart.
CONNECTION_TABLE_SCHEMA = {
    "AttributeDefinitions": [
        {"AttributeName": SESSION_ID, "AttributeType": "S"},
        {"AttributeName": CONNECTION_ID, "AttributeType": "S"},
    ],
    "KeySchema": [{"AttributeName": SESSION_ID, "KeyType": "HASH"}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": CONNECTION_INDEX,
            "KeySchema": [{"AttributeName": CONNECTION_ID, "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "TimeToLiveAttribute": TTL,
}
QUOTA_TABLE_SCHEMA = {
    "AttributeDefinitions": [{"AttributeName": QUOTA_PERIOD_KEY, "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": QUOTA_PERIOD_KEY, "KeyType": "HASH"}],
    "BillingMode": "PAY_PER_REQUEST",
    "TimeToLiveAttribute": TTL,
}
