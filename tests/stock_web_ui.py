"""What the stock Lex Web UI (aws-lex-web-ui release 0.24.1) sends, for the tests that
imitate it. ../shared/DESIGN.md, "The real client, as measured", records the behaviour:

- Its session id is `lex-web-ui-` + 4 random hex digits, new per page load; the same id
  is the socket's `sessionId` and the Lex session id.
- It presigns `{streamingWebSocketEndpoint}?sessionId={id}` with SigV4 (service
  `execute-api`, the top-level `region`, 3600 s, the security token in the query), with
  only `host` signed, as the host name without the port.
- On every typed message it sets `streamingEndpoint` to the endpoint with `wss://`
  replaced by `https://` (a `ws://` endpoint stays as it is) and `streamingDynamoDbTable`.
"""

from __future__ import annotations

import random
from urllib.parse import urlsplit, urlunsplit

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from lexstream_runtime import contract

from local_stack.identity import LocalCredentials

STOCK_SESSION_PREFIX = "lex-web-ui-"
STOCK_PRESIGN_SECONDS = 3600


def stock_session_id(rng: random.Random | None = None) -> str:
    """A session id as the stock client draws it: one of only 65,536."""
    return f"{STOCK_SESSION_PREFIX}{(rng or random).randrange(0x10000):04x}"


def stock_connect_url(
    endpoint: str, session_id: str, credentials: LocalCredentials | None, region: str
) -> str:
    """The socket URL the stock client opens: presigned when it holds credentials (it
    always does with an identity pool), unsigned otherwise."""
    url = f"{endpoint}?{contract.CONNECT_QUERY_PARAMETER}={session_id}"
    return url if credentials is None else stock_presign(url, credentials, region)


def stock_presign(url: str, credentials: LocalCredentials, region: str) -> str:
    """`url` presigned as the stock client presigns it: `host` signed without the port."""
    parts = urlsplit(url)
    signer = botocore.auth.SigV4QueryAuth(
        Credentials(
            credentials.access_key_id, credentials.secret_access_key, credentials.session_token
        ),
        "execute-api",
        region,
        expires=STOCK_PRESIGN_SECONDS,
    )
    # Sign the https form of the URL with the host name alone; the socket then opens the
    # same path and query on the real host and port.
    unported = urlunsplit(("https", parts.hostname or "", parts.path, parts.query, ""))
    request = AWSRequest(method="GET", url=unported)
    signer.add_auth(request)
    signed_query = urlsplit(request.url).query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, signed_query, ""))


def stock_session_attributes(endpoint: str, table: str) -> dict[str, str]:
    """The session attributes the stock client sets on every typed message."""
    return {
        contract.SESSION_ATTR_ENDPOINT: endpoint.replace("wss://", "https://"),
        contract.SESSION_ATTR_TABLE: table,
    }
