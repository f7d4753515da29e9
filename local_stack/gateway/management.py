"""The management API: `POST`/`GET`/`DELETE /{stage}/@connections/{id}`.

It answers unmodified boto3 `apigatewaymanagementapi` clients with AWS's status codes and
error types (`x-amzn-ErrorType`): 410 Gone, 413 PayloadTooLarge, 429 LimitExceeded when
the client's buffer is full, 403 Forbidden for unsigned or badly signed calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSCloseCode, web
from lexstream_runtime import contract

from ..identity import LocalCredentials
from ..sigv4 import SignatureError, verify_signed_request
from .connections import DELETED_REASON, Connection, Connections

log = logging.getLogger("lexstream.local.gateway")

# How long a management call waits for a handshake that $connect has already accepted.
_HANDSHAKE_WAIT_S = 5.0


class ManagementApi:
    """The `@connections` routes of one gateway.

    Args:
        connections: the gateway's open sockets and totals.
        region: the region the SigV4 credential scope must name.
        callback_latency_s: delay added to every call.
        signers: access key id → the credentials that may call, or None for an unknown
            key; None accepts any execute-api SigV4 `Authorization` header unverified.
        client_buffer_bytes: unsent bytes queued to one client before posts fail with 429.
        run_in_background: starts a coroutine the caller need not wait for.
    """

    def __init__(
        self,
        connections: Connections,
        region: str,
        callback_latency_s: float,
        signers: Callable[[str], LocalCredentials | None] | None,
        client_buffer_bytes: int,
        run_in_background: Callable[[Coroutine[Any, Any, Any]], None],
    ) -> None:
        self.connections = connections
        self.region = region
        self.callback_latency_s = callback_latency_s
        self.signers = signers
        self.client_buffer_bytes = client_buffer_bytes
        self._run_in_background = run_in_background

    def routes(self, stage: str) -> list[web.RouteDef]:
        path = f"/{stage}/@connections/{{connection_id}}"
        return [web.post(path, self.post), web.get(path, self.get), web.delete(path, self.delete)]

    async def post(self, request: web.Request) -> web.Response:
        connection = await self._authorized_connection(request)
        if isinstance(connection, web.Response):
            return connection
        data = await request.read()
        if len(data) > contract.MAX_MESSAGE_BYTES:
            return self._error("PayloadTooLargeException", 413, "Request Entity Too Large")
        if connection.transport is not None and (
            connection.transport.get_write_buffer_size() > self.client_buffer_bytes
        ):
            return self._error("LimitExceededException", 429, None)
        try:
            text: str | None = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        try:
            if text is not None:
                await connection.ws.send_str(text)
            else:
                await connection.ws.send_bytes(data)
        except ConnectionError:
            return self._error("GoneException", 410, None)
        self.connections.delivered(connection, len(data))
        return web.Response(status=200)

    async def get(self, request: web.Request) -> web.Response:
        connection = await self._authorized_connection(request)
        if isinstance(connection, web.Response):
            return connection
        info = connection.info
        return web.json_response(
            {
                "connectedAt": _iso(info.connected_at_ms / 1000),
                "identity": {"sourceIp": info.source_ip, "userAgent": info.user_agent},
                "lastActiveAt": _iso(connection.last_active_wall),
            }
        )

    async def delete(self, request: web.Request) -> web.Response:
        connection = await self._authorized_connection(request)
        if isinstance(connection, web.Response):
            return connection
        # Closing waits for the client's close frame; the caller need not wait for that.
        self._run_in_background(
            connection.close(WSCloseCode.OK, DELETED_REASON, "deleted through the management API")
        )
        return web.Response(status=204)

    async def _authorized_connection(self, request: web.Request) -> Connection | web.Response:
        if self.callback_latency_s:
            await asyncio.sleep(self.callback_latency_s)
        # Only SigV4-signed calls reach the real API (execute-api:ManageConnections).
        authorization = request.headers.get("Authorization", "")
        if (
            not authorization.startswith("AWS4-HMAC-SHA256 ")
            or "/execute-api/" not in authorization
        ):
            return self._error("ForbiddenException", 403, "Forbidden")
        if self.signers is not None:
            headers = {
                name.lower(): ",".join(request.headers.getall(name)) for name in request.headers
            }
            try:
                verify_signed_request(
                    request.method,
                    request.raw_path.partition("?")[0],
                    request.query.items(),
                    headers,
                    await request.read(),
                    self.region,
                    self.signers,
                    time.time(),
                )
            except SignatureError as error:
                log.warning("management call refused: %s", error)
                return self._error(error.error_type, 403, str(error))
        connection = self.connections.open.get(request.match_info["connection_id"])
        if connection is not None and not connection.ready.is_set():
            try:
                await asyncio.wait_for(connection.ready.wait(), _HANDSHAKE_WAIT_S)
            except TimeoutError:
                connection = None
        if connection is None or connection.ws.closed:
            return self._error("GoneException", 410, None)
        return connection

    def _error(self, error_type: str, status: int, message: str | None) -> web.Response:
        self.connections.post_error(error_type)
        return web.json_response(
            {"message": message}, status=status, headers={"x-amzn-ErrorType": error_type}
        )


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
