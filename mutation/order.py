"""In which order a mutant's tests run: likely killers first.

Each mutant runs its tests until the first failure, so a mutant that will be killed
costs the tests before its killer. This module keeps which tests failed on earlier
mutants and reads the failing test from pytest's summary; it needs nothing of
cosmic-ray.
"""

from __future__ import annotations

import threading
from collections import defaultdict


class Killers:
    """Which tests have failed on this module's mutants so far, by the line mutated.

    A test that failed on one mutant of a line is likely to fail on the next one there,
    and one that failed on any of the module's mutants more likely than the rest: a
    mutant's tests run in that order (then fastest first), so a mutant that will be
    killed is usually killed by its first test. The set of tests is the same.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_line: dict[int, set[str]] = defaultdict(set)
        self._any: set[str] = set()

    def record(self, line: int, node_id: str) -> None:
        with self._lock:
            self._by_line[line].add(node_id)
            self._any.add(node_id)

    def order(self, tests: set[str], lines: range, durations: dict[str, float]) -> list[str]:
        with self._lock:
            here = set().union(*(self._by_line.get(n, set()) for n in lines))
            anywhere = set(self._any)
        return sorted(
            tests,
            key=lambda node_id: (
                0 if node_id in here else 1 if node_id in anywhere else 2,
                durations.get(node_id, 0.0),
                node_id,
            ),
        )


def failed_test(output: str, tests: list[str]) -> str | None:
    """The test pytest's summary names as failed (or erred) in `output`, if one of `tests`."""
    for line in output.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("FAILED", "ERROR"):
            named = [t for t in tests if rest == t or rest.startswith(f"{t} ")]
            if named:
                return max(named, key=len)
    return None
