"""What a user sees: a streamed turn's frames, judged against what the model generated.

All times are `time.monotonic()` seconds in one process. Pure functions of their inputs,
so the metrics themselves are tested on constructed timelines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

# The Lex Web UI ignores this frame; it is not visible text.
STOP_FRAME = "/stop/"


@dataclass(frozen=True)
class Frame:
    """One WebSocket frame as the client received it."""

    at: float
    text: str


@dataclass(frozen=True)
class ModelOutput:
    """The model's chunks and when each was generated."""

    tokens: Sequence[str]
    generated_at: Sequence[float]

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.generated_at) or not self.tokens:
            raise ValueError(
                f"need one time per token and at least one token; got {len(self.tokens)} "
                f"tokens and {len(self.generated_at)} times"
            )

    @property
    def text(self) -> str:
        return "".join(self.tokens)


def numbered_tokens(count: int) -> list[str]:
    """`count` word-sized tokens, each naming its position, so that a lost or reordered
    chunk can be told apart from a changed one: ['w0', ' w1', ' w2', ...].
    """
    if count < 1:
        raise ValueError(f"token count must be at least 1, got {count}")
    return ["w0", *(f" w{index}" for index in range(1, count))]


def visible(frames: Sequence[Frame]) -> list[Frame]:
    """The frames the Web UI appends to the chat: non-empty and not the stop marker."""
    return [frame for frame in frames if frame.text and frame.text != STOP_FRAME]


def largest_gap_while_producing(model: ModelOutput, frames: Sequence[Frame]) -> float:
    """The longest silence, in seconds, that began while the model was producing.

    It starts at the model's first chunk (the user waits for the first text too), and a
    silence that began before the model's last chunk counts in full even if it lasts
    beyond it, because the user was left waiting during production.
    """
    start, end = model.generated_at[0], model.generated_at[-1]
    updates = sorted(frame.at for frame in visible(frames) if frame.at > start)
    points = [start, *updates]
    gaps = [later - earlier for earlier, later in pairwise(points) if earlier < end]
    if not updates or updates[-1] < end:
        # Nothing arrived after the last silence began; it lasted at least until the end.
        gaps.append(end - points[-1])
    return max(gaps, default=0.0)


def chunk_delivery_delays(model: ModelOutput, frames: Sequence[Frame]) -> list[float]:
    """For each delivered chunk, the time from its generation until the client had all of
    it. Frames may coalesce chunks or split them; only text that arrived counts, so the
    list is shorter than the chunks when text was lost.
    """
    delays = []
    received = 0
    arrivals = iter(visible(frames))
    frame: Frame | None = None
    chunk_end = 0
    for token, generated_at in zip(model.tokens, model.generated_at, strict=True):
        chunk_end += len(token)
        while received < chunk_end:
            frame = next(arrivals, None)
            if frame is None:
                return delays
            received += len(frame.text)
        assert frame is not None
        delays.append(frame.at - generated_at)
    return delays


_MARKER = re.compile(r"w(\d+)")


def lost_and_misordered(expected_count: int, delivered_text: str) -> tuple[int, int]:
    """Count, for text made of `numbered_tokens(expected_count)`, the chunks that never
    arrived and the chunks that arrived after a later one (duplicates count as
    misordered: the user would see them out of place).
    """
    seen = [int(marker) for marker in _MARKER.findall(delivered_text)]
    lost = len(set(range(expected_count)) - set(seen))
    misordered = sum(1 for earlier, later in pairwise(seen) if later <= earlier)
    return lost, misordered


def judge_turn(
    model: ModelOutput, frames: Sequence[Frame], turn_started_at: float
) -> dict[str, float | int | bool]:
    """The per-turn numbers the relay benchmark reports (times in milliseconds)."""
    shown = visible(frames)
    delivered = "".join(frame.text for frame in shown)
    lost, misordered = lost_and_misordered(len(model.tokens), delivered)
    model_s = model.generated_at[-1] - turn_started_at
    result: dict[str, float | int | bool] = {
        "model_ms": model_s * 1000,
        "frames": len(shown),
        "delivered_equals_generated": delivered == model.text,
        "lost_chunks": lost,
        "misordered_chunks": misordered,
    }
    if shown:
        completion_s = shown[-1].at - turn_started_at
        result.update(
            first_text_after_model_ms=(shown[0].at - model.generated_at[0]) * 1000,
            completion_ms=completion_s * 1000,
            completion_over_model=completion_s / model_s if model_s > 0 else float("inf"),
            largest_gap_ms=largest_gap_while_producing(model, frames) * 1000,
        )
    return result
