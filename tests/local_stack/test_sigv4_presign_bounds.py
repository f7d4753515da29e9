"""The edges of a presigned connect, checked before any signature is recomputed: a
validity of 1 s up to AWS's 7 days, a credential scope of exactly
KEY/DATE/REGION/SERVICE/aws4_request dated the day of X-Amz-Date. URLs are presigned by
botocore's SigV4QueryAuth."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest
from local_stack_helpers import presign

from local_stack.identity import LocalCredentials
from local_stack.sigv4 import SignatureError, verify_presigned_request
from tests.local_stack.test_sigv4 import SIGNER as _SIGNER
from tests.local_stack.test_sigv4 import _signed, _verify

REGION = "us-east-1"
SIGNER = LocalCredentials("", "AKIALEXSTREAMLOCAL02", "local-secret", "local-token", math.inf)
URL = "ws://127.0.0.1:8080/local?sessionId=lex-web-ui-1a2b"
SEVEN_DAYS = 7 * 24 * 60 * 60


def verify(url: str) -> LocalCredentials:
    parts = urlsplit(url)
    return verify_presigned_request(
        "GET",
        parts.path,
        parse_qsl(parts.query, keep_blank_values=True),
        {"host": parts.netloc},
        REGION,
        {SIGNER.access_key_id: SIGNER}.get,
        time.time(),
    )


def with_parameter(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, value if k == name else v) for k, v in parse_qsl(parts.query)]
    encoded = "&".join(f"{k}={v}" for k, v in query)
    return urlunsplit(parts._replace(query=encoded))


@pytest.mark.parametrize("expires", [1, 3600, SEVEN_DAYS])
def test_a_connect_presigned_for_1_second_up_to_7_days_verifies(expires):
    assert verify(presign(URL, SIGNER, REGION, expires=expires)) == SIGNER


@pytest.mark.parametrize("expires", [0, SEVEN_DAYS + 1])
def test_a_validity_of_0_or_more_than_7_days_is_refused(expires):
    with pytest.raises(SignatureError, match=f"X-Amz-Expires must be 1..{SEVEN_DAYS} seconds"):
        verify(presign(URL, SIGNER, REGION, expires=expires))


@pytest.mark.parametrize("scope_date", ["20000101", "29991231"])
def test_a_credential_scope_dated_another_day_than_x_amz_date_is_refused(scope_date):
    url = presign(URL, SIGNER, REGION)
    credential = dict(parse_qsl(urlsplit(url).query))["X-Amz-Credential"].split("/")
    credential[1] = scope_date

    with pytest.raises(SignatureError, match="credential scope date differs from X-Amz-Date"):
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


def test_a_header_signed_call_whose_path_climbs_above_the_root_verifies_as_botocore_signs_it():
    # botocore removes dot segments before signing, and ".." at the root stays at the root.
    request = _signed(url="http://127.0.0.1:8080/../local/%40connections/abc")
    assert _verify(request) == _SIGNER


def signed_ahead(seconds: int) -> str:
    signed_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds)
    return presign(URL, SIGNER, REGION, signed_at=signed_at)


@pytest.mark.parametrize("ahead_s", [0, 290])
def test_a_connect_dated_up_to_5_minutes_ahead_verifies(ahead_s):
    assert verify(signed_ahead(ahead_s)) == SIGNER


def test_a_connect_dated_more_than_5_minutes_ahead_is_refused():
    with pytest.raises(SignatureError, match="dated in the future"):
        verify(signed_ahead(310))
