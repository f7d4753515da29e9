"""Metrics in CloudWatch Embedded Metric Format, from the functions as Lambda runs them.

Every line with metrics is checked against the format's rules (`assert_emf`), then its
values against what the run did: route decisions through the local gateway, turns through
a real socket. Also: the example treats the stage's custom domain as its callback URL.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from lexstream_runtime import contract
from lexstream_runtime.quota import CONNECTION_MESSAGE_BUDGET

from tests.functions.stream_helpers import both_helpers
from tests.functions.test_streaming import SESSION, live  # noqa: F401 - the fixture

NAMESPACE = "Lexstream/test"
DOMAIN_URL = "https://chat.example.com"


def assert_emf(line: dict[str, Any]) -> dict[str, Any]:
    """Check one log line against the Embedded Metric Format specification and return
    {metric name: (value, unit, {dimension: value})}."""
    meta = line["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000
    found = {}
    for directive in meta["CloudWatchMetrics"]:
        assert isinstance(directive["Namespace"], str) and directive["Namespace"]
        assert 1 <= len(directive["Metrics"]) <= 100
        for dimension_set in directive["Dimensions"]:
            assert len(dimension_set) <= 30
            for dimension in dimension_set:
                # A dimension's value is a string field of the line itself.
                assert isinstance(line[dimension], str) and line[dimension]
        for metric in directive["Metrics"]:
            name = metric["Name"]
            assert isinstance(line[name], int | float) and not isinstance(line[name], bool)
            assert metric["Unit"] in ("Count", "Bytes", "Milliseconds")
            dimensions = {d: line[d] for s in directive["Dimensions"] for d in s}
            found[name] = (line[name], metric["Unit"], dimensions)
    return found


def lines(output: str, event: str) -> list[dict[str, Any]]:
    parsed = (json.loads(raw) for raw in output.splitlines() if raw.startswith("{"))
    return [line for line in parsed if line.get("event") == event]


@pytest.fixture
def metered(route_environment):
    """The route functions' environment with a metrics namespace."""

    def environment(**settings: Any) -> dict[str, str]:
        return {**route_environment(**settings), contract.ENV_METRICS_NAMESPACE: NAMESPACE}

    return environment


def test_route_decisions_record_admitted_and_refused_connects_and_the_quota(
    make_function, metered, event, capsys
):
    connect = make_function("connect", metered(limit=2))
    bad = event("websocket-connect-none")
    bad["queryStringParameters"] = {contract.CONNECT_QUERY_PARAMETER: "bad id"}

    statuses = [
        connect.invoke(event("websocket-connect-none"))["statusCode"],  # admitted
        connect.invoke(bad)["statusCode"],  # counted, then invalid
        connect.invoke(event("websocket-connect-none"))["statusCode"],  # quota full
    ]

    assert statuses == [200, 400, 429]
    decisions = [assert_emf(line) for line in lines(capsys.readouterr().out, "route_decision")]
    assert decisions[0] == {
        contract.METRIC_QUOTA_CONSUMED: (1, "Count", {}),
        contract.METRIC_CONNECTS_ADMITTED: (1, "Count", {}),
    }
    assert decisions[1] == {
        contract.METRIC_QUOTA_CONSUMED: (1, "Count", {}),
        contract.METRIC_CONNECTS_REFUSED: (1, "Count", {contract.DIMENSION_REASON: "invalid"}),
    }
    # The full quota did not count this one.
    assert decisions[2] == {
        contract.METRIC_CONNECTS_REFUSED: (1, "Count", {contract.DIMENSION_REASON: "quota"}),
    }


def test_an_ownership_refusal_is_recorded_by_its_reason(make_function, metered, event, capsys):
    connect = make_function("connect", metered(auth=contract.AUTH_IAM))
    request = event("websocket-connect-iam")
    request["requestContext"]["identity"]["cognitoIdentityId"] = None

    assert connect.invoke(request)["statusCode"] == 403

    [decision] = lines(capsys.readouterr().out, "route_decision")
    assert assert_emf(decision) == {
        contract.METRIC_CONNECTS_REFUSED: (1, "Count", {contract.DIMENSION_REASON: "ownership"}),
    }


def test_client_messages_record_the_quota_they_consume_and_none_beyond_the_budget(
    make_function, metered, event, capsys
):
    default = make_function("default", metered())
    for _ in range(CONNECTION_MESSAGE_BUDGET + 1):
        default.invoke(event("websocket-message-default"))

    decisions = lines(capsys.readouterr().out, "route_decision")
    counted = {contract.METRIC_QUOTA_CONSUMED: (1, "Count", {})}
    within = decisions[:CONNECTION_MESSAGE_BUDGET]
    assert [assert_emf(line) for line in within] == [counted] * CONNECTION_MESSAGE_BUDGET
    # Beyond the budget nothing is counted, so that line records no metrics at all.
    assert decisions[-1]["reason"] == "connection_budget_spent"
    assert "_aws" not in decisions[-1]


def test_without_a_namespace_the_lines_carry_no_metrics(
    make_function, route_environment, event, capsys
):
    connect = make_function("connect", route_environment())

    assert connect.invoke(event("websocket-connect-none"))["statusCode"] == 200

    [decision] = lines(capsys.readouterr().out, "route_decision")
    assert "_aws" not in decision
    assert contract.METRIC_CONNECTS_ADMITTED not in decision


