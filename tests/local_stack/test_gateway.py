"""The local gateway behaves like API Gateway's WebSocket API, over real sockets."""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from lexstream_runtime import contract
from local_stack_helpers import RawWebSocket, management_client, open_socket, presign

from local_stack.gateway import LocalGateway
from local_stack.identity import LocalIdentityPool
from tests.stock_web_ui import stock_connect_url, stock_session_id

pytestmark = pytest.mark.timeout(60)


class Recorder:
    """Route functions that record their events and answer with a fixed status."""

    def __init__(self, connect_status: int = 200) -> None:
        self.events: list[dict[str, Any]] = []
        self.connect_status = connect_status
        self._arrived = threading.Condition()
        self._taken: dict[str | None, int] = {}

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()
        if event["requestContext"]["routeKey"] == contract.ROUTE_CONNECT:
            return {"statusCode": self.connect_status}
        return {"statusCode": 200}

    def routes(self, *keys: str) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {key: self for key in keys}

    def of(self, route_key: str | None) -> list[dict[str, Any]]:
        """Every event so far for `route_key` (None: all events), in arrival order."""
        return [e for e in self.events if route_key in (None, e["requestContext"]["routeKey"])]

    def next(self, route_key: str | None = None) -> dict[str, Any]:
        """The next event for `route_key` not yet returned, waiting up to 10 s for it."""
        position = self._taken.get(route_key, 0)
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.of(route_key)) > position, 10):
                raise AssertionError(f"no {route_key or 'event'} arrived")
            self._taken[route_key] = position + 1
            return self.of(route_key)[position]


ALL_ROUTES = (contract.ROUTE_CONNECT, contract.ROUTE_DEFAULT, contract.ROUTE_DISCONNECT)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, lambda: function(*args, **kwargs))


# --- events ---------------------------------------------------------------------------


def test_connect_event_has_the_documented_shape_with_query_and_headers(make_gateway, event):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES), stage="Prod")

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            url = f"{gateway.websocket_url}?sessionId=lex-web-ui-3f9a&x=1&x=2"
            async with session.ws_connect(url, headers={"Origin": "https://chat.example.com"}):
                pass

    run(scenario())
    received = recorder.next(contract.ROUTE_CONNECT)
    expected = event("websocket-connect-none")
    assert set(expected["requestContext"]) <= set(received["requestContext"])
    assert set(expected) <= set(received)
    context = received["requestContext"]
    assert context["eventType"] == "CONNECT"
    assert context["stage"] == "Prod"
    assert context["apiId"] == gateway.api_id
    assert context["domainName"] == f"127.0.0.1:{gateway.port}"
    assert context["connectionId"].endswith("=") and len(context["connectionId"]) == 16
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert received["queryStringParameters"] == {"sessionId": "lex-web-ui-3f9a", "x": "2"}
    assert received["multiValueQueryStringParameters"]["x"] == ["1", "2"]
    assert received["headers"]["Origin"] == "https://chat.example.com"
    assert received["multiValueHeaders"]["Origin"] == ["https://chat.example.com"]
    assert "Upgrade" not in received["headers"]


def test_message_and_disconnect_events_match_the_fixtures(make_gateway, event):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES))

    async def scenario() -> None:
        async with open_socket(gateway.websocket_url) as ws:
            await ws.send_str('{"action":"hello","text":"hi"}')
            await ws.send_bytes(b"\x00\xff")
            recorder.next(contract.ROUTE_DEFAULT)
            recorder.next(contract.ROUTE_DEFAULT)
            await ws.close(code=4000, message=b"bye")

    run(scenario())
    connect = recorder.next(contract.ROUTE_CONNECT)
    disconnect = recorder.next(contract.ROUTE_DISCONNECT)
    assert set(event("websocket-disconnect")["requestContext"]) <= set(disconnect["requestContext"])
    context = disconnect["requestContext"]
    assert context["connectionId"] == connect["requestContext"]["connectionId"]
    assert context["eventType"] == "DISCONNECT"
    assert context["disconnectStatusCode"] == 4000
    assert "4000" in context["disconnectReason"] and "bye" in context["disconnectReason"]
    assert "queryStringParameters" not in connect


