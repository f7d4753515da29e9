"""The WebSocket side of the gateway: `$connect`, messages and routes, limits, `$disconnect`.

- `GET /{stage}` upgrades after the `$connect` route function accepts it (a non-2xx
  response rejects the handshake with that status); `iam` auth first verifies the
  SigV4-presigned URL.
- Route selection is `$request.body.action`; `ping` is a MOCK route that answers nothing;
  everything else goes to `$default`; `$disconnect` runs after every close.
- AWS's limits with AWS's close codes: 1009 for a message too big, 1001 "Going away" after
  the idle timeout or the maximum connection time.

API Gateway limits each frame to 32 KB and each message to 128 KB. aiohttp's public API
limits whole messages only (`max_msg_size`) and never shows frames, so one limit stands
for both: any message over 32 KB closes the socket with 1009. That refuses everything
API Gateway refuses (a browser sends each message as one frame, so for a browser it is
exactly API Gateway's rule) and also a message of 32-128 KB that a client split into
frames of 32 KB or less, which API Gateway would deliver.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Coroutine, Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from lexstream_runtime import contract

from .. import events
from ..activity import Connected, Disconnected
from ..identity import LocalIdentityPool
from ..sigv4 import SignatureError, verify_presigned_request
from .connections import GOING_AWAY_REASON, Connection, Connections, json_error
from .throttle import TokenBucket

log = logging.getLogger("lexstream.local.gateway")

RouteFunction = Callable[[dict[str, Any]], Any]
# The largest message a client may send (see the module docstring).
MAX_CLIENT_MESSAGE_BYTES = contract.MAX_FRAME_BYTES
# Never wait for a slow client while posting: the management API's client buffer check
# answers 429 instead, as API Gateway does.
_NEVER_DRAIN = 1 << 62


class SocketEndpoint:
    """`GET /{stage}`: one WebSocket per request, from `$connect` to `$disconnect`.

    Args:
        connections: the gateway's open sockets and totals.
        routes: route key → function; read per message, so later additions count.
        run_blocking: runs a route function off the event loop.
        run_in_background: starts a coroutine the socket need not wait for.
        info_for: the ConnectionInfo of a new socket for a request.
        auth_mode, region, identity_pool: how `iam` connects are verified.
        forwarded_port: the port for `X-Forwarded-Port`.
        idle_timeout_s, max_connection_s: when the gateway closes a socket.
    """

    def __init__(
        self,
        connections: Connections,
        routes: Mapping[str, RouteFunction],
        run_blocking: Callable[..., Coroutine[Any, Any, Any]],
        run_in_background: Callable[[Coroutine[Any, Any, Any]], None],
        info_for: Callable[[web.Request], events.ConnectionInfo],
        auth_mode: str,
        region: str,
        identity_pool: LocalIdentityPool,
        forwarded_port: Callable[[], int],
        idle_timeout_s: float,
        max_connection_s: float,
    ) -> None:
        self.connections = connections
        self.routes = routes
        self._run_blocking = run_blocking
        self._run_in_background = run_in_background
        self._info_for = info_for
        self.auth_mode = auth_mode
        self.region = region
        self.identity_pool = identity_pool
        self._forwarded_port = forwarded_port
        self.idle_timeout_s = idle_timeout_s
        self.max_connection_s = max_connection_s
        self.throttle: TokenBucket | None = None

    @property
    def counters(self) -> Any:
        return self.connections.counters

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            # aiohttp refuses a message of max_msg_size bytes or more.
            max_msg_size=MAX_CLIENT_MESSAGE_BYTES + 1,
            # API Gateway does not negotiate permessage-deflate.
            compress=False,
            autoping=True,
            writer_limit=_NEVER_DRAIN,
        )
        # A plain HTTP request never reaches $connect.
        if not ws.can_prepare(request).ok:
            return json_error(426, "Upgrade Required")
        if self.throttle is not None and not self.throttle.take():
            self.counters.throttled += 1
            return self._refuse(429, "the stage's throttle", "Too Many Requests")
        info = self._info_for(request)
        if self.auth_mode == contract.AUTH_IAM:
            try:
                credentials = verify_presigned_request(
                    request.method,
                    request.path,
                    request.query.items(),
                    {name.lower(): value for name, value in request.headers.items()},
                    self.region,
                    self.identity_pool.lookup,
                    time.time(),
                )
            except SignatureError as error:
                return self._refuse(403, str(error), "Forbidden")
            info.identity = self.identity_pool.request_identity(credentials)

        status = await self._connect_status(request, info)
        if not 200 <= status < 300:
            message = "Forbidden" if status == 403 else _status_phrase(status)
            return self._refuse(status, f"$connect answered {status}", message)

        loop = asyncio.get_running_loop()
        session_id = request.query.get(contract.CONNECT_QUERY_PARAMETER, "-")
        connection = Connection(info, session_id, ws, request.transport, loop.time(), time.time())
        self.connections.open[info.connection_id] = connection
        try:
            await ws.prepare(request)
        except Exception:
            self.connections.open.pop(info.connection_id, None)
            raise
        connection.ready.set()
        self.counters.connects_accepted += 1
        self.connections.activity.emit(Connected(info.connection_id, session_id))
        watchdog = loop.create_task(self._watch_limits(connection))
        try:
            await self._receive_messages(connection)
        finally:
            watchdog.cancel()
            self.connections.open.pop(info.connection_id, None)
        await self._disconnected(connection)
        return ws

    def _refuse(self, status: int, why: str, message: str) -> web.Response:
        self.counters.connects_rejected += 1
        log.info("connect rejected (%d): %s", status, why)
        return json_error(status, message)

    async def _disconnected(self, connection: Connection) -> None:
        ws = connection.ws
        code = int(connection.close_code or ws.close_code or WSCloseCode.ABNORMAL_CLOSURE)
        reason = connection.close_reason or client_close_reason(code, "")
        by_gateway = connection.closed_because is not None
        self.connections.activity.emit(
            Disconnected(
                connection.info.connection_id,
                code,
                "gateway" if by_gateway else "client",
                connection.closed_because,
            )
        )
        self.counters.disconnects += 1
        # API Gateway runs $disconnect best effort after the socket is gone.
        disconnect = self.routes.get(contract.ROUTE_DISCONNECT)
        if disconnect is not None:
            event = events.disconnect_event(connection.info, code, reason)
            try:
                await self._run_blocking(disconnect, event)
            except Exception:
                log.exception("$disconnect failed for %s", connection.info.connection_id)

    async def _connect_status(self, request: web.Request, info: events.ConnectionInfo) -> int:
        connect = self.routes.get(contract.ROUTE_CONNECT)
        if connect is None:
            return 200
        headers = list(request.headers.items())
        headers += [
            ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{random.getrandbits(96):024x}"),
            ("X-Forwarded-For", info.source_ip),
            ("X-Forwarded-Port", str(self._forwarded_port())),
            ("X-Forwarded-Proto", request.scheme),
        ]
        event = events.connect_event(info, headers, request.query.items())
        try:
            response = await self._run_blocking(connect, event)
        except Exception:
            log.exception("$connect failed for %s", info.connection_id)
            return 500
        try:
            return int(response.get("statusCode", 200)) if response is not None else 200
        except (AttributeError, TypeError, ValueError):
            # A Lambda proxy response that API Gateway cannot read is a 502.
            return 502

    async def _receive_messages(self, connection: Connection) -> None:
        ws = connection.ws
        while True:
            message = await ws.receive()
            if message.type == WSMsgType.CLOSE:
                if connection.close_reason is None:
                    connection.close_reason = client_close_reason(message.data, message.extra)
                return
            if message.type == WSMsgType.ERROR:
                # aiohttp has already closed the socket with the matching code (1009).
                connection.close_code = getattr(message.data, "code", WSCloseCode.INTERNAL_ERROR)
                connection.close_reason = str(message.data)
                connection.closed_because = "the client broke a limit"
                return
            if message.type in (WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            connection.touch()
            self.counters.messages_received += 1
            if self.throttle is not None and not self.throttle.take():
                self.counters.throttled += 1
                await self._send_error(connection, "Too Many Requests")
                continue
            route_key = self._select_route(message.data)
            if route_key == contract.ROUTE_PING:
                continue
            if route_key is None:
                await self._send_error(connection, "Forbidden")
                continue
            event = events.message_event(connection.info, route_key, message.data)
            self._run_in_background(self._invoke_route(connection, route_key, event))

    def _select_route(self, data: str | bytes) -> str | None:
        # Route selection is $request.body.action: only a JSON object with a string action
        # selects a route; anything else falls through to $default.
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            body = None
        action = body.get("action") if isinstance(body, dict) else None
        if action == contract.ROUTE_PING:
            return contract.ROUTE_PING
        if isinstance(action, str) and action in self.routes and not action.startswith("$"):
            return action
        return contract.ROUTE_DEFAULT if contract.ROUTE_DEFAULT in self.routes else None

    async def _invoke_route(
        self, connection: Connection, route_key: str, event: dict[str, Any]
    ) -> None:
        try:
            await self._run_blocking(self.routes[route_key], event)
        except Exception:
            log.exception("%s failed for %s", route_key, connection.info.connection_id)
            await self._send_error(connection, "Internal server error")

    async def _send_error(self, connection: Connection, message: str) -> None:
        # API Gateway tells the client about failed or refused messages in this shape.
        body = {
            "message": message,
            "connectionId": connection.info.connection_id,
            "requestId": events.new_id(),
        }
        if not connection.ws.closed:
            await connection.ws.send_str(json.dumps(body))

    async def _watch_limits(self, connection: Connection) -> None:
        loop = asyncio.get_running_loop()
        opened = loop.time()
        while not connection.ws.closed:
            idle_deadline = connection.last_active + self.idle_timeout_s
            age_deadline = opened + self.max_connection_s
            if loop.time() >= idle_deadline:
                because = f"idle for {self.idle_timeout_s:g} s"
            elif loop.time() >= age_deadline:
                because = f"open for {self.max_connection_s:g} s, the maximum"
            else:
                await asyncio.sleep(min(idle_deadline, age_deadline) - loop.time())
                continue
            await connection.close(WSCloseCode.GOING_AWAY, GOING_AWAY_REASON, because)
            return


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def client_close_reason(code: int, reason: str | None) -> str:
    """The `disconnectReason` API Gateway gives `$disconnect` when the client closed."""
    try:
        name = WSCloseCode(code).name
    except ValueError:
        name = "UNKNOWN"
    return f"Client-side close frame status code '{code}' ({name}) - custom reason: {reason or ''}"
