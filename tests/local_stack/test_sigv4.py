"""Header-signed management API calls, verified the way API Gateway verifies them.

Requests are signed by botocore's own SigV4 signer, so what passes here is what an
unmodified boto3 client sends.
"""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local_stack.identity import LocalCredentials
from local_stack.sigv4 import SignatureError, verify_signed_request

REGION = "us-east-1"
SIGNER = LocalCredentials("", "AKIALEXSTREAMLOCAL01", "local-secret", "local-token", math.inf)
# A connection id with '=' in it, as API Gateway's often have: the path is encoded twice.
URL = "http://127.0.0.1:8080/local/%40connections/L0SM9cOFvHcCIhw%3D"


def _signed(
    body: bytes = b'{"text": "hi"}',
    *,
    url: str = URL,
    region: str = REGION,
    service: str = "execute-api",
    secret: str = SIGNER.secret_access_key,
    token: str | None = SIGNER.session_token,
) -> dict[str, Any]:
    request = AWSRequest(method="POST", url=url, data=body)
    credentials = Credentials(SIGNER.access_key_id, secret, token)
    SigV4Auth(credentials, service, region).add_auth(request)
    parts = urlsplit(url)
    return {
        "method": "POST",
        "raw_path": parts.path,
        "query": [],
        # The HTTP client adds Host when it sends; botocore signs it from the URL.
        "headers": {
            "host": parts.netloc,
            **{name.lower(): value for name, value in request.headers.items()},
        },
        "body": body,
    }


def _verify(request: dict[str, Any], now: float | None = None) -> LocalCredentials:
    lookup = {SIGNER.access_key_id: SIGNER}.get
    return verify_signed_request(**request, region=REGION, lookup=lookup, now=now or time.time())


def test_a_call_signed_by_botocore_verifies_and_names_its_signer() -> None:
    assert _verify(_signed()) == SIGNER


def test_a_call_with_a_dot_segment_in_its_path_verifies_as_botocore_normalizes_it() -> None:
    assert _verify(_signed(url="http://127.0.0.1:8080/local/./%40connections/abc")) == SIGNER


def test_another_body_than_the_one_signed_is_refused() -> None:
    request = _signed(b'{"text": "hi"}')
    request["body"] = b'{"text": "hijacked"}'
    with pytest.raises(SignatureError, match="signature does not match"):
        _verify(request)


def test_another_connection_than_the_one_signed_is_refused() -> None:
    request = _signed()
    request["raw_path"] = "/local/%40connections/someone-else"
    with pytest.raises(SignatureError, match="signature does not match") as refused:
        _verify(request)
    assert refused.value.error_type == "InvalidSignatureException"


def test_a_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="signature does not match"):
        _verify(_signed(secret="not-the-secret"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"region": "eu-west-1"}, "names region 'eu-west-1', not us-east-1"),
        ({"service": "execute-apis"}, "names service 'execute-apis', not execute-api"),
        ({"token": "someone-elses-token"}, "security token does not belong"),
        ({"token": None}, "security token does not belong"),
    ],
)
def test_the_scope_and_token_must_be_this_gateways(options: dict, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        _verify(_signed(**options))


def test_a_key_nobody_issued_is_an_unrecognized_client() -> None:
    request = _signed()
    with pytest.raises(SignatureError, match="unknown access key") as refused:
        verify_signed_request(**request, region=REGION, lookup=lambda key: None, now=time.time())
    assert refused.value.error_type == "UnrecognizedClientException"


@pytest.mark.parametrize("skew_s", [-301, 301])
def test_a_call_dated_more_than_five_minutes_away_is_refused(skew_s: int) -> None:
    with pytest.raises(SignatureError, match="more than 5 minutes"):
        _verify(_signed(), now=time.time() - skew_s)


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        ("", "must use AWS4-HMAC-SHA256"),
        ("AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/execute-api/aws4_request", "lacks"),
        (
            "AWS4-HMAC-SHA256 Credential=AKIA/us-east-1/execute-api, SignedHeaders=host, "
            "Signature=00",
            "must be KEY/YYYYMMDD/REGION/SERVICE/aws4_request",
        ),
    ],
)
def test_a_malformed_authorization_header_is_named(authorization: str, message: str) -> None:
    request = _signed()
    request["headers"]["authorization"] = authorization
    with pytest.raises(SignatureError, match=message):
        _verify(request)


def test_a_declared_body_hash_must_be_the_bodys() -> None:
    request = _signed()
    request["headers"]["x-amz-content-sha256"] = "0" * 64
    with pytest.raises(SignatureError, match="does not match the body"):
        _verify(request)


def test_a_call_signed_over_unsigned_payload_is_refused_as_api_gateway_refuses_it() -> None:
    # Validly signed, but over the literal UNSIGNED-PAYLOAD instead of the body's hash:
    # whoever relays it could swap the body. Only S3 takes that on a header-signed call.
    request = AWSRequest(method="POST", url=URL, data=b'{"text": "hi"}')
    request.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    credentials = Credentials(SIGNER.access_key_id, SIGNER.secret_access_key, SIGNER.session_token)
    SigV4Auth(credentials, "execute-api", REGION).add_auth(request)
    signed = {
        "method": "POST",
        "raw_path": urlsplit(URL).path,
        "query": [],
        "headers": {
            "host": urlsplit(URL).netloc,
            **{name.lower(): value for name, value in request.headers.items()},
        },
        "body": b'{"text": "swapped"}',
    }
    with pytest.raises(SignatureError, match="UNSIGNED-PAYLOAD is not accepted"):
        _verify(signed)
