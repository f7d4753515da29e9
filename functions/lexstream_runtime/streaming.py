"""Stream a Lex turn's text to the Lex Web UI while the fulfillment is still working.

    from lexstream_runtime import close_response, open_stream

    def handler(event, context):
        with open_stream(event) as stream:
            for piece in generate_answer(event["inputTranscript"]):
                stream.write(piece)           # never blocks on the network
        return close_response(event, stream.text)

`open_stream` turns streaming on only when the turn carries both session attributes the
Web UI sets (`streamingEndpoint`, `streamingDynamoDbTable`) and the connection table has
a row for the Lex session; it looks that row up once. Otherwise the turn is a quiet
no-op that still collects the text, so the same code serves non-streaming turns.

While streaming, a sender thread posts the text: the first text at once, the second as
soon as there is any, then whatever accumulated, at most every `flush_interval_s` (or
sooner when a frame's worth is waiting), so a 500-token answer becomes a few messages per
second instead of one billed message per token. The second frame goes early because the
stock Lex Web UI shows a frame only once the next one arrives (plus 500 ms): the first
words appear when the second frame lands. Order is kept (one sender, one post at a time)
and every frame stays below API Gateway's 32 KB frame limit, cut on UTF-8 character
boundaries.

Faults never fail the turn: GoneException (the browser left) stops posting and removes
the stale row if it still names this connection (a first post that gets it is tried once
more after a pause, because API Gateway also answers it while $connect is still running);
LimitExceededException (the client's buffer is full) is retried a bounded number of
times with exponential backoff, then posting stops; any other post error stops posting,
and so does any unexpected exception in the sender, with its own stop reason and log
line. Text keeps being collected in every case, so the final Lex response is always
complete.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import aws, contract, lex, metrics
from .callback_url import callback_url_problem, current_policy
from .logs import log_json
from .plain_text import MarkdownToPlainText

# Flushing every ~120 ms looks continuous to a reader and, at typical model speeds
# (30-100 tokens/s), cuts the number of billed messages by 5-10x.
DEFAULT_FLUSH_INTERVAL_S = 0.12
# Stay clearly below API Gateway's 32 KB frame limit.
DEFAULT_MAX_FRAME_BYTES = contract.MAX_FRAME_BYTES - 1024
DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_BACKOFF_S = 0.05
# API Gateway answers 410 to posts until $connect has returned, and $connect writes the row
# before it returns: a turn that finds a row that new must not take that 410 for a tab
# that left (and delete the fresh row). A first post that gets 410 is tried once more
# after this pause; a connection is established milliseconds after $connect returns.
DEFAULT_GONE_RECHECK_S = 0.25
# How long close() waits for the last posts by default; a Lex turn has ~30 s in all.
DEFAULT_CLOSE_TIMEOUT_S = 5.0
# A sender with nothing to post ends after this long (the next write starts another), so
# a turn that is never closed cannot leave a thread behind in a warm Lambda environment
# for every invocation until thread creation fails. Longer than Lex's ~30 s turn.
SENDER_IDLE_EXIT_S = 60.0

_GONE = "GoneException"
_THROTTLED = "LimitExceededException"


@dataclass(frozen=True)
class StreamTarget:
    """Where a turn streams to: the browser's connection, as the connection table maps it."""

    session_id: str
    connection_id: str
    endpoint_url: str
    table_name: str


@dataclass
class StreamStats:
    """Counters for one turn (read them after close(); benchmarks and logs use them)."""

    chunks: int = 0  # non-empty write() calls
    characters: int = 0  # characters written
    post_attempts: int = 0  # post_to_connection calls started, retries included
    messages_posted: int = 0  # successful post_to_connection calls
    bytes_posted: int = 0  # UTF-8 bytes delivered by those posts
    retries: int = 0  # posts retried after LimitExceededException
    failed_posts: int = 0  # posts given up on (streaming stopped after them)
    first_write_at: float | None = None  # time.monotonic() of the first write
    first_post_at: float | None = None  # time.monotonic() when the first post succeeded
    last_post_at: float | None = None  # time.monotonic() when the last post succeeded


