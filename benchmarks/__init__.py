"""Benchmarks: streaming latency and cost against the reference approach, concurrency,
cold start and program evaluation. Run them with `scripts/bench` (or
`python -m benchmarks`); every comparison is measured side by side within one run,
because shared machines are noisy.
"""
