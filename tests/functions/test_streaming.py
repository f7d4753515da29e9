"""The fulfillment streaming helper, posting through the local gateway to a real socket.

Each test connects a browser-like WebSocket through the local gateway and our $connect
function (so the row is in DynamoDB Local), then fulfils a Lex V2 turn from the fixture
events, with the session attributes pointing at that gateway and table.

Tests marked `both_helpers` run twice: against the Python helper and against the Node.js
helper (functions/nodejs/lexstream-streaming) in a Node.js process of its own, through
the same servers (stream_helpers.py).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import boto3
import lexstream_runtime
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lexstream_runtime import aws, contract, streaming
from lexstream_runtime import close_response as package_close_response
from lexstream_runtime import open_stream as package_open_stream
from lexstream_runtime.lex import close_response
from lexstream_runtime.plain_text import markdown_to_plain_text
from lexstream_runtime.streaming import StreamingTurn, open_stream, utf8_frames

from local_stack.gateway import LocalGateway
from tests.conftest import WebSocketClient
from tests.functions.raw_socket import RawWebSocket
from tests.functions.stream_helpers import NodeHelper, PythonHelper, both_helpers
from tests.functions.waiting import eventually

SESSION = "us-east-1:6f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"  # the fixtures' Lex session id
TEXT_CASES = "Plain ASCII, accents é à ü, CJK 流式响应, emoji 🚀🎉, and a final line.\n"


@dataclass
class LiveSession:
    gateway: LocalGateway
    client: WebSocketClient
    event: dict[str, Any]
    connection_id: str
    dynamodb: Any
    helper: PythonHelper | NodeHelper

    def open(self, **options: Any) -> Any:
        """The helper's open_stream for this session's turn, looking the row up in
        DynamoDB Local."""
        return self.helper.open(self.event, **options)


def connect_url(gateway: LocalGateway, session_id: str = SESSION) -> str:
    return f"{gateway.websocket_url}?{contract.CONNECT_QUERY_PARAMETER}={quote(session_id)}"


def streaming_event(event, gateway: LocalGateway, table: str) -> dict[str, Any]:
    lex_event = event("lexv2-fulfillment-streaming")
    lex_event["sessionState"]["sessionAttributes"] = {
        contract.SESSION_ATTR_ENDPOINT: gateway.callback_url,
        contract.SESSION_ATTR_TABLE: table,
    }
    return lex_event


@pytest.fixture
def live(
    routes, make_gateway, open_socket, event, connection_table, connection_item, dynamodb, helper
):
    """A browser connected for SESSION, and the streaming Lex event of its next turn."""

    def start(with_disconnect: bool = True, **gateway_options: Any) -> LiveSession:
        functions = routes()
        if not with_disconnect:
            del functions[contract.ROUTE_DISCONNECT]
        gateway = make_gateway(functions, **gateway_options)
        client = open_socket(connect_url(gateway))
        connection_id = connection_item(SESSION)[contract.CONNECTION_ID]["S"]
        lex_event = streaming_event(event, gateway, connection_table)
        return LiveSession(gateway, client, lex_event, connection_id, dynamodb, helper)

    return start


def model_chunks(count: int) -> list[str]:
    return [f"token{i} " + ("é" if i % 7 == 0 else "") for i in range(count)]


def test_a_fulfillment_written_from_the_public_documentation_streams_unchanged(
    live, dynamodb_local, monkeypatch
):
    session = live()
    # Only the environment says where DynamoDB is, as on Lambda; the code is the docs'.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local)
    lex_event = session.event

    # As the Lex Web UI's streaming documentation writes it, against our table as deployed.
    attributes = lex_event["sessionState"]["sessionAttributes"]
    table = boto3.resource("dynamodb").Table(attributes["streamingDynamoDbTable"])
    connection_id = table.get_item(Key={"sessionId": lex_event["sessionId"]})["Item"][
        "connectionId"
    ]
    client = boto3.client("apigatewaymanagementapi", endpoint_url=attributes["streamingEndpoint"])
    for word in ["Streaming ", "works ", "unchanged."]:
        client.post_to_connection(ConnectionId=connection_id, Data=word)

    assert session.client.wait_for(lambda c: c.text == "Streaming works unchanged.")


@both_helpers
def test_the_helper_streams_every_chunk_in_order_and_closes_with_the_full_text(live, helper):
    session = live()
    chunks = [*model_chunks(300), TEXT_CASES]

    with session.open() as stream:
        assert stream.streaming
        for chunk in chunks:
            stream.write(chunk)
            time.sleep(0.001)  # a fast model: 1 ms per token
    response = helper.close_response(session.event, stream.text)

    full = "".join(chunks)
    assert session.client.wait_for(lambda c: c.text == full)
    assert stream.text == full
    assert response["messages"] == [{"contentType": "CustomPayload", "content": full}]
    assert stream.stats.chunks == len(chunks)
    assert stream.stats.messages_posted == session.gateway.counters.messages_posted
    # Coalesced: a few messages per second instead of one billed message per token.
    assert stream.stats.messages_posted <= len(chunks) // 5
    assert stream.stats.bytes_posted == len(full.encode())


@both_helpers
def test_the_connection_is_looked_up_once_per_turn(live, helper):
    session = live()

    # The helper's client records every GetItem it sends to DynamoDB Local.
    with session.open(record_lookups=True, flush_interval_s=0) as stream:
        for chunk in model_chunks(50):
            stream.write(chunk)
            time.sleep(0.002)

    assert session.client.wait_for(lambda c: c.text == "".join(model_chunks(50)))
    assert stream.stats.messages_posted > 1
    assert len(helper.lookups()) == 1


@both_helpers
def test_the_first_text_is_posted_at_once_and_the_rest_when_the_turn_closes(live):
    session = live()
    # An interval far longer than the test: only "first text at once", "second text as
    # soon as there is any" and "flush on close" can deliver anything.
    stream = session.open(flush_interval_s=600)
    stream.write("Hello")
    assert session.client.wait_for(lambda c: c.frames == ["Hello"])
    stream.write(", world")
    assert session.client.wait_for(lambda c: c.frames == ["Hello", ", world"])

    stream.write(" and")
    stream.write(" goodbye!")
    assert not session.client.wait_for(lambda c: len(c.frames) > 2, timeout=0.5)
    stream.close()

    assert session.client.wait_for(lambda c: len(c.frames) == 3)
    assert session.client.frames == ["Hello", ", world", " and goodbye!"]


@both_helpers
def test_writes_never_wait_for_a_post_in_flight(live):
    session = live(callback_latency_s=0.5)
    stream = session.open()

    stream.write("first ")
    assert eventually(lambda: stream.stats.post_attempts == 1)
    for chunk in model_chunks(50):
        stream.write(chunk)
    # Every write returned while the first post was still on its way.
    posted_while_writing = stream.stats.messages_posted
    stream.close()

    assert posted_while_writing == 0
    assert session.client.wait_for(lambda c: c.text == "first " + "".join(model_chunks(50)))
    assert stream.stats.messages_posted == 2


@both_helpers
def test_close_gives_up_on_a_stalled_post_after_its_timeout_and_keeps_the_text(live):
    # Every post takes 3 s: close() waits 0.3 s, then abandons it.
    session = live(callback_latency_s=3.0)
    stream = session.open()
    stream.write("Posted slowly. ")
    stream.write("Never posted.")

    started = time.monotonic()
    stream.close(timeout_s=0.3)
    waited = time.monotonic() - started

    assert waited < 2.5
    assert stream.stop_reason == "close_timeout"
    assert stream.outcome == "failed"
    assert not stream.posting
    assert stream.text == "Posted slowly. Never posted."


def senders() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "lexstream-sender"}


def test_a_turn_never_closed_leaves_no_sender_thread_behind(live, monkeypatch):
    monkeypatch.setattr(streaming, "SENDER_IDLE_EXIT_S", 0.2)
    session = live()
    others = senders()
    stream = session.open(flush_interval_s=0)

    stream.write("Written, ")
    assert session.client.wait_for(lambda c: c.text == "Written, ")
    assert eventually(lambda: not senders() - others)

    # A later write starts posting again, and that sender ends too.
    stream.write("then more.")
    assert session.client.wait_for(lambda c: c.text == "Written, then more.")
    assert eventually(lambda: not senders() - others)


@both_helpers
def test_an_oversized_chunk_is_split_below_32_kb_on_character_boundaries(live):
    session = live()
    # 3-byte and 4-byte characters, so a cut at a fixed byte count would land mid-character.
    huge = ("a€😀" * 30_000) + TEXT_CASES

    with session.open() as stream:
        stream.write(huge)

    assert session.client.wait_for(lambda c: c.text == huge)
    assert len(session.client.frames) > 1
    assert all(len(frame.encode()) < contract.MAX_FRAME_BYTES for frame in session.client.frames)


@given(text=st.text(), max_bytes=st.integers(min_value=4, max_value=64))
def test_utf8_frames_keep_every_character_whole_and_within_the_limit(text, max_bytes):
    frames = list(utf8_frames(text, max_bytes))

    assert all(0 < len(frame) <= max_bytes for frame in frames)
    decoded = [frame.decode("utf-8") for frame in frames]  # raises if a character was cut
    assert "".join(decoded) == text.encode("utf-8", "replace").decode("utf-8")


@both_helpers
@pytest.mark.parametrize(
    "attributes",
    [
        None,
        {},
        {
            contract.SESSION_ATTR_ENDPOINT: "https://abc123defg.execute-api.us-east-1.amazonaws.com/Prod"
        },
        {contract.SESSION_ATTR_TABLE: "lexstream-dev-connections"},
        {contract.SESSION_ATTR_ENDPOINT: "", contract.SESSION_ATTR_TABLE: ""},
    ],
)
def test_a_turn_without_both_attributes_collects_quietly_without_streaming(
    event, helper, attributes
):
    lex_event = event("lexv2-fulfillment-plain")
    lex_event["sessionState"]["sessionAttributes"] = attributes

    with helper.open(lex_event) as stream:
        stream.write("Complete ")
        stream.write("answer.")
    response = helper.close_response(lex_event, stream.text)

    assert not stream.streaming
    assert stream.stop_reason == "attributes_missing"
    assert stream.stats.messages_posted == 0
    assert response["messages"][0]["content"] == "Complete answer."
    assert response["sessionState"]["sessionAttributes"] == dict(attributes or {})


@both_helpers
def test_a_turn_whose_session_has_no_connection_row_collects_quietly(
    event, make_gateway, connection_table, helper
):
    gateway = make_gateway({})
    lex_event = streaming_event(event, gateway, connection_table)

    with helper.open(lex_event) as stream:
        stream.write("Still answered.")

    assert not stream.streaming
    assert stream.stop_reason == "connection_not_found"
    assert stream.text == "Still answered."
    assert gateway.counters.messages_posted == 0


@both_helpers
def test_a_failed_connection_lookup_falls_back_to_a_normal_turn(event, make_gateway, helper):
    lex_event = streaming_event(event, make_gateway({}), "no-such-table")

    with helper.open(lex_event) as stream:
        stream.write("Still answered.")

    assert not stream.streaming
    assert stream.stop_reason == "lookup_failed:ResourceNotFoundException"
    assert stream.text == "Still answered."


@both_helpers
def test_a_client_gone_mid_stream_stops_posts_removes_the_stale_row_and_keeps_collecting(
    live, connection_item
):
    # Without a $disconnect route the row outlives the socket, as with the reference.
    session = live(with_disconnect=False)
    stream = session.open()
    stream.write("Before the tab closed. ")
    assert session.client.wait_for(lambda c: c.frames)
    session.client.close()
    assert eventually(lambda: not session.gateway.open_connection_ids())

    for chunk in model_chunks(40):
        stream.write(chunk)
        time.sleep(0.005)
    stream.close()

    assert stream.stop_reason == "gone"
    assert not stream.posting
    assert session.gateway.counters.post_errors == {"GoneException": 1}
    assert connection_item(SESSION) is None
    assert stream.text == "Before the tab closed. " + "".join(model_chunks(40))


@both_helpers
def test_a_gone_connection_does_not_remove_the_row_of_a_newer_tab(
    live, connection_item, dynamodb, connection_table
):
    session = live()
    stream = session.open()
    # The same identity's newer tab re-pointed the row (as $connect lets it, in iam mode).
    newer_id = "NewerTabConn0="
    dynamodb.update_item(
        TableName=connection_table,
        Key={contract.SESSION_ID: {"S": SESSION}},
        UpdateExpression="SET #connection = :newer",
        ExpressionAttributeNames={"#connection": contract.CONNECTION_ID},
        ExpressionAttributeValues={":newer": {"S": newer_id}},
    )
    session.client.close()

    stream.write("For the old tab.")
    stream.close()

    assert stream.stop_reason == "gone"
    assert connection_item(SESSION)[contract.CONNECTION_ID] == {"S": newer_id}


@both_helpers
def test_a_first_post_racing_the_connect_is_retried_instead_of_dropping_the_fresh_row(
    routes, make_gateway, open_socket, event, connection_table, connection_item, helper
):
    functions = routes()
    connect = functions[contract.ROUTE_CONNECT]
    release = threading.Event()

    def connect_still_running(connect_event: dict[str, Any]) -> dict[str, Any]:
        # The row is written; until $connect returns, posts get 410, as on AWS.
        response = connect(connect_event)
        release.wait(30)
        return response

    functions[contract.ROUTE_CONNECT] = connect_still_running
    gateway = make_gateway(functions)
    opened: list[WebSocketClient] = []
    opener = threading.Thread(target=lambda: opened.append(open_socket(connect_url(gateway))))
    opener.start()
    assert eventually(lambda: connection_item(SESSION) is not None)

    lex_event = streaming_event(event, gateway, connection_table)
    stream = helper.open(lex_event, gone_recheck_s=2.0)
    stream.write("Hello")
    assert eventually(lambda: gateway.counters.post_errors.get("GoneException") == 1)
    release.set()
    opener.join(30)
    stream.write(", world")
    stream.close(timeout_s=30)

    (browser,) = opened
    assert browser.wait_for(lambda c: c.text == "Hello, world")
    assert stream.stop_reason is None
    assert connection_item(SESSION) is not None


@both_helpers
def test_a_connection_gone_for_good_is_given_up_after_one_recheck(live):
    session = live(with_disconnect=False)
    session.client.close()
    assert eventually(lambda: not session.gateway.open_connection_ids())

    with session.open(gone_recheck_s=0.05) as stream:
        stream.write("Nobody reads this.")

    assert stream.stop_reason == "gone"
    assert session.gateway.counters.post_errors == {"GoneException": 2}


def _raw_client(session_gateway: LocalGateway) -> RawWebSocket:
    path = f"/{session_gateway.stage}?{contract.CONNECT_QUERY_PARAMETER}={quote(SESSION)}"
    return RawWebSocket("127.0.0.1", session_gateway.port, path)


@pytest.fixture
def stalled(routes, make_gateway, event, connection_table, dynamodb):
    """A gateway and a client that reads nothing until told to, so its buffer fills."""
    opened: list[RawWebSocket] = []

    def start(client_buffer_bytes: int) -> tuple[LocalGateway, RawWebSocket, dict]:
        functions = routes()
        del functions[contract.ROUTE_DISCONNECT]
        gateway = make_gateway(functions, client_buffer_bytes=client_buffer_bytes)
        client = _raw_client(gateway)
        opened.append(client)
        return gateway, client, streaming_event(event, gateway, connection_table)

    yield start
    for client in opened:
        client.close()


@both_helpers
def test_posts_throttled_for_good_are_retried_a_bounded_number_of_times_then_stopped(
    stalled, helper
):
    gateway, _client, lex_event = stalled(client_buffer_bytes=0)
    answer = "x" * (6 * 1024 * 1024)  # far more than the socket buffers hold

    stream = helper.open(lex_event, flush_interval_s=0, max_retries=3, retry_backoff_s=0.01)
    stream.write(answer)
    stream.close(timeout_s=60)

    assert stream.stop_reason == "LimitExceededException"
    assert stream.stats.retries == 3
    assert stream.stats.failed_posts == 1
    assert gateway.counters.post_errors["LimitExceededException"] == 4
    assert stream.text == answer
    assert helper.close_response(lex_event, stream.text)["messages"][0]["content"] == answer


@both_helpers
def test_throttled_posts_are_retried_with_backoff_and_nothing_is_lost(stalled, helper):
    gateway, client, lex_event = stalled(client_buffer_bytes=64 * 1024)
    answer = "".join(f"line {i:06d} {TEXT_CASES}" for i in range(60_000))

    # Backoff of 0.3 s, 0.6 s, 1.2 s, ...: the client starts reading after the first retry.
    stream = helper.open(lex_event, flush_interval_s=0, max_retries=8, retry_backoff_s=0.3)
    stream.write(answer)
    assert eventually(lambda: stream.stats.retries >= 1, timeout=60)
    client.start_reading()
    stream.close(timeout_s=120)

    assert stream.stop_reason is None
    assert stream.stats.failed_posts == 0
    assert gateway.counters.post_errors["LimitExceededException"] >= 1
    assert eventually(lambda: client.text == answer, timeout=60)


# How each SDK names a post that reached nothing at all.
UNREACHABLE = {"python": "EndpointConnectionError", "node": "ECONNREFUSED"}


@both_helpers
def test_a_post_error_other_than_throttling_stops_streaming_without_failing_the_turn(
    live, helper_language
):
    session = live()
    # The row is real; the callback URL reaches nothing (port 9 on loopback is closed).
    session.event["sessionState"]["sessionAttributes"][contract.SESSION_ATTR_ENDPOINT] = (
        "http://127.0.0.1:9/local"
    )

    with session.open() as stream:
        stream.write("Partial ")
        stream.write("answer.")

    assert stream.streaming
    assert stream.stop_reason == UNREACHABLE[helper_language]
    assert stream.outcome == "failed"
    assert stream.stats.failed_posts == 1
    assert stream.text == "Partial answer."


def test_close_response_keeps_the_session_attributes_and_closes_the_intent(event):
    lex_event = event("lexv2-fulfillment-streaming")

    response = close_response(lex_event, "Done.", content_type="PlainText")

    state = response["sessionState"]
    assert state["sessionAttributes"] == lex_event["sessionState"]["sessionAttributes"]
    assert state["dialogAction"] == {"type": "Close"}
    assert state["intent"]["name"] == "FallbackIntent"
    assert state["intent"]["state"] == "Fulfilled"
    assert response["messages"] == [{"contentType": "PlainText", "content": "Done."}]


def test_close_response_defaults_to_custom_payload_and_rejects_unknown_content_types(event):
    lex_event = event("lexv2-fulfillment-plain")

    assert close_response(lex_event, "x")["messages"][0]["contentType"] == "CustomPayload"
    with pytest.raises(ValueError, match="CustomPayload, PlainText, SSML"):
        close_response(lex_event, "x", content_type="Markdown")
    with pytest.raises(ValueError, match="Fulfilled, Failed"):
        close_response(lex_event, "x", fulfillment_state="Done")


def test_close_response_keeps_given_attributes_and_refuses_values_lex_would_reject(event):
    lex_event = event("lexv2-fulfillment-streaming")
    given_attributes = {**lex_event["sessionState"]["sessionAttributes"], "topic": "streaming"}

    response = close_response(lex_event, "x", session_attributes=given_attributes)

    assert response["sessionState"]["sessionAttributes"] == given_attributes
    with pytest.raises(TypeError, match=r"session attribute 'turns' .* got int"):
        close_response(lex_event, "x", session_attributes={"turns": 3})


def test_close_response_without_text_sends_no_message(event):
    assert "messages" not in close_response(event("lexv2-fulfillment-plain"), "")


@both_helpers
@pytest.mark.parametrize("malformed", [None, "event", ["list"]])
def test_open_stream_rejects_something_that_is_not_a_lex_event(helper, malformed):
    with pytest.raises(TypeError, match="Lex V2 event"):
        helper.open(malformed)


def test_write_rejects_anything_but_text():
    stream = StreamingTurn()
    with pytest.raises(TypeError, match="bytes"):
        stream.write(b"bytes")


@both_helpers
@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254/latest",
        "http://abc123defg.execute-api.us-east-1.amazonaws.com/Prod",
        "ftp://127.0.0.1/local",
        "https://",
        "not a url",
        "http://[::1/broken",
    ],
)
def test_a_callback_url_that_is_not_https_or_loopback_is_never_posted_to(event, helper, endpoint):
    lex_event = event("lexv2-fulfillment-streaming")
    lex_event["sessionState"]["sessionAttributes"][contract.SESSION_ATTR_ENDPOINT] = endpoint

    with helper.open(lex_event) as stream:
        stream.write("Still answered.")

    assert stream.stop_reason == "endpoint_invalid"
    assert stream.text == "Still answered."


def test_callback_clients_are_reused_per_url_and_bounded_however_many_urls_clients_name():
    first = aws.management_client("https://first.execute-api.us-east-1.amazonaws.com/Prod")
    assert aws.management_client(first.meta.endpoint_url) is first

    # The URL is browser input: a client naming a new one every turn must not grow the
    # function's memory without bound.
    for number in range(3 * aws.MAX_MANAGEMENT_CLIENTS):
        aws.management_client(f"https://api{number}.execute-api.us-east-1.amazonaws.com/Prod")

    assert len(aws._management_clients) == aws.MAX_MANAGEMENT_CLIENTS
    assert aws.management_client(first.meta.endpoint_url) is not first


@both_helpers
def test_a_lex_event_with_a_missing_session_id_collects_quietly(live):
    session = live()
    del session.event["sessionId"]

    with session.open() as stream:
        stream.write("Still answered.")

    assert stream.stop_reason == "session_id_missing"
    assert session.gateway.counters.messages_posted == 0


def test_the_helper_can_be_imported_from_the_package_as_a_layer_user_would():
    # Imported when this module loads: while a local function's cold init runs on another
    # thread, the process's lexstream_runtime modules are that archive's (lambda_runtime).
    assert package_open_stream is open_stream
    assert package_close_response is close_response
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = lexstream_runtime.no_such_name


OWN_CALLBACK_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/Prod"


@both_helpers
@pytest.mark.parametrize(
    "endpoint",
    [
        OWN_CALLBACK_URL,
        "HTTPS://ABC123DEFG.execute-api.us-east-1.amazonaws.com/Prod",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com:443/Prod/",
    ],
)
def test_the_pinned_callback_url_matches_however_its_scheme_host_and_port_are_spelled(
    helper, endpoint
):
    assert helper.callback_url(endpoint, OWN_CALLBACK_URL)[1] is True


@both_helpers
@pytest.mark.parametrize(
    "endpoint",
    [
        "https://other12345.execute-api.us-east-1.amazonaws.com/Prod",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com/Dev",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com:8443/Prod",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com.evil.example/Prod",
        "https://user@abc123defg.execute-api.us-east-1.amazonaws.com/Prod",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com/Prod?x=1",
        "http://abc123defg.execute-api.us-east-1.amazonaws.com/Prod",
        "https://abc123defg.execute-api.us-east-1.amazonaws.com:notaport/Prod",
    ],
)
def test_any_other_callback_url_does_not_match_the_pinned_one(helper, endpoint):
    assert helper.callback_url(endpoint, OWN_CALLBACK_URL)[1] is False


@both_helpers
def test_the_second_frame_goes_out_as_soon_as_there_is_text_then_posts_coalesce(live):
    # The stock Web UI shows a frame only when the next one arrives: the second frame must
    # not wait a flush interval. A minute-long interval makes any wait for it obvious.
    session = live()
    with session.open(flush_interval_s=60.0) as stream:
        stream.write("First ")
        assert session.client.wait_for(lambda c: len(c.frames) == 1)
        stream.write("second ")
        assert session.client.wait_for(lambda c: len(c.frames) == 2)
        # From the third post on, text waits for the interval (or close) and coalesces.
        stream.write("third ")
        stream.write("fourth")
        assert not session.client.wait_for(lambda c: len(c.frames) > 2, timeout=0.5)
    assert session.client.wait_for(lambda c: c.frames == ["First ", "second ", "third fourth"])


MARKDOWN_ANSWER = (
    "## Streaming\n"
    "Text **streams** in *pieces*, with `code` and a [link](https://example.com/docs).\n\n"
    "- first item\n- second item\n\n"
    "```python\nprint('kept as is')\n```\n"
    "Done."
)


@both_helpers
def test_with_strip_markdown_the_frames_are_the_plain_rendering_and_the_text_stays_markdown(
    live,
):
    session = live()
    # One character per write: every piece of markup is cut in two somewhere.
    with session.open(strip_markdown=True) as stream:
        for character in MARKDOWN_ANSWER:
            stream.write(character)
    plain = markdown_to_plain_text(MARKDOWN_ANSWER)

    assert stream.text == MARKDOWN_ANSWER
    assert session.client.wait_for(lambda c: c.text == plain)
    assert "**" not in plain and "](" not in plain and "Streaming\n" in plain
    assert stream.stats.bytes_posted == len(plain.encode())
