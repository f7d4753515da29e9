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
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import aiohttp
import boto3
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local_stack.identity import LocalCredentials


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