@both_helpers
def test_a_streamed_turn_records_its_outcome_posts_and_first_post_delay(
    live,  # noqa: F811
    capsys,
):
    session = live()
    capsys.readouterr()

    with session.open(metrics_namespace=NAMESPACE) as stream:
        for word in ("Streaming ", "in ", "words."):
            stream.write(word)
    assert session.client.wait_for(lambda c: c.text == "Streaming in words.")

    [closed] = lines(capsys.readouterr().out, "stream_closed")
    recorded = assert_emf(closed)
    assert closed["_aws"]["CloudWatchMetrics"][0]["Namespace"] == NAMESPACE
    assert recorded[contract.METRIC_TURNS] == (1, "Count", {contract.DIMENSION_OUTCOME: "complete"})
    assert recorded[contract.METRIC_MESSAGES_POSTED][0] == session.gateway.counters.messages_posted
    assert recorded[contract.METRIC_BYTES_POSTED] == (len(b"Streaming in words."), "Bytes", {})
    assert recorded[contract.METRIC_POST_RETRIES][0] == 0
    assert recorded[contract.METRIC_FAILED_POSTS][0] == 0
    delay, unit, _ = recorded[contract.METRIC_FIRST_POST_DELAY]
    assert unit == "Milliseconds" and 0 <= delay == closed["firstPostDelayMs"]
    assert closed["outcome"] == "complete"


@both_helpers
def test_a_turn_that_does_not_stream_records_why_and_no_first_post_delay(event, helper, capsys):
    lex_event = event("lexv2-fulfillment-plain")
    lex_event["sessionState"]["sessionAttributes"] = {}
    capsys.readouterr()

    with helper.open(lex_event, metrics_namespace=NAMESPACE) as stream:
        stream.write("Answered.")

    [closed] = lines(capsys.readouterr().out, "stream_closed")
    recorded = assert_emf(closed)
    assert recorded[contract.METRIC_TURNS][2] == {
        contract.DIMENSION_OUTCOME: "off_attributes_missing"
    }
    assert contract.METRIC_FIRST_POST_DELAY not in recorded
    assert closed["outcome"] in contract.TURN_OUTCOMES


@pytest.fixture
def aliased_example(make_function, make_bedrock, event, connection_table):
    """`aliased_example(gateway, answer, streaming_endpoint, **environment)` → (the example
    function, pinned to `gateway`'s callback URL with DOMAIN_URL as its alias, and the Lex
    event of a turn whose browser names `streaming_endpoint`)."""

    def make(gateway: Any, answer: str, streaming_endpoint: str, **environment: str):
        bedrock = make_bedrock(answer=lambda request: answer, tokens_per_second=2000.0)
        example = make_function(
            "bedrock_fulfillment",
            {
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.endpoint_url,
                contract.ENV_MODEL_ID: "anthropic.claude-3-haiku-20240307-v1:0",
                contract.ENV_SYSTEM_PROMPT: "Be brief.",
                contract.ENV_MAX_TOKENS: "100",
                contract.ENV_CALLBACK_URL: gateway.callback_url,
                contract.ENV_CALLBACK_ALIAS: DOMAIN_URL,
                **environment,
            },
        )
        lex_event = event("lexv2-fulfillment-streaming")
        lex_event["sessionState"]["sessionAttributes"] = {
            contract.SESSION_ATTR_ENDPOINT: streaming_endpoint,
            contract.SESSION_ATTR_TABLE: connection_table,
        }
        return example, lex_event

    return make


def test_the_example_records_its_turn_under_the_namespace_it_is_given(
    aliased_example, routes, make_gateway, open_socket, capsys
):
    gateway = make_gateway(routes())
    query = f"{contract.CONNECT_QUERY_PARAMETER}={quote(SESSION)}"
    client = open_socket(f"{gateway.websocket_url}?{query}")
    # The socket is on the stage's custom domain, so the browser names the domain.
    example, lex_event = aliased_example(
        gateway,
        "A short answer.",
        DOMAIN_URL,
        **{contract.ENV_METRICS_NAMESPACE: NAMESPACE},
    )
    capsys.readouterr()

    example.invoke(lex_event)

    # Posted to the execute-api callback URL the domain stands for.
    assert client.wait_for(lambda c: c.text == "A short answer.")
    [closed] = lines(capsys.readouterr().out, "stream_closed")
    assert assert_emf(closed)[contract.METRIC_TURNS][2] == {contract.DIMENSION_OUTCOME: "complete"}
    assert closed["_aws"]["CloudWatchMetrics"][0]["Namespace"] == NAMESPACE


@pytest.mark.parametrize("endpoint", ["https://other.example.com", "https://chat.example.com/Prod"])
def test_only_the_alias_itself_stands_for_the_callback_url(
    aliased_example, make_gateway, endpoint, capsys
):
    gateway = make_gateway({})
    example, lex_event = aliased_example(gateway, "Still answered.", endpoint)
    capsys.readouterr()

    response = example.invoke(lex_event)

    assert response["messages"][0]["content"] == "Still answered."
    assert gateway.counters.messages_posted == 0
    [opened] = lines(capsys.readouterr().out, "stream_opened")
    assert opened["stopReason"] == "endpoint_not_allowed"
