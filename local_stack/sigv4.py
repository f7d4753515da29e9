"""Verify SigV4 query-string signatures on WebSocket connect URLs, as execute-api does.

The Lex Web UI presigns `wss://host/stage?sessionId=…` with its identity-pool
credentials (service `execute-api`, only the `host` header signed), and botocore's
`SigV4QueryAuth` produces the same shape. This module recomputes the signature from the
request the gateway received and raises `SignatureError` saying why it does not match.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from urllib.parse import quote

from .identity import LocalCredentials

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "execute-api"
# AWS refuses presigned URLs that claim to be valid for more than seven days.
MAX_EXPIRES_SECONDS = 7 * 24 * 60 * 60
# Signatures dated more than five minutes in the future are refused (clock skew).
MAX_CLOCK_SKEW_SECONDS = 5 * 60
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()
# Some presigners declare the payload unsigned instead of hashing the empty body.
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
AUTH_PARAMETERS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


class SignatureError(Exception):
    """The connect URL is not validly signed; the message says which check failed."""


def verify_presigned_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: dict[str, str],
    region: str,
    lookup: Callable[[str], LocalCredentials | None],
    now: float,
) -> LocalCredentials:
    """Check a presigned request and return the credentials that signed it.

    Args:
        method: the HTTP method of the request (GET for a WebSocket upgrade).
        path: the request path as sent, e.g. `/local`.
        query: every query parameter, decoded, in any order (repeats allowed).
        headers: request headers keyed by lower-case name.
        region: the region the gateway serves; the credential scope must name it.
        lookup: access key id → credentials, or None for keys nobody issued.
        now: the current epoch time in seconds.

    Raises SignatureError naming the failed check: missing parameters, wrong algorithm,
    service or region, unknown or expired credentials, a bad security token, a request
    dated in the future or past its expiry, or a signature that does not match.
    """
    pairs = list(query)
    params = dict(pairs)
    missing = [name for name in AUTH_PARAMETERS if not params.get(name)]
    if missing:
        raise SignatureError(f"missing query parameters: {', '.join(missing)}")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise SignatureError(f"X-Amz-Algorithm must be {ALGORITHM}")

    scope = params["X-Amz-Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise SignatureError("X-Amz-Credential must be KEY/YYYYMMDD/REGION/SERVICE/aws4_request")
    access_key, scope_date, scope_region, scope_service, _ = scope
    if scope_service != SERVICE:
        raise SignatureError(f"credential scope names service {scope_service!r}, not {SERVICE}")
    if scope_region != region:
        raise SignatureError(f"credential scope names region {scope_region!r}, not {region}")

    try:
        signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(params["X-Amz-Expires"])
    except ValueError as error:
        raise SignatureError(f"malformed X-Amz-Date or X-Amz-Expires: {error}") from None
    if signed_at.strftime("%Y%m%d") != scope_date:
        raise SignatureError("credential scope date differs from X-Amz-Date")
    if not 0 < expires <= MAX_EXPIRES_SECONDS:
        raise SignatureError(f"X-Amz-Expires must be 1..{MAX_EXPIRES_SECONDS} seconds")
    if signed_at.timestamp() > now + MAX_CLOCK_SKEW_SECONDS:
        raise SignatureError("signature is dated in the future (clock skew)")
    if now > signed_at.timestamp() + expires:
        raise SignatureError("signature has expired")

    credentials = lookup(access_key)
    if credentials is None:
        raise SignatureError(f"unknown access key {access_key!r}")
    if now > credentials.expiration:
        raise SignatureError("the signing credentials have expired")
    token = params.get("X-Amz-Security-Token", "")
    if not hmac.compare_digest(token.encode(), credentials.session_token.encode()):
        raise SignatureError("X-Amz-Security-Token does not belong to the access key")

    signed_headers = params["X-Amz-SignedHeaders"].split(";")
    if "host" not in signed_headers:
        raise SignatureError("X-Amz-SignedHeaders must include host")
    try:
        canonical_headers = "".join(
            f"{name}:{' '.join(headers[name].split())}\n" for name in signed_headers
        )
    except KeyError as error:
        raise SignatureError(f"signed header {error.args[0]!r} is not in the request") from None

    # SigV4 sorts by the encoded names (then values), not the decoded ones.
    canonical_query = "&".join(
        f"{key}={value}"
        for key, value in sorted(
            (_encode(k), _encode(v)) for k, v in pairs if k != "X-Amz-Signature"
        )
    )
    key = _signing_key(credentials.secret_access_key, scope_date, region)
    string_prefix = f"{ALGORITHM}\n{params['X-Amz-Date']}\n{'/'.join(scope[1:])}\n"
    for payload_hash in (EMPTY_BODY_SHA256, UNSIGNED_PAYLOAD):
        canonical_request = "\n".join(
            (
                method.upper(),
                quote(path, safe="/-_.~"),
                canonical_query,
                canonical_headers,
                ";".join(signed_headers),
                payload_hash,
            )
        )
        digest = hashlib.sha256(canonical_request.encode()).hexdigest()
        expected = hmac.new(key, (string_prefix + digest).encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, params["X-Amz-Signature"]):
            return credentials
    raise SignatureError("signature does not match the request")


def _encode(value: str) -> str:
    # SigV4 percent-encodes everything except the RFC 3986 unreserved characters.
    return quote(value, safe="-_.~")


def _signing_key(secret: str, date: str, region: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, SERVICE, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
