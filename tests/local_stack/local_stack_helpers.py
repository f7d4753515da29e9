"""Client-side helpers for the local stack tests: a raw WebSocket and presigned URLs.

aiohttp's client always sends a message as one frame; the raw client here sends
fragmented messages, which is how a message larger than API Gateway's 32 KB frame limit
must travel.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import os
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import aiohttp
import boto3
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local_stack.bedrock import ModelRequest, default_answer
from local_stack.identity import LocalCredentials
from tests.stock_web_ui import stock_connect_url, stock_session_attributes, stock_session_id

ROOT = Path(__file__).resolve().parents[2]


def cli_environment(home: Path) -> dict[str, str]:
    """The environment `python -m local_stack` runs with in tests: this project importable,
    `home` as HOME, and no AWS credentials, config or instance metadata."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and not name.startswith("LEXSTREAM_")
    }
    environment.update(
        PYTHONPATH=str(ROOT),
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        # Never ask the instance metadata service: only loopback traffic here.
        AWS_EC2_METADATA_DISABLED="true",
    )
    return environment


class RawWebSocket:
    """A minimal RFC 6455 client over a plain TCP stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, url: str) -> RawWebSocket:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        status_line = await reader.readline()
        if b" 101 " not in status_line:
            raise ConnectionError(f"handshake refused: {status_line!r}")
        while await reader.readline() not in (b"\r\n", b""):
            pass
        return cls(reader, writer)

    async def send_frame(self, opcode: int, payload: bytes, fin: bool) -> None:
        header = bytes([(0x80 if fin else 0) | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def send_fragmented(self, text: str, frame_bytes: int) -> None:
        """Send one text message split into frames of at most `frame_bytes`."""
        data = text.encode()
        chunks = [data[i : i + frame_bytes] for i in range(0, len(data), frame_bytes)]
        for index, chunk in enumerate(chunks):
            opcode = 0x1 if index == 0 else 0x0
            await self.send_frame(opcode, chunk, fin=index == len(chunks) - 1)

    async def read_frame(self) -> tuple[int, bytes]:
        """The next frame from the server as (opcode, payload); servers do not mask."""
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(length)

    async def read_close_code(self) -> int:
        """Skip data frames until the server's close frame; return its status code."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0]

    def close(self) -> None:
        self.writer.close()


def presign(
    url: str,
    credentials: LocalCredentials,
    region: str = "us-east-1",
    expires: int = 3600,
    signed_at: datetime.datetime | None = None,
    secret_override: str | None = None,
) -> str:
    """A connect URL presigned by botocore's own SigV4QueryAuth (service execute-api).

    `signed_at` back- or forward-dates the signature; `secret_override` signs with a
    secret the gateway never issued (a forgery).
    """
    botocore_credentials = Credentials(
        credentials.access_key_id,
        secret_override or credentials.secret_access_key,
        credentials.session_token,
    )
    signer = botocore.auth.SigV4QueryAuth(
        botocore_credentials, "execute-api", region, expires=expires
    )
    # Sign the http(s) form of the ws(s) URL, as the Lex Web UI's presigner does.
    request = AWSRequest(method="GET", url=url.replace("ws://", "http://", 1))
    if signed_at is None:
        signer.add_auth(request)
    else:
        # botocore reads the signing time from this one function.
        with mock.patch.object(botocore.auth, "get_current_datetime", lambda: signed_at):
            signer.add_auth(request)
    return request.url.replace("http://", "ws://", 1)


@contextlib.asynccontextmanager
async def open_socket(url: str, **options: Any) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """An aiohttp client WebSocket (and its session) that are both closed afterwards."""
    async with aiohttp.ClientSession() as session, session.ws_connect(url, **options) as ws:
        yield ws


def management_client(gateway: Any) -> Any:
    """An unmodified boto3 management API client pointed at a gateway's callback URL."""
    return boto3.client(
        "apigatewaymanagementapi", endpoint_url=gateway.callback_url, region_name="us-east-1"
    )


