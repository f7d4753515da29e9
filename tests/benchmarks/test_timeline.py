"""The relay metrics, on constructed timelines whose right answers are known."""

from __future__ import annotations

import pytest

from benchmarks.stats import billed_units, percentile
from benchmarks.timeline import (
    STOP_FRAME,
    Frame,
    ModelOutput,
    chunk_delivery_delays,
    judge_turn,
    largest_gap_while_producing,
    lost_and_misordered,
    numbered_tokens,
)


def model_of(count: int, start: float = 10.0, interval: float = 0.02) -> ModelOutput:
    return ModelOutput(numbered_tokens(count), [start + i * interval for i in range(count)])


def test_numbered_tokens_join_into_words_that_name_their_position() -> None:
    assert "".join(numbered_tokens(4)) == "w0 w1 w2 w3"


def test_a_silence_that_outlasts_production_counts_in_full() -> None:
    model = model_of(11)  # produces from 10.0 to 10.2
    frames = [Frame(10.01, "w0"), Frame(10.05, " w1 w2"), Frame(10.5, " w3 w4 w5 w6 w7 w8 w9 w10")]
    assert largest_gap_while_producing(model, frames) == pytest.approx(0.45)


def test_silence_after_production_ended_does_not_count() -> None:
    model = model_of(3)  # produces from 10.0 to 10.04
    frames = [Frame(10.01, "w0"), Frame(10.03, " w1"), Frame(10.05, " w2"), Frame(12.0, STOP_FRAME)]
    assert largest_gap_while_producing(model, frames) == pytest.approx(0.02)


def test_no_text_at_all_is_one_gap_as_long_as_production() -> None:
    model = model_of(6)
    assert largest_gap_while_producing(model, []) == pytest.approx(0.1)


def test_the_wait_for_the_first_text_is_a_gap() -> None:
    model = model_of(6)
    frames = [Frame(10.3, "".join(model.tokens))]
    assert largest_gap_while_producing(model, frames) == pytest.approx(0.3)


def test_delivery_delay_follows_the_frame_that_completes_each_chunk() -> None:
    model = model_of(3)  # "w0 w1 w2", generated at 10.00, 10.02, 10.04
    frames = [Frame(10.05, "w0 w"), Frame(10.10, "1 w2")]
    delays = chunk_delivery_delays(model, frames)
    assert delays == pytest.approx([0.05, 0.08, 0.06])


def test_undelivered_chunks_have_no_delay() -> None:
    model = model_of(3)
    assert len(chunk_delivery_delays(model, [Frame(10.05, "w0 w1")])) == 2


def test_lost_and_misordered_chunks_are_counted_apart() -> None:
    assert lost_and_misordered(5, "w0 w1 w2 w3 w4") == (0, 0)
    assert lost_and_misordered(5, "w0 w1 w3 w4") == (1, 0)
    assert lost_and_misordered(5, "w0 w2 w1 w3 w4") == (0, 1)
    assert lost_and_misordered(5, "w0 w1 w1 w2 w3 w4") == (0, 1)


def test_judge_turn_reports_loss_and_ignores_the_stop_frame() -> None:
    model = model_of(4)
    whole = judge_turn(model, [Frame(10.1, "w0 w1 w2 w3"), Frame(10.2, STOP_FRAME)], 9.9)
    assert whole["delivered_equals_generated"] is True
    assert whole["frames"] == 1
    assert whole["completion_over_model"] == pytest.approx(0.2 / 0.16)
    partial = judge_turn(model, [Frame(10.1, "w0 w1 w3")], 9.9)
    assert partial["delivered_equals_generated"] is False
    assert (partial["lost_chunks"], partial["misordered_chunks"]) == (1, 0)


def test_a_model_without_times_for_every_token_is_refused() -> None:
    with pytest.raises(ValueError, match="one time per token"):
        ModelOutput(["a", "b"], [1.0])


def test_percentile_is_nearest_rank() -> None:
    samples = list(range(1, 101))
    assert percentile(samples, 0.5) == 50
    assert percentile(samples, 0.99) == 99
    assert percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError, match="fraction"):
        percentile(samples, 1.5)


def test_billing_counts_whole_32_kb_units_and_empty_messages() -> None:
    unit = 32 * 1024
    assert billed_units([0, 1, unit, unit + 1, 3 * unit], unit) == 1 + 1 + 1 + 2 + 3
