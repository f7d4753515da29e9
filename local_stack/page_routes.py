"""The chat page's routes on the stack's one origin: the page, its config, the identity
endpoint (the identity pool's GetId + GetCredentialsForIdentity in one call)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from lexstream_runtime import contract

from .gateway import LocalGateway
from .lex_runtime import LexRuntime
from .settings import StackSettings

PAGE_DIR = Path(__file__).resolve().parent / "page"


def web_ui_config(
    settings: StackSettings, gateway: LocalGateway, lex: LexRuntime
) -> dict[str, Any]:
    """What the chat page needs to know, in the Lex Web UI's terms."""
    return {
        # The Web UI's own keys: the page derives `streamingEndpoint` from the socket
        # URL, as the stock client does.
        contract.WEB_UI_WEBSOCKET_ENDPOINT: gateway.websocket_url,
        contract.WEB_UI_TABLE: settings.connection_table,
        "sessionIds": settings.session_ids,
        "authMode": settings.auth_mode,
        "region": settings.region,
        "recognizeTextPath": lex.path,
        "pingIntervalMs": int(settings.ping_interval_s * 1000),
        "reconnectDelayMs": 1000,
    }


def page_routes(
    config: Callable[[], dict[str, Any]], gateway: Callable[[], LocalGateway]
) -> list[web.RouteDef]:
    """The page's routes; `config()` and `gateway()` are read per request, as the page
    is served by the gateway they describe."""

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE_DIR / "index.html")

    async def config_json(request: web.Request) -> web.Response:
        return web.json_response(config())

    async def identity(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        identity_id = body.get("identityId") if isinstance(body, dict) else None
        try:
            credentials = gateway().identity_pool.issue(identity_id)
        except ValueError as error:
            return web.json_response({"message": str(error)}, status=400)
        return web.json_response(credentials.as_json())

    return [
        web.get("/", index),
        web.get("/config.json", config_json),
        web.post("/identity", identity),
        web.static("/static", PAGE_DIR),
    ]
