"""Which test executes which line: one pytest run under coverage, one context per test.

`python -m mutation.measure RCFILE DURATIONS_JSON -- PYTEST_ARGS...` runs pytest under
coverage.py with RCFILE. Each test's node id becomes the coverage context of every line
it runs, in this process and (through the environment, see `TEST_VARIABLE`) in Python
processes it starts. The local stack's function processes, which get an environment of
their own, are measured through its coverage start-up
(`local_stack.lambda_runtime.coverage_start`): they take each invocation's context from
a file this process rewrites as each test starts. Each test's wall time goes to
DURATIONS_JSON, so a mutant's tests can run fastest first.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import coverage
import pytest

from local_stack.lambda_runtime import sandbox

# The rc file names this variable as coverage's static context, so a Python process that
# a test starts records that test's node id too.
TEST_VARIABLE = "LEXSTREAM_MUTATION_TEST"


class PerTestContext:
    """A pytest plugin: switches coverage's context to each test's node id."""

    def __init__(self, cov: coverage.Coverage, context_file: Path) -> None:
        self.cov = cov
        self.context_file = context_file
        self.durations: dict[str, float] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):
        self._switch(item.nodeid)
        started = time.perf_counter()
        yield
        self.durations[item.nodeid] = time.perf_counter() - started
        self._switch("")

    def _switch(self, node_id: str) -> None:
        if node_id:
            os.environ[TEST_VARIABLE] = node_id
        else:
            os.environ.pop(TEST_VARIABLE, None)
        self.cov.switch_context(node_id)
        # Function processes read it as each invocation arrives; written whole, then moved.
        partial = self.context_file.with_suffix(".partial")
        partial.write_text(node_id)
        partial.replace(self.context_file)


def main(argv: list[str]) -> int:
    rcfile, durations_path, separator, *pytest_args = argv
    if separator != "--":
        raise SystemExit("usage: python -m mutation.measure RCFILE DURATIONS_JSON -- PYTEST_ARGS")
    cov = coverage.Coverage(config_file=rcfile)
    context_file = Path(durations_path).with_name("context")
    context_file.write_text("")
    # Function processes started by the local stack run under coverage too.
    os.environ[sandbox.COVERAGE_CONFIG] = str(Path(rcfile).resolve())
    os.environ[sandbox.COVERAGE_CONTEXT] = str(context_file.resolve())
    plugin = PerTestContext(cov, context_file)
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
