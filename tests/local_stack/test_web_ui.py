"""A user's own Lex Web UI build served by the stack (`--web-ui`), over HTTP without a
browser: the generated and merged loader config, the AWS endpoints the page's SDK calls
(Cognito Identity JSON 1.1, Lex V2 with its SigV4 signature checked for the AWS host),
the `ws://` streaming endpoint, other origins and the start page."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from lexstream_runtime import contract
from local_stack_helpers import StockChatSession
from test_terminal import RunningCli

from local_stack.stack import StackError, StackSettings

pytestmark = pytest.mark.timeout(120)

INDEX = (
    b"<!DOCTYPE html><html><body><script src='./lex-web-ui-loader.min.js'></script></body></html>"
)


def make_build(folder: Path, config: dict[str, Any] | None = None) -> Path:
    """A minimal folder shaped like a Lex Web UI build (not the release's files)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_bytes(INDEX)
    (folder / "lex-web-ui-loader.min.js").write_text("// loader\n")
    (folder / "lex-web-ui.min.js").write_text("// component\n")
    if config is not None:
        (folder / "lex-web-ui-loader-config.json").write_text(json.dumps(config))
    return folder


async def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


def served_config(stack: Any) -> dict[str, Any]:
    status, _, body = asyncio.run(get(f"{stack.gateway.base_url}/lex-web-ui-loader-config.json"))
    assert status == 200
    return json.loads(body)


def test_the_generated_config_points_the_page_at_this_stack(make_stack, tmp_path):
    stack = make_stack(web_ui=str(make_build(tmp_path / "dist")), auth_mode="iam")
    config = served_config(stack)
    assert config["region"] == "us-east-1"
    assert config["cognito"]["poolId"] == stack.gateway.identity_pool.pool_id
    assert config["lex"] == {
        "region": "us-east-1",
        "v2BotId": stack.lex.bot_id,
        "v2BotAliasId": stack.lex.bot_alias_id,
        "v2BotLocaleId": stack.lex.locale_id,
        "allowStreamingResponses": True,
        "streamingWebSocketEndpoint": stack.websocket_url,
        "streamingDynamoDbTable": stack.settings.connection_table,
    }
    assert config["recorder"]["enable"] is False
    assert config["iframe"]["iframeSrcPath"] == "/index.html#/?lexWebUiEmbed=true"
    assert stack.page_url == f"{stack.gateway.base_url}/index.html"


def test_a_users_config_keeps_its_ui_keys_and_the_stack_replaces_endpoint_keys(
    make_stack, tmp_path, caplog
):
    user = {
        "region": "eu-west-1",
        "cognito": {"poolId": "eu-west-1:11111111-2222-3333-4444-555555555555"},
        "lex": {
            "v2BotId": "MYBOT",
            "v2BotAliasId": "MYALIAS",
            "v2BotLocaleId": "en_GB",
            "initialText": "Welcome to Acme support.",
            "streamingWebSocketEndpoint": "wss://abc.execute-api.eu-west-1.amazonaws.com/Prod",
            "allowStreamingResponses": False,
        },
        "ui": {"toolbarTitle": "Acme", "toolbarColor": "teal", "enableLogin": True},
        "iframe": {"iframeSrcPath": "/chat.html#/?lexWebUiEmbed=true"},
        "recorder": {"enable": True},
    }
    caplog.set_level(logging.INFO, logger="lexstream")
    stack = make_stack(web_ui=str(make_build(tmp_path / "dist", user)))
    config = served_config(stack)
    # The user's UI settings are kept.
    assert config["ui"]["toolbarTitle"] == "Acme"
    assert config["ui"]["toolbarColor"] == "teal"
    assert config["lex"]["initialText"] == "Welcome to Acme support."
    assert config["iframe"]["iframeSrcPath"] == "/chat.html#/?lexWebUiEmbed=true"
    # The stack's endpoint and bot keys win.
    assert config["region"] == "us-east-1"
    assert config["cognito"]["poolId"] == stack.gateway.identity_pool.pool_id
    assert config["lex"]["v2BotId"] == stack.lex.bot_id
    assert config["lex"]["streamingWebSocketEndpoint"] == stack.websocket_url
    assert config["lex"]["allowStreamingResponses"] is True
    # Features the stack cannot serve are off.
    assert config["recorder"]["enable"] is False
    assert config["ui"]["enableLogin"] is False
    lines = [record.getMessage() for record in caplog.records]
    replaced = [line for line in lines if "keys replaced" in line]
    assert len(replaced) == 1
    for key in (
        "region",
        "cognito.poolId",
        "lex.v2BotId",
        "lex.v2BotAliasId",
        "lex.v2BotLocaleId",
        "lex.streamingWebSocketEndpoint",
        "lex.allowStreamingResponses",
    ):
        assert key in replaced[0]
    assert "toolbarTitle" not in replaced[0] and "initialText" not in replaced[0]
    assert any(line.startswith("web UI: recorder.enable: voice is off") for line in lines)
    assert any(line.startswith("web UI: ui.enableLogin: sign-in is off") for line in lines)


@pytest.mark.parametrize(
    ("shape", "says"),
    [
        ("missing", "does not exist"),
        ("file", "is a file"),
        ("no index.html", "has no index.html"),
        ("not a build", "so it is not a Lex Web UI build"),
        ("lex v1", "a Lex V1 bot"),
        ("bad config", "not JSON"),
    ],
)
def test_a_bad_web_ui_folder_is_refused_naming_the_setting_and_the_folder(tmp_path, shape, says):
    folder = tmp_path / "dist"
    if shape == "file":
        folder.write_text("not a folder")
    elif shape == "no index.html":
        folder.mkdir()
        (folder / "lex-web-ui-loader.min.js").write_text("")
    elif shape == "not a build":
        folder.mkdir()
        (folder / "index.html").write_text("<html></html>")
    elif shape == "lex v1":
        make_build(folder, {"lex": {"botName": "OrderFlowers", "botAlias": "$LATEST"}})
    elif shape == "bad config":
        make_build(folder)
        (folder / "lex-web-ui-loader-config.json").write_text("{not json")
    with pytest.raises(StackError) as refused:
        StackSettings(web_ui=str(folder)).resolved()
    assert refused.value.setting == "web_ui"
    assert says in refused.value.problem
    assert str(folder) in refused.value.problem


def test_the_identity_endpoint_speaks_cognito_identity_json_1_1(make_stack, tmp_path):
    stack = make_stack(web_ui=str(make_build(tmp_path / "dist")), auth_mode="iam")
    cognito = boto3.client(
        "cognito-identity",
        endpoint_url=f"{stack.gateway.base_url}/.aws/cognito-identity.us-east-1.amazonaws.com",
        region_name="us-east-1",
    )
    pool = stack.gateway.identity_pool
    identity_id = cognito.get_id(IdentityPoolId=pool.pool_id)["IdentityId"]
    assert identity_id.startswith("us-east-1:")
    issued = cognito.get_credentials_for_identity(IdentityId=identity_id)
    credentials = issued["Credentials"]
    assert issued["IdentityId"] == identity_id
    # The gateway knows them: they are what a presigned connect is checked against.
    assert pool.lookup(credentials["AccessKeyId"]).secret_access_key == credentials["SecretKey"]
    assert credentials["Expiration"].timestamp() > 0
    with pytest.raises(ClientError) as wrong_pool:
        cognito.get_id(IdentityPoolId="us-east-1:00000000-0000-0000-0000-000000000000")
    assert wrong_pool.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as unknown:
        cognito.get_credentials_for_identity(IdentityId="us-east-1:never-issued")
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"


def signed_recognize_text(
    stack: Any,
    credentials: Credentials,
    *,
    host: str = "runtime-v2-lex.us-east-1.amazonaws.com",
    service: str = "lex",
    body: bytes = b'{"text": "hello"}',
    age_s: float = 0.0,
) -> tuple[str, dict[str, str], bytes]:
    """A RecognizeText call as the Web UI's SDK signs it for `host`, then addressed to
    the stack's forwarding path for the AWS host (where the page's worker sends it)."""
    path = (
        f"/bots/{stack.lex.bot_id}/botAliases/{stack.lex.bot_alias_id}"
        f"/botLocales/{stack.lex.locale_id}/sessions/lex-web-ui-1a2b/text"
    )
    request = AWSRequest(
        method="POST",
        url=f"https://{host}{path}",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    signed_at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=age_s)
    with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
        botocore.auth.SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
    url = f"{stack.gateway.base_url}/.aws/runtime-v2-lex.us-east-1.amazonaws.com{path}"
    return url, headers, body


async def post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, headers=headers, data=body) as response,
    ):
        return response.status, {
            "type": response.headers.get("x-amzn-ErrorType"),
            "body": await response.json(content_type=None),
        }


