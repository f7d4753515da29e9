"""Who may call the gateway: only this machine's own page, when asked.

API Gateway checks neither `Host` nor `Origin`. A gateway on a developer's loopback port,
though, is reachable from every web page that developer opens: a foreign page could open
sockets or start turns, and DNS rebinding could reach it under another name.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from .connections import GatewayCounters, json_error

log = logging.getLogger("lexstream.local.gateway")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class OwnOrigin:
    """The hosts and origins of a gateway on 127.0.0.1, for the port `port_of()` returns
    (known only once it listens, when it was asked for any free port).

    `allowed` are other origins, each exactly as a browser sends it (scheme, host, port),
    that the user opted in: they are accepted too, and their CORS preflights answered.
    """

    def __init__(self, port_of: Callable[[], int], allowed: Iterable[str] = ()) -> None:
        self._port_of = port_of
        self.allowed = frozenset(origin.lower() for origin in allowed)

    @property
    def hosts(self) -> frozenset[str]:
        # It listens on 127.0.0.1 only; `localhost` names the same address. A browser
        # leaves the port out of Host and Origin only when it is the scheme's default.
        port = self._port_of()
        names = ("127.0.0.1", "localhost")
        hosts = {f"{name}:{port}" for name in names}
        if port == 80:
            hosts.update(names)
        return frozenset(hosts)

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(f"http://{host}" for host in self.hosts)

    def refusal(self, request: web.BaseRequest) -> str | None:
        """Why `request` is not from this machine's own page, or None when it is."""
        host = request.headers.get("Host")
        if host is None or host.lower() not in self.hosts:
            return f"Host {host!r} is not this gateway's address"
        # Browsers add Origin to every WebSocket handshake and cross-site fetch; a browser
        # cannot omit or forge it, so its absence means a non-browser client.
        origins = self.origins | self.allowed
        for origin in request.headers.getall("Origin", []):
            if origin.lower() not in origins:
                return f"Origin {origin!r} is not this stack's page"
        return None

    def middleware(self, counters: GatewayCounters) -> Callable[..., Awaitable[web.StreamResponse]]:
        """aiohttp middleware answering 403 with the reason (and one log line) to others."""

        @web.middleware
        async def refuse_foreign_requests(
            request: web.Request, handler: Handler
        ) -> web.StreamResponse:
            reason = self.refusal(request)
            if reason is None:
                origin = request.headers.get("Origin", "").lower()
                if origin in self.allowed and origin not in self.origins:
                    return await _with_cors(request, handler, origin)
                return await handler(request)
            counters.foreign_refused += 1
            log.warning("refused %s %s (403): %s", request.method, request.path, reason)
            return json_error(403, f"Forbidden: {reason}")

        return refuse_foreign_requests


async def _with_cors(request: web.Request, handler: Handler, origin: str) -> web.StreamResponse:
    """Answer an allowed other origin as CORS lets a browser read it: its preflight with
    the method and headers asked for, any other request with its origin echoed."""
    cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        cors["Access-Control-Allow-Methods"] = request.headers["Access-Control-Request-Method"]
        asked = request.headers.get("Access-Control-Request-Headers")
        if asked:
            cors["Access-Control-Allow-Headers"] = asked
        cors["Access-Control-Max-Age"] = "600"
        return web.Response(status=204, headers=cors)
    cors["Access-Control-Expose-Headers"] = "x-amzn-RequestId, x-amzn-ErrorType"
    try:
        response = await handler(request)
    except web.HTTPException as refusal:
        # aiohttp's own answers (no such route, a method the route lacks) are raised:
        # without the headers, the page would see a network error instead of the status.
        refusal.headers.update(cors)
        raise
    if not response.prepared:
        response.headers.update(cors)
    return response
