"""The local stack answers only its own page: another site's page in the developer's
browser cannot open its socket or start Lex turns, and DNS rebinding cannot reach it."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from lexstream_runtime import contract
from playwright.sync_api import Browser, Page, expect

from local_stack.stack import LocalStack, StackSettings

pytestmark = pytest.mark.timeout(120)

# In the browser: open the socket and ask Lex twice, once as a CORS request and once as
# a "simple" no-cors request, which a browser sends without asking the server first.
PROBE = """async ([socketUrl, lexUrl]) => {
  const socket = await new Promise((resolve) => {
    const ws = new WebSocket(socketUrl);
    ws.onopen = () => { ws.close(); resolve("open"); };
    ws.onerror = () => resolve("failed");
  });
  const body = JSON.stringify({ text: "Is anyone there?" });
  let lex;
  try {
    const response = await fetch(lexUrl, {
      method: "POST", headers: { "Content-Type": "application/json" }, body,
    });
    lex = response.status;
  } catch (error) {
    lex = "failed";
  }
  await fetch(lexUrl, { method: "POST", mode: "no-cors", body });
  return { socket, lex };
}"""
FOREIGN_PAGE = b"<!doctype html><title>another site</title><p>another site</p>"
# Unsigned connects are accepted, so only the origin check stands between a foreign page
# and the socket; a fast model keeps the turns short.
SETTINGS = StackSettings(
    port=0, auth_mode=contract.AUTH_NONE, tokens_per_second=5000.0, first_token_delay_s=0.0
)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(SETTINGS) as running:
        yield running


@pytest.fixture(scope="module")
def foreign_site() -> Iterator[str]:
    """Another site: a page served from another loopback port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(FOREIGN_PAGE)))
            self.end_headers()
            self.wfile.write(FOREIGN_PAGE)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def probe(tab: Page, stack: LocalStack, session_id: str, host: str = "127.0.0.1") -> dict[str, Any]:
    # The socket URL is the one the chat page's config names; Lex is asked on `host`.
    lex_url = f"http://{host}:{stack.gateway.port}" + stack.lex.path.format(sessionId=session_id)
    socket_url = f"{stack.websocket_url}?{contract.CONNECT_QUERY_PARAMETER}={session_id}"
    return tab.evaluate(PROBE, [socket_url, lex_url])


def test_a_page_from_another_port_cannot_open_the_socket_or_start_a_turn(
    tab: Page, stack: LocalStack, foreign_site: str
):
    counters = stack.gateway.counters
    accepted, refused, turns = counters.connects_accepted, counters.foreign_refused, stack.lex.turns
    tab.goto(foreign_site)

    result = probe(tab, stack, "foreign-page-1")

    # The handshake is refused; a fetch that needs CORS is refused at its preflight.
    assert result == {"socket": "failed", "lex": "failed"}
    assert counters.connects_accepted == accepted
    # The no-cors request reached the stack and was refused too: no turn ran.
    assert stack.lex.turns == turns
    assert counters.foreign_refused >= refused + 3


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_stacks_own_page_still_opens_the_socket_and_starts_turns(
    tab: Page, stack: LocalStack, host: str
):
    turns = stack.lex.turns
    tab.goto(stack.page_url.replace("127.0.0.1", host))
    expect(tab.locator("#status")).to_have_attribute("data-state", "connected", timeout=15000)

    result = probe(tab, stack, f"own-page-{host.replace('.', '-')}", host)

    assert result == {"socket": "open", "lex": 200}
    # The page's own turn and the no-cors one both ran.
    assert stack.lex.turns == turns + 2


def request(
    stack: LocalStack, method: str, path: str, headers: dict[str, str], body: str | None = None
) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", stack.gateway.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def upgrade_headers(**headers: str) -> dict[str, str]:
    return {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        **headers,
    }


def socket_path(stack: LocalStack, session_id: str) -> str:
    return f"/{stack.settings.stage}?{contract.CONNECT_QUERY_PARAMETER}={session_id}"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "socket", None),
        ("POST", "lex", '{"text": "hello"}'),
        ("POST", "/identity", "{}"),
        ("GET", "/config.json", None),
    ],
)
@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Host": "rebound.example.com:{port}"}, "Host 'rebound.example.com:{port}'"),
        ({"Host": "127.0.0.1:{port}", "Origin": "http://127.0.0.1:1"}, "Origin"),
        ({"Host": "localhost:{port}", "Origin": "null"}, "Origin 'null'"),
        ({"Host": "127.0.0.1:{port}", "Origin": "https://127.0.0.1:{port}"}, "Origin"),
    ],
)
def test_a_foreign_host_or_origin_gets_403_with_its_reason(
    stack: LocalStack, method: str, path: str, body: str | None, headers: dict, reason: str
):
    port = stack.gateway.port
    sent = {name: value.format(port=port) for name, value in headers.items()}
    if path == "socket":
        path, sent = socket_path(stack, "raw-client-1"), upgrade_headers(**sent)
    elif path == "lex":
        path = lex_path(stack, "raw-client-1")
    turns = stack.lex.turns

    status, text = request(stack, method, path, sent, body)

    assert status == 403
    assert text.startswith('{"message": "Forbidden: ' + reason.format(port=port))
    assert stack.lex.turns == turns


def lex_path(stack: LocalStack, session_id: str) -> str:
    return stack.lex.path.format(sessionId=session_id)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST"])
def test_clients_without_origin_are_served_at_either_loopback_name(stack: LocalStack, host: str):
    port = stack.gateway.port
    # A session of its own per case: the previous case's socket may still be closing,
    # and a live socket keeps its session from a newcomer.
    session_id = f"raw-client-2-{host}"
    status, _ = request(
        stack, "GET", socket_path(stack, session_id), upgrade_headers(Host=f"{host}:{port}")
    )
    assert status == 101
    status, text = request(
        stack, "POST", lex_path(stack, "raw-client-3"), {"Host": f"{host}:{port}"}, '{"text": "hi"}'
    )
    assert status == 200 and '"messages"' in text


def test_the_stacks_own_origin_may_call_lex_and_identity(stack: LocalStack):
    port = stack.gateway.port
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        headers = {"Host": f"127.0.0.1:{port}", "Origin": origin}
        assert request(stack, "POST", "/identity", headers, "{}")[0] == 200
        lex = request(stack, "POST", lex_path(stack, "own-origin-1"), headers, '{"text": "hi"}')
        assert lex[0] == 200


def test_a_refusal_is_one_log_line_naming_the_reason(stack: LocalStack, caplog):
    with caplog.at_level("WARNING", logger="lexstream.local.gateway"):
        request(stack, "POST", "/identity", {"Origin": "http://evil.example"}, "{}")
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "refused POST /identity (403): Origin 'http://evil.example' is not this stack's page"
    ]