def test_lex_calls_for_the_aws_host_are_checked_as_lex_checks_their_signature_in_iam_mode(
    make_stack, tmp_path
):
    stack = make_stack(web_ui=str(make_build(tmp_path / "dist")), auth_mode="iam")
    issued = stack.gateway.identity_pool.issue()
    good = Credentials(issued.access_key_id, issued.secret_access_key, issued.session_token)
    wrong_secret = Credentials(issued.access_key_id, "x" * 40, issued.session_token)
    unknown_key = Credentials("ASIANOBODYISSUEDTHIS", issued.secret_access_key, "token")

    url, headers, body = signed_recognize_text(stack, good)
    status, answer = asyncio.run(post(url, headers, body))
    assert status == 200, answer
    assert answer["body"]["sessionId"] == "lex-web-ui-1a2b"

    refusals = {
        # Signed for the loopback address the request reached, not the AWS host.
        "loopback host": signed_recognize_text(stack, good, host=stack.gateway.base_url[7:]),
        "another service": signed_recognize_text(stack, good, service="execute-api"),
        "wrong secret": signed_recognize_text(stack, wrong_secret),
        "unknown key": signed_recognize_text(stack, unknown_key),
        "unsigned": (url, {"Content-Type": "application/json"}, body),
        "body changed": (url, headers, b'{"text": "goodbye"}'),
        "dated 10 minutes ago": signed_recognize_text(stack, good, age_s=600),
        "no security token": signed_recognize_text(
            stack, Credentials(issued.access_key_id, issued.secret_access_key)
        ),
    }
    outcomes = {name: asyncio.run(post(*request)) for name, request in refusals.items()}
    assert {name: status for name, (status, _) in outcomes.items()} == dict.fromkeys(refusals, 403)
    assert outcomes["unknown key"][1]["type"] == "UnrecognizedClientException"
    assert outcomes["wrong secret"][1]["type"] == "InvalidSignatureException"
    assert "5 minutes" in outcomes["dated 10 minutes ago"][1]["body"]["message"]
    assert "security token" in outcomes["no security token"][1]["body"]["message"]
    assert stack.lex.turns == 1


