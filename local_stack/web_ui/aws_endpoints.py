"""The AWS endpoints a Lex Web UI calls, answered by the local stack in their wire formats.

The page's service worker sends every request for an AWS host to
`/.aws/{host}/{path}` on the stack's own origin, headers and body unchanged. Here:

- `cognito-identity.{region}.amazonaws.com`: Cognito Identity's JSON 1.1 protocol
  (`X-Amz-Target: AWSCognitoIdentityService.GetId` / `.GetCredentialsForIdentity`), backed
  by the stack's identity pool;
- `runtime-v2-lex.{region}.amazonaws.com`: Lex V2 RecognizeText (the local Lex runtime's
  routes, under that prefix). In `iam` mode its SigV4 signature is checked as Lex checks
  it, for the host the SDK signed (the AWS host in the path), not the loopback address
  the request reached;
- any other AWS host: an error naming the host, and one log line, so that nothing the page
  asks for leaves this machine unanswered.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from ..identity import LocalIdentityPool
from ..sigv4 import SignatureError, verify_signed_request

log = logging.getLogger("lexstream.local.web_ui")

FORWARD_PREFIX = "/.aws"
JSON_11 = "application/x-amz-json-1.1"
COGNITO_TARGET_PREFIX = "AWSCognitoIdentityService."
# Lex V2 runtime's SigV4 signing name.
LEX_SIGNING_NAME = "lex"


def identity_host(region: str) -> str:
    return f"cognito-identity.{region}.amazonaws.com"


def lex_host(region: str) -> str:
    return f"runtime-v2-lex.{region}.amazonaws.com"


def lex_prefix(region: str) -> str:
    """Where the local Lex runtime's routes are served for calls the page made to AWS."""
    return f"{FORWARD_PREFIX}/{lex_host(region)}"


def identity_routes(pool_of: Callable[[], LocalIdentityPool], region: str) -> list[web.RouteDef]:
    """Cognito Identity's GetId and GetCredentialsForIdentity, JSON 1.1."""

    async def cognito_identity(request: web.Request) -> web.Response:
        pool = pool_of()
        target = request.headers.get("X-Amz-Target", "")
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return _json_11_error(400, "SerializationException", "the body must be JSON")
        if not isinstance(body, dict):
            return _json_11_error(400, "SerializationException", "the body must be an object")
        operation = target.removeprefix(COGNITO_TARGET_PREFIX)
        if operation == "GetId":
            pool_id = body.get("IdentityPoolId")
            if pool_id != pool.pool_id:
                return _json_11_error(
                    400, "ResourceNotFoundException", f"IdentityPool '{pool_id}' not found."
                )
            if body.get("Logins"):
                return _json_11_error(
                    400,
                    "NotAuthorizedException",
                    "the local identity pool has unauthenticated identities only",
                )
            return _json_11({"IdentityId": pool.new_identity()})
        if operation == "GetCredentialsForIdentity":
            try:
                credentials = pool.issue(str(body.get("IdentityId")))
            except ValueError:
                return _json_11_error(
                    400,
                    "ResourceNotFoundException",
                    f"Identity '{body.get('IdentityId')}' not found.",
                )
            return _json_11(
                {
                    "IdentityId": credentials.identity_id,
                    "Credentials": {
                        "AccessKeyId": credentials.access_key_id,
                        "SecretKey": credentials.secret_access_key,
                        "SessionToken": credentials.session_token,
                        "Expiration": credentials.expiration,
                    },
                }
            )
        return _json_11_error(
            400, "UnknownOperationException", f"the local identity pool does not serve {target!r}"
        )

    # The SDK posts to the host's root, "/"; an SDK given an endpoint URL with a path
    # posts to that path as it is.
    path = f"{FORWARD_PREFIX}/{identity_host(region)}"
    return [web.post(path + "/", cognito_identity), web.post(path, cognito_identity)]


def unserved_hosts_route() -> web.RouteDef:
    """Any other AWS call the page makes: refused with a reason, never sent on."""

    async def unserved(request: web.Request) -> web.Response:
        call = f"{request.method} {request.match_info['host']}/{request.match_info['path']}"
        log.warning("web UI called %s, which the local stack does not serve (501)", call)
        return web.json_response(
            {"message": f"the local stack does not serve {call}"},
            status=501,
            headers={"x-amzn-ErrorType": "NotImplemented"},
        )

    return web.route("*", FORWARD_PREFIX + "/{host}/{path:.*}", unserved)


def lex_signature_check(
    pool_of: Callable[[], LocalIdentityPool], region: str, *, clock: Callable[[], float] = time.time
) -> Callable[[web.Request], Awaitable[web.Response | None]]:
    """`await check(request)` → Lex's 403 for a RecognizeText call that is not validly
    signed by credentials of the stack's pool for the region's Lex host, else None."""
    signed_host = lex_host(region)
    prefix = lex_prefix(region)

    async def check(request: web.Request) -> web.Response | None:
        body = await request.read()
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        # The SDK signed the AWS host and the path it called there.
        headers["host"] = signed_host
        raw_path = urlsplit(request.raw_path).path.removeprefix(prefix) or "/"
        query = list(request.query.items())
        try:
            verify_signed_request(
                request.method,
                raw_path,
                query,
                headers,
                body,
                region,
                pool_of().lookup,
                clock(),
                service=LEX_SIGNING_NAME,
            )
        except SignatureError as error:
            log.warning("refused RecognizeText (403): %s", error)
            return web.json_response(
                {"message": str(error)}, status=403, headers={"x-amzn-ErrorType": error.error_type}
            )
        return None

    return check


def _json_11(body: dict[str, object]) -> web.Response:
    return web.Response(text=json.dumps(body), content_type=JSON_11)


def _json_11_error(status: int, error_type: str, message: str) -> web.Response:
    return web.Response(
        text=json.dumps({"__type": error_type, "message": message}),
        status=status,
        content_type=JSON_11,
    )
