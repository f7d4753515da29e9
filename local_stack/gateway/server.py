"""A local API Gateway WebSocket API: one loopback port, the socket and its management API.

No free tool runs an API Gateway WebSocket API locally, so this one follows AWS's
documented behaviour for the parts lexstream uses. `LocalGateway` wires the parts, each in
its own module:

- `sockets.py`: `$connect` (and `iam` SigV4-presigned URLs), route selection, `$default`,
  `$disconnect`, the message limit, the idle timeout and the maximum connection time;
- `management.py`: `POST`/`GET`/`DELETE /{stage}/@connections/{id}` for boto3's
  `apigatewaymanagementapi`;
- `throttle.py`: stage throttling as a token bucket (429 on connect, an error message on
  messages);
- `own_origin.py`: refusing requests that are not from this machine's own page, which API
  Gateway does not need to do;
- `connections.py`: the open sockets, the running totals and per-session post tallies.

Route functions are plain callables `fn(event) -> response dict` (for example
`LambdaFunction.lexstream("connect", env).invoke`); they block, so they run on a thread
pool while the event loop keeps serving sockets and posts. Connects, posts and
disconnects are reported on an `Activity` channel.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
import string
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

from aiohttp import WSCloseCode, web
from lexstream_runtime import contract

from .. import events
from ..activity import Activity
from ..identity import LocalCredentials, LocalIdentityPool
from ..stopping import within
from .connections import GOING_AWAY_REASON, Connections, PostTally
from .management import ManagementApi
from .own_origin import OwnOrigin
from .sockets import RouteFunction, SocketEndpoint
from .throttle import TokenBucket

# Bytes that may wait in a client's socket buffer before posts fail with 429, as AWS
# answers LimitExceededException when the client side buffer is full.
DEFAULT_CLIENT_BUFFER_BYTES = 4 * 1024 * 1024
log = logging.getLogger("lexstream.local")
# Each step of a stop waits at most this long.
SHUTDOWN_SECONDS = 3.0


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
        allowed_origins: other origins accepted beside the gateway's own when
            `own_origin_only` is set, exactly as given (e.g. `http://127.0.0.1:5173`), with
            their CORS preflights answered. Default none.
        activity: where connects, posts and disconnects are reported (see
            `local_stack.activity`). Default: a channel of its own, `self.activity`.
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
        allowed_origins: Iterable[str] = (),
        activity: Activity | None = None,
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
        self.region = region
        self.identity_pool = identity_pool or LocalIdentityPool(region)
        self.api_id = api_id or "".join(
            random.choices(string.ascii_lowercase + string.digits, k=10)
        )
        self.activity = activity or Activity()
        self.connections = Connections(self.activity)
        self.counters = self.connections.counters
        self.own_origin = OwnOrigin(self._port, allowed_origins)
        self.sockets = SocketEndpoint(
            self.connections,
            self.routes,
            self.run_blocking,
            self._run_in_background,
            self._connection_info,
            auth_mode,
            region,
            self.identity_pool,
            self._port,
            idle_timeout_s,
            max_connection_s,
        )
        self.management = ManagementApi(
            self.connections,
            region,
            callback_latency_s,
            management_signers,
            client_buffer_bytes,
            self._run_in_background,
        )
        self._requested_port = port
        self._throttle_rate = throttle_rate
        self._throttle_burst = throttle_burst
        self._extra_routes = list(extra_routes)
        self._own_origin_only = own_origin_only
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="route-function"
        )
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
        try:
            future.result(timeout=SHUTDOWN_SECONDS)
        except concurrent.futures.TimeoutError:
            log.warning("the gateway's sockets did not close within %s s", SHUTDOWN_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=SHUTDOWN_SECONDS)
        within(
            SHUTDOWN_SECONDS,
            "the gateway's route calls",
            lambda: self._executor.shutdown(wait=True, cancel_futures=True),
        )
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

    @property
    def callback_latency_s(self) -> float:
        """Delay added to every management API call; may be changed while running."""
        return self.management.callback_latency_s

    @callback_latency_s.setter
    def callback_latency_s(self, seconds: float) -> None:
        self.management.callback_latency_s = seconds

    @property
    def own_origins(self) -> frozenset[str]:
        """The origins of this gateway's own pages: both names of the loopback address."""
        return self.own_origin.origins

    def open_connection_ids(self) -> list[str]:
        """Ids of the sockets open right now (handshake complete)."""
        return self.connections.ready_ids()

    def tally_posts(self, session_id: str) -> contextlib.AbstractContextManager[PostTally]:
        """Count what is posted to `session_id`'s sockets inside a `with` block."""
        return self.connections.tally_posts(session_id)

    async def run_blocking(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking call on the route-function threads (for extra routes)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _port(self) -> int:
        if self.port is None:
            raise RuntimeError("gateway not started; call start() first")
        return self.port

    def _connection_info(self, request: web.Request) -> events.ConnectionInfo:
        return events.ConnectionInfo(
            connection_id=events.new_id(),
            api_id=self.api_id,
            stage=self.stage,
            domain_name=request.host,
            source_ip=request.remote or "127.0.0.1",
            user_agent=request.headers.get("User-Agent", ""),
        )

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
            self.sockets.throttle = TokenBucket(self._throttle_rate, burst, time.monotonic)
        middlewares = [self.own_origin.middleware(self.counters)] if self._own_origin_only else []
        # Oversized posts must reach the handler to be refused the way AWS refuses them.
        app = web.Application(
            client_max_size=16 * contract.MAX_MESSAGE_BYTES, middlewares=middlewares
        )
        app.router.add_routes(self._extra_routes)
        app.router.add_get(f"/{self.stage}", self.sockets.handle)
        app.router.add_routes(self.management.routes(self.stage))
        # Requests still running at stop (a long turn, a delayed post) get a few seconds.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=5.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._requested_port)
        await site.start()
        ready.set_result(self._runner.addresses[0][1])

    async def _shutdown(self) -> None:
        for connection in list(self.connections.open.values()):
            if connection.ready.is_set():
                await connection.close(
                    WSCloseCode.GOING_AWAY, GOING_AWAY_REASON, "the stack is stopping"
                )
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def _run_in_background(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
