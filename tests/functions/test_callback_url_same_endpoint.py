"""A function pinned to its API's callback URL streams to the URL the browser names only
when both name the same stage: scheme and host in any case, the scheme's default port
written or not, ws/wss read as http/https, a trailing slash. Any other port is another
endpoint, and https on any host is a valid callback URL."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.functions.test_metrics import aliased_example, lines  # noqa: F401 - the fixture

HOST = "abc123.execute-api.us-east-1.amazonaws.com"
API = f"https://{HOST}/prod"
LOCAL = "http://127.0.0.1/local"
# Past the endpoint checks: the table has no row for the session.
ACCEPTED = "off_connection_not_found"
NOT_ALLOWED = "off_endpoint_not_allowed"


@pytest.mark.parametrize(
    ("pinned", "named", "outcome"),
    [
        (LOCAL, "http://127.0.0.1:80/local", ACCEPTED),
        ("http://127.0.0.1:80/local", "ws://127.0.0.1/local/", ACCEPTED),
        (LOCAL, "http://127.0.0.1:8080/local", NOT_ALLOWED),
        (LOCAL, "http://127.0.0.1:79/local", NOT_ALLOWED),
        (API, f"wss://{HOST.upper()}:443/prod/", ACCEPTED),
        (API, f"https://{HOST}:444/prod", NOT_ALLOWED),
        (API, f"http://{HOST}/prod", "off_endpoint_invalid"),
    ],
)
def test_the_named_endpoint_is_the_pinned_one_only_when_both_name_the_same_stage(
    aliased_example,  # noqa: F811
    capsys,
    pinned,
    named,
    outcome,
):
    example, lex_event = aliased_example(SimpleNamespace(callback_url=pinned), "Hi.", named)
    capsys.readouterr()

    example.invoke(lex_event)

    output = capsys.readouterr().out
    [closed] = lines(output, "stream_closed")
    assert closed["outcome"] == outcome
    assert lines(output, "callback_url_unpinned") == []  # it is pinned