def test_messages_carry_body_and_binary_frames_arrive_base64(make_gateway, event):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(contract.ROUTE_DEFAULT))

    async def scenario() -> None:
        async with open_socket(gateway.websocket_url) as ws:
            await ws.send_str('{"action":"hello","text":"hi"}')
            text = recorder.next()
            await ws.send_bytes(b"\x00\xff")
            binary = recorder.next()
        expected = event("websocket-message-default")
        assert set(expected["requestContext"]) <= set(text["requestContext"])
        assert text["body"] == '{"action":"hello","text":"hi"}'
        assert text["isBase64Encoded"] is False
        assert text["requestContext"]["eventType"] == "MESSAGE"
        assert binary == {**binary, "body": "AP8=", "isBase64Encoded": True}

    run(scenario())


# --- $connect and routing -------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 429, 500])
def test_connect_response_status_rejects_the_handshake(make_gateway, status):
    recorder = Recorder(connect_status=status)
    gateway = make_gateway(recorder.routes(*ALL_ROUTES))

    async def scenario() -> int:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(gateway.websocket_url)
            return refused.value.status

    assert run(scenario()) == status
    assert gateway.counters.connects_rejected == 1
    assert gateway.open_connection_ids() == []


def test_connect_function_that_raises_is_a_500(make_gateway):
    def broken(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    gateway = make_gateway({contract.ROUTE_CONNECT: broken})

    async def scenario() -> int:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(gateway.websocket_url)
            return refused.value.status

    assert run(scenario()) == 500


def test_route_selection_uses_body_action_and_ping_runs_nothing(make_gateway):
    recorder = Recorder()
    routes = {**recorder.routes(contract.ROUTE_DEFAULT), "sendmessage": recorder}
    gateway = make_gateway(routes)

    async def scenario() -> None:
        async with open_socket(gateway.websocket_url) as ws:
            await ws.send_str(json.dumps({"action": contract.ROUTE_PING}))
            await ws.send_str(json.dumps({"action": "sendmessage", "text": "x"}))
            assert recorder.next()["requestContext"]["routeKey"] == "sendmessage"
            for body in ('{"action": "unknown"}', "not json", '["action"]', '{"action": 3}'):
                await ws.send_str(body)
                assert recorder.next()["requestContext"]["routeKey"] == contract.ROUTE_DEFAULT
            # The MOCK ping route answers nothing, so nothing is waiting to be read.
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=0.3)

    run(scenario())
    assert len(recorder.of(None)) == 5
    assert gateway.counters.messages_received == 6


def test_message_without_a_matching_route_is_refused_with_an_error_message(make_gateway):
    gateway = make_gateway({})

    async def scenario() -> dict[str, Any]:
        async with open_socket(gateway.websocket_url) as ws:
            await ws.send_str("hello")
            return json.loads((await ws.receive(timeout=10)).data)

    answer = run(scenario())
    assert answer["message"] == "Forbidden"
    assert {"connectionId", "requestId"} <= set(answer)


