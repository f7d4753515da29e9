"""$connect, run as Lambda runs it, against DynamoDB Local."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from lexstream_runtime import contract

from local_stack.lambda_runtime import LambdaFunction

SESSION_NONE = "lex-web-ui-3f9a"
SESSION_IAM = "us-east-1:6f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
OTHER_IDENTITY = "us-east-1:99999999-8888-7777-6666-555555555555"


def decision_lines(output: str) -> list[dict[str, Any]]:
    return [
        line
        for line in (json.loads(raw) for raw in output.splitlines() if raw.startswith("{"))
        if line.get("event") == "route_decision"
    ]


@pytest.fixture
def connect(
    make_function: Callable[..., LambdaFunction], route_environment: Callable[..., dict]
) -> Callable[..., LambdaFunction]:
    return lambda **settings: make_function("connect", route_environment(**settings))


def test_connect_registers_the_session_with_a_whole_second_ttl_past_two_hours(
    connect, event, connection_item
):
    before = int(time.time())
    response = connect().invoke(event("websocket-connect-none"))
    after = int(time.time())

    assert response["statusCode"] == 200
    item = connection_item(SESSION_NONE)
    assert item[contract.CONNECTION_ID] == {"S": "Xk2a0dSpoAMCJyw="}
    ttl = item[contract.TTL]["N"]
    assert ttl.isdigit(), "DynamoDB ignores fractional TTLs"
    assert before + contract.CONNECTION_TTL_SECONDS <= int(ttl)
    assert int(ttl) <= after + contract.CONNECTION_TTL_SECONDS
    assert int(ttl) > after + contract.MAX_CONNECTION_SECONDS
    assert contract.OWNER_IDENTITY not in item


def test_connect_in_iam_mode_registers_the_callers_identity_keyed_hash_as_owner(
    connect, event, connection_item, dynamodb, quota_table
):
    response = connect(auth=contract.AUTH_IAM).invoke(event("websocket-connect-iam"))

    assert response["statusCode"] == 200
    item = connection_item(SESSION_IAM)
    key = dynamodb.get_item(
        TableName=quota_table,
        Key={contract.QUOTA_PERIOD_KEY: {"S": contract.OWNER_KEY_ITEM}},
        ConsistentRead=True,
    )["Item"][contract.OWNER_KEY_SECRET]["B"]
    assert len(key) == 32
    owner = hmac.new(key, SESSION_IAM.encode(), hashlib.sha256).hexdigest()
    assert item[contract.OWNER_IDENTITY] == {"S": owner}


def test_connect_in_iam_mode_rejects_a_hijack_of_another_users_session(
    connect, event, connection_item, connection_items
):
    victim = connect(auth=contract.AUTH_IAM)
    assert victim.invoke(event("websocket-connect-iam"))["statusCode"] == 200
    hijack = event("websocket-connect-iam")
    hijack["requestContext"]["connectionId"] = "AttackerConn1=="
    hijack["requestContext"]["identity"]["cognitoIdentityId"] = OTHER_IDENTITY

    response = victim.invoke(hijack)

    assert response["statusCode"] == 403
    assert connection_item(SESSION_IAM)[contract.CONNECTION_ID] == {"S": "Xk2a0dSpoAMCJyw="}
    assert len(connection_items()) == 1


def test_connect_in_iam_mode_rejects_an_unsigned_connect_without_identity(
    connect, event, connection_items
):
    response = connect(auth=contract.AUTH_IAM).invoke(event("websocket-connect-none"))

    assert response["statusCode"] == 403
    assert connection_items() == []


@pytest.mark.parametrize(
    "session_id",
    [None, "", "a", "x" * 101, "has space", "slash/in/id", "quote'", "ünïcode", "a\nb"],
)
def test_connect_rejects_a_missing_or_malformed_session_id_with_400_and_writes_nothing(
    connect, event, connection_items, session_id
):
    request = event("websocket-connect-none")
    if session_id is None:
        request["queryStringParameters"] = None
    else:
        request["queryStringParameters"] = {contract.CONNECT_QUERY_PARAMETER: session_id}

    response = connect().invoke(request)

    assert response["statusCode"] == 400
    assert contract.CONNECT_QUERY_PARAMETER in json.loads(response["body"])["message"]
    assert connection_items() == []


@pytest.mark.parametrize("session_id", ["ab", "x" * 100, "us-east-1:a.b_c-D"])
def test_connect_accepts_every_valid_lex_session_id_shape(connect, event, session_id):
    request = event("websocket-connect-none")
    request["queryStringParameters"] = {contract.CONNECT_QUERY_PARAMETER: session_id}

    assert connect().invoke(request)["statusCode"] == 200


@pytest.mark.parametrize(
    "malformed", [None, "text", [], {}, {"requestContext": None}, {"requestContext": {}}]
)
def test_connect_answers_a_malformed_event_with_400(connect, malformed, connection_items):
    response = connect().invoke(malformed)

    assert response["statusCode"] == 400
    assert connection_items() == []


def test_concurrent_connects_at_the_limit_admit_exactly_the_limit(
    connect, event, connection_items, quota_count
):
    limit, attempts = 5, 24
    function = connect(limit=limit)

    def attempt(number: int) -> int:
        request = event("websocket-connect-none")
        request["requestContext"]["connectionId"] = f"conn{number:04d}="
        request["queryStringParameters"] = {contract.CONNECT_QUERY_PARAMETER: f"session-{number}"}
        return function.invoke(request)["statusCode"]

    function.invoke(None)  # cold init first, so all attempts race on the quota item only
    with ThreadPoolExecutor(max_workers=attempts) as pool:
        statuses = list(pool.map(attempt, range(attempts)))

    assert statuses.count(200) == limit
    assert statuses.count(429) == attempts - limit
    assert len(connection_items()) == limit
    assert quota_count() == limit


def test_connect_counts_rejected_requests_toward_the_quota(connect, event, connection_items):
    function = connect(limit=2)
    junk = event("websocket-connect-none")
    junk["queryStringParameters"] = {contract.CONNECT_QUERY_PARAMETER: "bad id"}

    assert [function.invoke(junk)["statusCode"] for _ in range(2)] == [400, 400]
    assert function.invoke(event("websocket-connect-none"))["statusCode"] == 429
    assert connection_items() == []


def test_connect_answers_500_without_internals_when_the_table_fails(
    make_function, route_environment, event, capsys
):
    env = route_environment()
    env[contract.ENV_CONNECTION_TABLE] = "missing-table-name"

    response = make_function("connect", env).invoke(event("websocket-connect-none"))

    assert response["statusCode"] == 500
    assert "missing-table-name" not in response["body"]
    assert "ResourceNotFound" not in response["body"]
    [line] = decision_lines(capsys.readouterr().out)
    assert line["status"] == 500
    assert line["error"] == "ResourceNotFoundException"


def test_connect_answers_500_when_dynamodb_cannot_be_reached(
    make_function, route_environment, event, capsys
):
    # Port 9 on loopback: nothing listens, the connection is refused.
    env = {**route_environment(), "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9"}

    response = make_function("connect", env).invoke(event("websocket-connect-none"))

    assert response["statusCode"] == 500
    assert json.loads(response["body"]) == {"message": "Internal error"}
    [line] = decision_lines(capsys.readouterr().out)
    assert (line["reason"], line["error"]) == ("quota_unavailable", "EndpointConnectionError")


def test_connect_logs_one_structured_line_per_decision(connect, event, capsys):
    function = connect(limit=2)
    bad = event("websocket-connect-none")
    bad["queryStringParameters"] = {}
    function.invoke(event("websocket-connect-none"))
    function.invoke(bad)
    function.invoke(event("websocket-connect-none"))

    lines = decision_lines(capsys.readouterr().out)

    assert [(line["status"], line["reason"]) for line in lines] == [
        (200, "registered"),
        (400, "invalid_session_id"),
        (429, "quota_exceeded"),
    ]
    assert all(line["route"] == contract.ROUTE_CONNECT for line in lines)
    assert lines[0]["sessionId"] == SESSION_NONE


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (contract.ENV_CONNECTION_TABLE, None, "is required"),
        (contract.ENV_QUOTA_LIMIT, "0", ">= 1"),
        (contract.ENV_QUOTA_LIMIT, "lots", ">= 1"),
        (contract.ENV_QUOTA_PERIOD, "HOUR", "DAY, WEEK, MONTH"),
        (contract.ENV_AUTH_MODE, "cognito", "iam, none"),
    ],
)
def test_connect_fails_its_cold_init_naming_a_missing_or_invalid_variable(
    init_error, route_environment, variable, value, expected
):
    message = init_error("connect", route_environment(), variable, value)

    assert variable in message
    assert expected in message
