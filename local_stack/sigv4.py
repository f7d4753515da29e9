"""Verify SigV4 signatures for execute-api, as API Gateway does.

Two shapes reach the local gateway:
- WebSocket connect URLs, presigned in the query string. The Lex Web UI presigns
  `wss://host/stage?sessionId=…` with its identity-pool credentials (only the `host`
  header signed, as the host name without a port), and botocore's `SigV4QueryAuth`
  produces the same shape (with the port, when the URL has one).
- Management API calls (`POST /{stage}/@connections/{id}`), signed in the
  `Authorization` header by the functions' botocore clients, body included.

Each check recomputes the signature from the request the gateway received and raises
`SignatureError` saying why it does not match.
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
TOKEN_PARAMETER = "X-Amz-Security-Token"
AUTH_PARAMETERS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


class SignatureError(Exception):
    """The request is not validly signed; the message says which check failed.

    `error_type` is the error API Gateway answers with: a signature that does not match
    is InvalidSignatureException, a key nobody issued is UnrecognizedClientException.
    """

    def __init__(self, message: str, error_type: str = "InvalidSignatureException") -> None:
        super().__init__(message)
        self.error_type = error_type


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

    Raises SignatureError naming the failed check: missing or repeated parameters, wrong
    algorithm, service or region, unknown or expired credentials, a bad security token, a
    request dated in the future or past its expiry, or a signature that does not match.
    """
    pairs = list(query)
    params = dict(pairs)
    missing = [name for name in AUTH_PARAMETERS if not params.get(name)]
    if missing:
        raise SignatureError(f"missing query parameters: {', '.join(missing)}")
    # A repeated parameter is ambiguous (which one was signed?): with a bogus signature
    # first and the real one last, a lenient reader would check one and log the other.
    names = [name for name, _ in pairs]
    repeated = sorted({n for n in (*AUTH_PARAMETERS, TOKEN_PARAMETER) if names.count(n) > 1})
    if repeated:
        raise SignatureError(f"repeated query parameters: {', '.join(repeated)}")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise SignatureError(f"X-Amz-Algorithm must be {ALGORITHM}")

    scope = _credential_scope(params["X-Amz-Credential"], region)
    access_key, scope_date = scope[0], scope[1]

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

    credentials = _credentials(lookup, access_key, params.get(TOKEN_PARAMETER, ""), now)
    signed_headers = params["X-Amz-SignedHeaders"].split(";")
    canonical_query = _canonical_query((k, v) for k, v in pairs if k != "X-Amz-Signature")
    for host in _signed_host_forms(headers):
        received = headers if host is None else {**headers, "host": host}
        canonical_headers = _canonical_headers(signed_headers, received)
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
            expected = _signature(credentials, scope, params["X-Amz-Date"], canonical_request)
            if hmac.compare_digest(expected, params["X-Amz-Signature"]):
                return credentials
    raise SignatureError("signature does not match the request")


def _signed_host_forms(headers: dict[str, str]) -> list[str | None]:
    """The host values a presigned connect may have been signed for: the Host header as
    received and, when it carries a port, the host name alone.

    The Lex Web UI (0.24.1) signs `host` as the URL's host name without its port. API
    Gateway's endpoints have no port, so there the two are the same; against a loopback
    gateway the browser's Host header has the port, and only the port may differ.
    """
    host = headers.get("host")
    if host is None:
        return [None]  # _canonical_headers then says the signed header is missing
    name, colon, port = host.rpartition(":")
    # "[::1]:8080" has a port; "[::1]" and "::1" do not.
    if colon and port.isdigit() and (not name.startswith("[") or name.endswith("]")):
        return [host, name]
    return [host]