def test_route_function_failure_is_reported_to_the_client(make_gateway):
    def broken(event: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    gateway = make_gateway({contract.ROUTE_DEFAULT: broken})

    async def scenario() -> dict[str, Any]:
        async with open_socket(gateway.websocket_url) as ws:
            await ws.send_str("hello")
            return json.loads((await ws.receive(timeout=10)).data)

    assert run(scenario())["message"] == "Internal server error"


def test_invalid_arguments_name_what_would_be_valid():
    with pytest.raises(ValueError, match="none"):
        LocalGateway({}, auth_mode="cognito")
    with pytest.raises(ValueError, match=r"\$connect"):
        LocalGateway({"$conect": print})
    with pytest.raises(ValueError, match="stage"):
        LocalGateway({}, stage="has/slash")
    with pytest.raises(TypeError, match="callable"):
        LocalGateway({"$default": "handler"})


# --- the management API ---------------------------------------------------------------


def test_management_api_posts_gets_and_deletes_through_unmodified_boto3(make_gateway):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES))
    client = management_client(gateway)

    async def scenario() -> None:
        async with open_socket(gateway.websocket_url) as ws:
            connection_id = recorder.next()["requestContext"]["connectionId"]
            for chunk in ("Hello", ", wörld", " ✓"):
                await in_thread(
                    client.post_to_connection, ConnectionId=connection_id, Data=chunk.encode()
                )
            received = [(await ws.receive(timeout=10)).data for _ in range(3)]
            assert received == ["Hello", ", wörld", " ✓"]
            await in_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"\xff\x00")
            binary = await ws.receive(timeout=10)
            assert binary.type == aiohttp.WSMsgType.BINARY and binary.data == b"\xff\x00"

            info = await in_thread(client.get_connection, ConnectionId=connection_id)
            assert info["Identity"]["SourceIp"] == "127.0.0.1"
            assert info["Identity"]["UserAgent"].startswith("Python")
            assert info["LastActiveAt"] >= info["ConnectedAt"]

            await in_thread(client.delete_connection, ConnectionId=connection_id)
            closed = await ws.receive(timeout=10)
            assert closed.type == aiohttp.WSMsgType.CLOSE
            assert closed.data == aiohttp.WSCloseCode.OK

    run(scenario())
    disconnect = recorder.next(contract.ROUTE_DISCONNECT)
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1000
    assert gateway.counters.messages_posted == 4
    assert gateway.counters.bytes_posted == len("Hello, wörld ✓".encode()) + 2


def test_management_api_raises_gone_for_unknown_and_closed_connections(make_gateway):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES))
    client = management_client(gateway)
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="NoSuchConnectn=", Data=b"x")

    async def scenario() -> str:
        async with open_socket(gateway.websocket_url):
            return recorder.next()["requestContext"]["connectionId"]

    connection_id = run(scenario())
    recorder.next(contract.ROUTE_DISCONNECT)
    for call in (client.post_to_connection, client.get_connection, client.delete_connection):
        kwargs = {"Data": b"x"} if call == client.post_to_connection else {}
        with pytest.raises(client.exceptions.GoneException):
            call(ConnectionId=connection_id, **kwargs)


def test_management_api_refuses_oversized_posts_with_413(make_gateway):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES))
    client = management_client(gateway)

    async def scenario() -> None:
        async with open_socket(gateway.websocket_url, max_msg_size=0) as ws:
            connection_id = recorder.next()["requestContext"]["connectionId"]
            with pytest.raises(client.exceptions.PayloadTooLargeException):
                await in_thread(
                    client.post_to_connection,
                    ConnectionId=connection_id,
                    Data=b"x" * (contract.MAX_MESSAGE_BYTES + 1),
                )
            largest = b"y" * contract.MAX_MESSAGE_BYTES
            await in_thread(client.post_to_connection, ConnectionId=connection_id, Data=largest)
            assert (await ws.receive(timeout=10)).data == largest.decode()

    run(scenario())
    assert (
        gateway.counters.billed_messages
        == contract.MAX_MESSAGE_BYTES // contract.BILLING_UNIT_BYTES
    )


def test_management_api_refuses_unsigned_calls_as_forbidden(make_gateway):
    gateway = make_gateway({})
    request = urllib.request.Request(
        f"{gateway.callback_url}/@connections/abc=", data=b"x", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert refused.value.headers["x-amzn-ErrorType"] == "ForbiddenException"


def test_posts_to_a_client_that_stops_reading_fail_with_limit_exceeded(make_gateway):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES), client_buffer_bytes=256 * 1024)
    client = management_client(gateway)

    async def scenario() -> int:
        raw = await RawWebSocket.connect(gateway.websocket_url)
        connection_id = recorder.next()["requestContext"]["connectionId"]
        try:
            chunk = b"z" * contract.MAX_MESSAGE_BYTES
            for posted in range(1, 1000):
                try:
                    await in_thread(
                        client.post_to_connection, ConnectionId=connection_id, Data=chunk
                    )
                except client.exceptions.LimitExceededException:
                    return posted
            return 0
        finally:
            raw.close()

    assert run(scenario()) > 1


