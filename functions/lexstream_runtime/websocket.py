"""What the route functions share: reading API Gateway WebSocket events and answering them.

Every answer is a Lambda proxy response with a short, client-safe JSON message; the detail
(reason, ids, the AWS error code) goes to one structured log line instead, so responses
never reveal table names, stack traces or AWS error text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from . import metrics
from .aws import AWS_ERRORS, LazyClient, error_code, route_management_client
from .contract import ENV_CALLBACK_URL
from .environment import ConfigurationError, required
from .logs import log_json


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def request_context(event: Any) -> Mapping[str, Any]:
    """The event's requestContext, or an empty mapping when the event has none."""
    return _mapping(_mapping(event).get("requestContext"))


def connection_id(event: Any) -> str | None:
    """The caller's WebSocket connection id, or None when the event is malformed."""
    value = request_context(event).get("connectionId")
    return value if isinstance(value, str) and value else None


def query_parameter(event: Any, name: str) -> str | None:
    """One query string parameter of a $connect event, or None when absent."""
    value = _mapping(_mapping(event).get("queryStringParameters")).get(name)
    return value if isinstance(value, str) else None


def cognito_identity_id(event: Any) -> str | None:
    """The Cognito identity that signed the $connect request (AWS_IAM routes only)."""
    value = _mapping(request_context(event).get("identity")).get("cognitoIdentityId")
    return value if isinstance(value, str) and value else None


def source_ip(event: Any) -> str | None:
    """The address the $connect came from, as API Gateway saw it, or None."""
    value = _mapping(request_context(event).get("identity")).get("sourceIp")
    return value if isinstance(value, str) and value else None


def respond(status: int, message: str) -> dict[str, Any]:
    """A Lambda proxy response carrying `{"message": message}`."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": message}),
    }


def decide(
    route: str,
    status: int,
    message: str,
    reason: str,
    *,
    quota_consumed: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """Log one decision line (route, status, reason, fields, and its metrics: see
    `metrics.route_decision_metrics`) and return the response. `quota_consumed`: the
    shared quota counted this request."""
    decision = "accepted" if status < 400 else "rejected" if status < 500 else "failed"
    log_json(
        "route_decision",
        route=route,
        decision=decision,
        status=status,
        reason=reason,
        **fields,
        **metrics.fields(metrics.route_decision_metrics(route, status, quota_consumed)),
    )
    return respond(status, message)


def failed(route: str, reason: str, error: BaseException, **fields: Any) -> dict[str, Any]:
    """A 500 for an AWS call that failed: the error code goes to the log line only."""
    return decide(route, 500, "Internal error", reason, error=error_code(error), **fields)


def count(
    route: str, counter: Callable[[], bool], reason: str, **fields: Any
) -> dict[str, Any] | None:
    """Count one request with `counter` (a quota's admit method): None when it is admitted,
    else the refusal: 429 with `reason` when the counter is full, 500 when the quota table
    cannot be reached (an unknown count must not admit traffic for free)."""
    try:
        if counter():
            return None
    except AWS_ERRORS as error:
        return failed(route, "quota_unavailable", error, **fields)
    return decide(route, 429, "Too many requests", reason, **fields)


def own_api_management_client() -> Any:
    """The management API client of the component's own API stage, from
    LEXSTREAM_CALLBACK_URL: checked at cold init, created on first use (`aws.LazyClient`),
    because the route functions call it only on rare paths."""
    callback_url = required(ENV_CALLBACK_URL)
    parts = urlsplit(callback_url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ConfigurationError(
            f"environment variable {ENV_CALLBACK_URL}={callback_url!r} must be the "
            "API stage's https callback URL"
        )

    def create() -> Any:
        try:
            return route_management_client(callback_url)
        except ValueError as error:  # botocore refuses an endpoint URL it cannot use
            raise ConfigurationError(
                f"environment variable {ENV_CALLBACK_URL}={callback_url!r} must be the "
                f"API stage's https callback URL: {error}"
            ) from None

    return LazyClient(create)
