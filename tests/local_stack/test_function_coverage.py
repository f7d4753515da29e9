"""A local stack run under coverage.py (COVERAGE_PROCESS_START set) measures its Python
functions' processes too, each invocation under the context its file names then, and
the function sees the environment it sees unmeasured."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import coverage
import pytest

from local_stack.lambda_runtime import LambdaFunction, sandbox

HANDLER = textwrap.dedent(
    """
    import os
    import sys


    def handler(event, context):
        if event["branch"] == "a":
            taken = "a"
        else:
            taken = "b"
        return {
            "taken": taken,
            "pid": os.getpid(),
            "environment": dict(os.environ),
            "path": [p for p in sys.path if p not in ("", os.getcwd())],
        }
    """
)
# Lines of HANDLER (as written to the file: dedent keeps the leading newline).
DEF_LINE, BRANCH_A_LINE, BRANCH_B_LINE = 6, 8, 10


def _function(tmp_path: Path) -> LambdaFunction:
    source = tmp_path / "measured.py"
    source.write_text(HANDLER)
    assert source.read_text().splitlines()[BRANCH_A_LINE - 1].strip() == 'taken = "a"'
    return LambdaFunction("measured", "measured.handler", {"measured.py": source}, output=_quiet)


def _quiet(line: str, request_id: str | None) -> None:
    pass


def _measured_contexts(rcfile: Path, data: Path) -> dict[int, set[str]]:
    cov = coverage.Coverage(config_file=str(rcfile))
    cov.combine(data_paths=[str(data)], strict=True)
    found = cov.get_data()
    (measured,) = [f for f in found.measured_files() if f.endswith("/measured.py")]
    return {line: set(contexts) for line, contexts in found.contexts_by_lineno(measured).items()}


@pytest.fixture
def measuring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """(coverage's rc file, its data folder, the context file), set as a measuring run
    sets them."""
    data = tmp_path / "data"
    data.mkdir()
    rcfile = tmp_path / "coveragerc"
    rcfile.write_text(
        f"[run]\ndata_file = {data / '.coverage'}\nparallel = true\ninclude = */measured.py\n"
    )
    context = tmp_path / "context"
    monkeypatch.setenv(sandbox.COVERAGE_CONFIG, str(rcfile))
    monkeypatch.setenv(sandbox.COVERAGE_CONTEXT, str(context))
    return rcfile, data, context


def test_each_invocation_of_a_warm_instance_is_measured_under_the_context_named_then(
    tmp_path: Path, measuring: tuple[Path, Path, Path]
) -> None:
    rcfile, data, context = measuring
    function = _function(tmp_path)
    try:
        context.write_text("first test")
        first = function.invoke({"branch": "a"})
        context.write_text("second test")
        second = function.invoke({"branch": "b"})
    finally:
        # Killed, as every instance ends: what it measured was saved before it answered.
        function.close()
    assert (first["taken"], second["taken"]) == ("a", "b")
    assert first["pid"] == second["pid"], "the second invocation should reuse the instance"
    contexts = _measured_contexts(rcfile, data)
    assert contexts[BRANCH_A_LINE] == {"first test"}
    assert contexts[BRANCH_B_LINE] == {"second test"}
    # The module ran at the instance's start, during the first test.
    assert contexts[DEF_LINE] == {"first test"}


def test_a_measured_function_sees_the_environment_and_path_it_sees_unmeasured(
    tmp_path: Path, measuring: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    function = _function(tmp_path)
    try:
        measured = function.invoke({"branch": "a"})
    finally:
        function.close()
    monkeypatch.delenv(sandbox.COVERAGE_CONFIG)
    monkeypatch.delenv(sandbox.COVERAGE_CONTEXT)
    function = _function(tmp_path)
    try:
        plain = function.invoke({"branch": "a"})
    finally:
        function.close()
    # Each function has its own folder and Runtime API channel.
    varying = {"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "_X_AMZN_TRACE_ID"}

    def steady(environment: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in environment.items() if k not in varying}

    assert steady(measured["environment"]) == steady(plain["environment"])
    # Coverage itself stays importable, last, after everything the function would find.
    assert measured["path"][: len(plain["path"])] == plain["path"]
    assert measured["path"][len(plain["path"]) :] == [str(sandbox.coverage_start_dir())]