# --- limits ---------------------------------------------------------------------------


def test_frame_over_32_kb_closes_with_1009(make_gateway):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES))

    async def scenario() -> int:
        raw = await RawWebSocket.connect(gateway.websocket_url)
        try:
            await raw.send_frame(0x1, b"a" * (contract.MAX_FRAME_BYTES + 1), fin=True)
            return await raw.read_close_code()
        finally:
            raw.close()

    assert run(scenario()) == 1009
    assert (
        recorder.next(contract.ROUTE_DISCONNECT)["requestContext"]["disconnectStatusCode"] == 1009
    )
    assert gateway.counters.messages_received == 0


def test_fragmented_message_up_to_32_kb_is_delivered_and_larger_closes_with_1009(make_gateway):
    # API Gateway would deliver up to 128 KB sent in frames of 32 KB; aiohttp's public API
    # limits whole messages only, so the local limit is 32 KB however a message is framed
    # (see local_stack/gateway/sockets.py).
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES))
    largest = "m" * contract.MAX_FRAME_BYTES

    async def scenario() -> int:
        raw = await RawWebSocket.connect(gateway.websocket_url)
        try:
            await raw.send_fragmented(largest, contract.MAX_FRAME_BYTES // 4)
            assert recorder.next(contract.ROUTE_DEFAULT)["body"] == largest
            await raw.send_fragmented(largest + "m", contract.MAX_FRAME_BYTES // 4)
            return await raw.read_close_code()
        finally:
            raw.close()

    assert run(scenario()) == 1009


def test_idle_socket_is_closed_going_away_but_pings_keep_it_open(make_gateway):
    recorder = Recorder()
    # Pings ten times as often as the idle timeout, for longer than it: a loaded machine
    # may delay one ping a lot without the socket going idle.
    gateway = make_gateway(recorder.routes(*ALL_ROUTES), idle_timeout_s=1.0)

    async def scenario() -> None:
        async with open_socket(gateway.websocket_url, autoping=True) as ws:
            for _ in range(15):
                await ws.send_str(json.dumps({"action": contract.ROUTE_PING}))
                await asyncio.sleep(0.1)
            assert not ws.closed
            closed = await ws.receive(timeout=10)
            assert closed.type == aiohttp.WSMsgType.CLOSE
            assert closed.data == 1001
            assert closed.extra == "Going away"

    run(scenario())
    context = recorder.next(contract.ROUTE_DISCONNECT)["requestContext"]
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (1001, "Going away")


def test_socket_is_closed_at_the_maximum_connection_duration_despite_traffic(make_gateway):
    gateway = make_gateway({}, max_connection_s=0.5)

    async def scenario() -> tuple[aiohttp.WSMsgType, int]:
        async with open_socket(gateway.websocket_url) as ws:
            while True:
                await ws.send_str(json.dumps({"action": contract.ROUTE_PING}))
                try:
                    message = await ws.receive(timeout=0.1)
                except TimeoutError:
                    continue
                return message.type, message.data

    assert run(scenario()) == (aiohttp.WSMsgType.CLOSE, 1001)


def test_stage_throttle_refuses_connects_beyond_the_burst_with_429(make_gateway):
    gateway = make_gateway({}, throttle_rate=0.01, throttle_burst=2)

    async def scenario() -> list[int]:
        statuses = []
        async with aiohttp.ClientSession() as session:
            for _ in range(4):
                try:
                    ws = await session.ws_connect(gateway.websocket_url)
                    statuses.append(101)
                    await ws.close()
                except aiohttp.WSServerHandshakeError as refused:
                    statuses.append(refused.status)
        return statuses

    assert run(scenario()) == [101, 101, 429, 429]
    assert gateway.counters.throttled == 2


# --- iam auth -------------------------------------------------------------------------


def connect_status(url: str) -> int:
    async def scenario() -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url):
                    return 101
            except aiohttp.WSServerHandshakeError as refused:
                return refused.status

    return run(scenario())


def test_iam_mode_accepts_a_presigned_url_and_fills_the_cognito_identity(make_gateway, event):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES), auth_mode=contract.AUTH_IAM)
    credentials = gateway.identity_pool.issue()
    url = presign(f"{gateway.websocket_url}?sessionId={credentials.identity_id}", credentials)
    assert connect_status(url) == 101
    received = recorder.next(contract.ROUTE_CONNECT)
    identity = received["requestContext"]["identity"]
    assert identity["cognitoIdentityId"] == credentials.identity_id
    assert identity["accessKey"] == credentials.access_key_id
    assert identity["cognitoIdentityPoolId"] == gateway.identity_pool.pool_id
    assert set(event("websocket-connect-iam")["requestContext"]["identity"]) <= set(identity)
    assert received["queryStringParameters"]["sessionId"] == credentials.identity_id
    assert received["queryStringParameters"]["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"


def _uuid(identity_id: str) -> str:
    return identity_id.split(":", 1)[1]


def test_iam_mode_refuses_unsigned_forged_tampered_expired_and_future_urls(make_gateway):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES), auth_mode=contract.AUTH_IAM)
    credentials = gateway.identity_pool.issue()
    victim = gateway.identity_pool.issue()
    base = f"{gateway.websocket_url}?sessionId={credentials.identity_id}"
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    signed = presign(base, credentials)
    refused = {
        "unsigned": base,
        "forged": presign(base, credentials, secret_override="not-the-secret" * 3),
        "tampered": signed.replace(_uuid(credentials.identity_id), _uuid(victim.identity_id)),
        "expired": presign(
            base, credentials, expires=60, signed_at=now - datetime.timedelta(minutes=5)
        ),
        "future": presign(base, credentials, signed_at=now + datetime.timedelta(minutes=30)),
        "wrong region": presign(base, credentials, region="eu-west-1"),
        "signature removed": signed.split("&X-Amz-Signature=")[0],
    }
    statuses = {name: connect_status(url) for name, url in refused.items()}
    assert statuses == dict.fromkeys(refused, 403)
    assert recorder.of(contract.ROUTE_CONNECT) == []
    assert connect_status(signed) == 101
    assert len(recorder.of(contract.ROUTE_CONNECT)) == 1


