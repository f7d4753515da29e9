"""Where the streaming helper may post: the callback URL a turn names, checked.

The Lex Web UI names the URL to post to in a session attribute (`streamingEndpoint`),
so it is client input, and the helper's posts carry the function's own credentials.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from . import contract

# Read once at cold init, like the handlers' own configuration (see contract).
ALLOWED_CALLBACK_URL = os.environ.get(contract.ENV_CALLBACK_URL, "").strip()
# The stage's custom domain, when it has one: the Lex Web UI derives `streamingEndpoint`
# from its socket URL, so a socket on the domain names the domain. It stands for the
# pinned callback URL, which is where posts go (the execute-api URL always works).
CALLBACK_ALIAS = os.environ.get(contract.ENV_CALLBACK_ALIAS, "").strip()

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


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
