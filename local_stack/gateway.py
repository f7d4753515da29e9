"""A local API Gateway WebSocket API: one loopback port, the socket and its management API.

No free tool runs an API Gateway WebSocket API locally, so this one follows AWS's
documented behaviour for the parts lexstream uses:

- `GET /{stage}` upgrades to a WebSocket after the `$connect` route function accepts it
  (a non-2xx response rejects the handshake with that status);
- route selection is `$request.body.action`; `ping` is a MOCK route that answers nothing;
  everything else goes to `$default`; `$disconnect` runs after every close;
- AWS's limits, with AWS's close codes: 32 KB frames and 128 KB messages (1009), a
  10-minute idle timeout and a 2-hour maximum (1001 "Going away");
- stage throttling as a token bucket (429 on connect, an error message on messages);
- `POST`/`GET`/`DELETE /{stage}/@connections/{id}` on the same origin, answering unmodified
  boto3 `apigatewaymanagementapi` with AWS's status codes and error types;
- `iam` auth verifies SigV4-presigned connect URLs against a `LocalIdentityPool`.

Unlike API Gateway, it can also refuse requests that are not from this machine's own
page (`own_origin_only`): a gateway on a developer's loopback port is reachable from every
web page that developer opens, so it checks `Host` and `Origin` itself.

Route functions are plain callables `fn(event) -> response dict` (for example
`LambdaFunction.lexstream("connect", env).invoke`); they block, so they run on a thread
pool while the event loop keeps serving sockets and posts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import random
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.http_websocket import WebSocketError
from lexstream_runtime import contract

from . import events
from .identity import LocalCredentials, LocalIdentityPool
from .sigv4 import SignatureError, verify_presigned_request, verify_signed_request

log = logging.getLogger("lexstream.local.gateway")

RouteFunction = Callable[[dict[str, Any]], Any]

GOING_AWAY_REASON = "Going away"
# What API Gateway reports when the management API deletes a connection.
DELETED_REASON = "Connection Closed Normally"
# Bytes that may wait in a client's socket buffer before posts fail with 429, as AWS
# answers LimitExceededException when the client side buffer is full.
DEFAULT_CLIENT_BUFFER_BYTES = 4 * 1024 * 1024
_NEVER_DRAIN = 1 << 62
# How long a management call waits for a handshake that $connect has already accepted.
_HANDSHAKE_WAIT_S = 5.0


@dataclass
class GatewayCounters:
    """Running totals, readable from any thread (for benchmarks and tests)."""

    connects_accepted: int = 0
    connects_rejected: int = 0
    throttled: int = 0
    messages_received: int = 0
    disconnects: int = 0
    messages_posted: int = 0
    bytes_posted: int = 0
    # API Gateway bills WebSocket messages in 32 KB increments.
    billed_messages: int = 0
    post_errors: dict[str, int] = field(default_factory=dict)
    # Requests refused because their Host or Origin is not this gateway's own.
    foreign_refused: int = 0


class TokenBucket:
    """Stage throttling as API Gateway applies it: a steady rate plus a burst allowance."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float]) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError(
                f"throttle needs rate_per_s > 0 and burst >= 1, got {rate_per_s!r}, {burst!r}"
            )
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def take(self) -> bool:
        now = self._clock()
        elapsed = now - self._updated
        self._updated = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_s)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class _FrameSizeGuard:
    """Sits in front of aiohttp's frame parser and refuses any data frame over the limit.

    aiohttp only limits whole messages; API Gateway also limits each frame (32 KB), so a
    larger message must arrive fragmented. The guard tracks frame boundaries in the byte
    stream and fails the socket with 1009 like API Gateway does.
    """

    def __init__(self, parser: Any, on_violation: Callable[[str], None], limit: int) -> None:
        self._parser = parser
        self._on_violation = on_violation
        self._limit = limit
        self._header = bytearray()
        self._payload_left = 0
        self._failed = False

    def feed_eof(self) -> None:
        self._parser.feed_eof()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._failed:
            return True, b""
        position = 0
        while position < len(data):
            if self._payload_left:
                step = min(self._payload_left, len(data) - position)
                self._payload_left -= step
                position += step
                continue
            self._header.append(data[position])
            position += 1
            length = self._complete_header_length()
            if length is None:
                continue
            opcode = self._header[0] & 0x0F
            self._header.clear()
            # Opcodes 0-2 are data frames (continuation, text, binary); control frames
            # are capped at 125 bytes by the protocol itself.
            if opcode <= 2 and length > self._limit:
                self._failed = True
                self._on_violation(f"Frame of {length} bytes exceeds {self._limit} bytes")
                return True, b""
            self._payload_left = length
        return self._parser.feed_data(data)

    def _complete_header_length(self) -> int | None:
        if len(self._header) < 2:
            return None
        flag = self._header[1] & 0x7F
        extended = 2 if flag == 126 else 8 if flag == 127 else 0
        mask = 4 if self._header[1] & 0x80 else 0
        if len(self._header) < 2 + extended + mask:
            return None
        if not extended:
            return flag
        return int.from_bytes(self._header[2 : 2 + extended], "big")


