"""The edges of a presigned connect, checked before any signature is recomputed: a
validity of 1 s up to AWS's 7 days, a credential scope of exactly
KEY/DATE/REGION/SERVICE/aws4_request dated the day of X-Amz-Date. URLs are presigned by
botocore's SigV4QueryAuth."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from local_stack_helpers import presign

from local_stack.identity import LocalCredentials
from local_stack.sigv4 import SignatureError, verify_presigned_request, verify_signed_request
from tests.local_stack.test_sigv4 import SIGNER as _SIGNER
from tests.local_stack.test_sigv4 import _signed, _verify

REGION = "us-east-1"
SIGNER = LocalCredentials("", "AKIALEXSTREAMLOCAL02", "local-secret", "local-token", math.inf)
URL = "ws://127.0.0.1:8080/local?sessionId=lex-web-ui-1a2b"
SEVEN_DAYS = 7 * 24 * 60 * 60


def verify(url: str, now: float | None = None, host: str | None = None) -> LocalCredentials:
    parts = urlsplit(url)
    return verify_presigned_request(
        "GET",
        parts.path,
        parse_qsl(parts.query, keep_blank_values=True),
        {"host": host or parts.netloc},
        REGION,
        {SIGNER.access_key_id: SIGNER}.get,
        time.time() if now is None else now,
    )


def with_parameter(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, value if k == name else v) for k, v in parse_qsl(parts.query)]
    encoded = "&".join(f"{k}={v}" for k, v in query)
    return urlunsplit(parts._replace(query=encoded))


@pytest.mark.parametrize("expires", [1, 3600, SEVEN_DAYS])
def test_a_connect_presigned_for_1_second_up_to_7_days_verifies(expires):
    assert verify(presign(URL, SIGNER, REGION, expires=expires)) == SIGNER


@pytest.mark.parametrize("expires", [-1, 0, SEVEN_DAYS + 1])
def test_a_validity_of_0_or_more_than_7_days_is_refused(expires):
    url = with_parameter(presign(URL, SIGNER, REGION), "X-Amz-Expires", str(expires))

    with pytest.raises(SignatureError, match=f"X-Amz-Expires must be 1..{SEVEN_DAYS} seconds"):
        verify(url)


@pytest.mark.parametrize(
    ("part", "value", "message"),
    [
        (1, "20000101", "credential scope date differs from X-Amz-Date"),
        (1, "29991231", "credential scope date differs from X-Amz-Date"),
        (2, "eu-west-1", f"names region 'eu-west-1', not {REGION}"),
        (2, "us-west-2", f"names region 'us-west-2', not {REGION}"),
        (3, "apigateway", "names service 'apigateway', not execute-api"),
        (3, "s3", "names service 's3', not execute-api"),
    ],
)
def test_a_credential_scope_of_another_date_region_or_service_is_refused_naming_it(
    part, value, message
):
    url = presign(URL, SIGNER, REGION)
    credential = dict(parse_qsl(urlsplit(url).query))["X-Amz-Credential"].split("/")
    credential[part] = value

    with pytest.raises(SignatureError, match=message):
        verify(with_parameter(url, "X-Amz-Credential", "/".join(credential)))


@pytest.mark.parametrize(
    "tail", ["aws4_request/extra", "aws4_requesa", "zzz", "aws4_request/"], ids=repr
)
def test_a_credential_scope_of_another_shape_is_refused(tail):
    url = presign(URL, SIGNER, REGION)
    credential = dict(parse_qsl(urlsplit(url).query))["X-Amz-Credential"]
    changed = credential.rsplit("/", 1)[0] + "/" + tail

    with pytest.raises(SignatureError, match="KEY/YYYYMMDD/REGION/SERVICE/aws4_request"):
        verify(with_parameter(url, "X-Amz-Credential", changed))


@pytest.mark.parametrize("path", ["/../local/%40connections/abc", "/x/../local/%40connections/abc"])
def test_a_header_signed_call_with_dot_dot_segments_verifies_as_botocore_signs_it(path):
    # botocore removes dot segments before signing; ".." at the root stays at the root.
    request = _signed(url=f"http://127.0.0.1:8080{path}")
    assert _verify(request) == _SIGNER


@pytest.mark.parametrize("service", ["execute-api", "lex"])
@pytest.mark.parametrize(
    "path",
    [
        "/local/%40connections/abc/.",
        "/local/%40connections/abc/x/..",
        "/local/%40connections/abc/..",
        "/local//%40connections///abc",
        "//local/%40connections/abc//",
        "/local/%40connections/abc/",
        "/local/./../..//.",
        "/.",
        "//",
        "/",
    ],
)
def test_a_header_signed_call_verifies_for_any_path_botocore_signs(path, service):
    # botocore drops empty and "." segments, and keeps a trailing slash only after a
    # segment that remains, for every service but S3.
    request = _signed(url=f"http://127.0.0.1:8080{path}", service=service)
    lookup = {_SIGNER.access_key_id: _SIGNER}.get
    verified = verify_signed_request(
        **request, region=REGION, lookup=lookup, now=time.time(), service=service
    )
    assert verified == _SIGNER


@pytest.mark.parametrize(
    ("signed", "sent"),
    [
        ("/local/%40connections/abc/", "/local/%40connections/abc"),
        ("/local/%40connections/abc", "/local/%40connections/abc/"),
        ("/local/%40connections/abc/..", "/local/%40connections/abc"),
        ("/local/%40connections/", "/local/%40connections/abc/.."),
    ],
)
def test_a_header_signed_call_is_refused_for_a_path_botocore_signs_otherwise(signed, sent):
    request = _signed(url=f"http://127.0.0.1:8080{signed}")
    request["raw_path"] = sent
    with pytest.raises(SignatureError, match="signature does not match"):
        _verify(request)


SIGNED_AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("ahead_s", [0, 1, 299, 300])
def test_a_connect_dated_up_to_5_minutes_ahead_verifies(ahead_s):
    url = presign(URL, SIGNER, REGION, signed_at=SIGNED_AT)

    assert verify(url, now=SIGNED_AT.timestamp() - ahead_s) == SIGNER


def test_a_connect_dated_more_than_5_minutes_ahead_is_refused():
    url = presign(URL, SIGNER, REGION, signed_at=SIGNED_AT)

    with pytest.raises(SignatureError, match="dated in the future"):
        verify(url, now=SIGNED_AT.timestamp() - 301)


def test_a_connect_verifies_up_to_its_last_valid_second_and_not_after():
    url = presign(URL, SIGNER, REGION, expires=60, signed_at=SIGNED_AT)

    assert verify(url, now=SIGNED_AT.timestamp() + 60) == SIGNER
    with pytest.raises(SignatureError, match="signature has expired"):
        verify(url, now=SIGNED_AT.timestamp() + 61)


@pytest.mark.parametrize("algorithm", ["AWS4-ECDSA-P256-SHA256", "AWS4-HMAC-SHA512"])
def test_a_presign_with_another_algorithm_is_refused_naming_the_one_expected(algorithm):
    url = with_parameter(presign(URL, SIGNER, REGION), "X-Amz-Algorithm", algorithm)

    with pytest.raises(SignatureError, match="X-Amz-Algorithm must be AWS4-HMAC-SHA256"):
        verify(url)


@pytest.mark.parametrize(
    ("name", "value"), [("X-Amz-Date", "yesterday"), ("X-Amz-Expires", "soon")]
)
def test_a_malformed_date_or_validity_is_refused_naming_both(name, value):
    url = with_parameter(presign(URL, SIGNER, REGION), name, value)

    with pytest.raises(SignatureError, match="malformed X-Amz-Date or X-Amz-Expires"):
        verify(url)


def test_a_signed_header_missing_from_the_request_is_named():
    url = with_parameter(presign(URL, SIGNER, REGION), "X-Amz-SignedHeaders", "host;x-amz-foo")

    with pytest.raises(SignatureError, match="signed header 'x-amz-foo' is not in the request"):
        verify(url)


def test_a_header_signed_call_is_accepted_up_to_5_minutes_from_its_date_and_not_after():
    request = _signed()
    signed_at = datetime.strptime(request["headers"]["x-amz-date"], "%Y%m%dT%H%M%SZ")
    dated = signed_at.replace(tzinfo=UTC).timestamp()

    assert _verify(request, now=dated + 300) == _SIGNER
    assert _verify(request, now=dated - 300) == _SIGNER
    with pytest.raises(SignatureError, match="more than 5 minutes"):
        _verify(request, now=dated + 301)


def test_a_signature_for_an_empty_host_does_not_verify_for_a_host_without_a_port():
    request = AWSRequest(method="GET", url=URL.replace("ws://", "http://", 1))
    request.headers["host"] = ""
    credentials = Credentials(SIGNER.access_key_id, "local-secret", "local-token")
    SigV4QueryAuth(credentials, "execute-api", REGION).add_auth(request)

    for host in ("localhost", "127.0.0.1"):
        with pytest.raises(SignatureError, match="signature does not match"):
            verify(request.url, host=host)


@pytest.mark.parametrize("host", ["127.0.0.1:x80", "127.0.0.1:"])
def test_a_host_whose_port_is_not_a_number_must_match_the_signed_host_whole(host):
    # Signed for the host name alone, as the Lex Web UI signs: only a numeric port may
    # be what differs.
    url = presign("ws://127.0.0.1/local?sessionId=lex-web-ui-1a2b", SIGNER, REGION)

    assert verify(url, host="127.0.0.1:8080") == SIGNER
    with pytest.raises(SignatureError, match="signature does not match"):
        verify(url, host=host)


@pytest.mark.parametrize("algorithm", ["AWS4-ECDSA-P256-SHA256", "AWS4-HMAC-SHA512"])
def test_a_header_signed_call_with_another_algorithm_is_refused(algorithm):
    request = _signed()
    authorization = request["headers"]["authorization"]
    request["headers"]["authorization"] = f"{algorithm} {authorization.partition(' ')[2]}"

    with pytest.raises(SignatureError, match="Authorization must use AWS4-HMAC-SHA256"):
        _verify(request)


def test_credentials_sign_up_to_their_expiry_and_not_after():
    expiring = LocalCredentials("", SIGNER.access_key_id, "local-secret", "local-token", 1e9)
    url = presign(URL, expiring, REGION, signed_at=datetime.fromtimestamp(1e9 - 60, UTC))
    parts = urlsplit(url)

    def at(now: float) -> LocalCredentials:
        return verify_presigned_request(
            "GET",
            parts.path,
            parse_qsl(parts.query),
            {"host": parts.netloc},
            REGION,
            {expiring.access_key_id: expiring}.get,
            now,
        )

    assert at(1e9) == expiring
    with pytest.raises(SignatureError, match="signing credentials have expired"):
        at(1e9 + 1)


@pytest.mark.parametrize("scope_date", ["20000101", "29991231"])
def test_a_header_signed_call_whose_scope_is_dated_another_day_is_refused(scope_date):
    request = _signed()
    authorization = request["headers"]["authorization"]
    signed_date = request["headers"]["x-amz-date"][:8]
    dated = authorization.replace(f"/{signed_date}/", f"/{scope_date}/")
    request["headers"]["authorization"] = dated

    with pytest.raises(SignatureError, match="credential scope date differs from X-Amz-Date"):
        _verify(request)


@pytest.mark.parametrize("declared", ["0" * 64, "f" * 64])
def test_a_declared_body_hash_other_than_the_bodys_is_refused_either_way_it_sorts(declared):
    request = _signed()
    request["headers"]["x-amz-content-sha256"] = declared

    with pytest.raises(SignatureError, match="X-Amz-Content-SHA256 does not match the body"):
        _verify(request)


def test_a_header_signed_call_with_a_malformed_date_is_refused_naming_the_format():
    request = _signed()
    request["headers"]["x-amz-date"] = "yesterday"

    with pytest.raises(SignatureError, match="X-Amz-Date must be YYYYMMDDTHHMMSSZ"):
        _verify(request)


def test_a_presign_without_its_security_token_is_refused_naming_the_token():
    parts = urlsplit(presign(URL, SIGNER, REGION))
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "X-Amz-Security-Token"]
    url = urlunsplit(parts._replace(query="&".join(f"{k}={v}" for k, v in query)))

    with pytest.raises(SignatureError, match="the security token does not belong"):
        verify(url)
