"""LambdaFunction runs a handler the way Lambda does: one cold init, a context per call."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from local_stack.lambda_runtime import LambdaFunction

# A handler whose module-level code (its cold init) records itself in a file named by
# its environment, and fails while a marker file exists: only what Lambda would show a
# handler is observed.
HANDLER_SOURCE = """
import os
from pathlib import Path

INIT_LOG = Path(os.environ["INIT_LOG"])
with INIT_LOG.open("a") as log:
    log.write(str(Path(__file__).parent) + "\\n")
if Path(os.environ["INIT_LOG"] + ".fail").exists():
    raise RuntimeError("init failed on purpose")
GREETING = os.environ["GREETING"]


def handler(event, context):
    return {
        "greeting": GREETING,
        "event": event,
        "requestId": context.aws_request_id,
        "functionName": context.function_name,
        "remainingMs": context.get_remaining_time_in_millis(),
        "archive": str(Path(__file__).parent),
    }
"""


@pytest.fixture
def function(tmp_path: Path) -> Any:
    source = tmp_path / "source" / "handler_module.py"
    source.parent.mkdir()
    source.write_text(HANDLER_SOURCE)
    made: list[LambdaFunction] = []

    def make(fail_first_init: bool = False) -> tuple[LambdaFunction, Path]:
        init_log = tmp_path / f"init-{len(made)}.log"
        if fail_first_init:
            Path(f"{init_log}.fail").touch()
        lambda_function = LambdaFunction(
            "probe",
            "handler_module.handler",
            {"handler_module.py": source},
            {"INIT_LOG": str(init_log), "GREETING": "hello"},
            timeout_s=10.0,
        )
        made.append(lambda_function)
        return lambda_function, init_log

    yield make
    for lambda_function in made:
        lambda_function.close()


def init_folders(init_log: Path) -> list[str]:
    return init_log.read_text().splitlines() if init_log.exists() else []


def test_one_cold_init_serves_every_invocation_each_with_its_own_context(function):
    probe, init_log = function()
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def call(number: int) -> None:
        result = probe.invoke({"n": number})
        with lock:
            results.append(result)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(init_folders(init_log)) == 1
    assert sorted(result["event"]["n"] for result in results) == list(range(8))
    assert len({result["requestId"] for result in results}) == 8
    assert {result["functionName"] for result in results} == {"probe"}
    assert all(0 < result["remainingMs"] <= 10_000 for result in results)
    assert {result["greeting"] for result in results} == {"hello"}


def test_the_environment_is_the_functions_during_init_and_restored_after(function):
    probe, _init_log = function()
    assert "GREETING" not in os.environ

    assert probe.invoke({})["greeting"] == "hello"
    assert "GREETING" not in os.environ
    assert "INIT_LOG" not in os.environ


def test_a_failed_init_is_retried_on_the_next_invocation_without_leaving_its_folder(function):
    probe, init_log = function(fail_first_init=True)

    with pytest.raises(RuntimeError, match="init failed on purpose"):
        probe.invoke({})
    Path(f"{init_log}.fail").unlink()
    result = probe.invoke({})

    first, second = init_folders(init_log)
    assert result["archive"] == second != first
    assert not Path(first).exists()
    assert first not in sys.path


def test_close_removes_the_archive_folder_and_its_import_path(function):
    probe, _init_log = function()
    archive = probe.invoke({})["archive"]
    assert Path(archive, "handler_module.py").is_file()

    probe.close()
    probe.close()

    assert not Path(archive).exists()
    assert archive not in sys.path
