"""Rules of the streaming helper that a turn's output alone would not show.

- Any failure of the sender stops posting with a reason and one log line; the turn's
  answer stays complete.
- A callback URL is checked whole (scheme, host, port, no user info) before any client
  is built.
- Lines of turns that do not stream still name their session.
- Text written after close() is kept but never posted.
- A frame's worth of waiting text is posted at once, whatever the flush interval.
- The connection lookup is a strongly consistent read.

Posts go through the local gateway to a real socket; lookups go to DynamoDB Local. Tests
marked `both_helpers` run against the Python and the Node.js helper.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from lexstream_runtime import aws, contract
from lexstream_runtime.streaming import StreamingTurn, StreamTarget, open_stream

from functions import declarations
from tests.functions.stream_helpers import both_helpers
from tests.functions.test_streaming import SESSION, live  # noqa: F401 - the fixture
from tests.functions.waiting import eventually
from tests.security.action_recorder import IAM_ACTION_OVERRIDES

STOCK_SESSION = "lex-web-ui-0a1b"
API_HOST = "abc123defg.execute-api.us-east-1.amazonaws.com"


def log_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in output.splitlines() if raw.startswith("{")]


# What each SDK raises for a client whose URL it accepted but cannot post to: no AWS error.
UNUSABLE_URL_ERROR = {"python": "ValueError", "node": "TypeError"}


@both_helpers
def test_an_unexpected_sender_failure_stops_posting_with_a_reason_and_one_log_line(
    live,  # noqa: F811
    helper_language,
    capsys,
):
    session = live()
    capsys.readouterr()

    # A real SDK client for a URL it accepts but cannot post to (its port is out of range).
    with session.open(management_endpoint="http://127.0.0.1:99999/local") as stream:
        stream.write("Complete ")
        stream.write("answer.")

    assert stream.stop_reason == "sender_failed"
    assert stream.stats.failed_posts == 1
    assert stream.text == "Complete answer."
    assert session.gateway.counters.messages_posted == 0
    lines = log_lines(capsys.readouterr().out)
    [failure] = [line for line in lines if line["event"] == "stream_sender_failed"]
    assert failure["error"] == UNUSABLE_URL_ERROR[helper_language]
    assert failure["connectionId"] == session.connection_id
    [closed] = [line for line in lines if line["event"] == "stream_closed"]
    assert closed["stopReason"] == "sender_failed"
    assert closed["failedPosts"] == 1


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:99999/local",
        "http://127.0.0.1:0/local",
        "http://127.0.0.1:-1/local",
        f"https://user:secret@{API_HOST}/Prod",
        f"https://user@{API_HOST}/Prod",
        f"https://{API_HOST}/Prod?stage=Dev",
        f"https://{API_HOST}/Prod#fragment",
        "wss://127.0.0.1:70000/local",
    ],
)
def test_a_callback_url_with_a_bad_port_or_user_info_is_refused_before_a_client_is_built(
    event, dynamodb, endpoint
):
    lex_event = event("lexv2-fulfillment-streaming")
    lex_event["sessionState"]["sessionAttributes"][contract.SESSION_ATTR_ENDPOINT] = endpoint
    clients_before = dict(aws._management_clients)

    with open_stream(lex_event, dynamodb=dynamodb) as stream:
        stream.write("Still answered.")

    assert stream.stop_reason == "endpoint_invalid"
    assert stream.text == "Still answered."
    assert aws._management_clients == clients_before


def test_a_turn_built_by_hand_refuses_a_target_url_it_could_never_post_to():
    target = StreamTarget("lex-web-ui-0a1b", "conn=", "http://127.0.0.1:99999/local", "table")

    with pytest.raises(ValueError, match=r"127\.0\.0\.1:99999.*not a valid URL"):
        StreamingTurn(target)


@both_helpers
@pytest.mark.parametrize("table", ["no-such-table", None])
def test_the_lines_of_a_turn_that_does_not_stream_name_its_session(
    event, make_gateway, helper, capsys, table
):
    lex_event = event("lexv2-fulfillment-streaming")
    lex_event["sessionId"] = STOCK_SESSION
    attributes = {contract.SESSION_ATTR_ENDPOINT: make_gateway({}).callback_url}
    if table is not None:
        attributes[contract.SESSION_ATTR_TABLE] = table
    lex_event["sessionState"]["sessionAttributes"] = attributes
    capsys.readouterr()

    with helper.open(lex_event) as stream:
        stream.write("Still answered.")

    assert not stream.streaming
    # An unpinned function's once-per-cold-start warning is no line of the turn's; whether
    # it lands in this turn depends on which turn this process served first.
    lines = [
        line
        for line in log_lines(capsys.readouterr().out)
        if line["event"] != "callback_url_unpinned"
    ]
    assert [line["event"] for line in lines] == ["stream_opened", "stream_closed"]
    assert all(line["sessionId"] == STOCK_SESSION for line in lines)
    assert lines[0]["stopReason"].startswith("lookup_failed" if table else "attributes_missing")


@both_helpers
@pytest.mark.parametrize("posted_before_close", [True, False])
def test_text_written_after_close_is_kept_but_never_posted(
    live,  # noqa: F811
    posted_before_close,
):
    session = live()
    stream = session.open()
    if posted_before_close:
        stream.write("Before. ")
        assert session.client.wait_for(lambda c: c.frames == ["Before. "])
    stream.close()

    stream.write("After.")

    assert stream.text == ("Before. " if posted_before_close else "") + "After."
    assert not session.client.wait_for(lambda c: "After." in c.text, timeout=1.0)
    assert session.gateway.counters.messages_posted == int(posted_before_close)


@both_helpers
def test_a_frames_worth_of_waiting_text_is_posted_at_once_whatever_the_interval(
    live,  # noqa: F811
):
    session = live()
    # An interval far longer than the test: only "a frame's worth goes at once" can post
    # the third frame before close().
    stream = session.open(flush_interval_s=600, max_frame_bytes=16)
    stream.write("First ")
    assert session.client.wait_for(lambda c: len(c.frames) == 1)
    stream.write("second ")
    assert session.client.wait_for(lambda c: len(c.frames) == 2)

    stream.write("tiny ")  # less than a frame: waits for the interval
    assert not session.client.wait_for(lambda c: len(c.frames) > 2, timeout=0.5)
    stream.write("enough to fill")  # now 19 bytes wait: more than a frame's worth

    assert session.client.wait_for(lambda c: len(c.frames) >= 3, timeout=5)
    assert session.client.frames[2] == "tiny enough to f"
    stream.close()
    assert session.client.wait_for(lambda c: c.text == "First second tiny enough to fill")


@both_helpers
def test_the_connection_lookup_is_a_strongly_consistent_read(
    live,  # noqa: F811
    helper,
):
    session = live()

    # DynamoDB Local is always consistent, so the request itself must say so: a row
    # written by $connect a moment ago may not be in an eventually consistent read.
    with session.open(record_lookups=True) as stream:
        stream.write("Hello")

    assert stream.streaming
    [lookup] = helper.lookups()
    assert lookup["ConsistentRead"] is True
    assert lookup["Key"] == {contract.SESSION_ID: {"S": SESSION}}


DOMAIN_URL = "https://chat.example.com"


@pytest.mark.parametrize(
    ("named", "streams"),
    [("gateway", True), (DOMAIN_URL, True), ("https://other.example.com", False)],
)
@pytest.mark.parametrize("helper_language", ["node"])
def test_the_node_helper_pinned_to_its_callback_url_streams_only_there_or_to_its_alias(
    routes, make_gateway, open_socket, event, connection_table, make_helper, named, streams
):
    # The Python helper's pin is read at import; the example function's tests cover it
    # (test_metrics). Here the Node.js helper gets it at its cold init, as on Lambda.
    gateway = make_gateway(routes())
    client = open_socket(f"{gateway.websocket_url}?{contract.CONNECT_QUERY_PARAMETER}={SESSION}")
    node = make_helper(
        **{contract.ENV_CALLBACK_URL: gateway.callback_url, contract.ENV_CALLBACK_ALIAS: DOMAIN_URL}
    )
    lex_event = event("lexv2-fulfillment-streaming")
    lex_event["sessionState"]["sessionAttributes"] = {
        contract.SESSION_ATTR_ENDPOINT: gateway.callback_url if named == "gateway" else named,
        contract.SESSION_ATTR_TABLE: connection_table,
    }

    with node.open(lex_event) as stream:
        stream.write("Pinned.")

    if streams:
        # The domain stands for the execute-api callback URL, where the post went.
        assert client.wait_for(lambda c: c.text == "Pinned.")
        assert stream.stop_reason is None
    else:
        assert stream.stop_reason == "endpoint_not_allowed"
        assert gateway.counters.messages_posted == 0
    assert stream.text == "Pinned."


@pytest.mark.parametrize("helper_language", ["node"])
def test_the_node_helper_calls_only_what_the_managed_fulfillment_policy_grants(
    live,  # noqa: F811
    helper,
):
    # A turn that uses every call: the lookup, posts, and the stale row's removal after
    # the browser left (no $disconnect route, so the row outlives the socket).
    session = live(with_disconnect=False)
    stream = helper.open(session.event, record_commands=True, gone_recheck_s=0)
    stream.write("Before the tab closed. ")
    assert session.client.wait_for(lambda c: c.frames)
    session.client.close()
    assert eventually(lambda: not session.gateway.open_connection_ids())
    stream.write("After it closed.")
    stream.close()
    assert stream.stop_reason == "gone"

    called = {
        IAM_ACTION_OVERRIDES.get((c["service"], c["operation"]), f"{c['service']}:{c['operation']}")
        for c in helper.call("commands")["commands"]
    }
    granted = {action for grant in declarations.FULFILLMENT_GRANTS for action in grant.actions}
    assert (
        called
        == granted
        == {
            "dynamodb:GetItem",
            "dynamodb:DeleteItem",
            "execute-api:ManageConnections",
        }
    )
