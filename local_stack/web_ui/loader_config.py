"""`lex-web-ui-loader-config.json` for a Web UI served by the local stack.

The loader reads this file before anything else. The stack writes the values that make
the page talk to it: the region and identity pool, the local Lex V2 bot, and streaming.
A config file in the user's folder is merged under those: every key of theirs is kept
unless the stack must own it, and the keys it replaced are reported in one line.

Per key, what the stack does with a feature it cannot serve:

- `lex.botName`, `lex.botAlias` (Lex V1): it refuses to start, because the build would
  call a bot API that is not here (0.24.1 speaks only Lex V2);
- `recorder.enable` (voice): off, as the local Lex runtime understands typed text only;
- `ui.enableLogin`, `ui.forceLogin` (Cognito user pool sign-in): off, no hosted sign-in;
- `ui.enableLiveChat` (Amazon Connect): off, no contact centre runs locally;
- `ui.enableUpload` (S3 upload): off, no bucket runs locally.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .build import CONFIG_FILE, WebUiError

# Keys that ask for Lex V1, which 0.24.1 no longer speaks and the stack does not serve.
LEX_V1_KEYS = ("lex.botName", "lex.botAlias")
# Features switched off, with the reason shown at start-up.
FEATURES_OFF = {
    "recorder.enable": "voice is off: the local Lex runtime understands typed text only",
    "ui.enableLogin": "sign-in is off: no Cognito user pool runs locally",
    "ui.forceLogin": "forced sign-in is off: no Cognito user pool runs locally",
    "ui.enableLiveChat": "live chat is off: no Amazon Connect instance runs locally",
    "ui.enableUpload": "upload is off: no S3 bucket runs locally",
}


# UI keys a deployment's config carries and the user's own config may leave out: set
# only when absent. The iframe loader refuses to start without the iframe's path.
UI_DEFAULTS = {"iframe.iframeSrcPath": "/index.html#/?lexWebUiEmbed=true"}


@dataclass(frozen=True)
class StackValues:
    """What the served config must say for the page to reach this stack."""

    region: str
    identity_pool_id: str
    bot_id: str
    bot_alias_id: str
    locale_id: str
    websocket_url: str
    table: str
    origin: str

    def for_host(self, host: str) -> StackValues:
        """The same values for a page opened as `host` (e.g. `localhost:8080`)."""
        origin_host = self.origin.partition("//")[2]
        return replace(
            self,
            websocket_url=self.websocket_url.replace(f"//{origin_host}/", f"//{host}/", 1),
            origin=f"http://{host}",
        )


@dataclass
class LoaderConfig:
    """The merged config, and what the merge replaced or turned off (for start-up lines)."""

    config: dict[str, Any]
    replaced: list[str] = field(default_factory=list)
    turned_off: list[str] = field(default_factory=list)


def read_user_config(build: Path) -> dict[str, Any] | None:
    """The build's own loader config, or None when it has none; WebUiError if unreadable."""
    path = build / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise WebUiError(
            f"must hold a readable {CONFIG_FILE} when it has one (got {str(path)!r}: "
            f"not JSON: {error})"
        ) from None
    if not isinstance(config, dict):
        raise WebUiError(
            f"must hold a {CONFIG_FILE} that is a JSON object (got {str(path)!r}: a "
            f"{type(config).__name__})"
        )
    refused = [key for key in LEX_V1_KEYS if _get(config, key)]
    if refused:
        raise WebUiError(
            f"must be configured for a Lex V2 bot (got {str(path)!r}, which sets "
            f"{', '.join(refused)}: a Lex V1 bot); the local stack runs a Lex V2 bot, so "
            "remove the V1 keys and the stack fills in lex.v2BotId"
        )
    return config


def stack_keys(values: StackValues) -> dict[str, Any]:
    """Dotted key → value the stack owns in the served config."""
    return {
        "region": values.region,
        "cognito.poolId": values.identity_pool_id,
        "cognito.region": values.region,
        "lex.region": values.region,
        "lex.v2BotId": values.bot_id,
        "lex.v2BotAliasId": values.bot_alias_id,
        "lex.v2BotLocaleId": values.locale_id,
        "lex.allowStreamingResponses": True,
        "lex.streamingWebSocketEndpoint": values.websocket_url,
        "lex.streamingDynamoDbTable": values.table,
        # The iframe and its parent check each other's messages against these origins.
        "ui.parentOrigin": values.origin,
        "iframe.iframeOrigin": values.origin,
        **{key: False for key in FEATURES_OFF},
    }


def merged(user: Mapping[str, Any] | None, values: StackValues) -> LoaderConfig:
    """The user's config (or none) with the stack's keys written over it."""
    config = copy.deepcopy(dict(user or {}))
    result = LoaderConfig(config)
    for key, value in stack_keys(values).items():
        present, previous = _lookup(config, key)
        if present and previous != value:
            if key in FEATURES_OFF:
                if previous:
                    result.turned_off.append(f"{key}: {FEATURES_OFF[key]}")
            else:
                result.replaced.append(key)
        _set(config, key, value)
    for key, value in UI_DEFAULTS.items():
        if not _lookup(config, key)[0]:
            _set(config, key, value)
    return result


def _lookup(config: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _get(config: Mapping[str, Any], dotted: str) -> Any:
    return _lookup(config, dotted)[1]


def _set(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = config
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value
