"""Peak memory is the measured interpreter's own, not inherited from the benchmark."""

from __future__ import annotations

from pathlib import Path

from benchmarks.program_eval import measure_process


def test_peak_memory_counts_what_the_child_allocates_and_not_its_parent(tmp_path: Path) -> None:
    parent_ballast = b"p" * (200 * 1024 * 1024)  # a big benchmark process
    _, empty_mb = measure_process("pass\n", "", tmp_path)
    _, allocating_mb = measure_process("data = b'x' * (64 * 1024 * 1024)\n", "", tmp_path)
    assert len(parent_ballast) and empty_mb < 150
    assert allocating_mb - empty_mb >= 60