def utf8_frames(text: str, max_bytes: int) -> Iterator[bytes]:
    """`text` as UTF-8 pieces of at most `max_bytes`, never cutting a character in two.

    Lone surrogates, which UTF-8 cannot carry, become "?".
    """
    if max_bytes < 4:
        raise ValueError(f"max_bytes must be >= 4 (one UTF-8 character), got {max_bytes!r}")
    data = text.encode("utf-8", "replace")
    start = 0
    while start < len(data):
        end = min(start + max_bytes, len(data))
        # Continuation bytes look like 0b10xxxxxx: back up to the start of the character.
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        yield data[start:end]
        start = end


class StreamingTurn:
    """One Lex turn's text: collected always, posted to the browser while `target` is set.

    Usually made by `open_stream(event)`. With `target=None` it only collects.

    Args:
        target: the connection to post to, or None for a non-streaming turn.
        management_client: boto3 `apigatewaymanagementapi` client for the target's
            endpoint. Default: a shared client for `target.endpoint_url`.
        dynamodb: boto3 DynamoDB client used to remove a stale row after GoneException.
            Default: a shared client.
        flush_interval_s: least time between the starts of two posts. Default 0.12.
        max_frame_bytes: largest frame posted, in UTF-8 bytes. Default 31 KB.
        max_retries: retries of one post after LimitExceededException. Default 3.
        retry_backoff_s: first retry delay, doubled for each further retry. Default 0.05.
        gone_recheck_s: pause before the one retry of a first post that got 410 (the
            connection may not be established yet); 0 gives up at once. Default 0.25.
        strip_markdown: post a plain-text rendering of the Markdown written
            (`plain_text.markdown_to_plain_text`) instead of the Markdown itself. The stock
            Lex Web UI shows streamed frames as escaped text, so Markdown would stream as
            raw `**` and `##`; its final message, which replaces them, renders Markdown.
            `text` stays the Markdown as written, and the frames of a turn that posted to
            the end add up to the rendering of `text`. Default False.
        reason: why streaming is off, for the log (set by open_stream). Default "".
        session_id: the Lex session, for the log lines of a turn that does not stream
            (one that does logs its target's). Default None.
        metrics_namespace: the CloudWatch namespace of the turn's metrics, which its
            `stream_closed` line carries (`metrics`). Default: LEXSTREAM_METRICS_NAMESPACE;
            none (no metrics) when that is unset too.
    """

    def __init__(
        self,
        target: StreamTarget | None = None,
        *,
        management_client: Any = None,
        dynamodb: Any = None,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_backoff_s: float = DEFAULT_RETRY_BACKOFF_S,
        gone_recheck_s: float = DEFAULT_GONE_RECHECK_S,
        strip_markdown: bool = False,
        reason: str = "",
        session_id: str | None = None,
        metrics_namespace: str | None = None,
    ) -> None:
        if flush_interval_s < 0:
            raise ValueError(f"flush_interval_s must be >= 0, got {flush_interval_s!r}")
        if not 4 <= max_frame_bytes < contract.MAX_FRAME_BYTES:
            raise ValueError(
                f"max_frame_bytes must be from 4 to {contract.MAX_FRAME_BYTES - 1}, "
                f"got {max_frame_bytes!r}"
            )
        if max_retries < 0 or retry_backoff_s < 0 or gone_recheck_s < 0:
            raise ValueError("max_retries, retry_backoff_s and gone_recheck_s must be >= 0")
        if target is not None:
            problem = callback_url_problem(target.endpoint_url)
            if problem:
                raise ValueError(f"target endpoint_url {target.endpoint_url!r} {problem}")
        self.target = target
        self.session_id = target.session_id if target is not None else session_id
        self.metrics_namespace = metrics_namespace
        self.flush_interval_s = flush_interval_s
        self.max_frame_bytes = max_frame_bytes
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.gone_recheck_s = gone_recheck_s
        self.stats = StreamStats()
        self.stop_reason: str | None = None if target is not None else (reason or "off")
        self._management = management_client
        self._dynamodb = dynamodb
        if target is not None and management_client is None:
            self._management = aws.management_client(target.endpoint_url)
        self._parts: list[str] = []
        self._renderer = MarkdownToPlainText() if strip_markdown else None
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._posting = target is not None
        self._closed = False
        self._changed = threading.Condition()
        self._abandoned = threading.Event()
        self._sender: threading.Thread | None = None

    # --- what producers use ---

    @property
    def streaming(self) -> bool:
        """Whether this turn was turned on for streaming when it opened."""
        return self.target is not None

    @property
    def posting(self) -> bool:
        """Whether text is still being posted (False after Gone, a failure, or when off)."""
        with self._changed:
            return self._posting

    @property
    def text(self) -> str:
        """Everything written so far, in order: the content of the final Lex message."""
        with self._changed:
            return "".join(self._parts)

    def write(self, text: str) -> None:
        """Add `text` to the answer and queue it for the browser; returns immediately.

        Text written after close() is collected but no longer posted.
        """
        if not isinstance(text, str):
            raise TypeError(f"write() takes str, got {type(text).__name__}")
        if not text:
            return
        with self._changed:
            self._parts.append(text)
            self.stats.chunks += 1
            self.stats.characters += len(text)
            if self.stats.first_write_at is None:
                self.stats.first_write_at = time.monotonic()
            if not self._posting or self._closed:
                return
            if self._renderer is not None:
                text = self._renderer.feed(text)
            self._queue(text)

    def _queue(self, text: str) -> None:
        """Queue `text` for posting and make sure a sender runs (called holding the lock)."""
        if text:
            self._pending.append(text)
            self._pending_bytes += len(text.encode("utf-8", "replace"))
            if self._sender is None:
                self._sender = threading.Thread(
                    target=self._send_loop, name="lexstream-sender", daemon=True
                )
                self._sender.start()
            self._changed.notify()

    def close(self, timeout_s: float | None = DEFAULT_CLOSE_TIMEOUT_S) -> None:
        """Post what is still queued, at once, and wait up to `timeout_s` for it (None: no
        limit). Posts still running after that are abandoned. Safe to call twice."""
        with self._changed:
            if self._closed:
                return
            if self._renderer is not None and self._posting:
                self._queue(self._renderer.finish())  # what waited for text that never came
            self._closed = True
            self._changed.notify()
            sender = self._sender
        if sender is not None:
            sender.join(timeout_s)
            if sender.is_alive():
                self._abandoned.set()
                self._stop("close_timeout")
        self._log("stream_closed")

    def __enter__(self) -> StreamingTurn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the sender thread ---

    def _send_loop(self) -> None:
        try:
            self._send_pending()
        except Exception as error:  # any failure at all must stop posting, visibly
            with self._changed:
                self._sender = None
                if self._posting:
                    self.stats.failed_posts += 1
            self._stop("sender_failed")
            log_json(
                "stream_sender_failed",
                sessionId=self.session_id,
                connectionId=self.target.connection_id if self.target else None,
                error=type(error).__name__,
                detail=str(error)[:200],
            )

    def _send_pending(self) -> None:
        next_post_at = 0.0  # the first text goes out at once
        posts = 0
        while True:
            with self._changed:
                while True:
                    if not self._posting:
                        return
                    if self._pending:
                        urgent = self._closed or self._pending_bytes >= self.max_frame_bytes
                        wait = next_post_at - time.monotonic()
                        if urgent or wait <= 0:
                            break
                        self._changed.wait(wait)
                    elif self._closed:
                        return
                    elif not self._changed.wait(SENDER_IDLE_EXIT_S) and not self._pending:
                        self._sender = None
                        return
                text = "".join(self._pending)
                self._pending.clear()
                self._pending_bytes = 0
            posts += 1
            # The second text goes out as soon as there is any (see the module docstring).
            next_post_at = 0.0 if posts == 1 else time.monotonic() + self.flush_interval_s
            for frame in utf8_frames(text, self.max_frame_bytes):
                if not self._post(frame):
                    break

    def _post(self, frame: bytes) -> bool:
        assert self.target is not None
        attempt = 0  # throttled retries so far
        rechecked = False
        while True:
            if self._abandoned.is_set():
                return False
            with self._changed:
                self.stats.post_attempts += 1
            try:
                self._management.post_to_connection(
                    ConnectionId=self.target.connection_id, Data=frame
                )
            except aws.AWS_ERRORS as error:
                code, status = aws.error_code(error), aws.http_status(error)
                gone = code == _GONE or status == 410
                if gone and not rechecked and self.gone_recheck_s and not self._delivered():
                    rechecked = True
                    if self._abandoned.wait(self.gone_recheck_s):
                        return False
                    continue
                if gone:
                    self._stop("gone")
                    self._forget_connection()
                    return False
                if (code == _THROTTLED or status == 429) and attempt < self.max_retries:
                    with self._changed:
                        self.stats.retries += 1
                    if self._abandoned.wait(self.retry_backoff_s * 2**attempt):
                        return False
                    attempt += 1
                    continue
                with self._changed:
                    self.stats.failed_posts += 1
                self._stop(code)
                return False
            now = time.monotonic()
            with self._changed:
                self.stats.messages_posted += 1
                self.stats.bytes_posted += len(frame)
                self.stats.last_post_at = now
                if self.stats.first_post_at is None:
                    self.stats.first_post_at = now
            return True

    def _delivered(self) -> bool:
        """Whether a post of this turn has reached the connection (so it was established)."""
        with self._changed:
            return self.stats.messages_posted > 0

    def _stop(self, reason: str) -> None:
        with self._changed:
            if not self._posting:
                return
            self._posting = False
            self.stop_reason = reason
            self._pending.clear()
            self._pending_bytes = 0
            self._changed.notify_all()

    def _forget_connection(self) -> None:
        """Delete the row of a connection that is gone, unless a newer tab already owns it."""
        assert self.target is not None
        dynamodb = self._dynamodb or aws.shared_dynamodb_client()
        outcome = "removed"
        try:
            dynamodb.delete_item(
                TableName=self.target.table_name,
                Key={contract.SESSION_ID: {"S": self.target.session_id}},
                ConditionExpression="#connection = :connection",
                ExpressionAttributeNames={"#connection": contract.CONNECTION_ID},
                ExpressionAttributeValues={":connection": {"S": self.target.connection_id}},
            )
        except aws.AWS_ERRORS as error:
            outcome = aws.error_code(error)  # ConditionalCheckFailedException: a newer tab
        log_json(
            "stale_connection",
            sessionId=self.target.session_id,
            connectionId=self.target.connection_id,
            outcome=outcome,
        )

    @property
    def outcome(self) -> str:
        """How the stream ended, or why there was none (one of contract.TURN_OUTCOMES)."""
        return metrics.turn_outcome(self.streaming, self.stop_reason)

    @property
    def first_post_delay_ms(self) -> float | None:
        """Milliseconds from the first write to the first delivered post, if there was one."""
        stats = self.stats
        if stats.first_write_at is None or stats.first_post_at is None:
            return None
        return round((stats.first_post_at - stats.first_write_at) * 1000, 1)

    def _log(self, event: str) -> None:
        stats = self.stats
        closing = event == "stream_closed"
        turn = (
            {"outcome": self.outcome, "firstPostDelayMs": self.first_post_delay_ms}
            if closing
            else {}
        )
        counts = {
            "messages": stats.messages_posted,
            "bytes": stats.bytes_posted,
            "retries": stats.retries,
            "failed": stats.failed_posts,
        }
        log_json(
            event,
            streaming=self.streaming,
            sessionId=self.session_id,
            connectionId=self.target.connection_id if self.target else None,
            stopReason=self.stop_reason,
            chunks=stats.chunks,
            characters=stats.characters,
            messagesPosted=stats.messages_posted,
            bytesPosted=stats.bytes_posted,
            retries=stats.retries,
            failedPosts=stats.failed_posts,
            **turn,
            # One turn, one set of values: only the closing line records metrics.
            **(
                metrics.fields(
                    metrics.turn_metrics(self.outcome, counts, self.first_post_delay_ms),
                    self.metrics_namespace,
                )
                if closing
                else {}
            ),
        )


