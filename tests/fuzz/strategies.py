"""Hypothesis strategies for hostile input, and the shape every answer must have."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from hypothesis import strategies as st
from lexstream_runtime import contract

# Characters that break naive code: NUL, controls, combining marks, right-to-left, emoji,
# and characters that are more than one UTF-8 byte.
_AWKWARD = "\x00\x1f\x7f\u0301\u202e\u00e9\u4e2d\U0001f600\ufeff\"'\\<>&%?#=/"


def text_values(max_size: int = 40) -> st.SearchStrategy[str]:
    """Short arbitrary unicode, biased towards awkward characters."""
    return st.text(
        alphabet=st.one_of(st.characters(), st.sampled_from(_AWKWARD)), max_size=max_size
    )


def huge_text() -> st.SearchStrategy[str]:
    """A single character repeated up to ~300 KB: beyond API Gateway's 128 KB message."""
    return st.builds(
        lambda char, size: char * size,
        st.sampled_from(["a", "\u00e9", "\U0001f600", "\x00", "{"]),
        st.integers(min_value=1_000, max_value=300_000),
    )


def session_ids() -> st.SearchStrategy[Any]:
    """Valid Lex session ids, near misses, arbitrary text, huge values and non-strings."""
    valid = st.from_regex(contract.SESSION_ID_PATTERN, fullmatch=True)
    # one_of picks branches evenly: valid ids are listed three times so that about half
    # of the examples get past validation and reach DynamoDB.
    return st.one_of(
        valid,
        valid,
        valid,
        st.just("us-east-1:6f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"),
        st.just("lex-web-ui-3f9a"),
        st.text(alphabet="0123456789abcdef-:._", min_size=0, max_size=1),  # too short
        st.text(alphabet="abc", min_size=101, max_size=120),  # too long
        text_values(),
        huge_text(),
        st.none(),
        st.integers(),
    )


def connection_ids() -> st.SearchStrategy[str | None]:
    """Connection ids as API Gateway writes them, plus missing, empty and odd ones."""
    from_gateway = st.from_regex(r"[A-Za-z0-9_-]{14}[A-Za-z0-9=]{2}", fullmatch=True)
    return st.one_of(
        from_gateway, from_gateway, from_gateway, st.sampled_from(["", None]), text_values()
    )


def header_maps() -> st.SearchStrategy[dict[str, str] | None]:
    """Arbitrary headers (names and values), sometimes huge, sometimes absent."""
    return st.one_of(
        st.none(),
        st.dictionaries(text_values(20), st.one_of(text_values(), huge_text()), max_size=5),
    )


def assert_well_formed(response: Any, forbidden: Iterable[str] = ()) -> None:
    """A Lambda proxy response with a JSON `{"message": ...}` body that reveals nothing.

    `forbidden`: strings (table names, say) that must never reach a client.
    """
    assert isinstance(response, dict), f"response is {type(response).__name__}, not a dict"
    status = response.get("statusCode")
    assert isinstance(status, int) and 200 <= status <= 599, f"bad statusCode {status!r}"
    headers = response.get("headers", {})
    assert isinstance(headers, dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    body = response.get("body")
    assert isinstance(body, str), f"body is {type(body).__name__}, not a string"
    message = json.loads(body)
    assert isinstance(message, dict) and isinstance(message.get("message"), str)
    for secret in [*forbidden, "Traceback", "botocore", "Exception", "arn:"]:
        assert secret not in body, f"response leaks {secret!r}: {body[:200]}"
