"""The example Bedrock fulfillments, run as Lambda runs them, against the local Bedrock,
DynamoDB Local and the local gateway: the Python one (functions/bedrock_fulfillment) and,
in tests marked `both_examples`, the TypeScript one (examples/nodejs-fulfillment), bundled
with esbuild as its package.json says and run as `scripts/local --handler
examples/nodejs-fulfillment/dist/index.mjs:handler` runs it (aws-lambda-ric, a process of its
own per instance)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from lexstream_runtime import contract
from lexstream_runtime.plain_text import markdown_to_plain_text

from local_stack.bedrock import split_tokens
from local_stack.lambda_runtime import FunctionError, LambdaFunction
from local_stack.stack_functions import handler_function
from tests.conftest import _ended_after_the_test, function_environment
from tests.functions.stream_helpers import NODE_EXAMPLE_DIR, build_node_example

ROOT = Path(__file__).resolve().parents[2]
SESSION = "us-east-1:6f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"  # the fixtures' Lex session id
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
SYSTEM_PROMPT = "You answer in short Markdown."
ANSWER = "".join(f"Word{i} " for i in range(120)) + "— done ✅"


def content_of(response: dict[str, Any]) -> str:
    [message] = response["messages"]
    assert message["contentType"] == "CustomPayload"
    return message["content"]


both_examples = pytest.mark.parametrize("example_language", ["python", "node"])


@pytest.fixture
def example_language() -> str:
    """Which example `example` makes: "python" unless a test parametrizes it."""
    return "python"


@pytest.fixture(scope="session")
def node_example_bundle() -> Path:
    return build_node_example()


@pytest.fixture
def make_node_function(dynamodb_local: str, node_example_bundle: Path) -> Iterator[Any]:
    """`make_node_function(environment, timeout_s)` → the TypeScript example as a Lambda
    function, built as the local stack builds a `--handler` one; closed when the test
    ends."""

    def make(environment: dict[str, str], timeout_s: float) -> LambdaFunction:
        env = function_environment(dynamodb_local, environment)
        return handler_function(node_example_bundle, "handler", env, timeout_s=timeout_s)

    yield from _ended_after_the_test(make, end="close")


@pytest.fixture
def example(make_function, make_node_function, make_bedrock, example_language):
    """`example(max_tokens=..., timeout_s=..., **bedrock_options)` → (function, bedrock)."""

    def make(
        max_tokens: int = 1000,
        timeout_s: float = 30.0,
        callback_url: str | None = None,
        **bedrock_options: Any,
    ):
        options = {"answer": lambda request: ANSWER, "tokens_per_second": 2000.0}
        bedrock = make_bedrock(**{**options, **bedrock_options})
        env = {
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.endpoint_url,
            contract.ENV_MODEL_ID: MODEL,
            contract.ENV_SYSTEM_PROMPT: SYSTEM_PROMPT,
            contract.ENV_MAX_TOKENS: str(max_tokens),
        }
        if callback_url is not None:
            env[contract.ENV_CALLBACK_URL] = callback_url
        if example_language == "node":
            return make_node_function(env, timeout_s), bedrock
        return make_function("bedrock_fulfillment", env, timeout_s=timeout_s), bedrock

    return make


@pytest.fixture
def browser(routes, make_gateway, open_socket, event, connection_table):
    """A connected browser for SESSION; returns (client, the streaming Lex event).

    There is no $disconnect route, so a closed tab leaves its row behind (as with the
    reference deployment) and only the fulfillment can clean it up.
    """
    functions = routes()
    del functions[contract.ROUTE_DISCONNECT]
    gateway = make_gateway(functions)
    client = open_socket(
        f"{gateway.websocket_url}?{contract.CONNECT_QUERY_PARAMETER}={quote(SESSION)}"
    )
    lex_event = event("lexv2-fulfillment-streaming")
    lex_event["sessionState"]["sessionAttributes"] = {
        contract.SESSION_ATTR_ENDPOINT: gateway.callback_url,
        contract.SESSION_ATTR_TABLE: connection_table,
    }
    return client, lex_event


@both_examples
def test_a_streaming_turn_streams_converse_stream_and_closes_with_the_same_text(example, browser):
    function, bedrock = example()
    client, lex_event = browser

    response = function.invoke(lex_event)

    assert content_of(response) == ANSWER
    assert client.wait_for(lambda c: c.text == ANSWER)
    assert (
        response["sessionState"]["sessionAttributes"]
        == (lex_event["sessionState"]["sessionAttributes"])
    )
    [request] = bedrock.requests
    assert request.operation == "converse-stream"
    assert request.model_id == MODEL
    assert request.system == SYSTEM_PROMPT
    assert request.max_tokens == 1000
    assert request.question == lex_event["inputTranscript"]


@both_examples
def test_the_example_streams_to_its_own_callback_url_however_it_is_spelled(example, browser):
    client, lex_event = browser
    own = lex_event["sessionState"]["sessionAttributes"][contract.SESSION_ATTR_ENDPOINT]
    function, _bedrock = example(callback_url=own.replace("http://", "HTTP://", 1) + "/")

    response = function.invoke(lex_event)

    assert content_of(response) == ANSWER
    assert client.wait_for(lambda c: c.text == ANSWER)


@both_examples
def test_a_browser_naming_another_callback_url_gets_the_whole_answer_and_no_post(
    example, browser, capsys
):
    client, lex_event = browser
    function, _bedrock = example(
        callback_url="https://abc123defg.execute-api.us-east-1.amazonaws.com/Prod"
    )

    response = function.invoke(lex_event)

    assert content_of(response) == ANSWER
    assert not client.wait_for(lambda c: c.frames, timeout=0.5)
    lines = [json.loads(raw) for raw in capsys.readouterr().out.splitlines() if raw[:1] == "{"]
    assert any(line.get("stopReason") == "endpoint_not_allowed" for line in lines)


@both_examples
def test_a_browser_gone_mid_answer_still_gets_a_complete_turn_and_its_row_is_removed(
    example, browser, connection_item
):
    function, _bedrock = example(tokens_per_second=60.0)
    client, lex_event = browser
    with ThreadPoolExecutor(max_workers=1) as pool:
        turn = pool.submit(function.invoke, lex_event)
        assert client.wait_for(lambda c: c.frames)
        client.close()
        response = turn.result(timeout=60)

    assert content_of(response) == ANSWER
    assert ANSWER.startswith(client.text) and client.text != ANSWER
    assert connection_item(SESSION) is None


@both_examples
def test_a_turn_without_streaming_attributes_uses_converse(example, event):
    function, bedrock = example()

    response = function.invoke(event("lexv2-fulfillment-plain"))

    assert content_of(response) == ANSWER
    assert [request.operation for request in bedrock.requests] == ["converse"]


@both_examples
def test_the_answer_is_limited_to_max_tokens(example, event):
    function, _bedrock = example(max_tokens=5)

    response = function.invoke(event("lexv2-fulfillment-plain"))

    assert content_of(response) == "".join(split_tokens(ANSWER)[:5])


@both_examples
def test_a_model_error_mid_stream_keeps_the_partial_text_and_ends_politely(example, browser):
    function, _bedrock = example(stream_error_after=10)
    client, lex_event = browser

    text = content_of(function.invoke(lex_event))

    partial = "".join(split_tokens(ANSWER)[:10])
    assert text.startswith(partial)
    assert text != partial
    assert "Sorry" in text[len(partial) :]
    assert client.wait_for(lambda c: c.text == markdown_to_plain_text(text))


@both_examples
def test_a_throttled_model_gets_a_polite_answer_instead_of_a_failed_turn(example, browser):
    function, bedrock = example(http_error="ThrottlingException")
    client, lex_event = browser

    text = content_of(function.invoke(lex_event))

    assert text.startswith("Sorry")
    assert len(bedrock.requests) == 2  # one retry, then the budget-friendly answer
    assert client.wait_for(lambda c: c.text == markdown_to_plain_text(text))


@both_examples
def test_a_turn_that_runs_out_of_time_returns_what_it_has(example, browser):
    # 3 s of Lambda time leaves a 2 s budget; the model needs 120 tokens / 20 per s = 6 s.
    function, _bedrock = example(timeout_s=3.0, tokens_per_second=20.0)
    client, lex_event = browser

    text = content_of(function.invoke(lex_event))

    assert text.endswith("_(The answer was cut short to fit the time limit.)_")
    answered = text.split("\n\n_(")[0]
    assert answered and ANSWER.startswith(answered) and answered != ANSWER
    assert client.wait_for(lambda c: c.text == markdown_to_plain_text(text))


@both_examples
def test_a_stalled_model_is_cut_off_at_the_budget(example, browser):
    # No token at all within the budget: the read is ended from outside.
    function, _bedrock = example(timeout_s=2.0, first_token_delay_s=60.0)
    _client, lex_event = browser

    text = content_of(function.invoke(lex_event))

    assert text.strip() == "_(The answer was cut short to fit the time limit.)_"


@both_examples
def test_an_empty_question_is_answered_without_calling_the_model(example, event):
    function, bedrock = example()
    lex_event = event("lexv2-fulfillment-plain")
    lex_event["inputTranscript"] = "  "

    assert content_of(function.invoke(lex_event)) == "Please type a question."
    assert bedrock.requests == []


@both_examples
@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (contract.ENV_MODEL_ID, None, "is required"),
        (contract.ENV_MAX_TOKENS, "-3", ">= 1"),
        (contract.ENV_MAX_TOKENS, None, "is required"),
    ],
)
def test_the_example_fails_its_cold_init_naming_a_missing_or_invalid_variable(
    init_error, make_node_function, event, example_language, variable, value, expected
):
    env = {contract.ENV_MODEL_ID: MODEL, contract.ENV_MAX_TOKENS: "100"}
    if example_language == "python":
        message = init_error("bedrock_fulfillment", env, variable, value)
    else:
        env = {key: val for key, val in env.items() if key != variable}
        if value is not None:
            env[variable] = value
        # The module's own init fails: the invocation answers with that error.
        with pytest.raises(FunctionError) as raised:
            make_node_function(env, 30.0).invoke(event("lexv2-fulfillment-plain"))
        message = raised.value.message

    assert variable in message
    assert expected in message


def test_the_typescript_example_bundles_the_helper_and_leaves_the_aws_sdk_to_the_runtime(
    node_example_bundle,
):
    bundle = node_example_bundle.read_text()

    imported = set(re.findall(r'^import [^;]*? from "([^"]+)";', bundle, re.MULTILINE | re.DOTALL))
    assert imported == {
        "@aws-sdk/client-bedrock-runtime",
        "@smithy/node-http-handler",
        "node:crypto",
        "node:module",
    }
    # The helper is inside; the SDK clients it needs are loaded at run time by name.
    assert "// ../../functions/nodejs/lexstream-streaming/dist/streaming.js" in bundle
    assert re.search(r'require\w*\("@aws-sdk/client-dynamodb"\)', bundle)


def test_the_typescript_example_type_checks_against_the_helper_and_the_sdk():
    checked = subprocess.run(
        [str(ROOT / "node_modules" / ".bin" / "tsc"), "--project", str(NODE_EXAMPLE_DIR)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
