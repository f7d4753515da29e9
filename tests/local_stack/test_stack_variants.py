"""Local stacks in other configurations: none auth, throttle and quota, own handler, CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
import uuid
from pathlib import Path

import aiohttp
import pytest
from lexstream_runtime import contract
from lexstream_runtime.plain_text import markdown_to_plain_text
from local_stack_helpers import ChatSession, generated

from local_stack.dynamodb import EmbeddedDynamoDB
from local_stack.stack import LocalStack, StackError, StackSettings

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


def test_disconnect_mid_stream_still_completes_the_turn_and_forgets_the_connection(make_stack):
    stack = make_stack(auth_mode="iam", tokens_per_second=60.0)

    async def scenario() -> str:
        session = ChatSession(stack)
        await session.connect()
        turn = asyncio.create_task(session.ask("Explain disconnects"))
        await session.wait_for_text(1)
        assert session.frames, "the answer started streaming"
        await session.close()
        return await turn

    final = asyncio.run(scenario())
    assert final == generated("Explain disconnects")
    assert stack.gateway.counters.post_errors.get("GoneException", 0) >= 1
    assert stack.gateway.open_connection_ids() == []


def test_none_stack_accepts_unsigned_connects_and_streams(make_stack):
    stack = make_stack(auth_mode="none")

    async def scenario() -> tuple[str, str]:
        # Older Web UI releases connect unsigned, with their fallback session id.
        session = ChatSession(stack, session_id="lex-web-ui-3f9a")
        await session.connect(session.connect_url(signed=False))
        final = await session.ask("Is this unsigned?")
        streamed = await session.wait_for_text(len(markdown_to_plain_text(final)))
        await session.close()
        return final, streamed

    final, streamed = asyncio.run(scenario())
    assert final == generated("Is this unsigned?")
    assert streamed == markdown_to_plain_text(final)


def test_connect_storm_is_cut_first_by_the_stage_throttle_then_by_the_quota(make_stack):
    stack = make_stack(
        auth_mode="none", throttle_rate=0.01, throttle_burst=6, quota_limit=4, quota_period="DAY"
    )

    async def scenario() -> list[int]:
        urls = [f"{stack.websocket_url}?sessionId=storm-{index}" for index in range(10)]
        statuses = []
        async with aiohttp.ClientSession() as http:
            for url in urls:
                try:
                    await (await http.ws_connect(url)).close()
                    statuses.append(101)
                except aiohttp.WSServerHandshakeError as refused:
                    statuses.append(refused.status)
        return statuses

    statuses = asyncio.run(scenario())
    assert statuses == [101] * 4 + [429] * 6
    counters = stack.gateway.counters
    assert counters.throttled == 4  # refused by the stage before any function ran
    assert counters.connects_accepted == 4
    assert counters.connects_rejected == 6  # 2 by the quota, 4 by the throttle


def test_own_fulfillment_handler_runs_with_lexstream_runtime_importable(make_stack, tmp_path):
    handler = tmp_path / "my_fulfillment.py"
    handler.write_text(
        textwrap.dedent(
            """
            from lexstream_runtime.lex import close_response
            from lexstream_runtime.streaming import open_stream

            def answer(event, context):
                with open_stream(event, flush_interval_s=0) as stream:
                    for word in ["one", " two", " three"]:
                        stream.write(word)
                return close_response(event, stream.text.upper())
            """
        )
    )
    stack = make_stack(auth_mode="iam", handler=f"{handler}:answer")

    async def scenario() -> tuple[str, str]:
        session = ChatSession(stack)
        await session.connect()
        final = await session.ask("count")
        streamed = await session.wait_for_text(len("one two three"))
        await session.close()
        return final, streamed

    assert asyncio.run(scenario()) == ("ONE TWO THREE", "one two three")
    # Your own fulfillment is pinned to the stack's callback URL too, as docs/deploy.md
    # asks you to pin it when deployed; so what streams here streams there.
    environment = stack.functions["fulfillment"].environment
    assert environment[contract.ENV_CALLBACK_URL] == stack.callback_url


def test_a_route_called_before_its_function_exists_fails_naming_it():
    # The gateway listens before the functions are created (their pin needs its port).
    stack = LocalStack(StackSettings(port=0))
    with pytest.raises(StackError, match="the connect function is not ready"):
        stack._invoker("connect")({"requestContext": {}})


def test_settings_errors_name_the_setting_and_what_is_valid(tmp_path):
    with pytest.raises(StackError, match="iam, none"):
        StackSettings(auth_mode="cognito").resolved()
    with pytest.raises(StackError, match=r"path/to/file\.py:function"):
        StackSettings(handler="not-a-handler").resolved()
    with pytest.raises(StackError, match="does not exist"):
        StackSettings(handler=f"{tmp_path}/missing.py:handler").resolved()
    with pytest.raises(StackError, match="DAY, WEEK, MONTH"):
        StackSettings(quota_period="YEAR").resolved()
    with pytest.raises(StackError, match="http://"):
        StackSettings(dynamodb_endpoint="127.0.0.1:8000").resolved()


def test_a_zero_or_empty_setting_is_refused_not_replaced_by_the_default():
    with pytest.raises(StackError, match="at least 1") as refused:
        StackSettings(quota_limit=0).resolved()
    assert refused.value.setting == "quota_limit"
    with pytest.raises(StackError, match="at least 1") as refused:
        StackSettings(quota_per_source_limit=0).resolved()
    assert refused.value.setting == "quota_per_source_limit"
    # The component's own rule and wording: the stack refuses what a deployment would.
    with pytest.raises(StackError, match="1-128 letters, digits") as refused:
        StackSettings(stage="").resolved()
    assert refused.value.setting == "stage"


def test_defaults_come_from_pulumi_yaml():
    settings = StackSettings().resolved(
        {
            "authMode": "none",
            "stageName": "Dev",
            "exampleModelId": "amazon.nova-micro-v1:0",
            "exampleSystemPrompt": "s",
            "exampleMaxTokens": 7,
            "quotaLimit": 3,
            "quotaPeriod": "WEEK",
            "quotaPerIdentityLimit": 2,
            "quotaPerSourceLimit": 4,
            "throttleRateLimit": 5,
            "throttleBurstLimit": 9,
        }
    )
    assert (settings.auth_mode, settings.stage, settings.quota_limit) == ("none", "Dev", 3)
    assert (settings.throttle_rate, settings.throttle_burst, settings.max_tokens) == (5, 9, 7)
    assert settings.quota_per_identity_limit == 2
    assert settings.quota_per_source_limit == 4


def test_command_serves_the_page_and_stops_cleanly_on_sigterm():
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "local_stack", "--port", "0", "--auth", "none"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = None
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip().startswith("Open"):
                url = line.split()[-1]
                break
        assert url is not None and url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as page:
            assert b'id="composer"' in page.read()
        with urllib.request.urlopen(url + "config.json", timeout=10) as config:
            assert b'"authMode": "none"' in config.read()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_a_second_embedded_dynamodb_in_one_process_is_refused(make_stack):
    make_stack()
    with pytest.raises(RuntimeError, match="already running"):
        EmbeddedDynamoDB().start()


def test_stopping_the_stack_restores_the_process_environment(make_stack):
    before = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    stack = make_stack()
    assert os.environ["AWS_ENDPOINT_URL_DYNAMODB"] == stack.dynamodb_endpoint
    stack.stop()
    assert os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") == before


def test_stack_streams_with_dynamodb_local_as_the_named_endpoint(make_stack, dynamodb_local):
    suffix = uuid.uuid4().hex[:8]
    stack = make_stack(
        auth_mode="iam",
        dynamodb_endpoint=dynamodb_local,
        connection_table=f"local-connections-{suffix}",
        quota_table=f"local-quota-{suffix}",
    )
    assert stack.dynamodb is None  # nothing embedded was started

    async def scenario() -> tuple[str, str]:
        session = ChatSession(stack)
        await session.connect()
        final = await session.ask("Where is my table?")
        streamed = await session.wait_for_text(len(markdown_to_plain_text(final)))
        await session.close()
        return final, streamed

    final, streamed = asyncio.run(scenario())
    assert final == generated("Where is my table?")
    assert streamed == markdown_to_plain_text(final)


def test_real_bedrock_without_credentials_is_refused_before_anything_starts(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    stack = LocalStack(StackSettings(port=0, use_bedrock=True))
    with pytest.raises(StackError, match="needs AWS credentials"):
        stack.start()
    assert stack.dynamodb is None and stack.gateway is None
