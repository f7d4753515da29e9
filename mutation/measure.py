"""Which test executes which line: one pytest run under coverage, one context per test.

`python -m mutation.measure RCFILE DURATIONS_JSON -- PYTEST_ARGS...` runs pytest under
coverage.py with RCFILE. Each test's node id becomes the coverage context of every line
it runs, in this process and (through the environment, see `TEST_VARIABLE`) in Python
processes it starts. Each test's wall time goes to DURATIONS_JSON, so a mutant's tests
can run fastest first.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import coverage
import pytest

# The rc file names this variable as coverage's static context, so a Python process that
# a test starts records that test's node id too.
TEST_VARIABLE = "LEXSTREAM_MUTATION_TEST"


class PerTestContext:
    """A pytest plugin: switches coverage's context to each test's node id."""

    def __init__(self, cov: coverage.Coverage) -> None:
        self.cov = cov
        self.durations: dict[str, float] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):
        os.environ[TEST_VARIABLE] = item.nodeid
        self.cov.switch_context(item.nodeid)
        started = time.perf_counter()
        yield
        self.durations[item.nodeid] = time.perf_counter() - started
        self.cov.switch_context("")
        os.environ.pop(TEST_VARIABLE, None)


def main(argv: list[str]) -> int:
    rcfile, durations_path, separator, *pytest_args = argv
    if separator != "--":
        raise SystemExit("usage: python -m mutation.measure RCFILE DURATIONS_JSON -- PYTEST_ARGS")
    cov = coverage.Coverage(config_file=rcfile)
    plugin = PerTestContext(cov)
    cov.start()
    try:
        status = pytest.main(pytest_args, plugins=[plugin])
    finally:
        cov.stop()
        cov.save()
    Path(durations_path).write_text(json.dumps(plugin.durations, indent=1))
    return int(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