def test_iam_mode_refuses_credentials_after_they_expire(make_gateway):
    pool = LocalIdentityPool(lifetime_s=60, clock=lambda: 1_000_000.0)
    gateway = make_gateway({}, auth_mode=contract.AUTH_IAM, identity_pool=pool)
    credentials = pool.issue()
    # The credentials were issued "long ago" by the pool's clock, so they are expired now.
    assert connect_status(presign(gateway.websocket_url, credentials)) == 403


def test_none_mode_accepts_unsigned_connects(make_gateway):
    gateway = make_gateway({}, auth_mode=contract.AUTH_NONE)
    assert connect_status(f"{gateway.websocket_url}?sessionId=lex-web-ui-3f9a") == 101


def test_stop_closes_open_sockets_going_away_and_runs_disconnect():
    recorder = Recorder()
    gateway = LocalGateway(recorder.routes(*ALL_ROUTES)).start()

    async def scenario() -> int:
        async with open_socket(gateway.websocket_url) as ws:
            recorder.next(contract.ROUTE_CONNECT)
            await in_thread(gateway.stop)
            message = await ws.receive(timeout=10)
            return message.data

    port = gateway.port
    assert run(scenario()) == 1001
    assert (
        recorder.next(contract.ROUTE_DISCONNECT)["requestContext"]["disconnectStatusCode"] == 1001
    )
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_injected_callback_latency_delays_every_management_call(make_gateway):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES), callback_latency_s=3.0)
    impatient = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=gateway.callback_url,
        region_name="us-east-1",
        config=Config(read_timeout=0.3, retries={"total_max_attempts": 1}),
    )

    async def scenario() -> None:
        async with open_socket(gateway.websocket_url):
            connection_id = recorder.next()["requestContext"]["connectionId"]
            with pytest.raises(ReadTimeoutError):
                await in_thread(impatient.get_connection, ConnectionId=connection_id)
            gateway.callback_latency_s = 0.0
            # Without the latency the same call answers (a loaded machine gets time enough).
            await in_thread(management_client(gateway).get_connection, ConnectionId=connection_id)

    run(scenario())


