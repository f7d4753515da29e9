"""The stack's account of each Lex turn: what the fulfillment streamed and how it ended.

The fulfillment helper logs one `stream_closed` line per turn with its counts; when a
fulfillment does not use the helper, the gateway's tally of the session's posts stands
in. Either way one `TurnEnded` goes to the activity channel.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from lexstream_runtime.logs import identity_tag

from .activity import Activity, FunctionPrinted, TurnEnded
from .gateway import LocalGateway
from .lambda_runtime import FunctionError


class TurnReports:
    """Turns the functions' log lines and the gateway's tallies into turn reports."""

    def __init__(self, activity: Activity) -> None:
        self.activity = activity
        # The fulfillment helper's last `stream_closed` line per session id.
        self._stream_reports: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def function_output(self, name: str) -> Callable[[str, str | None], None]:
        """Where function `name`'s log lines go: the activity channel, and the helper's
        `stream_closed` line also to the turn it reports on."""

        def printed(line: str, request_id: str | None) -> None:
            if name == "fulfillment" and '"stream_closed"' in line:
                try:
                    fields = json.loads(line)
                except ValueError:
                    fields = None
                if isinstance(fields, dict) and fields.get("event") == "stream_closed":
                    with self._lock:
                        self._stream_reports[str(fields.get("sessionId"))] = fields
            self.activity.emit(FunctionPrinted(name, line, request_id))

        return printed

    def fulfill(self, invoke: Callable[[Any], Any], gateway: LocalGateway, event: Any) -> Any:
        """Invoke the fulfillment for one Lex turn and report the turn: from the helper's
        `stream_closed` line when it printed one, else from what the gateway delivered to
        the session's sockets meanwhile."""
        session_id = str(event.get("sessionId", "")) if isinstance(event, dict) else ""
        started = time.monotonic()
        response: Any = None
        failed: str | None = None
        with gateway.tally_posts(session_id) as tally:
            try:
                response = invoke(event)
            except FunctionError as error:
                failed = error.describe()
                raise
            except Exception as error:
                failed = f"{type(error).__name__}: {error}"
                raise
            finally:
                with self._lock:
                    # The helper logs a Cognito identity id as its tag.
                    report = self._stream_reports.pop(session_id, None)
                    tagged = self._stream_reports.pop(identity_tag(session_id), None)
                    report = report or tagged
                self.activity.emit(
                    _turn_ended(session_id, started, response, report, tally, failed)
                )
        return response


def _turn_ended(
    session_id: str,
    started: float,
    response: Any,
    report: Mapping[str, Any] | None,
    tally: Any,
    failed: str | None,
) -> TurnEnded:
    messages = response.get("messages") if isinstance(response, dict) else None
    characters = sum(len(str(m.get("content", ""))) for m in messages or [] if isinstance(m, dict))
    seconds = time.monotonic() - started
    # Time to the first text on screen: from the turn's start to the gateway's first post.
    first_text_ms = None if tally.first_post_at is None else (tally.first_post_at - started) * 1000
    if report is None:
        # A fulfillment that does not use the helper: what the gateway saw.
        return TurnEnded(
            session_id,
            seconds,
            characters,
            tally.posts,
            tally.bytes_posted,
            None,
            first_text_ms,
            None,
            "streamed" if tally.posts else "not streamed",
            failed,
        )
    ended = report.get("outcome")
    if not ended:
        stop = report.get("stopReason")
        ended = (stop or "complete") if report.get("streaming") else f"off_{stop or 'unknown'}"
    return TurnEnded(
        session_id,
        seconds,
        characters,
        int(report.get("messagesPosted") or 0),
        int(report.get("bytesPosted") or 0),
        int(report.get("retries") or 0),
        first_text_ms,
        report.get("firstPostDelayMs"),
        str(ended),
        failed,
    )
