"""$default, run as Lambda runs it, against DynamoDB Local and the local gateway."""

from __future__ import annotations

import json

import boto3
import pytest
from lexstream_runtime import contract

from tests.functions.waiting import Completions, eventually


@pytest.fixture
def default(routes):
    return routes()[contract.ROUTE_DEFAULT]


def message(event, body, **changes):
    request = event("websocket-message-default")
    request["body"] = body
    request.update(changes)
    return request


def test_default_answers_an_unknown_action_with_400_naming_the_valid_ones(default, event):
    response = default.invoke(event("websocket-message-default"))

    assert response["statusCode"] == 400
    assert contract.ROUTE_PING in json.loads(response["body"])["message"]


def test_default_answers_a_heartbeat_that_reaches_it_with_200(default, event):
    assert default.invoke(message(event, '{"action": "ping"}'))["statusCode"] == 200


@pytest.mark.parametrize(
    "body", [None, "", "not json", "[1, 2]", '"ping"', "{", '{"action": 7}', "null"]
)
def test_default_answers_a_malformed_message_with_400(default, event, body):
    assert default.invoke(message(event, body))["statusCode"] == 400


def test_default_rejects_a_binary_frame_with_400(default, event):
    request = message(event, "eyJhY3Rpb24iOiJwaW5nIn0=", isBase64Encoded=True)

    assert default.invoke(request)["statusCode"] == 400


@pytest.mark.parametrize("size", [1025, 128 * 1024, 6 * 1024 * 1024])
def test_default_answers_an_oversized_message_with_413_before_parsing_it(default, event, size):
    # Valid JSON of the given size: only the size check can reject it.
    body = json.dumps({"action": "ping", "pad": "x" * size})

    assert default.invoke(message(event, body))["statusCode"] == 413


def test_default_counts_multibyte_characters_by_their_utf8_size(default, event):
    body = json.dumps({"action": "ping", "pad": "€" * 400}, ensure_ascii=False)
    assert len(body) < 1024 < len(body.encode())

    assert default.invoke(message(event, body))["statusCode"] == 413


def test_default_messages_count_toward_the_quota(routes, event, quota_count):
    functions = routes(limit=3)
    functions[contract.ROUTE_CONNECT].invoke(event("websocket-connect-none"))
    default = functions[contract.ROUTE_DEFAULT]

    statuses = [default.invoke(event("websocket-message-default"))["statusCode"] for _ in range(3)]

    assert statuses == [400, 400, 429]
    assert quota_count() == 3
    assert (
        functions[contract.ROUTE_CONNECT].invoke(event("websocket-connect-none"))["statusCode"]
        == 429
    )


def test_default_answers_a_malformed_event_with_400(default):
    assert default.invoke({"body": '{"action": "ping"}'})["statusCode"] == 400


def test_default_never_sends_anything_back_to_the_client(
    routes, make_gateway, open_socket, quota_count
):
    functions = routes()
    defaults = Completions(functions[contract.ROUTE_DEFAULT])
    gateway = make_gateway({**functions, contract.ROUTE_DEFAULT: defaults})
    client = open_socket(f"{gateway.websocket_url}?{contract.CONNECT_QUERY_PARAMETER}=tab-1")

    for junk in ['{"action": "hello"}', "plain text", json.dumps({"pad": "x" * 4000})]:
        client.send(junk)
    assert eventually(lambda: defaults.finished == 3)
    # The gateway runs messages concurrently, so answers may finish in any order.
    assert sorted(r["statusCode"] for r in defaults.responses) == [400, 400, 413]
    assert quota_count() == 4  # the connect and three messages

    # A marker posted after all three answers must be the first frame the client sees.
    management = boto3.client("apigatewaymanagementapi", endpoint_url=gateway.callback_url)
    [connection_id] = gateway.open_connection_ids()
    management.post_to_connection(ConnectionId=connection_id, Data=b"marker")
    assert client.wait_for(lambda c: c.frames)
    assert client.frames == ["marker"]