def test_stage_throttle_answers_messages_beyond_the_burst_with_an_error(make_gateway):
    recorder = Recorder()
    gateway = make_gateway(
        recorder.routes(contract.ROUTE_DEFAULT), throttle_rate=0.01, throttle_burst=2
    )

    async def scenario() -> dict[str, Any]:
        async with open_socket(gateway.websocket_url) as ws:  # the connect takes one token
            await ws.send_str("first")  # the second token
            recorder.next()
            await ws.send_str("second")
            return json.loads((await ws.receive(timeout=10)).data)

    assert run(scenario())["message"] == "Too Many Requests"
    assert [e["body"] for e in recorder.of(None)] == ["first"]


def test_plain_http_request_to_the_socket_url_never_reaches_connect(make_gateway):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(gateway.websocket_url.replace("ws://", "http://"), timeout=10)
    assert refused.value.code == 426
    assert recorder.of(None) == []


def test_iam_mode_accepts_the_stock_clients_url_signed_for_the_host_without_its_port(
    make_gateway,
):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES), auth_mode=contract.AUTH_IAM)
    credentials = gateway.identity_pool.issue()
    session_id = stock_session_id()
    url = f"{gateway.websocket_url}?sessionId={session_id}"
    port = urlsplit(url).port

    def signed_for(host: str) -> str:
        """`url`, presigned for another Host value, then sent to the gateway itself."""
        real = f"127.0.0.1:{port}"
        return presign(url.replace(real, host, 1), credentials).replace(host, real, 1)

    # Signed for "127.0.0.1" (no port); the socket's Host header is "127.0.0.1:PORT".
    assert (
        connect_status(
            stock_connect_url(gateway.websocket_url, session_id, credentials, "us-east-1")
        )
        == 101
    )
    assert recorder.next(contract.ROUTE_CONNECT)["queryStringParameters"]["sessionId"] == (
        session_id
    )
    assert connect_status(signed_for(f"127.0.0.1:{port}")) == 101
    # Only a missing port is forgiven: another port or another host name is refused.
    assert connect_status(signed_for(f"127.0.0.1:{port + 1}")) == 403
    assert connect_status(signed_for(f"localhost:{port}")) == 403
    assert connect_status(signed_for("localhost")) == 403


def test_iam_mode_refuses_a_url_that_repeats_its_signature_with_the_real_one_last(make_gateway):
    recorder = Recorder()
    gateway = make_gateway(recorder.routes(*ALL_ROUTES), auth_mode=contract.AUTH_IAM)
    credentials = gateway.identity_pool.issue()
    signed = presign(f"{gateway.websocket_url}?sessionId={credentials.identity_id}", credentials)
    base, real = signed.split("&X-Amz-Signature=")
    repeated = {
        "bogus first": f"{base}&X-Amz-Signature={'0' * 64}&X-Amz-Signature={real}",
        "real twice": f"{base}&X-Amz-Signature={real}&X-Amz-Signature={real}",
        "token twice": f"{signed}&X-Amz-Security-Token=x",
    }

    statuses = {name: connect_status(url) for name, url in repeated.items()}

    assert statuses == dict.fromkeys(repeated, 403)
    assert recorder.of(contract.ROUTE_CONNECT) == []
    assert connect_status(signed) == 101
