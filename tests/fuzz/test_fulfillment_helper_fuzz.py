"""Arbitrary Lex events and text never break the fulfillment helper or the example.

A bot developer's fulfillment hands the helper whatever Lex sent: session attributes
that are missing, null, not strings, huge or hostile, a session id of any shape, and
model text with any unicode. Whatever arrives: no exception, a well-formed Lex `Close`
response carrying exactly the text written, and streaming only towards the connection
the table maps (every URL generated here points at 127.0.0.1). The helper's test runs
against the Python and the Node.js helper, the example's against the Python and the
TypeScript example.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lexstream_runtime import contract

from local_stack.gateway import LocalGateway
from tests.conftest import WebSocketClient
from tests.functions.conftest import helper, helper_language, make_helper  # noqa: F401
from tests.functions.node_process import javascript_number
from tests.functions.stream_helpers import both_helpers
from tests.functions.test_bedrock_fulfillment import (  # noqa: F401 - the fixtures
    both_examples,
    example,
    example_language,
    make_node_function,
    node_example_bundle,
)
from tests.functions.waiting import eventually
from tests.fuzz.strategies import huge_text, session_ids, text_values

SESSION = "us-east-1:6f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"  # the fixtures' Lex session id
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_lex_close(response: Any, event: dict[str, Any], text: str) -> None:
    """A Lex V2 Close response with `text` as its one message, serializable as JSON."""
    json.dumps(response)
    state = response["sessionState"]
    assert state["dialogAction"] == {"type": "Close"}
    attributes = (event.get("sessionState") or {}).get("sessionAttributes")
    assert state["sessionAttributes"] == (attributes if isinstance(attributes, dict) else {})
    if text:
        assert response["messages"] == [{"contentType": "CustomPayload", "content": text}]
    else:
        assert "messages" not in response


@pytest.fixture
def browser(
    make_gateway: Callable[..., LocalGateway],
    open_socket: Callable[[str], WebSocketClient],
    connection_table: str,
    dynamodb: Any,
) -> tuple[LocalGateway, WebSocketClient]:
    """A gateway, a browser connected to it, and SESSION's row naming that browser."""
    gateway = make_gateway({})
    client = open_socket(gateway.websocket_url)
    assert eventually(lambda: len(gateway.open_connection_ids()) == 1)
    [connection_id] = gateway.open_connection_ids()
    dynamodb.put_item(
        TableName=connection_table,
        Item={
            contract.SESSION_ID: {"S": SESSION},
            contract.CONNECTION_ID: {"S": connection_id},
        },
    )
    return gateway, client


def loopback_urls() -> st.SearchStrategy[str]:
    """http(s) URLs on 127.0.0.1 only (closed ports, odd paths), and things that are not URLs."""
    return st.one_of(
        st.builds(
            "{}://127.0.0.1:{}/{}".format,
            st.sampled_from(["http", "https"]),
            st.sampled_from([1, 9]),
            text_values().map(lambda path: quote(path, safe="", errors="replace")),
        ),
        text_values().filter(lambda value: not value.lower().startswith("http")),
        huge_text(),
    )


@st.composite
def lex_events(draw: st.DrawFn, base: dict[str, Any], live: tuple[str, str]) -> dict[str, Any]:
    """The streaming fixture with every part a developer's code reads replaced."""
    event = json.loads(json.dumps(base))
    endpoint, table = live
    event["inputTranscript"] = draw(st.one_of(text_values(), huge_text(), st.none()))
    if draw(st.booleans()):
        # About half the examples are the browser's own turn, so they really stream.
        event["sessionState"]["sessionAttributes"] = {
            contract.SESSION_ATTR_ENDPOINT: endpoint,
            contract.SESSION_ATTR_TABLE: table,
        }
        return event
    attributes = draw(
        st.one_of(
            st.none(),
            st.dictionaries(text_values(), st.one_of(text_values(), st.integers()), max_size=3),
            st.fixed_dictionaries(
                {
                    contract.SESSION_ATTR_ENDPOINT: st.one_of(
                        st.just(endpoint), loopback_urls(), st.none(), st.integers()
                    ),
                    contract.SESSION_ATTR_TABLE: st.one_of(
                        st.just(table), text_values(), huge_text(), st.none()
                    ),
                }
            ),
        )
    )
    event["sessionState"]["sessionAttributes"] = attributes
    event["sessionId"] = draw(st.one_of(st.just(SESSION), session_ids()))
    if draw(st.booleans()):
        event["sessionState"]["intent"] = draw(st.one_of(st.none(), st.just({})))
    return event


