"""The gateway's own origin is matched whole: a value that merely starts with it, or that
leaves out the port a browser would send, is another origin or host and gets 403."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from local_stack.gateway import LocalGateway
from local_stack.gateway.own_origin import OwnOrigin

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def gateway(make_gateway: Callable[..., LocalGateway]) -> LocalGateway:
    return make_gateway({}, own_origin_only=True)


def get(gateway: LocalGateway, headers: dict[str, str]) -> tuple[int, str]:
    """GET a connection from the management API, unsigned, with exactly `headers`."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        connection.putrequest("GET", f"/{gateway.stage}/@connections/none", skip_host=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:{port}0",
        "http://127.0.0.1:{port}.evil.example",
        "http://localhost:{port}.evil.example",
        "http://127.0.0.1:{port}/",
        # A browser leaves the port out only when it is 80; this gateway is elsewhere.
        "http://127.0.0.1",
        "http://localhost",
    ],
)
def test_an_origin_that_extends_or_shortens_the_own_origin_is_refused(
    gateway: LocalGateway, origin: str
):
    sent = origin.format(port=gateway.port)

    status, text = get(gateway, {"Host": f"127.0.0.1:{gateway.port}", "Origin": sent})

    assert status == 403
    assert f"Origin {sent!r} is not this stack's page" in text
    assert gateway.counters.foreign_refused == 1


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "127.0.0.1:{port}0", "127.0.0.1:{port}.evil.example", ""],
)
def test_a_host_without_the_gateways_port_or_extending_it_is_refused(
    gateway: LocalGateway, host: str
):
    sent = host.format(port=gateway.port)

    status, text = get(gateway, {"Host": sent})

    assert status == 403
    assert f"Host {sent!r} is not this gateway's address" in text


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LocalHost"])
def test_the_exact_own_origin_and_host_pass_to_the_management_api(gateway: LocalGateway, name: str):
    own = f"{name}:{gateway.port}"

    status, text = get(gateway, {"Host": own, "Origin": f"http://{own}"})

    # The management API's own answer to an unsigned call: it was reached.
    assert (status, json.loads(text)["message"]) == (403, "Forbidden")


def test_an_http_1_0_request_without_host_is_refused(gateway: LocalGateway):
    # HTTP/1.1 requires Host (aiohttp answers 400 itself); HTTP/1.0 lets a client omit it.
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as raw:
        raw.sendall(f"GET /{gateway.stage}/@connections/none HTTP/1.0\r\n\r\n".encode())
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk

    assert answer.split(b" ", 2)[1] == b"403"
    assert b"Host None is not this gateway's address" in answer


@pytest.mark.parametrize(
    ("port", "host", "origin", "allowed"),
    [
        (80, "127.0.0.1", "http://127.0.0.1", True),
        (80, "localhost", "http://localhost", True),
        (80, "localhost:80", "http://localhost:80", True),
        (8080, "127.0.0.1", None, False),
        (79, "localhost", None, False),
        (81, "127.0.0.1", "http://127.0.0.1", False),
        (8080, "127.0.0.1:8080", "http://127.0.0.1", False),
    ],
)
def test_the_port_may_be_left_out_only_on_port_80(
    port: int, host: str, origin: str | None, allowed: bool
):
    # Binding port 80 here could meet another server on the machine: the check itself is
    # asked about port 80, the same check the middleware runs on the real gateway above.
    headers = CIMultiDict({"Host": host} | ({"Origin": origin} if origin else {}))
    request = make_mocked_request("GET", "/local/@connections/none", headers=headers)

    assert (OwnOrigin(lambda: port).refusal(request) is None) is allowed


# --- CORS answers go to an allowed other origin alone --------------------------------

OTHER = "http://127.0.0.1:5173"


def exchange(gateway: LocalGateway, method: str, headers: dict[str, str]) -> tuple[int, dict]:
    """(status, headers) of one unsigned management API request with `headers`."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        connection.request(method, f"/{gateway.stage}/@connections/none", headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        connection.close()


def test_only_an_allowed_other_origin_gets_cors_headers(
    make_gateway: Callable[..., LocalGateway],
):
    gateway = make_gateway({}, own_origin_only=True, allowed_origins=(OTHER,))
    own = f"127.0.0.1:{gateway.port}"

    for headers in ({"Host": own}, {"Host": own, "Origin": f"http://{own}"}):
        status, answered = exchange(gateway, "GET", headers)
        # The management API's own answer, without a CORS header.
        assert status == 403, headers
        assert not [name for name in answered if name.lower().startswith("access-control")]
    status, answered = exchange(gateway, "GET", {"Host": own, "Origin": OTHER})
    assert status == 403
    assert answered["Access-Control-Allow-Origin"] == OTHER
    assert answered["Vary"] == "Origin"
    assert answered["Access-Control-Expose-Headers"] == "x-amzn-RequestId, x-amzn-ErrorType"


def test_a_path_the_gateway_has_no_route_for_answers_an_allowed_origin_readably(
    make_gateway: Callable[..., LocalGateway],
):
    gateway = make_gateway({}, own_origin_only=True, allowed_origins=(OTHER,))
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        connection.request(
            "GET", "/no/such/route", headers={"Host": f"127.0.0.1:{gateway.port}", "Origin": OTHER}
        )
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 404
    assert response.getheader("Access-Control-Allow-Origin") == OTHER
    assert response.getheader("Vary") == "Origin"


def test_an_allowed_origins_preflight_is_answered_with_what_it_asked_for(
    make_gateway: Callable[..., LocalGateway],
):
    gateway = make_gateway({}, own_origin_only=True, allowed_origins=(OTHER,))
    asked = {
        "Host": f"127.0.0.1:{gateway.port}",
        "Origin": OTHER,
        "Access-Control-Request-Method": "DELETE",
    }

    status, answered = exchange(gateway, "OPTIONS", asked)

    assert status == 204
    assert answered["Access-Control-Allow-Origin"] == OTHER
    assert answered["Access-Control-Allow-Methods"] == "DELETE"
    assert answered["Access-Control-Max-Age"] == "600"
    # No headers asked for, none named.
    assert "Access-Control-Allow-Headers" not in answered
    # An OPTIONS request that is no preflight reaches the route (which allows no OPTIONS),
    # and so does another method that carries a preflight's header.
    status, answered = exchange(gateway, "OPTIONS", {k: asked[k] for k in ("Host", "Origin")})
    assert status == 405
    assert "Access-Control-Allow-Methods" not in answered
    # aiohttp's own refusal, readable by the page that asked
    assert answered["Access-Control-Allow-Origin"] == OTHER
    for method in ("GET", "POST"):  # sorting before and after OPTIONS
        status, answered = exchange(gateway, method, asked)
        assert status == 403, method
        assert "Access-Control-Allow-Methods" not in answered
        assert answered["Access-Control-Allow-Origin"] == OTHER
