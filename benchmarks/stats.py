"""Small, dependency-free statistics for benchmark samples."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def median(samples: Sequence[float]) -> float:
    """The median of `samples`; raises ValueError when there are none."""
    if not samples:
        raise ValueError("median of no samples; run at least one repetition")
    return statistics.median(samples)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least `fraction` of all
    samples at or below it (0 < fraction <= 1), so p99 of 100 samples is the 99th.
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    ordered = sorted(samples)
    rank = math.ceil(fraction * len(ordered))
    return ordered[rank - 1]


def billed_units(message_sizes: Sequence[int], unit_bytes: int) -> int:
    """API Gateway bills each WebSocket message in whole units of `unit_bytes` (32 KB);
    an empty message still counts as one.
    """
    return sum(max(1, math.ceil(size / unit_bytes)) for size in message_sizes)
