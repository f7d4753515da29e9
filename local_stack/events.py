"""API Gateway WebSocket events, in the shapes AWS documents for Lambda proxy integrations.

`$connect` gets the handshake's headers and query string, messages get the body, and
`$disconnect` gets the close code and reason; all share one `requestContext`.
"""

from __future__ import annotations

import base64
import secrets
import string
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from lexstream_runtime import contract

_ID_ALPHABET = string.ascii_letters + string.digits
# Headers the client sent for the handshake itself; API Gateway does not pass them on.
_HOP_BY_HOP = {"connection", "upgrade"}


def new_id() -> str:
    """An id shaped like API Gateway's connection and request ids: 15 characters and `=`.

    Only letters and digits before the `=`, so the id is safe in a URL path even for
    callers that do not percent-encode it.
    """
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(15)) + "="


@dataclass
class ConnectionInfo:
    """What the gateway knows about one WebSocket for as long as it is open."""

    connection_id: str
    api_id: str
    stage: str
    domain_name: str
    source_ip: str
    user_agent: str
    identity: dict[str, Any] = field(default_factory=dict)
    connected_at_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def request_context(self, route_key: str, event_type: str) -> dict[str, Any]:
        now = time.time()
        request_id = new_id()
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": _request_time(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": self.connected_at_ms,
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "domainName": self.domain_name,
            "connectionId": self.connection_id,
            "apiId": self.api_id,
            "identity": {
                **self.identity,
                "sourceIp": self.source_ip,
                "userAgent": self.user_agent,
            },
        }


def connect_event(
    info: ConnectionInfo,
    headers: Iterable[tuple[str, str]],
    query: Iterable[tuple[str, str]],
) -> dict[str, Any]:
    """The `$connect` event: the handshake's headers and query string, single and multi."""
    single_headers, multi_headers = _single_and_multi(
        (name, value) for name, value in headers if name.lower() not in _HOP_BY_HOP
    )
    event: dict[str, Any] = {"headers": single_headers, "multiValueHeaders": multi_headers}
    single_query, multi_query = _single_and_multi(query)
    # Like API Gateway, a connect without a query string has no query fields at all.
    if single_query:
        event["queryStringParameters"] = single_query
        event["multiValueQueryStringParameters"] = multi_query
    event["requestContext"] = info.request_context(contract.ROUTE_CONNECT, "CONNECT")
    event["isBase64Encoded"] = False
    return event


def message_event(info: ConnectionInfo, route_key: str, data: str | bytes) -> dict[str, Any]:
    """A client message routed to `route_key`; binary frames arrive base64-encoded."""
    context = info.request_context(route_key, "MESSAGE")
    context["messageId"] = new_id()
    if isinstance(data, bytes):
        return {
            "requestContext": context,
            "body": base64.b64encode(data).decode(),
            "isBase64Encoded": True,
        }
    return {"requestContext": context, "body": data, "isBase64Encoded": False}


def disconnect_event(info: ConnectionInfo, status_code: int, reason: str) -> dict[str, Any]:
    """The `$disconnect` event: only the connection id identifies who left."""
    headers = {"Host": info.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    context = info.request_context(contract.ROUTE_DISCONNECT, "DISCONNECT")
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def _single_and_multi(
    pairs: Iterable[tuple[str, str]],
) -> tuple[dict[str, str], dict[str, list[str]]]:
    # API Gateway's single-value map keeps the last value of a repeated name.
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    return {name: values[-1] for name, values in multi.items()}, multi


def _request_time(epoch: float) -> str:
    # API Gateway's requestTime looks like 25/Nov/2026:10:00:00 +0000.
    parts = formatdate(epoch, usegmt=True).split()  # 'Wed, 25 Nov 2026 10:00:00 GMT'
    return f"{int(parts[1]):02d}/{parts[2]}/{parts[3]}:{parts[4]} +0000"