def find_target(event: Mapping[str, Any], dynamodb: Any = None) -> tuple[StreamTarget | None, str]:
    """Where this turn streams to, and why not when it does not.

    Streaming needs both session attributes (as non-empty strings), an endpoint the
    function's callback policy allows (`callback_url.CallbackPolicy`), the event's
    `sessionId`, and a row for that session in the named table; one consistent GetItem.
    Returns (target, "") or (None, reason).
    """
    attributes = lex.attributes_of(event)
    endpoint = attributes.get(contract.SESSION_ATTR_ENDPOINT)
    table = attributes.get(contract.SESSION_ATTR_TABLE)
    if not (isinstance(endpoint, str) and endpoint and isinstance(table, str) and table):
        return None, "attributes_missing"
    endpoint, refusal = current_policy().resolve(endpoint)
    if refusal:
        return None, refusal
    session_id = event.get("sessionId") if isinstance(event, Mapping) else None
    if not isinstance(session_id, str) or not session_id:
        return None, "session_id_missing"
    client = dynamodb or aws.shared_dynamodb_client()
    try:
        item = client.get_item(
            TableName=table,
            Key={contract.SESSION_ID: {"S": session_id}},
            # A browser that connected a moment ago must be found.
            ConsistentRead=True,
            ProjectionExpression="#connection",
            ExpressionAttributeNames={"#connection": contract.CONNECTION_ID},
        ).get("Item")
    except aws.AWS_ERRORS as error:
        return None, f"lookup_failed:{aws.error_code(error)}"
    except ValueError:  # botocore's parameter validation: e.g. an invalid table name
        return None, "table_invalid"
    connection_id = (item or {}).get(contract.CONNECTION_ID, {}).get("S")
    if not connection_id:
        return None, "connection_not_found"
    return StreamTarget(session_id, connection_id, endpoint, table), ""


