"""The local Bedrock runtime the example (and the local stack) talk to, through boto3."""

from __future__ import annotations

import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EventStreamError

from local_stack.bedrock import LocalBedrock, question_topic, split_tokens

QUESTION = "What can you tell me about streaming responses?"
MESSAGES = [{"role": "user", "content": [{"text": QUESTION}]}]


def client_for(bedrock: LocalBedrock):
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=bedrock.endpoint_url,
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_converse_stream_sends_aws_event_stream_frames_that_botocore_decodes(make_bedrock):
    bedrock = make_bedrock(answer=lambda request: "One two three.", tokens_per_second=1000)

    reply = client_for(bedrock).converse_stream(modelId="model-x", messages=MESSAGES)
    events = list(reply["stream"])

    kinds = [next(iter(event)) for event in events]
    assert kinds == [
        "messageStart",
        *["contentBlockDelta"] * 3,
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in events[1:4]]
    assert deltas == ["One", " two", " three."]
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 3


def test_the_default_answer_is_markdown_about_the_question(make_bedrock):
    bedrock = make_bedrock(tokens_per_second=5000)

    reply = client_for(bedrock).converse(modelId="model-x", messages=MESSAGES)
    text = reply["output"]["message"]["content"][0]["text"]

    assert "**streaming responses**" in text
    assert "\n## " in text and "\n- " in text and "\n1. " in text
    assert len(split_tokens(text)) > 150
    assert bedrock.requests[0].question == QUESTION


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("What is a WebSocket?", "a WebSocket"),
        ("Can you explain quotas", "quotas"),
        ("Tell me about Lex.", "Lex"),
        ("?", "your question"),
    ],
)
def test_the_default_answer_finds_the_topic_of_a_question(question, topic):
    assert question_topic(question) == topic


def test_tokens_join_back_to_the_exact_answer():
    text = "  Leading space, two  spaces,\nnew line and trailing  "
    assert "".join(split_tokens(text)) == text


def test_max_tokens_cuts_the_answer_with_the_max_tokens_stop_reason(make_bedrock):
    bedrock = make_bedrock(answer=lambda request: "a b c d e f", tokens_per_second=1000)

    reply = client_for(bedrock).converse(
        modelId="m", messages=MESSAGES, inferenceConfig={"maxTokens": 2}
    )

    assert reply["output"]["message"]["content"][0]["text"] == "a b"
    assert reply["stopReason"] == "max_tokens"


def test_a_stream_error_event_arrives_after_the_configured_tokens(make_bedrock):
    bedrock = make_bedrock(answer=lambda request: "a b c d", stream_error_after=2)
    received = []

    reply = client_for(bedrock).converse_stream(modelId="m", messages=MESSAGES)
    with pytest.raises(EventStreamError) as raised:
        for event in reply["stream"]:
            received.append(event)

    assert raised.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert [e["contentBlockDelta"]["delta"]["text"] for e in received[1:]] == ["a", " b"]


def test_an_http_error_is_raised_as_the_modelled_exception(make_bedrock):
    client = client_for(make_bedrock(http_error="ThrottlingException"))

    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse_stream(modelId="m", messages=MESSAGES)


def test_a_body_that_is_not_a_converse_request_is_a_validation_error(make_bedrock):
    bedrock = make_bedrock()
    request = urllib.request.Request(
        f"{bedrock.endpoint_url}/model/m/converse", data=b"not json", method="POST"
    )

    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)

    assert raised.value.code == 400
    assert raised.value.headers["x-amzn-ErrorType"] == "ValidationException"
    assert bedrock.requests == []


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"http_error": "Teapot"}, "ThrottlingException"),
        ({"stream_error": "oops"}, "modelStreamErrorException"),
        ({"tokens_per_second": 0}, "tokens_per_second"),
        ({"host": "0.0.0.0"}, "loopback"),
    ],
)
def test_bad_options_are_rejected_naming_what_is_valid(options, named):
    with pytest.raises(ValueError, match=named):
        LocalBedrock(**options)