def test_lex_calls_for_the_aws_host_are_not_signature_checked_in_none_mode(make_stack, tmp_path):
    stack = make_stack(web_ui=str(make_build(tmp_path / "dist")), auth_mode="none")
    url, _, body = signed_recognize_text(stack, Credentials("a", "b", "c"))
    status, answer = asyncio.run(post(url, {"Content-Type": "application/json"}, body))
    assert status == 200, answer


HANDLER = """
import boto3

def handler(event, context):
    # Written as the public Lex Web UI streaming docs show: the endpoint used as given.
    attributes = event["sessionState"]["sessionAttributes"]
    table = boto3.resource("dynamodb").Table(attributes["streamingDynamoDbTable"])
    connection = table.get_item(Key={"sessionId": event["sessionId"]})["Item"]["connectionId"]
    client = boto3.client("apigatewaymanagementapi", endpoint_url=attributes["streamingEndpoint"])
    for word in ("streamed ", "as ", "given"):
        client.post_to_connection(ConnectionId=connection, Data=word.encode())
    return {
        "sessionState": {"dialogAction": {"type": "Close"},
                         "intent": {"name": "FallbackIntent", "state": "Fulfilled"}},
        "messages": [{"contentType": "PlainText", "content": "streamed as given"}],
    }
"""


@pytest.mark.parametrize("auth", [contract.AUTH_NONE, contract.AUTH_IAM])
def test_a_ws_streaming_endpoint_reaches_an_unmodified_fulfillment_as_the_callback_url(
    make_stack, tmp_path, auth
):
    bot = tmp_path / "docs_bot.py"
    bot.write_text(HANDLER)
    stack = make_stack(auth_mode=auth, handler=f"{bot}:handler")

    async def scenario() -> tuple[str, str]:
        # The stock client sends the socket URL as streamingEndpoint: ws:// stays ws://.
        chat = StockChatSession(stack)
        assert chat.turn_options()["sessionState"]["sessionAttributes"][
            contract.SESSION_ATTR_ENDPOINT
        ].startswith("ws://")
        await chat.connect()
        final = await chat.ask("Does it stream?")
        streamed = await chat.wait_for_text(len("streamed as given"))
        await chat.close()
        return final, streamed

    final, streamed = asyncio.run(scenario())
    assert final == "streamed as given"
    assert streamed == "streamed as given"


