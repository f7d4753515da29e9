"""Serving a built Lex Web UI from the local stack's own origin, unmodified.

- The build's files are served as they are, at the root (`/index.html`, `/parent.html`,
  ...), so the release's relative paths and `baseUrl: '/'` work.
- `/lex-web-ui-loader-config.json` is generated for this stack (`loader_config`).
- A page opened in a browser that does not yet run the stack's service worker gets a small
  start page instead, which installs the worker and loads the same URL again through it
  (`assets/`). The worker answers the page's AWS calls from the stack (`aws_endpoints`).
- Pages may be framed by the stack's own origin and the origins allowed with
  `--allow-origin`, and by no other.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from ..identity import LocalIdentityPool
from ..lex_runtime import LexRuntime
from . import aws_endpoints
from .build import CONFIG_FILE, checked_build
from .loader_config import LoaderConfig, StackValues, merged, read_user_config

log = logging.getLogger("lexstream.local.web_ui")

ASSETS = Path(__file__).resolve().parent / "assets"
WORKER_HEADER = "X-Lexstream-Worker"


class WebUiSite:
    """The routes that serve one Web UI build and answer its AWS calls.

    Args:
        build: the checked build folder (`build.checked_build`).
        region: the region the page's SDK calls.
        auth_mode: "iam" checks the SigV4 signature of its Lex calls; "none" does not.
        lex: the local Lex runtime whose routes answer RecognizeText.
        pool_of: the identity pool (the gateway's, known once it exists).
        values_of: what the generated config must say (known once the stack listens).
        reserved: first path segments the stack serves itself (the stage, its own page),
            which the build's files must not hide.
        frame_origins: origins besides the stack's own that may frame the pages.
    """

    def __init__(
        self,
        build: Path,
        *,
        region: str,
        auth_mode: str,
        lex: LexRuntime,
        pool_of: Callable[[], LocalIdentityPool],
        values_of: Callable[[], StackValues],
        reserved: Iterable[str],
        frame_origins: Iterable[str] = (),
    ) -> None:
        self.build = build
        self.region = region
        self.auth_mode = auth_mode
        self.lex = lex
        self.pool_of = pool_of
        self.values_of = values_of
        self.reserved = tuple(reserved)
        self.frame_ancestors = " ".join(["'self'", *frame_origins])
        self.user_config = read_user_config(build)
        self._loader_config: LoaderConfig | None = None

    @property
    def loader_config(self) -> LoaderConfig:
        """The config served as `lex-web-ui-loader-config.json` (made once the port is known)."""
        if self._loader_config is None:
            self._loader_config = merged(self.user_config, self.values_of())
        return self._loader_config

    def startup_lines(self) -> list[str]:
        """What the merge did, one line each, for the start-up output."""
        config = self.loader_config
        lines = []
        if config.replaced:
            lines.append(
                f"web UI: {CONFIG_FILE} keys replaced with this stack's: "
                + ", ".join(config.replaced)
            )
        lines.extend(f"web UI: {line}" for line in config.turned_off)
        return lines

    def routes(self) -> list[web.RouteDef]:
        authorize = (
            aws_endpoints.lex_signature_check(self.pool_of, self.region)
            if self.auth_mode == "iam"
            else None
        )
        excluded = "|".join(
            segment.replace(".", r"\.")
            for segment in (*self.reserved, ".aws", ".lexstream", "bots")
        )
        return [
            web.get("/", self._root),
            web.get(f"/{CONFIG_FILE}", self._config),
            web.get("/.lexstream/worker.js", self._worker),
            web.get("/.lexstream/start.js", self._start_script),
            *aws_endpoints.identity_routes(self.pool_of, self.region),
            *self.lex.routes(aws_endpoints.lex_prefix(self.region), authorize),
            aws_endpoints.unserved_hosts_route(),
            web.get(f"/{{path:(?!(?:{excluded})(?:/|$)).+}}", self._file),
        ]

    async def _root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/index.html")

    async def _config(self, request: web.Request) -> web.Response:
        config = self.loader_config
        # Opened as localhost rather than 127.0.0.1 (both reach the stack), the page may
        # open sockets and talk to frames only under the name it was opened with.
        host = request.host
        values = self.values_of()
        if not values.origin.endswith(f"//{host}"):
            config = merged(self.user_config, values.for_host(host))
        return web.json_response(config.config, headers={"Cache-Control": "no-store"})

    async def _worker(self, request: web.Request) -> web.FileResponse:
        # Served under /.lexstream/, it may still control every page of the origin.
        return web.FileResponse(
            ASSETS / "worker.js",
            headers={
                "Service-Worker-Allowed": "/",
                "Cache-Control": "no-store",
                "Content-Type": "text/javascript",
            },
        )

    async def _start_script(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(ASSETS / "start.js", headers={"Content-Type": "text/javascript"})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        path = (self.build / request.match_info["path"]).resolve()
        if not path.is_relative_to(self.build) or not path.is_file():
            raise web.HTTPNotFound(text=f"{request.path} is not in the Web UI folder")
        page = path.suffix in (".html", ".htm")
        headers = {"Cache-Control": "no-cache"}
        if page:
            headers["Content-Security-Policy"] = f"frame-ancestors {self.frame_ancestors}"
            opened_directly = (
                request.headers.get("Sec-Fetch-Mode") == "navigate"
                and WORKER_HEADER not in request.headers
            )
            if opened_directly:
                return web.FileResponse(ASSETS / "start.html", headers=headers)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers["Content-Type"] = content_type
        return web.FileResponse(path, headers=headers)


def site_for_stack(stack: Any) -> WebUiSite:
    """The site for a `LocalStack` whose Lex runtime exists and whose gateway is being
    made: its settings' folder, region, auth mode and allowed origins."""
    settings = stack.settings
    lex = stack.lex

    def values() -> StackValues:
        gateway = stack.gateway
        return StackValues(
            region=settings.region,
            identity_pool_id=gateway.identity_pool.pool_id,
            bot_id=lex.bot_id,
            bot_alias_id=lex.bot_alias_id,
            locale_id=lex.locale_id,
            websocket_url=gateway.websocket_url,
            table=settings.connection_table,
            origin=gateway.base_url,
        )

    return WebUiSite(
        checked_build(settings.web_ui),
        region=settings.region,
        auth_mode=str(settings.auth_mode),
        lex=lex,
        pool_of=lambda: stack.gateway.identity_pool,
        values_of=values,
        # The stack's own paths: the stage (socket and management API) and its chat page.
        reserved=(str(settings.stage), "static", "config.json", "identity"),
        frame_origins=settings.allow_origins,
    )
