"""Real WebSocket clients that behave like the Lex Web UI's streaming side channel.

They connect with `?sessionId=`, send the `{"action": "ping"}` heartbeat on open, and
record every frame with the moment it arrived; that moment is when the user would see
the text. All clients share one event loop on a background thread, so hundreds of them
cost one thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterable
from urllib.parse import quote

import aiohttp
from lexstream_runtime import contract

from .timeline import Frame, visible


class Listener:
    """One open socket's received frames (appended from the client thread)."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.frames: list[Frame] = []
        self.closed = asyncio.Event()

    def visible_length(self) -> int:
        return sum(len(frame.text) for frame in visible(list(self.frames)))


class WebSocketClients:
    """A pool of Web UI-like clients for one gateway.

    websocket_url: the gateway's `ws://127.0.0.1:P/{stage}` URL (no query string).
    """

    def __init__(self, websocket_url: str) -> None:
        self.websocket_url = websocket_url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._session: aiohttp.ClientSession | None = None
        self._sockets: list[aiohttp.ClientWebSocketResponse] = []
        self._tasks: list[asyncio.Task[None]] = []

    def _run(self, coroutine, timeout: float = 120.0):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def connect(self, session_ids: Iterable[str]) -> dict[str, Listener]:
        """Open one socket per session id, all at once; raises if any connect fails."""
        return self._run(self._connect_all(list(session_ids)))

    async def _connect_all(self, session_ids: list[str]) -> dict[str, Listener]:
        if self._session is None:
            # The default pool caps at 100 connections; every client needs its own.
            connector = aiohttp.TCPConnector(limit=0)
            self._session = aiohttp.ClientSession(connector=connector)
        listeners = await asyncio.gather(*(self._connect_one(sid) for sid in session_ids))
        return {listener.session_id: listener for listener in listeners}

    async def _connect_one(self, session_id: str) -> Listener:
        assert self._session is not None
        url = f"{self.websocket_url}?{contract.CONNECT_QUERY_PARAMETER}={quote(session_id)}"
        socket = await self._session.ws_connect(url, autoping=True)
        self._sockets.append(socket)
        await socket.send_str(json.dumps({"action": contract.ROUTE_PING}))
        listener = Listener(session_id)
        self._tasks.append(asyncio.ensure_future(self._receive(socket, listener)))
        return listener

    async def _receive(self, socket: aiohttp.ClientWebSocketResponse, listener: Listener) -> None:
        async for message in socket:
            arrived = time.monotonic()
            if message.type == aiohttp.WSMsgType.TEXT:
                listener.frames.append(Frame(arrived, message.data))
            elif message.type == aiohttp.WSMsgType.BINARY:
                listener.frames.append(Frame(arrived, message.data.decode("utf-8")))
        listener.closed.set()

    def wait_for(self, listeners: Iterable[Listener], length: int, timeout: float) -> bool:
        """Wait until every listener shows at least `length` characters of visible text,
        or `timeout` seconds pass; returns whether all got there.
        """
        deadline = time.monotonic() + timeout
        pending = list(listeners)
        while pending and time.monotonic() < deadline:
            pending = [listener for listener in pending if listener.visible_length() < length]
            if pending:
                time.sleep(0.01)
        return not pending

    def close(self) -> None:
        """Close every socket and stop the client thread."""

        async def shutdown() -> None:
            for socket in self._sockets:
                await socket.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._session is not None:
                await self._session.close()

        try:
            self._run(shutdown(), timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def __enter__(self) -> WebSocketClients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