def verify_signed_request(
    method: str,
    raw_path: str,
    query: Iterable[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    region: str,
    lookup: Callable[[str], LocalCredentials | None],
    now: float,
    service: str = SERVICE,
) -> LocalCredentials:
    """Check a request signed in its `Authorization` header; return who signed it.

    Args:
        method: the HTTP method.
        raw_path: the path exactly as sent, percent-encoding included
            (`/local/%40connections/abc%3D`).
        query: every query parameter, decoded, in any order.
        headers: request headers keyed by lower-case name (repeats joined with ",").
        body: the request body.
        region: the region the gateway serves; the credential scope must name it.
        lookup: access key id → credentials, or None for keys nobody issued.
        now: the current epoch time in seconds.
        service: the signing name the credential scope must name (Lex V2's runtime is
            `lex`). Default execute-api.

    Raises SignatureError naming the failed check: a malformed header, wrong algorithm,
    service or region, an unknown key, a bad security token, a request dated more than
    five minutes away from `now`, a body that is not the one signed (UNSIGNED-PAYLOAD
    included), or a signature that does not match.
    """
    authorization = headers.get("authorization", "")
    algorithm, _, fields = authorization.partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError(f"Authorization must use {ALGORITHM}")
    parts = dict(part.strip().partition("=")[::2] for part in fields.split(",") if "=" in part)
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not parts.get(name)]
    if missing:
        raise SignatureError(f"Authorization lacks {', '.join(missing)}")
    scope = _credential_scope(parts["Credential"], region, service)
    access_key, scope_date = scope[0], scope[1]
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError("X-Amz-Date must be YYYYMMDDTHHMMSSZ") from None
    if signed_at.strftime("%Y%m%d") != scope_date:
        raise SignatureError("credential scope date differs from X-Amz-Date")
    if abs(now - signed_at.timestamp()) > MAX_CLOCK_SKEW_SECONDS:
        raise SignatureError("signature is dated more than 5 minutes from now")
    credentials = _credentials(lookup, access_key, headers.get("x-amz-security-token", ""), now)

    signed_headers = parts["SignedHeaders"].split(";")
    if "x-amz-date" not in signed_headers:
        raise SignatureError("SignedHeaders must include x-amz-date")
    # The management API signs its body: only S3 (and presigned URLs) take an unsigned
    # payload, so a declared UNSIGNED-PAYLOAD is refused like any other wrong hash.
    payload_hash = hashlib.sha256(body).hexdigest()
    declared = headers.get("x-amz-content-sha256", payload_hash)
    if declared == UNSIGNED_PAYLOAD:
        raise SignatureError("UNSIGNED-PAYLOAD is not accepted: the body must be signed")
    if declared != payload_hash:
        raise SignatureError("X-Amz-Content-SHA256 does not match the body")
    # Every service but S3 encodes the (already encoded) path once more.
    canonical_path = quote(_remove_dot_segments(raw_path) or "/", safe="/~")
    canonical_request = "\n".join(
        (
            method.upper(),
            canonical_path,
            _canonical_query(query),
            _canonical_headers(signed_headers, headers),
            ";".join(signed_headers),
            payload_hash,
        )
    )
    expected = _signature(credentials, scope, amz_date, canonical_request)
    if not hmac.compare_digest(expected, parts["Signature"]):
        raise SignatureError("signature does not match the request")
    return credentials


def _credential_scope(credential: str, region: str, service: str = SERVICE) -> list[str]:
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise SignatureError("the credential must be KEY/YYYYMMDD/REGION/SERVICE/aws4_request")
    if scope[3] != service:
        raise SignatureError(f"credential scope names service {scope[3]!r}, not {service}")
    if scope[2] != region:
        raise SignatureError(f"credential scope names region {scope[2]!r}, not {region}")
    return scope


def _credentials(
    lookup: Callable[[str], LocalCredentials | None], access_key: str, token: str, now: float
) -> LocalCredentials:
    credentials = lookup(access_key)
    if credentials is None:
        raise SignatureError(f"unknown access key {access_key!r}", "UnrecognizedClientException")
    if now > credentials.expiration:
        raise SignatureError("the signing credentials have expired")
    if not hmac.compare_digest(token.encode(), credentials.session_token.encode()):
        raise SignatureError("the security token does not belong to the access key")
    return credentials


def _canonical_headers(signed_headers: list[str], headers: dict[str, str]) -> str:
    if "host" not in signed_headers:
        raise SignatureError("the signed headers must include host")
    try:
        return "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed_headers)
    except KeyError as error:
        raise SignatureError(f"signed header {error.args[0]!r} is not in the request") from None


def _remove_dot_segments(path: str) -> str:
    """`path` as botocore's SigV4 signer canonicalizes it for every service but S3 (so for
    execute-api and lex): empty and `.` segments dropped, `..` dropping the segment kept
    before it (none above the root), the leading slash kept, and a trailing slash kept
    only where the path ends with one and some segment remains."""
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment not in ("", "."):
            kept.append(segment)
    leading = "/" if path.startswith("/") else ""
    trailing = "/" if kept and path.endswith("/") else ""
    return leading + "/".join(kept) + trailing


def _encode(value: str) -> str:
    # SigV4 percent-encodes everything except the RFC 3986 unreserved characters.
    return quote(value, safe="-_.~")


def _canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    # SigV4 sorts by the encoded names (then values), not the decoded ones.
    return "&".join(f"{k}={v}" for k, v in sorted((_encode(k), _encode(v)) for k, v in pairs))


def _signature(
    credentials: LocalCredentials, scope: list[str], amz_date: str, canonical_request: str
) -> str:
    """The signature of `canonical_request`; `scope` is KEY/DATE/REGION/SERVICE/aws4_request."""
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{amz_date}\n{'/'.join(scope[1:])}\n{digest}"
    key = _signing_key(credentials.secret_access_key, scope[1], scope[2], scope[3])
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
