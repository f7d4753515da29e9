"""The whole streaming path, end to end: real sockets, real functions, DynamoDB and model."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path

import aiohttp
import boto3
import pytest
from lexstream_runtime import contract
from lexstream_runtime.plain_text import markdown_to_plain_text
from local_stack_helpers import ChatSession, generated

from local_stack.activity import FunctionPrinted
from local_stack.stack import LocalStack
from tests.functions.waiting import eventually

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


def connection_row(stack: LocalStack, session_id: str) -> dict | None:
    client = boto3.client("dynamodb", endpoint_url=stack.dynamodb_endpoint, region_name="us-east-1")
    return client.get_item(
        TableName=stack.settings.connection_table,
        Key={contract.SESSION_ID: {"S": session_id}},
        ConsistentRead=True,
    ).get("Item")


def test_concurrent_sessions_each_stream_exactly_their_own_answer_in_order(iam_stack):
    questions = [f"What is topic number {index}?" for index in range(12)]

    async def scenario() -> list[tuple[str, str, str]]:
        sessions = [ChatSession(iam_stack) for _ in questions]
        await asyncio.gather(*(session.connect() for session in sessions))
        with concurrent.futures.ThreadPoolExecutor(len(sessions)) as executor:
            finals = await asyncio.gather(
                *(s.ask(q, executor) for s, q in zip(sessions, questions, strict=True))
            )
        streamed = [
            await s.wait_for_text(len(markdown_to_plain_text(final)))
            for s, final in zip(sessions, finals, strict=True)
        ]
        await asyncio.gather(*(session.close() for session in sessions))
        return list(zip(questions, finals, streamed, strict=True))

    for question, final, streamed in asyncio.run(scenario()):
        assert final == generated(question)
        assert streamed == markdown_to_plain_text(final)


def test_each_answer_arrives_in_several_frames_before_the_turn_ends(iam_stack):
    async def scenario() -> tuple[int, str, str]:
        session = ChatSession(iam_stack)
        await session.connect()
        final = await session.ask("How do I stream text?")
        streamed = await session.wait_for_text(len(markdown_to_plain_text(final)))
        await session.close()
        return len(session.frames), final, streamed

    frames, final, streamed = asyncio.run(scenario())
    assert frames > 3
    assert streamed == markdown_to_plain_text(final)


def test_a_reconnected_session_streams_to_its_new_connection(iam_stack):
    async def scenario() -> None:
        first = ChatSession(iam_stack)
        await first.connect()
        await first.close()
        # The same identity opens a new socket, as the page does after a drop.
        second = ChatSession(iam_stack, first.credentials)
        await second.connect()
        final = await second.ask("What is a reconnect?")
        streamed = markdown_to_plain_text(final)
        assert await second.wait_for_text(len(streamed)) == streamed
        await second.close()

    asyncio.run(scenario())


def test_a_newer_tab_takes_over_the_stream_and_the_old_tab_closing_does_not_break_it(iam_stack):
    async def scenario() -> None:
        old_tab = ChatSession(iam_stack)
        await old_tab.connect()
        new_tab = ChatSession(iam_stack, old_tab.credentials)
        await new_tab.connect()
        await old_tab.close()
        final = await new_tab.ask("Which tab gets this?")
        streamed = markdown_to_plain_text(final)
        assert await new_tab.wait_for_text(len(streamed)) == streamed
        assert old_tab.frames == []
        await new_tab.close()

    asyncio.run(scenario())


def connect_status(url: str) -> int:
    async def scenario() -> int:
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(url):
                return 101
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status

    return asyncio.run(scenario())


def test_iam_stack_refuses_unsigned_forged_and_other_peoples_sessions(iam_stack):
    session = ChatSession(iam_stack)
    victim = ChatSession(iam_stack)
    assert connect_status(session.connect_url(signed=False)) == 403
    forged = session.connect_url().replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert connect_status(forged) == 403
    # Validly signed, but asking for someone else's session: the $connect function
    # binds the session to the caller's Cognito identity.
    assert connect_status(session.connect_url(session_id=victim.session_id)) == 403
    assert connection_row(iam_stack, victim.session_id) is None
    assert connect_status(session.connect_url()) == 101


def test_lex_runtime_answers_with_lex_errors_for_unknown_bots_and_bad_text(iam_stack):
    lex = boto3.client(
        "lexv2-runtime", endpoint_url=iam_stack.gateway.base_url, region_name="us-east-1"
    )
    ids = {"botAliasId": iam_stack.lex.bot_alias_id, "localeId": iam_stack.lex.locale_id}
    with pytest.raises(lex.exceptions.ResourceNotFoundException):
        lex.recognize_text(botId="NOSUCHBOT0", sessionId="abc", text="hi", **ids)
    with pytest.raises(lex.exceptions.ValidationException):
        lex.recognize_text(botId=iam_stack.lex.bot_id, sessionId="abc", text="x" * 1025, **ids)


def test_turn_without_a_socket_returns_the_whole_answer_without_streaming(iam_stack):
    async def scenario() -> str:
        return await ChatSession(iam_stack).ask("No socket at all?")

    before = iam_stack.gateway.counters.messages_posted
    assert asyncio.run(scenario()) == generated("No socket at all?")
    assert iam_stack.gateway.counters.messages_posted == before


def test_tables_have_exactly_the_component_schema(iam_stack):
    client = boto3.client(
        "dynamodb", endpoint_url=iam_stack.dynamodb_endpoint, region_name="us-east-1"
    )
    table = client.describe_table(TableName=iam_stack.settings.connection_table)["Table"]
    schema = contract.CONNECTION_TABLE_SCHEMA
    assert table["KeySchema"] == schema["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(
        schema["AttributeDefinitions"], key=str
    )
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == [
        contract.CONNECTION_INDEX
    ]
    ttl = client.describe_time_to_live(TableName=iam_stack.settings.connection_table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == contract.TTL


def test_the_fulfillment_streams_only_to_the_stacks_own_callback_url(iam_stack):
    # Pinned as the component pins the deployed example: to this gateway's own URL.
    printed: list[str] = []
    unsubscribe = iam_stack.activity.subscribe(
        lambda event: printed.append(event.line) if isinstance(event, FunctionPrinted) else None
    )
    fulfillment = iam_stack.functions["fulfillment"]
    assert fulfillment.environment[contract.ENV_CALLBACK_URL] == iam_stack.callback_url
    question = "Where do my words go?"
    elsewhere = f"{iam_stack.callback_url}-elsewhere"

    async def scenario() -> tuple[str, str]:
        chat = ChatSession(iam_stack)
        await chat.connect()
        try:
            assert eventually(lambda: connection_row(iam_stack, chat.session_id) is not None)
            loop = asyncio.get_running_loop()
            # A browser that names another callback URL for its turn, loopback and
            # well-formed, so that only the pin can refuse it.
            response = await loop.run_in_executor(
                None,
                lambda: chat.lex.recognize_text(
                    botId=iam_stack.lex.bot_id,
                    botAliasId=iam_stack.lex.bot_alias_id,
                    localeId=iam_stack.lex.locale_id,
                    sessionId=chat.session_id,
                    text=question,
                    sessionState={
                        "sessionAttributes": {
                            contract.SESSION_ATTR_ENDPOINT: elsewhere,
                            contract.SESSION_ATTR_TABLE: iam_stack.settings.connection_table,
                        }
                    },
                ),
            )
            return response["messages"][0]["content"], chat.text
        finally:
            await chat.close()

    posted_before = iam_stack.gateway.counters.messages_posted
    answer, streamed = asyncio.run(scenario())
    assert answer == generated(question)
    assert streamed == ""
    assert iam_stack.gateway.counters.messages_posted == posted_before
    unsubscribe()
    assert any('"stopReason": "endpoint_not_allowed"' in line for line in printed)


def test_management_calls_are_verified_like_api_gateway_verifies_them(iam_stack):
    # The functions' own signature passes (every streaming test above relies on it); a
    # client whose signature cannot be the functions' is refused before it reaches a socket.
    async def scenario() -> str:
        chat = ChatSession(iam_stack)
        await chat.connect()
        try:
            assert eventually(lambda: connection_row(iam_stack, chat.session_id) is not None)
            return connection_row(iam_stack, chat.session_id)[contract.CONNECTION_ID]["S"]
        finally:
            await chat.close()

    connection_id = asyncio.run(scenario())
    access_key = boto3.Session().get_credentials().get_frozen_credentials().access_key
    refusals = {
        "InvalidSignatureException": {
            "aws_access_key_id": access_key,
            "aws_secret_access_key": "not-the-functions-secret",
            "region_name": iam_stack.settings.region,
        },
        "UnrecognizedClientException": {
            "aws_access_key_id": "AKIANOBODYISSUEDTHIS",
            "aws_secret_access_key": "whatever",
            "region_name": iam_stack.settings.region,
        },
    }
    for error_type, credentials in refusals.items():
        client = boto3.client(
            "apigatewaymanagementapi", endpoint_url=iam_stack.callback_url, **credentials
        )
        with pytest.raises(client.exceptions.ClientError) as refused:
            client.post_to_connection(ConnectionId=connection_id, Data=b"forged")
        error = refused.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert error["Error"]["Code"] == error_type
        assert iam_stack.gateway.counters.post_errors[error_type] >= 1