def written_texts() -> st.SearchStrategy[list[str]]:
    """Chunks a model might produce: any unicode (lone surrogates too), some huge."""
    chunk = st.one_of(
        st.text(alphabet=st.characters(), max_size=30),
        st.text(alphabet=st.characters(codec=None, categories=["Cs"]), min_size=1, max_size=2),
        huge_text(),
    )
    return st.lists(chunk, max_size=6)


@both_helpers
def test_any_lex_event_and_any_text_end_in_a_complete_close(
    browser: tuple[LocalGateway, WebSocketClient],
    connection_table: str,
    helper: Any,  # noqa: F811 - the fixture
    event: Callable[[str], dict[str, Any]],
) -> None:
    gateway, client = browser
    base = event("lexv2-fulfillment-streaming")

    @FUZZ
    @given(lex_events(base, (gateway.callback_url, connection_table)), written_texts())
    def check(fuzzed: dict[str, Any], chunks: list[str]) -> None:
        # What the helper gets: for Node.js, through JSON, as from Lex.
        fuzzed, chunks = helper.as_received(fuzzed), helper.as_received(chunks)
        # All it was given, joined (in UTF-16, two halves of a pair make one character).
        text = helper.as_received("".join(chunks))
        before = client.text
        attributes = fuzzed["sessionState"]["sessionAttributes"] or {}
        endpoint = attributes.get(contract.SESSION_ATTR_ENDPOINT)
        # Streaming turns on when an http(s) endpoint comes with the table that maps this
        # session; it reaches the browser only when that endpoint is the browser's gateway
        # (the other generated endpoints are closed loopback ports).
        mapped = (
            attributes.get(contract.SESSION_ATTR_TABLE) == connection_table
            and fuzzed["sessionId"] == SESSION
        )
        expect_streaming = (
            mapped and isinstance(endpoint, str) and endpoint.startswith(("http://", "https://"))
        )
        to_the_browser = mapped and endpoint == gateway.callback_url
        turn = helper.open(fuzzed, flush_interval_s=0)
        assert turn.streaming == expect_streaming
        for chunk in chunks:
            turn.write(chunk)
        turn.close(timeout_s=30)
        assert turn.text == text
        assert_lex_close(helper.close_response(fuzzed, turn.text), fuzzed, text)
        if to_the_browser:
            # Every character arrives, in order; lone surrogates become "?" on the wire.
            sent = text.encode("utf-8", "replace").decode("utf-8")
            assert client.wait_for(lambda c: c.text == before + sent, timeout=30)
        else:
            assert client.text == before

    check()


@both_examples
def test_the_example_answers_any_lex_event_with_a_close(
    example: Callable[..., Any],  # noqa: F811 - the fixture
    example_language: str,  # noqa: F811 - the fixture
    browser: tuple[LocalGateway, WebSocketClient],
    connection_table: str,
    event: Callable[[str], dict[str, Any]],
) -> None:
    gateway, _client = browser
    function, _bedrock = example(max_tokens=40, tokens_per_second=5000.0)
    base = event("lexv2-fulfillment-streaming")

    # A whole number past 2**53 whose double JavaScript writes in other digits.
    past_doubles = {**base["sessionState"], "sessionAttributes": {"n": 38906428875276290}}

    @settings(FUZZ, max_examples=30)
    @given(lex_events(base, (gateway.callback_url, connection_table)))
    @hypothesis.example({**base, "sessionState": past_doubles})
    def check(fuzzed: dict[str, Any]) -> None:
        if example_language == "node":
            # What the TypeScript example gets: the event as JSON delivers it to JavaScript.
            fuzzed = json.loads(json.dumps(fuzzed), parse_int=javascript_number)
        response = function.invoke(fuzzed)
        if example_language == "node":
            # And its answer as JavaScript numbers too: JavaScript writes a double past
            # 2**53 in its shortest digits (38906428875276290), which Python would read
            # back as an exact integer, not the double it was.
            response = json.loads(json.dumps(response), parse_int=javascript_number)
        [message] = response["messages"]
        assert message["content"]
        assert_lex_close(response, fuzzed, message["content"])

    check()
