"""The lines `scripts/local` prints for what happens in the stack.

By default one line per connect, per turn and per disconnect, so a person can follow a
conversation; with `verbose`, also one per post and every line a function printed.
"""

from __future__ import annotations

import logging

from .activity import (
    Connected,
    Disconnected,
    Event,
    FunctionPrinted,
    Posted,
    TurnEnded,
    close_code_words,
)

log = logging.getLogger("lexstream.local")


def describe(event: Event, verbose: bool = False) -> str | None:
    """The terminal line for `event`, or None when it shows only with `verbose`."""
    if isinstance(event, Connected):
        return f"connect {event.connection_id} session={event.session_id}"
    if isinstance(event, TurnEnded):
        return _turn_line(event)
    if isinstance(event, Disconnected):
        words = f"{close_code_words(event.code)} ({event.code})"
        why = f", {event.why}" if event.why else ""
        return f"disconnect {event.connection_id} closed by the {event.closed_by}: {words}{why}"
    if not verbose:
        return None
    if isinstance(event, Posted):
        return f"post {event.connection_id} {event.size} bytes"
    if isinstance(event, FunctionPrinted):
        tag = f" {event.request_id}" if event.request_id else ""
        return f"{event.function}{tag}: {event.line}"
    return None


def _turn_line(turn: TurnEnded) -> str:
    parts = [
        f"{turn.posts} post{'' if turn.posts == 1 else 's'}",
        f"{turn.bytes_posted:,} bytes",
    ]
    if turn.retries is not None:
        parts.append(f"{turn.retries} retr{'y' if turn.retries == 1 else 'ies'}")
    if turn.first_text_ms is not None:
        parts.append(f"first text after {turn.first_text_ms:,.0f} ms")
    if turn.first_post_delay_ms is not None:
        parts.append(f"first post {turn.first_post_delay_ms:,.0f} ms after the first write")
    ended = turn.ended if turn.failed is None else f"failed ({turn.failed})"
    return (
        f"turn {turn.session_id}: {ended}; {', '.join(parts)}; "
        f"{turn.characters:,} characters in {turn.seconds:.1f} s"
    )


class Terminal:
    """An activity subscriber that logs each event's line (see `describe`)."""

    def __init__(self, verbose: bool = False, logger: logging.Logger = log) -> None:
        self.verbose = verbose
        self.logger = logger

    def __call__(self, event: Event) -> None:
        line = describe(event, self.verbose)
        if line is not None:
            self.logger.info("%s", line)
