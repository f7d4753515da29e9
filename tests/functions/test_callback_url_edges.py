"""The edges of the callback URL policy's two switches: what counts as an API Gateway
stage's own URL (https, default port, one stage segment, nothing else), and which value
of LEXSTREAM_LOCAL_LOOPBACK_CALLBACKS turns loopback callbacks on (exactly "1"), and that a
policy built without naming loopback keeps it off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lexstream_runtime import callback_url, contract, open_stream
from lexstream_runtime.callback_url import CallbackPolicy, is_execute_api_stage_url

from tests.functions.test_callback_url import Listener, turn_towards

HOST = "abc123defg.execute-api.us-east-1.amazonaws.com"


@pytest.mark.parametrize(
    "url",
    [
        f"https://{HOST}/prod",
        f"HTTPS://{HOST}/prod/",
        f"https://{HOST}:443/-stage_1",
    ],
)
def test_a_stages_own_https_url_is_one(url):
    assert is_execute_api_stage_url(url)


@pytest.mark.parametrize(
    "url",
    [
        f"http://{HOST}/prod",
        f"wss://{HOST}/prod",
        f"zz://{HOST}/prod",
        f"https://{HOST}//prod",
        f"https://{HOST}//-stage_1",
        f"https://{HOST}/prod/extra",
        f"https://{HOST}:99999/prod",
        f"https://{HOST}:8443/prod",
    ],
)
def test_another_scheme_port_or_path_is_not_a_stages_own_url(url):
    assert not is_execute_api_stage_url(url)


LOCAL = "http://127.0.0.1:8080/local"
ALLOWED = (LOCAL, "")
REFUSED = ("", "endpoint_not_allowed")


@pytest.mark.parametrize(
    ("value", "resolved"),
    [("1", ALLOWED), (" 1 ", ALLOWED), ("0", REFUSED), ("2", REFUSED), ("yes", REFUSED)],
)
def test_only_1_turns_loopback_callbacks_on(value, resolved):
    policy = CallbackPolicy.from_environment({contract.ENV_LOCAL_LOOPBACK_CALLBACKS: value})

    assert policy.resolve(LOCAL) == resolved


# --- The policy's default: loopback stays off unless named --------------------------


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.stop()


def test_a_policy_that_does_not_turn_loopback_on_never_posts_to_a_loopback_listener(
    monkeypatch, listener, event, dynamodb, connection_table
):
    endpoint = f"http://127.0.0.1:{listener.port}/local"

    def one_turn(policy: CallbackPolicy) -> str:
        monkeypatch.setattr(callback_url, "POLICY", policy)
        turn = turn_towards(event, dynamodb, connection_table, endpoint)
        with open_stream(turn, dynamodb=dynamodb) as stream:
            stream.write("The answer.")
        return stream.text

    # Built without naming loopback (its documented default), as a caller might build it.
    assert one_turn(CallbackPolicy()) == "The answer."
    assert listener.requests == []
    assert CallbackPolicy().resolve(endpoint) == REFUSED
    # The control: the same turn with loopback named reaches the listener.
    one_turn(CallbackPolicy(loopback=True))
    assert [r["body"] for r in listener.requests] == [b"The answer."]
