"""A WebSocket client that can stop reading, to fill its buffer like a stalled browser.

API Gateway answers post_to_connection with LimitExceededException when the client's
buffer is full; the local gateway does the same. Browsers never pause reading on
purpose, so this client speaks the protocol over a plain socket and reads only when
asked to.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import struct
import threading


class RawWebSocket:
    """Handshakes at `url` (ws://127.0.0.1:PORT/stage?query) and then reads nothing until
    `start_reading()`; after that, every text message lands in `messages`."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.messages: list[str] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A small receive window, so little data fills the client side.
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._socket.settimeout(30)
        self._socket.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self._socket.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self._socket.recv(1)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(f"handshake refused: {status.decode(errors='replace')}")
        self._reader: threading.Thread | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    def start_reading(self) -> None:
        """Drain the socket from now on, on a background thread."""
        self._reader = threading.Thread(target=self._read_frames, daemon=True)
        self._reader.start()

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(self.messages)

    def _read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._socket.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def _read_frames(self) -> None:
        # Server frames are unmasked; the gateway sends each post as one text frame.
        try:
            while not self._stopped.is_set():
                first, second = self._read_exactly(2)
                opcode, length = first & 0x0F, second & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", self._read_exactly(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", self._read_exactly(8))
                payload = self._read_exactly(length)
                if opcode == 0x1:
                    with self._lock:
                        self.messages.append(payload.decode("utf-8"))
                elif opcode == 0x8:
                    return
        except (ConnectionError, OSError):
            return

    def close(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        if self._reader is not None:
            self._reader.join(10)