class _GatewayWebSocket(web.WebSocketResponse):
    """aiohttp's WebSocket response with API Gateway's per-frame size limit."""

    def __init__(self, frame_limit: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._frame_limit = frame_limit

    def _post_start(self, request: web.BaseRequest, protocol: Any, writer: Any) -> None:
        super()._post_start(request, protocol, writer)
        # Nothing can have arrived yet: a client may only send frames after the 101.
        guard = _FrameSizeGuard(
            request.protocol._payload_parser, self._frame_too_big, self._frame_limit
        )
        request.protocol._payload_parser = guard

    def _frame_too_big(self, reason: str) -> None:
        self._reader.set_exception(WebSocketError(WSCloseCode.MESSAGE_TOO_BIG, reason))


@dataclass
class _Connection:
    info: events.ConnectionInfo
    ws: _GatewayWebSocket
    transport: Any
    last_active: float  # loop time
    last_active_wall: float  # epoch seconds
    close_code: int | None = None  # set when the gateway, not the client, closes
    close_reason: str | None = None
    # Set once the handshake is complete. The connection is registered before that, so a
    # post racing the handshake (right after $connect wrote the row) waits instead of
    # getting a spurious 410 that would make the fulfillment delete a fresh row.
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def close(self, code: int, reason: str) -> None:
        self.close_code = code
        self.close_reason = reason
        await self.ws.close(code=code, message=reason.encode())


class LocalGateway:
    """An API Gateway WebSocket API on 127.0.0.1, with its management API on the same port.

    Args:
        routes: route key → function taking the event and returning a Lambda proxy
            response dict. Keys are `$connect`, `$disconnect`, `$default` or action names.
            `ping` needs no entry: it is a MOCK route.
        stage: the stage name, the first path segment. Default "local".
        auth_mode: "none" accepts unsigned connects; "iam" requires a SigV4-presigned
            connect URL signed with credentials from `identity_pool`. Default "none".
        callback_latency_s: delay added to every management API call, to imitate the
            round trip to a real endpoint in benchmarks. Default 0.0.
        region: the region in SigV4 credential scopes and ARNs. Default "us-east-1".
        identity_pool: who may sign in iam mode. Default: a new `LocalIdentityPool`.
        management_signers: access key id → the credentials that may call the
            management API (the functions' own), or None for an unknown key. Calls are
            then SigV4-verified like AWS does: body, path, region and service included.
            Default None: any call carrying an execute-api SigV4 `Authorization` header
            is accepted, unverified.
        port: the port to listen on; 0 picks a free one. Default 0.
        api_id: the API id in events. Default: ten random lower-case letters and digits.
        throttle_rate: steady requests per second for the stage (connects and messages);
            None disables throttling. Default None.
        throttle_burst: requests allowed at once above the rate. Default twice the rate.
        idle_timeout_s: close a socket after this long without a message in either
            direction (AWS: 10 minutes). Default `contract.IDLE_TIMEOUT_SECONDS`.
        max_connection_s: close every socket after this long (AWS: 2 hours). Default
            `contract.MAX_CONNECTION_SECONDS`.
        client_buffer_bytes: unsent bytes queued to one client before posts fail with
            429. Default 4 MiB.
        max_workers: threads running route functions at once. Default 64.
        extra_routes: more aiohttp routes to serve on the same origin (the local stack's
            page and endpoints). Default none.
        own_origin_only: refuse (403, one log line) every request whose `Host` is not
            an address this gateway listens on, so that DNS rebinding cannot reach it,
            or whose `Origin` is not this gateway's own origin, so that another site's
            page in the same browser cannot open sockets or start turns. Requests
            without `Origin` (SDKs, scripts, wscat) pass. API Gateway checks neither.
            Default False.
    """

    def __init__(
        self,
        routes: Mapping[str, RouteFunction],
        stage: str = "local",
        auth_mode: str = contract.AUTH_NONE,
        callback_latency_s: float = 0.0,
        *,
        region: str = "us-east-1",
        identity_pool: LocalIdentityPool | None = None,
        management_signers: Callable[[str], LocalCredentials | None] | None = None,
        port: int = 0,
        api_id: str | None = None,
        throttle_rate: float | None = None,
        throttle_burst: int | None = None,
        idle_timeout_s: float = contract.IDLE_TIMEOUT_SECONDS,
        max_connection_s: float = contract.MAX_CONNECTION_SECONDS,
        client_buffer_bytes: int = DEFAULT_CLIENT_BUFFER_BYTES,
        max_workers: int = 64,
        extra_routes: Iterable[web.AbstractRouteDef] = (),
        own_origin_only: bool = False,
    ) -> None:
        if not contract.STAGE_NAME_PATTERN.fullmatch(stage):
            raise ValueError(f"stage {stage!r} must be 1-128 letters, digits, '-' or '_'")
        if auth_mode not in contract.AUTH_MODES:
            raise ValueError(
                f"auth_mode {auth_mode!r} is not one of {', '.join(contract.AUTH_MODES)}"
            )
        if callback_latency_s < 0:
            raise ValueError(f"callback_latency_s must be >= 0, got {callback_latency_s!r}")
        if idle_timeout_s <= 0 or max_connection_s <= 0:
            raise ValueError("idle_timeout_s and max_connection_s must be positive")
        self.routes: dict[str, RouteFunction] = {}
        self.serve_routes(routes)
        self.stage = stage
        self.auth_mode = auth_mode
        self.callback_latency_s = callback_latency_s
        self.region = region
        self.identity_pool = identity_pool or LocalIdentityPool(region)
        self.management_signers = management_signers
        self.api_id = api_id or "".join(
            random.choices(string.ascii_lowercase + string.digits, k=10)
        )
        self.idle_timeout_s = idle_timeout_s
        self.max_connection_s = max_connection_s
        self.client_buffer_bytes = client_buffer_bytes
        self.counters = GatewayCounters()
        self._requested_port = port
        self._throttle_rate = throttle_rate
        self._throttle_burst = throttle_burst
        self._throttle: TokenBucket | None = None
        self._extra_routes = list(extra_routes)
        self._own_origin_only = own_origin_only
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="lambda"
        )
        self._connections: dict[str, _Connection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # --- lifecycle -------------------------------------------------------------------

    def serve_routes(self, routes: Mapping[str, RouteFunction]) -> None:
        """Add or replace route functions, also while the gateway runs: a function that
        needs the gateway's own callback URL can only be made once the gateway listens.

        Raises TypeError for a target that is not callable, ValueError for an unknown
        `$` route key.
        """
        for key, target in routes.items():
            if not callable(target):
                raise TypeError(
                    f"route {key!r} must map to a callable, got {type(target).__name__}"
                )
            if key.startswith("$") and key not in (
                contract.ROUTE_CONNECT,
                contract.ROUTE_DISCONNECT,
                contract.ROUTE_DEFAULT,
            ):
                raise ValueError(
                    f"unknown route key {key!r}; expected {contract.ROUTE_CONNECT}, "
                    f"{contract.ROUTE_DISCONNECT}, {contract.ROUTE_DEFAULT} or an action name"
                )
        self.routes.update(routes)

    def start(self) -> LocalGateway:
        """Listen on 127.0.0.1 in a background thread; returns once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("gateway already started")
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="local-gateway", daemon=True
        )
        self._thread.start()
        self.port = ready.result(timeout=30)
        return self

    def stop(self) -> None:
        """Close every socket (1001, running `$disconnect`), then stop listening."""
        if self._loop is None or self._thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        future.result(timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._thread = None
        self._loop = None

    def __enter__(self) -> LocalGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def websocket_url(self) -> str:
        """Where clients connect, e.g. ws://127.0.0.1:PORT/local."""
        return f"ws://127.0.0.1:{self._port()}/{self.stage}"

    @property
    def callback_url(self) -> str:
        """The management API endpoint (the `streamingEndpoint` session attribute)."""
        return f"http://127.0.0.1:{self._port()}/{self.stage}"

    @property
    def base_url(self) -> str:
        """The origin serving the socket, the management API and any extra routes."""
        return f"http://127.0.0.1:{self._port()}"

    def open_connection_ids(self) -> list[str]:
        """Ids of the sockets open right now (handshake complete)."""
        return [cid for cid, connection in self._connections.items() if connection.ready.is_set()]

    async def run_blocking(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking call on the route-function threads (for extra routes)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _port(self) -> int:
        if self.port is None:
            raise RuntimeError("gateway not started; call start() first")
        return self.port

    def _serve(self, ready: concurrent.futures.Future[int]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._listen(ready))
        except BaseException as error:
            ready.set_exception(error)
            loop.close()
            return
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _listen(self, ready: concurrent.futures.Future[int]) -> None:
        if self._throttle_rate is not None:
            burst = self._throttle_burst or max(1, int(self._throttle_rate * 2))
            self._throttle = TokenBucket(self._throttle_rate, burst, time.monotonic)
        # Oversized posts must reach the handler to be refused the way AWS refuses them.
        middlewares = [self._refuse_foreign_requests] if self._own_origin_only else []
        app = web.Application(
            client_max_size=16 * contract.MAX_MESSAGE_BYTES, middlewares=middlewares
        )
        app.router.add_routes(self._extra_routes)
        app.router.add_get(f"/{self.stage}", self._handle_socket)
        connection_path = f"/{self.stage}/@connections/{{connection_id}}"
        app.router.add_post(connection_path, self._handle_post)
        app.router.add_get(connection_path, self._handle_get)
        app.router.add_delete(connection_path, self._handle_delete)
        # Requests still running at stop (a long turn, a delayed post) get a few seconds.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=5.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._requested_port)
        await site.start()
        ready.set_result(self._runner.addresses[0][1])

    async def _shutdown(self) -> None:
        for connection in list(self._connections.values()):
            if connection.ready.is_set():
                await connection.close(WSCloseCode.GOING_AWAY, GOING_AWAY_REASON)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def _track(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- who may call ----------------------------------------------------------------

    @property
    def own_origins(self) -> frozenset[str]:
        """The origins of this gateway's own pages: both names of the loopback address."""
        return frozenset(f"http://{host}" for host in self._own_hosts())

    def _own_hosts(self) -> frozenset[str]:
        # It listens on 127.0.0.1 only; `localhost` names the same address. A browser
        # leaves the port out of Host and Origin only when it is the scheme's default.
        port = self._port()
        names = ("127.0.0.1", "localhost")
        hosts = {f"{name}:{port}" for name in names}
        if port == 80:
            hosts.update(names)
        return frozenset(hosts)

    def _foreign_request(self, request: web.BaseRequest) -> str | None:
        """Why `request` is not from this machine's own page, or None when it is."""
        host = request.headers.get("Host")
        if host is None or host.lower() not in self._own_hosts():
            return f"Host {host!r} is not this gateway's address"
        # Browsers add Origin to every WebSocket handshake and cross-site fetch; a browser
        # cannot omit or forge it, so its absence means a non-browser client.
        for origin in request.headers.getall("Origin", []):
            if origin.lower() not in self.own_origins:
                return f"Origin {origin!r} is not this stack's page"
        return None

    @web.middleware
    async def _refuse_foreign_requests(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        reason = self._foreign_request(request)
        if reason is None:
            return await handler(request)
        self.counters.foreign_refused += 1
        log.warning("refused %s %s (403): %s", request.method, request.path, reason)
        return _json_error(403, f"Forbidden: {reason}")

    # --- the WebSocket ---------------------------------------------------------------

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        ws = _GatewayWebSocket(
            frame_limit=contract.MAX_FRAME_BYTES,
            max_msg_size=contract.MAX_MESSAGE_BYTES,
            # API Gateway does not negotiate permessage-deflate.
            compress=False,
            autoping=True,
            # Never wait for a slow client while posting: the client buffer check in
            # _handle_post answers 429 instead, as API Gateway does.
            writer_limit=_NEVER_DRAIN,
        )
        # A plain HTTP request never reaches $connect.
        if not ws.can_prepare(request).ok:
            return _json_error(426, "Upgrade Required")
        if self._throttle is not None and not self._throttle.take():
            self.counters.throttled += 1
            self.counters.connects_rejected += 1
            log.info("connect throttled (429)")
            return _json_error(429, "Too Many Requests")
        info = events.ConnectionInfo(
            connection_id=events.new_id(),
            api_id=self.api_id,
            stage=self.stage,
            domain_name=request.host,
            source_ip=request.remote or "127.0.0.1",
            user_agent=request.headers.get("User-Agent", ""),
        )
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
                self.counters.connects_rejected += 1
                log.info("connect rejected (403): %s", error)
                return _json_error(403, "Forbidden")
            info.identity = self.identity_pool.request_identity(credentials)

        status = await self._connect_status(request, info)
        if not 200 <= status < 300:
            self.counters.connects_rejected += 1
            log.info("connect %s rejected by $connect (%s)", info.connection_id, status)
            return _json_error(status, "Forbidden" if status == 403 else _reason(status))

        loop = asyncio.get_running_loop()
        connection = _Connection(info, ws, request.transport, loop.time(), time.time())
        self._connections[info.connection_id] = connection
        try:
            await ws.prepare(request)
        except Exception:
            self._connections.pop(info.connection_id, None)
            raise
        connection.ready.set()
        self.counters.connects_accepted += 1
        session = request.query.get(contract.CONNECT_QUERY_PARAMETER, "-")
        log.info("connect %s session=%s", info.connection_id, session)
        watchdog = loop.create_task(self._watch_limits(connection))
        try:
            await self._receive_messages(connection)
        finally:
            watchdog.cancel()
            self._connections.pop(info.connection_id, None)
        code = connection.close_code or ws.close_code or WSCloseCode.ABNORMAL_CLOSURE
        reason = connection.close_reason or _client_close_reason(code, "")
        log.info("disconnect %s code=%s %s", info.connection_id, code, reason)
        self.counters.disconnects += 1
        # API Gateway runs $disconnect best effort after the socket is gone.
        disconnect = self.routes.get(contract.ROUTE_DISCONNECT)
        if disconnect is not None:
            event = events.disconnect_event(info, int(code), reason)
            try:
                await self.run_blocking(disconnect, event)
            except Exception:
                log.exception("$disconnect failed for %s", info.connection_id)
        return ws

    async def _connect_status(self, request: web.Request, info: events.ConnectionInfo) -> int:
        connect = self.routes.get(contract.ROUTE_CONNECT)
        if connect is None:
            return 200
        headers = list(request.headers.items())
        headers += [
            ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{random.getrandbits(96):024x}"),
            ("X-Forwarded-For", info.source_ip),
            ("X-Forwarded-Port", str(self._port())),
            ("X-Forwarded-Proto", request.scheme),
        ]
        event = events.connect_event(info, headers, request.query.items())
        try:
            response = await self.run_blocking(connect, event)
        except Exception:
            log.exception("$connect failed for %s", info.connection_id)
            return 500
        try:
            return int(response.get("statusCode", 200)) if response is not None else 200
        except (AttributeError, TypeError, ValueError):
            # A Lambda proxy response that API Gateway cannot read is a 502.
            return 502

    async def _receive_messages(self, connection: _Connection) -> None:
        ws = connection.ws
        while True:
            message = await ws.receive()
            if message.type == WSMsgType.CLOSE:
                if connection.close_reason is None:
                    connection.close_reason = _client_close_reason(message.data, message.extra)
                return
            if message.type == WSMsgType.ERROR:
                # aiohttp has already closed the socket with the matching code (1009).
                connection.close_code = getattr(message.data, "code", WSCloseCode.INTERNAL_ERROR)
                connection.close_reason = str(message.data)
                return
            if message.type in (WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            loop = asyncio.get_running_loop()
            connection.last_active = loop.time()
            connection.last_active_wall = time.time()
            self.counters.messages_received += 1
            if self._throttle is not None and not self._throttle.take():
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
            self._track(self._invoke_route(connection, route_key, event))

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
        self, connection: _Connection, route_key: str, event: dict[str, Any]
    ) -> None:
        try:
            await self.run_blocking(self.routes[route_key], event)
        except Exception:
            log.exception("%s failed for %s", route_key, connection.info.connection_id)
            await self._send_error(connection, "Internal server error")

    async def _send_error(self, connection: _Connection, message: str) -> None:
        # API Gateway tells the client about failed or refused messages in this shape.
        body = {
            "message": message,
            "connectionId": connection.info.connection_id,
            "requestId": events.new_id(),
        }
        if not connection.ws.closed:
            await connection.ws.send_str(json.dumps(body))

    async def _watch_limits(self, connection: _Connection) -> None:
        loop = asyncio.get_running_loop()
        opened = loop.time()
        while not connection.ws.closed:
            deadline = min(
                connection.last_active + self.idle_timeout_s, opened + self.max_connection_s
            )
            if loop.time() >= deadline:
                log.info("closing %s: idle or open too long", connection.info.connection_id)
                await connection.close(WSCloseCode.GOING_AWAY, GOING_AWAY_REASON)
                return
            await asyncio.sleep(deadline - loop.time())

    # --- the management API ----------------------------------------------------------

    async def _management_call(self, request: web.Request) -> _Connection | web.Response:
        if self.callback_latency_s:
            await asyncio.sleep(self.callback_latency_s)
        # Only SigV4-signed calls reach the real API (execute-api:ManageConnections).
        authorization = request.headers.get("Authorization", "")
        if (
            not authorization.startswith("AWS4-HMAC-SHA256 ")
            or "/execute-api/" not in authorization
        ):
            return self._management_error("ForbiddenException", 403, "Forbidden")
        if self.management_signers is not None:
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
                    self.management_signers,
                    time.time(),
                )
            except SignatureError as error:
                log.warning("management call refused: %s", error)
                return self._management_error(error.error_type, 403, str(error))
        connection = self._connections.get(request.match_info["connection_id"])
        if connection is not None and not connection.ready.is_set():
            try:
                await asyncio.wait_for(connection.ready.wait(), _HANDSHAKE_WAIT_S)
            except TimeoutError:
                connection = None
        if connection is None or connection.ws.closed:
            return self._management_error("GoneException", 410, None)
        return connection

    def _management_error(self, error_type: str, status: int, message: str | None) -> web.Response:
        self.counters.post_errors[error_type] = self.counters.post_errors.get(error_type, 0) + 1
        return web.json_response(
            {"message": message}, status=status, headers={"x-amzn-ErrorType": error_type}
        )

    async def _handle_post(self, request: web.Request) -> web.Response:
        connection = await self._management_call(request)
        if isinstance(connection, web.Response):
            return connection
        data = await request.read()
        if len(data) > contract.MAX_MESSAGE_BYTES:
            return self._management_error(
                "PayloadTooLargeException", 413, "Request Entity Too Large"
            )
        if connection.transport is not None and (
            connection.transport.get_write_buffer_size() > self.client_buffer_bytes
        ):
            return self._management_error("LimitExceededException", 429, None)
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
            return self._management_error("GoneException", 410, None)
        connection.last_active = asyncio.get_running_loop().time()
        connection.last_active_wall = time.time()
        self.counters.messages_posted += 1
        self.counters.bytes_posted += len(data)
        self.counters.billed_messages += max(1, -(-len(data) // contract.BILLING_UNIT_BYTES))
        log.info("post %s %d bytes", connection.info.connection_id, len(data))
        return web.Response(status=200)

    async def _handle_get(self, request: web.Request) -> web.Response:
        connection = await self._management_call(request)
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

    async def _handle_delete(self, request: web.Request) -> web.Response:
        connection = await self._management_call(request)
        if isinstance(connection, web.Response):
            return connection
        log.info("delete %s", connection.info.connection_id)
        # Closing waits for the client's close frame; the caller need not wait for that.
        self._track(connection.close(WSCloseCode.OK, DELETED_REASON))
        return web.Response(status=204)


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _client_close_reason(code: int, reason: str | None) -> str:
    try:
        name = WSCloseCode(code).name
    except ValueError:
        name = "UNKNOWN"
    return f"Client-side close frame status code '{code}' ({name}) - custom reason: {reason or ''}"


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