async def exchange(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers) as response,
    ):
        await response.read()
        return response.status, dict(response.headers)


async def socket_status(url: str, origin: str) -> int:
    async with aiohttp.ClientSession() as session:
        try:
            socket = await session.ws_connect(url, headers={"Origin": origin})
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status
        await socket.close()
        return 101


def test_another_origin_is_refused_unless_allowed_and_then_gets_cors_answers(make_stack, tmp_path):
    build = str(make_build(tmp_path / "dist"))
    allowed = "http://127.0.0.1:5173"
    # One stack per process: the origin it was not given stands for a stack without the
    # flag (the refusal is the same).
    opened = make_stack(web_ui=build, auth_mode="none", allow_origins=(allowed,))
    lex_path = (
        "/.aws/runtime-v2-lex.us-east-1.amazonaws.com/bots/LEXSTREAM1/botAliases/TSTALIASID"
        "/botLocales/en_US/sessions/lex-web-ui-1a2b/text"
    )
    preflight = {
        "Origin": allowed,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-amz-date",
    }
    for path in (lex_path, "/.aws/cognito-identity.us-east-1.amazonaws.com/"):
        refused = {**preflight, "Origin": "http://127.0.0.1:5174"}
        status, _ = asyncio.run(exchange(opened.gateway.base_url + path, "OPTIONS", **refused))
        assert status == 403
        status, headers = asyncio.run(
            exchange(opened.gateway.base_url + path, "OPTIONS", **preflight)
        )
        assert status == 204
        assert headers["Access-Control-Allow-Origin"] == allowed
        assert headers["Access-Control-Allow-Methods"] == "POST"
        assert (
            headers["Access-Control-Allow-Headers"] == preflight["Access-Control-Request-Headers"]
        )
    status, headers = asyncio.run(
        exchange(opened.gateway.base_url + "/lex-web-ui-loader-config.json", Origin=allowed)
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == allowed
    # Exact origins only: another port, or the allowed one extended, stays refused.
    for other in ("http://127.0.0.1:5174", "http://127.0.0.1:51730", allowed + ".evil.example"):
        status, _ = asyncio.run(
            exchange(opened.gateway.base_url + "/lex-web-ui-loader-config.json", Origin=other)
        )
        assert status == 403, other
    # The gateway's socket likewise.
    url = f"{opened.websocket_url}?sessionId=lex-web-ui-1a2b"
    assert asyncio.run(socket_status(url, allowed)) == 101
    assert asyncio.run(socket_status(url, "http://127.0.0.1:5174")) == 403
    # Framing: the pages name who may frame them.
    status, headers = asyncio.run(
        exchange(opened.gateway.base_url + "/index.html", **{"X-Lexstream-Worker": "1"})
    )
    assert headers["Content-Security-Policy"] == f"frame-ancestors 'self' {allowed}"


def test_pages_are_served_unmodified_and_a_page_opened_without_the_worker_gets_the_start_page(
    make_stack, tmp_path
):
    stack = make_stack(web_ui=str(make_build(tmp_path / "dist")), auth_mode="none")
    base = stack.gateway.base_url
    status, _, body = asyncio.run(get(f"{base}/index.html", **{"X-Lexstream-Worker": "1"}))
    assert (status, body) == (200, INDEX)
    status, _, body = asyncio.run(get(f"{base}/lex-web-ui-loader.min.js"))
    assert (status, body) == (200, b"// loader\n")
    # A browser navigation that did not come through the worker: the start page.
    status, _, body = asyncio.run(get(f"{base}/index.html", **{"Sec-Fetch-Mode": "navigate"}))
    assert status == 200 and b"/.lexstream/start.js" in body
    status, headers, _ = asyncio.run(get(f"{base}/.lexstream/worker.js"))
    assert status == 200 and headers["Service-Worker-Allowed"] == "/"
    # Nothing outside the folder, and the socket path is still the gateway's.
    status, _, _ = asyncio.run(get(f"{base}/..%2F..%2Fetc%2Fpasswd"))
    assert status == 404
    assert (
        asyncio.run(socket_status(f"{stack.websocket_url}?sessionId=lex-web-ui-1a2b", base)) == 101
    )


def test_an_aws_host_the_stack_does_not_serve_is_answered_with_an_error_naming_it(
    make_stack, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="lexstream")
    stack = make_stack(web_ui=str(make_build(tmp_path / "dist")))
    status, _ = asyncio.run(
        exchange(f"{stack.gateway.base_url}/.aws/polly.us-east-1.amazonaws.com/v1/speech", "POST")
    )
    assert status == 501
    assert any("polly.us-east-1.amazonaws.com" in r.getMessage() for r in caplog.records)


def test_the_command_prints_the_pages_the_merge_the_allowed_origins_and_refused_sockets(
    tmp_path,
):
    user = {"lex": {"v2BotId": "MYBOT"}, "ui": {"toolbarTitle": "Acme"}}
    build = make_build(tmp_path / "dist", user)
    (build / "parent.html").write_text("<html></html>")
    allowed = "http://127.0.0.1:5173"
    running = RunningCli(["--web-ui", str(build), "--allow-origin", allowed], tmp_path)
    try:
        socket_line = next(line for line in running.lines if "WebSocket  ws://" in line)
        url = f"{socket_line.split()[-1]}?sessionId=lex-web-ui-1a2b"
        assert asyncio.run(socket_status(url, "http://127.0.0.1:5174")) == 403
        assert asyncio.run(socket_status(url, allowed)) == 101
        assert running.process.stdout is not None
        for line in running.process.stdout:
            running.lines.append(line.rstrip("\n"))
            if " disconnect " in line:
                break
    finally:
        # Its graceful stop is test_terminal's subject; this one ends its process group.
        os.killpg(running.process.pid, signal.SIGKILL)
        running.process.communicate()
    lines = [line.split("  ", 1)[-1] if line[:2].isdigit() else line for line in running.lines]
    base = running.base_url.removesuffix("/index.html")
    assert f"  Open  {base}/index.html" in lines
    assert f"  Also  {base}/parent.html" in lines
    assert f"allowed origin: {allowed}" in lines
    assert (
        "web UI: lex-web-ui-loader-config.json keys replaced with this stack's: lex.v2BotId"
        in lines
    )
    # A refused socket shows in the output with its reason; an accepted one, its close.
    refusals = [line for line in lines if "refused GET" in line]
    assert len(refusals) == 1
    assert "Origin 'http://127.0.0.1:5174' is not this stack's page" in refusals[0]
    assert any(line.startswith("disconnect ") for line in lines)


def test_a_page_opened_as_localhost_gets_a_config_for_localhost(make_stack, tmp_path):
    stack = make_stack(web_ui=str(make_build(tmp_path / "dist")), auth_mode="none")
    port = stack.gateway.port
    status, _, body = asyncio.run(get(f"http://localhost:{port}/lex-web-ui-loader-config.json"))
    config = json.loads(body)
    assert status == 200
    assert config["lex"]["streamingWebSocketEndpoint"] == f"ws://localhost:{port}/Prod"
    assert config["ui"]["parentOrigin"] == f"http://localhost:{port}"
    assert config["iframe"]["iframeOrigin"] == f"http://localhost:{port}"


def test_delete_session_forgets_the_sessions_attributes_as_lex_does(make_stack, tmp_path):
    stack = make_stack(web_ui=str(make_build(tmp_path / "dist")), auth_mode="none")
    lex = boto3.client(
        "lexv2-runtime",
        endpoint_url=f"{stack.gateway.base_url}/.aws/runtime-v2-lex.us-east-1.amazonaws.com",
        region_name="us-east-1",
    )
    ids = {
        "botId": stack.lex.bot_id,
        "botAliasId": stack.lex.bot_alias_id,
        "localeId": stack.lex.locale_id,
        "sessionId": "lex-web-ui-1a2b",
    }
    first = lex.recognize_text(
        **ids, text="Hello", sessionState={"sessionAttributes": {"team": "acme"}}
    )
    assert first["sessionState"]["sessionAttributes"]["team"] == "acme"
    remembered = lex.recognize_text(**ids, text="Again")
    assert remembered["sessionState"]["sessionAttributes"]["team"] == "acme"
    deleted = lex.delete_session(**ids)
    assert deleted["sessionId"] == "lex-web-ui-1a2b"
    forgotten = lex.recognize_text(**ids, text="And again")
    assert "team" not in forgotten["sessionState"]["sessionAttributes"]
    with pytest.raises(ClientError) as unknown:
        lex.delete_session(**{**ids, "sessionId": "lex-web-ui-ffff"})
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
