"""What happens in the local stack, as events a reader subscribes to.

The gateway, the stack and the functions' output each emit events on one `Activity`
channel; `scripts/local` subscribes and prints them (see `local_stack/terminal.py`), a
test or a benchmark can subscribe too. Nothing here decides what a person sees.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

# RFC 6455's close codes, in the words a person reads.
_CLOSE_CODE_WORDS = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status code",
    1006: "abnormal closure, no close frame",
    1007: "invalid data",
    1008: "policy violation",
    1009: "message too big",
    1010: "missing extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
}


def close_code_words(code: int) -> str:
    """A WebSocket close code in words, e.g. 1001 → "going away"."""
    if code in _CLOSE_CODE_WORDS:
        return _CLOSE_CODE_WORDS[code]
    if 4000 <= code <= 4999:
        return "the application's own code"
    return "unknown code"


@dataclass(frozen=True)
class Connected:
    """A socket's handshake completed (after `$connect` accepted it)."""

    connection_id: str
    session_id: str


@dataclass(frozen=True)
class Posted:
    """The management API delivered one `post_to_connection` to a socket."""

    connection_id: str
    size: int


@dataclass(frozen=True)
class Disconnected:
    """A socket closed; `closed_by` is "client" or "gateway", `why` says why the
    gateway closed it (None when the client did)."""

    connection_id: str
    code: int
    closed_by: str
    why: str | None = None


@dataclass(frozen=True)
class TurnEnded:
    """One Lex turn finished: what the fulfillment streamed and how the stream ended.

    Counts come from the fulfillment helper's `stream_closed` line when it printed one,
    otherwise from what the gateway delivered to the session's sockets during the turn
    (then `retries` and `first_post_delay_ms` are None and `ended` says only whether
    anything streamed). `first_text_ms` runs from the turn's start to the gateway's first
    post; `first_post_delay_ms` is the helper's, from its first write to its first post.
    `ended` is one of the helper's turn outcomes (`contract.TURN_OUTCOMES`) when it
    reported one; `failed` is the fulfillment's error, if it raised.
    """

    session_id: str
    seconds: float
    characters: int
    posts: int
    bytes_posted: int
    retries: int | None
    first_text_ms: float | None
    first_post_delay_ms: float | None
    ended: str
    failed: str | None = None


@dataclass(frozen=True)
class FunctionPrinted:
    """A line a Lambda function printed (its log line, on Lambda sent to CloudWatch),
    with the request id of the invocation it printed during (None during its init)."""

    function: str
    line: str
    request_id: str | None = None


Event = Connected | Posted | Disconnected | TurnEnded | FunctionPrinted
Subscriber = Callable[[Event], None]


class Activity:
    """A channel of events: every subscriber gets every event, on the emitting thread."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber(event)` for every event from now on; returns an unsubscribe."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def emit(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber(event)
