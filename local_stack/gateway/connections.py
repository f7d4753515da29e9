"""The gateway's open sockets, its running totals and the per-turn post tallies.

Shared by the socket side (`sockets.py`), which adds and removes connections, and the
management API (`management.py`), which posts to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from lexstream_runtime import contract

from .. import events
from ..activity import Activity, Posted

GOING_AWAY_REASON = "Going away"
# What API Gateway reports when the management API deletes a connection.
DELETED_REASON = "Connection Closed Normally"


@dataclass
class GatewayCounters:
    """Running totals, readable from any thread (for benchmarks and tests)."""

    connects_accepted: int = 0
    connects_rejected: int = 0
    throttled: int = 0
    messages_received: int = 0
    disconnects: int = 0
    messages_posted: int = 0
    bytes_posted: int = 0
    # API Gateway bills WebSocket messages in 32 KB increments.
    billed_messages: int = 0
    post_errors: dict[str, int] = field(default_factory=dict)
    # Requests refused because their Host or Origin is not this gateway's own.
    foreign_refused: int = 0


@dataclass
class Connection:
    """One socket, from its accepted `$connect` until it closes."""

    info: events.ConnectionInfo
    session_id: str  # the connect URL's sessionId, "-" without one
    ws: web.WebSocketResponse
    transport: Any
    last_active: float  # loop time
    last_active_wall: float  # epoch seconds
    # Set when the gateway, not the client, closes: the code, the reason sent in the close
    # frame, and why (in words, for the terminal).
    close_code: int | None = None
    close_reason: str | None = None
    closed_because: str | None = None
    # Set once the handshake is complete. The connection is registered before that, so a
    # post racing the handshake (right after $connect wrote the row) waits instead of
    # getting a spurious 410 that would make the fulfillment delete a fresh row.
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def touch(self) -> None:
        """A message went one way or the other: the idle timeout starts again."""
        self.last_active = asyncio.get_running_loop().time()
        self.last_active_wall = time.time()

    async def close(self, code: int, reason: str, because: str) -> None:
        self.close_code = code
        self.close_reason = reason
        self.closed_because = because
        await self.ws.close(code=code, message=reason.encode())


@dataclass
class PostTally:
    """What the gateway delivered to one session's sockets while the tally was open."""

    posts: int = 0
    bytes_posted: int = 0
    first_post_at: float | None = None  # time.monotonic()


class Connections:
    """The open sockets by connection id, the totals, and who is told about posts."""

    def __init__(self, activity: Activity) -> None:
        self.open: dict[str, Connection] = {}
        self.counters = GatewayCounters()
        self.activity = activity
        self._tallies: dict[str, list[PostTally]] = {}
        self._tallies_lock = threading.Lock()

    def ready_ids(self) -> list[str]:
        """Ids of the sockets whose handshake is complete."""
        return [cid for cid, connection in self.open.items() if connection.ready.is_set()]

    def delivered(self, connection: Connection, size: int) -> None:
        """Count one post delivered to `connection`."""
        connection.touch()
        self.counters.messages_posted += 1
        self.counters.bytes_posted += size
        self.counters.billed_messages += max(1, -(-size // contract.BILLING_UNIT_BYTES))
        with self._tallies_lock:
            tallies = list(self._tallies.get(connection.session_id, ()))
        now = time.monotonic()
        for tally in tallies:
            tally.posts += 1
            tally.bytes_posted += size
            if tally.first_post_at is None:
                tally.first_post_at = now
        self.activity.emit(Posted(connection.info.connection_id, size))

    def post_error(self, error_type: str) -> None:
        self.counters.post_errors[error_type] = self.counters.post_errors.get(error_type, 0) + 1

    @contextlib.contextmanager
    def tally_posts(self, session_id: str) -> Iterator[PostTally]:
        """Count what is delivered to `session_id`'s sockets inside the block (thread-safe)."""
        tally = PostTally()
        with self._tallies_lock:
            self._tallies.setdefault(session_id, []).append(tally)
        try:
            yield tally
        finally:
            with self._tallies_lock:
                tallies = self._tallies[session_id]
                tallies.remove(tally)
                if not tallies:
                    del self._tallies[session_id]


def json_error(status: int, message: str) -> web.Response:
    """An error answer in API Gateway's shape."""
    return web.json_response({"message": message}, status=status)
