"""Arbitrary $connect, $disconnect and $default events never break the route functions.

Events start from the AWS-shaped fixtures and get arbitrary query strings, headers,
bodies, unicode and huge values. Whatever arrives: no unhandled exception, a
well-formed Lambda proxy response, a 4xx for a client's mistake, and no item written for
a rejected connect. The functions run as Lambda runs them, against DynamoDB Local.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lexstream_runtime import contract, websocket
from lexstream_runtime.quota import CONNECTION_MESSAGE_BUDGET
from lexstream_runtime.sessions import OwnerKey

from local_stack.lambda_runtime import LambdaFunction
from tests.fuzz.strategies import (
    assert_well_formed,
    connection_ids,
    header_maps,
    huge_text,
    session_ids,
    text_values,
)

# The fixtures (functions, tables) are shared by all examples of one test on purpose:
# every example uses its own session and connection ids, so examples cannot interfere.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# High enough that the quota never decides a fuzzed connect: the oracle below is about
# validation; the quota has its own tests in tests/load.
UNREACHED_LIMIT = "100000000"


def route_environment(connection_table: str, quota_table: str, auth_mode: str) -> dict[str, str]:
    return {
        contract.ENV_CONNECTION_TABLE: connection_table,
        contract.ENV_QUOTA_TABLE: quota_table,
        contract.ENV_QUOTA_LIMIT: UNREACHED_LIMIT,
        contract.ENV_QUOTA_PERIOD: contract.QUOTA_PERIODS[0],
        contract.ENV_QUOTA_PER_IDENTITY_LIMIT: UNREACHED_LIMIT,
        contract.ENV_QUOTA_PER_SOURCE_LIMIT: UNREACHED_LIMIT,
        contract.ENV_AUTH_MODE: auth_mode,
        # Nothing listens on port 9: the fuzzed connects never meet a row to judge.
        contract.ENV_CALLBACK_URL: "http://127.0.0.1:9/local",
    }


def owner_of(item: dict[str, Any]) -> str | None:
    return item.get(contract.OWNER_IDENTITY, {}).get("S")


def owned_by(item: dict[str, Any] | None, identity: str, owner_key: OwnerKey) -> bool:
    """Whether `item` is `identity`'s own row: its owner is that identity's keyed digest
    (read with the stack's key from the quota table, as the function reads it)."""
    return item is not None and owner_of(item) == owner_key.digest(identity)


def stored_connection(dynamodb: Any, table: str, session_id: Any) -> dict[str, Any] | None:
    """The item for `session_id`, or None; ids DynamoDB cannot hold as keys have none."""
    if not isinstance(session_id, str) or not contract.SESSION_ID_PATTERN.fullmatch(session_id):
        return None
    found = dynamodb.get_item(
        TableName=table, Key={contract.SESSION_ID: {"S": session_id}}, ConsistentRead=True
    )
    return found.get("Item")


def item_count(dynamodb: Any, table: str) -> int:
    return dynamodb.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"]


@st.composite
def connect_events(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """A $connect event: the fixture with its client-controlled parts replaced."""
    event = json.loads(json.dumps(base))
    session_id = draw(session_ids())
    query = draw(st.dictionaries(text_values(), text_values(), max_size=4))
    if session_id is not None:
        query[contract.CONNECT_QUERY_PARAMETER] = session_id
    # API Gateway sends null, not {}, when the URL has no query string.
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    event["headers"] = draw(header_maps())
    if draw(st.booleans()):
        event["body"] = draw(st.one_of(text_values(), huge_text()))
    identity = event["requestContext"].setdefault("identity", {})
    identity["cognitoIdentityId"] = draw(st.one_of(st.just(session_id), session_ids(), st.none()))
    event["requestContext"]["connectionId"] = draw(connection_ids())
    return event


@pytest.fixture(params=[contract.AUTH_NONE, contract.AUTH_IAM])
def connect_function(
    request: pytest.FixtureRequest,
    make_function: Callable[..., LambdaFunction],
    connection_table: str,
    quota_table: str,
) -> tuple[LambdaFunction, str]:
    auth_mode = request.param
    return (
        make_function("connect", route_environment(connection_table, quota_table, auth_mode)),
        auth_mode,
    )


def test_any_connect_event_gets_a_well_formed_answer_and_only_valid_ones_write(
    connect_function: tuple[LambdaFunction, str],
    connection_table: str,
    quota_table: str,
    dynamodb: Any,
    event: Callable[[str], dict[str, Any]],
) -> None:
    function, auth_mode = connect_function
    base = event(
        "websocket-connect-iam" if auth_mode == contract.AUTH_IAM else "websocket-connect-none"
    )
    owner_key = OwnerKey(dynamodb, quota_table)

    # More examples here: a connect has the most branches (id, owner, connection id).
    @settings(FUZZ, max_examples=100)
    @given(connect_events(base))
    def check(fuzzed: dict[str, Any]) -> None:
        context = fuzzed["requestContext"]
        query = fuzzed.get("queryStringParameters") or {}
        session_id = query.get(contract.CONNECT_QUERY_PARAMETER)
        count_before = item_count(dynamodb, connection_table)
        item_before = stored_connection(dynamodb, connection_table, session_id)
        response = function.invoke(fuzzed)
        assert_well_formed(response, forbidden=[connection_table])
        valid = isinstance(session_id, str) and bool(
            contract.SESSION_ID_PATTERN.fullmatch(session_id)
        )
        caller = context["identity"].get("cognitoIdentityId")
        identity = (
            caller
            if auth_mode == contract.AUTH_IAM and isinstance(caller, str) and caller
            else None
        )
        names_identity = valid and contract.COGNITO_IDENTITY_ID_PATTERN.fullmatch(session_id)
        # Only a session id that is the caller's own identity id lets it replace a row,
        # and only a row of its own: an id that is not shaped like an identity id may have
        # been registered by another identity in an earlier example.
        held_by_other = item_before is not None and not (
            identity is not None
            and session_id == identity
            and owned_by(item_before, identity, owner_key)
        )
        # In iam mode the caller's identity is checked (and counted) before the session id.
        if not context.get("connectionId"):
            expected = {400}
        elif auth_mode == contract.AUTH_IAM and identity is None:
            expected = {403}
        elif not valid:
            expected = {400}
        elif names_identity and auth_mode == contract.AUTH_IAM and session_id != identity:
            expected = {403}
        elif held_by_other:
            # Rows written by earlier examples are live inside their pending window;
            # after it, $connect must ask the management API, which is unreachable here.
            expected = {403, 500}
        else:
            expected = {200}
        assert response["statusCode"] in expected
        item = stored_connection(dynamodb, connection_table, session_id)
        if expected == {200}:
            assert item is not None
            assert item[contract.CONNECTION_ID]["S"] == context["connectionId"]
            assert item[contract.TTL]["N"].isdigit()
        else:
            # A rejected connect writes nothing: not this session's row, not any other.
            assert item == item_before
            assert item_count(dynamodb, connection_table) == count_before

    check()


@st.composite
def default_events(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """A $default message: any body a client could send, in any encoding flag."""
    event = json.loads(json.dumps(base))
    ping = json.dumps({"action": contract.ROUTE_PING})
    event["body"] = draw(
        st.one_of(
            text_values(),
            huge_text(),
            st.just(ping),
            st.dictionaries(text_values(), st.one_of(text_values(), st.integers())).map(json.dumps),
            st.none(),
        )
    )
    event["isBase64Encoded"] = draw(st.booleans())
    event["headers"] = draw(header_maps())
    event["requestContext"]["connectionId"] = draw(connection_ids())
    return event


def test_any_client_message_gets_a_cheap_well_formed_answer(
    make_function: Callable[..., LambdaFunction],
    connection_table: str,
    quota_table: str,
    event: Callable[[str], dict[str, Any]],
) -> None:
    function = make_function(
        "default", route_environment(connection_table, quota_table, contract.AUTH_NONE)
    )
    base = event("websocket-message-default")

    # Hypothesis may draw one connection id many times (and does, shrinking): past its
    # budget, that connection's messages are refused before anything else is judged.
    sent: dict[str, int] = {}

    @FUZZ
    @given(default_events(base))
    def check(fuzzed: dict[str, Any]) -> None:
        response = function.invoke(fuzzed)
        assert_well_formed(response, forbidden=[quota_table])
        status = response["statusCode"]
        if not fuzzed["requestContext"].get("connectionId"):
            assert status == 400
            return
        # Only a well-formed connection id has a budget to spend.
        connection_id = websocket.connection_id(fuzzed) or ""
        spent = sent.get(connection_id, 0) >= CONNECTION_MESSAGE_BUDGET
        if connection_id:
            sent[connection_id] = sent.get(connection_id, 0) + 1
        if connection_id and spent:
            assert status == 429
            return
        assert status in (200, 400, 413)
        if status == 200:
            # Only a heartbeat is a valid message; nothing else earns a 200.
            assert not fuzzed["isBase64Encoded"]
            assert json.loads(fuzzed["body"]).get("action") == contract.ROUTE_PING

    check()


@st.composite
def disconnect_events(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    event = json.loads(json.dumps(base))
    event["headers"] = draw(header_maps())
    context = event["requestContext"]
    context["connectionId"] = draw(connection_ids())
    context["disconnectStatusCode"] = draw(st.one_of(st.integers(), st.none(), text_values()))
    context["disconnectReason"] = draw(st.one_of(text_values(), huge_text(), st.none()))
    return event


def test_any_disconnect_is_harmless_to_other_connections(
    make_function: Callable[..., LambdaFunction],
    connection_table: str,
    quota_table: str,
    dynamodb: Any,
    event: Callable[[str], dict[str, Any]],
) -> None:
    function = make_function(
        "disconnect", route_environment(connection_table, quota_table, contract.AUTH_NONE)
    )
    base = event("websocket-disconnect")
    # Someone else's live mapping, which no fuzzed disconnect may remove.
    keeper = {
        contract.SESSION_ID: {"S": "keeper-session"},
        contract.CONNECTION_ID: {"S": "KeepMe0000000A="},
    }
    dynamodb.put_item(TableName=connection_table, Item=keeper)

    @FUZZ
    @given(disconnect_events(base))
    def check(fuzzed: dict[str, Any]) -> None:
        response = function.invoke(fuzzed)
        assert_well_formed(response, forbidden=[connection_table])
        expected = 200 if fuzzed["requestContext"].get("connectionId") else 400
        assert response["statusCode"] == expected
        assert stored_connection(dynamodb, connection_table, "keeper-session") == keeper

    check()