class ChatSession:
    """One browser-like session against a LocalStack: an identity, a socket, Lex turns.

    Frames are collected as they arrive, like the Lex Web UI appends them; turns go
    through boto3's unmodified `lexv2-runtime` client, as a Web UI's RecognizeText would.
    """

    def __init__(
        self, stack: Any, identity: LocalCredentials | None = None, session_id: str | None = None
    ) -> None:
        self.stack = stack
        self.credentials = identity or stack.gateway.identity_pool.issue()
        # The Web UI's session id is its Cognito identity id unless told otherwise.
        self.session_id = session_id or self.credentials.identity_id
        self.frames: list[str] = []
        self.socket: aiohttp.ClientWebSocketResponse | None = None
        self._session: aiohttp.ClientSession | None = None
        self._reader: asyncio.Task[None] | None = None
        self.lex = boto3.client(
            "lexv2-runtime", endpoint_url=stack.gateway.base_url, region_name="us-east-1"
        )

    def connect_url(self, session_id: str | None = None, signed: bool = True) -> str:
        url = f"{self.stack.websocket_url}?sessionId={session_id or self.session_id}"
        if signed and self.stack.settings.auth_mode == "iam":
            return presign(url, self.credentials)
        return url

    async def connect(self, url: str | None = None) -> None:
        self._session = aiohttp.ClientSession()
        self.socket = await self._session.ws_connect(url or self.connect_url())
        await self.socket.send_str('{"action":"ping"}')
        self._reader = asyncio.create_task(self._read(self.socket))

    async def _read(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        async for message in socket:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(message.data)

    @property
    def text(self) -> str:
        return "".join(self.frames)

    def turn_options(self) -> dict[str, Any]:
        """More RecognizeText parameters for each turn (none: the runtime sets the
        streaming attributes, as a Web UI deployment's config would)."""
        return {}

    async def ask(self, question: str, executor: Any = None) -> str:
        """One RecognizeText turn; returns the final message's text."""
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(
            executor,
            lambda: self.lex.recognize_text(
                botId=self.stack.lex.bot_id,
                botAliasId=self.stack.lex.bot_alias_id,
                localeId=self.stack.lex.locale_id,
                sessionId=self.session_id,
                text=question,
                **self.turn_options(),
            ),
        )
        return "\n\n".join(message["content"] for message in response.get("messages", []))

    async def wait_for_text(self, length: int, timeout: float = 10.0) -> str:
        """Wait until at least `length` characters have streamed (frames and the Lex
        response travel on different sockets, so the last frame may trail the answer)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.text) < length and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return self.text

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self._reader is not None:
            await self._reader
        if self._session is not None:
            await self._session.close()


def generated(question: str) -> str:
    """What the built-in model generates for `question`."""
    return default_answer(ModelRequest("model", "converse-stream", question, "", None, body={}))


class StockChatSession(ChatSession):
    """A ChatSession that sends what the stock Lex Web UI 0.24.1 sends (tests/stock_web_ui):
    a `lex-web-ui-` + 4 hex session id, a connect presigned for the host name without the
    port, and both streaming attributes on every typed turn."""

    def __init__(
        self, stack: Any, identity: LocalCredentials | None = None, session_id: str | None = None
    ) -> None:
        super().__init__(stack, identity, session_id or stock_session_id())

    def connect_url(self, session_id: str | None = None, signed: bool = True) -> str:
        iam = signed and self.stack.settings.auth_mode == "iam"
        return stock_connect_url(
            self.stack.websocket_url,
            session_id or self.session_id,
            self.credentials if iam else None,
            self.stack.settings.region,
        )

    def turn_options(self) -> dict[str, Any]:
        attributes = stock_session_attributes(
            self.stack.websocket_url, self.stack.settings.connection_table
        )
        return {"sessionState": {"sessionAttributes": attributes}}
