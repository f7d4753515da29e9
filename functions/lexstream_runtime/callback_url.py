"""Where the streaming helper may post: the callback URL a turn names, checked.

The Lex Web UI names the URL to post to in a session attribute (`streamingEndpoint`), so
it is client input, and the helper's posts carry the function's own credentials
(`Authorization`, `X-Amz-Security-Token`). `CallbackPolicy` decides which URLs a turn may
post to:

- **Pinned** (LEXSTREAM_CALLBACK_URL set, as the component sets it on its own functions
  and as a bot's own function should): exactly that URL, or the custom-domain URL
  LEXSTREAM_CALLBACK_ALIAS names, which stands for it.
- **Unpinned** (a bot's own function by default): only an API Gateway stage URL,
  `https://{api-id}.execute-api.{region}.amazonaws.com[.cn]/{stage}`. Any other https
  host could be a server of the client's choosing that collects the signed headers.
- **Loopback** (`http://127.0.0.1`, `localhost`, `[::1]`, exactly those hosts) only with
  LEXSTREAM_LOCAL_LOOPBACK_CALLBACKS=1, which the local stack sets and nothing on Lambda
  does: on Lambda, loopback is where the Runtime API listens.

A function that is not pinned logs one warning line (`callback_url_unpinned`) per cold
start, on its first turn.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import contract
from .logs import log_json

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# An API Gateway stage's own URL: a 10-character API id, a Region, the AWS (or China)
# partition's domain, and a stage name as the first and only path segment.
_EXECUTE_API_HOST = re.compile(
    r"[a-z0-9]{10}\.execute-api\.[a-z]{2}(?:-[a-z]+)+-\d{1,2}\.amazonaws\.com(?:\.cn)?"
)
_LOOPBACK_ON = "1"
# A host (a name, an IPv4 address or a bracketed IPv6 address) and an optional port.
_NETLOC = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[^\[\]:@/?#\s]+)(?::[0-9]*)?")


@dataclass(frozen=True)
class CallbackPolicy:
    """Which callback URLs a turn may post to (see the module docstring).

    Args:
        pinned: the only callback URL allowed; "" when unpinned. Default "".
        alias: a URL that stands for `pinned` (the stage's custom domain). Default "".
        loopback: plain http to this machine is allowed (the local stack). Default False.
    """

    pinned: str = ""
    alias: str = ""
    loopback: bool = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> CallbackPolicy:
        """The policy LEXSTREAM_CALLBACK_URL, LEXSTREAM_CALLBACK_ALIAS and
        LEXSTREAM_LOCAL_LOOPBACK_CALLBACKS (only "1" turns it on) describe."""
        return cls(
            pinned=environ.get(contract.ENV_CALLBACK_URL, "").strip(),
            alias=environ.get(contract.ENV_CALLBACK_ALIAS, "").strip(),
            loopback=environ.get(contract.ENV_LOCAL_LOOPBACK_CALLBACKS, "").strip() == _LOOPBACK_ON,
        )

    def resolve(self, endpoint: str) -> tuple[str, str]:
        """(the URL to post to, "") for a `streamingEndpoint` this policy allows, else
        ("", reason): "endpoint_invalid" (not a usable URL at all) or
        "endpoint_not_allowed" (a URL this function must not post to)."""
        endpoint = callback_url_of(endpoint)
        if callback_url_problem(endpoint):
            return "", "endpoint_invalid"
        if self.pinned:
            if self.alias and _same_endpoint(endpoint, self.alias):
                return self.pinned, ""
            if _same_endpoint(endpoint, self.pinned):
                return endpoint, ""
            return "", "endpoint_not_allowed"
        if _is_loopback(endpoint):
            return (endpoint, "") if self.loopback else ("", "endpoint_not_allowed")
        if is_execute_api_stage_url(endpoint):
            return endpoint, ""
        return "", "endpoint_not_allowed"


# Read once at cold init, like the handlers' own configuration (see contract).
POLICY = CallbackPolicy.from_environment()
_warned = False
_warned_lock = threading.Lock()


def current_policy() -> CallbackPolicy:
    """This function's policy (POLICY). The first call of an unpinned function's cold
    start logs `callback_url_unpinned`, so the warning lands in its first turn's log."""
    global _warned
    policy = POLICY
    if not policy.pinned and not _warned:
        with _warned_lock:
            if not _warned:
                _warned = True
                log_json(
                    "callback_url_unpinned",
                    level="WARNING",
                    message=(
                        f"{contract.ENV_CALLBACK_URL} is not set: this function streams to "
                        "any API Gateway stage a client names. Set it to your "
                        "StreamingBackend's callback_url output to stream only to yours."
                    ),
                )
    return policy


def is_execute_api_stage_url(endpoint: str) -> bool:
    """Whether `endpoint` is an API Gateway stage's own https URL (see the module
    docstring): default port, and the stage as the one path segment."""
    try:
        url = urlsplit(endpoint)
        port = url.port
    except ValueError:
        return False
    stage = url.path.strip("/")
    return (
        url.scheme.lower() == "https"
        and bool(_EXECUTE_API_HOST.fullmatch((url.hostname or "").lower()))
        and port in (None, 443)
        and url.path.rstrip("/") == f"/{stage}"
        and bool(contract.STAGE_NAME_PATTERN.fullmatch(stage))
        and not (url.username or url.password or url.query or url.fragment)
    )


def _is_loopback(endpoint: str) -> bool:
    """Whether `endpoint`, a URL that `callback_url_problem` has found readable, names this
    machine. The exact names only: `localhost.evil.example` or `127.0.0.1.nip.io` are
    anywhere."""
    return urlsplit(endpoint).hostname in _LOOPBACK_HOSTS


def callback_url_problem(endpoint: str) -> str:
    """What is wrong with `endpoint` as a callback URL, or "" when nothing is.

    It must be https, or plain http to this machine only (the local stack's gateway), with
    a host, a port from 1 to 65535 if one is given, and no user name, password, query or
    fragment. The browser sets `streamingEndpoint`, so it is client input: plain http
    elsewhere would let a client point the function's signed posts at any internal
    address (instance metadata, for one), and API Gateway only serves https. Checked
    before any client is built, because botocore accepts a URL it cannot post to and
    fails only when the first post is signed.
    """
    try:
        url = urlsplit(endpoint)
        host, port = url.hostname, url.port
    except ValueError as error:  # an unparsable host or a port out of range
        return f"is not a valid URL ({error})"
    if url.scheme not in ("https", "http"):
        return "must be an https URL"
    if not host:
        return "has no host"
    if not _NETLOC.fullmatch(url.netloc.rpartition("@")[2]):
        # urlsplit reads `[::1].evil.example` as the host ::1; an HTTP client may not.
        return "has a malformed host"
    if url.scheme == "http" and host not in _LOOPBACK_HOSTS:
        return "must be https (plain http only to this machine)"
    if port == 0:
        return "has port 0; a port must be 1-65535"
    if url.username is not None or url.password is not None:
        return "must not carry a user name or password"
    if url.query or url.fragment or endpoint.rstrip().endswith(("?", "#")):
        return "must not carry a query or fragment"
    return ""


def _same_endpoint(endpoint: str, allowed: str) -> bool:
    """Whether two callback URLs name the same API stage: scheme and host ignore case, a
    default port or a trailing slash make no difference, and nothing else may differ."""
    key = _endpoint_key(endpoint)
    return key is not None and key == _endpoint_key(allowed)


def _endpoint_key(endpoint: str) -> tuple[object, ...] | None:
    try:
        url = urlsplit(endpoint)
        port = url.port
    except ValueError:
        return None
    scheme = url.scheme.lower()
    return (
        scheme,
        (url.hostname or "").lower(),
        port or {"https": 443, "http": 80}.get(scheme),
        url.path.rstrip("/"),
        url.query,
        url.fragment,
        url.username,
        url.password,
    )


def callback_url_of(endpoint: str) -> str:
    """The callback URL a `streamingEndpoint` names.

    The Lex Web UI derives the attribute from its socket URL by replacing `wss://` with
    `https://`, and leaves a `ws://` URL (a local endpoint) as it is. The socket URL and
    the callback URL name the same stage on the same host, so a `ws`/`wss` scheme is read
    as `http`/`https`.
    """
    scheme, separator, rest = endpoint.partition("://")
    socket_schemes = {"ws": "http", "wss": "https"}
    if separator and scheme.lower() in socket_schemes:
        return f"{socket_schemes[scheme.lower()]}://{rest}"
    return endpoint