def open_stream(event: Mapping[str, Any], *, dynamodb: Any = None, **options: Any) -> StreamingTurn:
    """A StreamingTurn for this Lex V2 fulfillment event: streaming when it can, else
    collecting only. Never raises for missing attributes, rows or AWS errors.

    Args:
        event: the Lex V2 fulfillment event.
        dynamodb: boto3 DynamoDB client for the lookup. Default: a shared client (its
            endpoint follows AWS_ENDPOINT_URL_DYNAMODB when set).
        options: StreamingTurn's keyword arguments (flush_interval_s, max_frame_bytes,
            max_retries, retry_backoff_s, gone_recheck_s, strip_markdown,
            metrics_namespace, management_client).
    """
    if not isinstance(event, Mapping):
        raise TypeError(
            f"open_stream() takes the Lex V2 event (a dict), got {type(event).__name__}"
        )
    target, reason = find_target(event, dynamodb)
    management_client = options.pop("management_client", None)
    if target is not None and management_client is None:
        try:
            management_client = aws.management_client(target.endpoint_url)
        except ValueError:  # botocore rejects an endpoint URL it cannot use
            target, reason = None, "endpoint_invalid"
    session_id = event.get("sessionId")
    turn = StreamingTurn(
        target,
        management_client=management_client,
        dynamodb=dynamodb,
        reason=reason,
        session_id=session_id if isinstance(session_id, str) else None,
        **options,
    )
    turn._log("stream_opened")
    return turn
