"""The cold start harness: the interpreter it measures with and the stack depth it starts at.

No time is asserted; these check that a measurement is taken the way the report says.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from benchmarks import __main__ as bench
from benchmarks import cold_start, report
from functions import layout


def _write_probe(folder: Path) -> None:
    """A handler module that records how many frames were on the stack when it loaded."""
    (folder / "depth_probe.py").write_text(
        "import json, os, sys\n"
        "frames, frame = 0, sys._getframe()\n"
        "while frame is not None:\n"
        "    frames, frame = frames + 1, frame.f_back\n"
        "with open(os.environ['DEPTH_PROBE_OUT'], 'a') as out:\n"
        "    out.write(json.dumps(frames) + '\\n')\n"
        "def handler(event, context):\n"
        "    return None\n"
    )


def test_each_import_starts_as_many_frames_deeper_as_the_round_asks(tmp_path: Path) -> None:
    _write_probe(tmp_path)
    out = tmp_path / "frames.jsonl"
    env = {"DEPTH_PROBE_OUT": str(out)}
    for depth in (0, 1, 150, cold_start.STACK_SPREAD_FRAMES - 1):
        seconds = cold_start._init_seconds(
            sys.executable, depth, tmp_path, "depth_probe.handler", env
        )
        assert seconds > 0
    frames = [json.loads(line) for line in out.read_text().splitlines()]
    shallow = frames[0]
    assert [f - shallow for f in frames] == [0, 1, 150, cold_start.STACK_SPREAD_FRAMES - 1]


def test_a_handler_that_fails_at_init_is_reported_with_its_error(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('no table configured')\n")
    with pytest.raises(RuntimeError, match="no table configured") as failure:
        cold_start._init_seconds(sys.executable, 3, tmp_path, "broken.handler", {})
    assert "'broken.handler'" in str(failure.value)


def test_the_interpreter_reports_its_version_and_boto3() -> None:
    who = cold_start.interpreter()
    assert who["version"] == ".".join(map(str, sys.version_info[:3]))
    assert who["boto3"] and who["botocore"]
    assert os.path.samefile(who["executable"], sys.executable)


def test_an_interpreter_that_does_not_exist_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "python3.13"
    with pytest.raises(ValueError, match=f"{missing}.*cannot run"):
        cold_start.interpreter(str(missing))


def test_an_interpreter_without_boto3_is_named_with_what_it_needs(tmp_path: Path) -> None:
    # The same Python without its site-packages: a real interpreter that lacks boto3.
    bare = tmp_path / "bare-python"
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(bare.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(ValueError, match=r"must be a Python that can import boto3") as failure:
        cold_start.interpreter(str(bare))
    assert str(bare) in str(failure.value)
    assert "No module named 'boto3'" in str(failure.value)


@pytest.mark.parametrize(
    ("version", "runtime"),
    [("3.13.0", "python3.13"), ("3.11.7", "python3.11"), ("3.14.1rc1", "python3.14")],
)
def test_a_python_version_maps_to_its_lambda_runtime_name(version: str, runtime: str) -> None:
    assert cold_start._runtime_of(version) == runtime


def test_the_runtime_the_benchmark_compares_with_is_a_lambda_python_runtime() -> None:
    assert layout.LAMBDA_RUNTIME.startswith("python3.")
    assert cold_start._runtime_of(f"{layout.LAMBDA_RUNTIME[len('python') :]}.0") == (
        layout.LAMBDA_RUNTIME
    )


def test_a_revisions_archives_are_laid_out_by_that_revisions_own_layout(tmp_path: Path) -> None:
    before = cold_start.revision_archives("HEAD", tmp_path)
    assert set(before) == set(layout.FUNCTION_NAMES)
    for name, files in before.items():
        # HEAD's files, exported from git: the same names, each a file under tmp_path.
        assert set(files) == set(layout.function_files(name))
        assert all(path.is_file() and tmp_path in path.parents for path in files.values())


def test_an_unknown_revision_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no-such-revision"):
        cold_start.revision_archives("no-such-revision", tmp_path)


needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None, reason="valgrind is not on PATH (apt-get install valgrind)"
)


@needs_valgrind
def test_instructions_count_what_an_init_does_and_the_same_each_time(tmp_path: Path) -> None:
    (tmp_path / "idle.py").write_text("def handler(event, context):\n    return None\n")
    (tmp_path / "busy.py").write_text(
        "TOTAL = sum(range(200_000))\n\ndef handler(event, context):\n    return TOTAL\n"
    )
    idle = cold_start.instructions(sys.executable, tmp_path, "idle.handler", {})
    busy = [cold_start.instructions(sys.executable, tmp_path, "busy.handler", {}) for _ in "ab"]
    # 200,000 additions through the interpreter's loop cost millions of instructions
    assert min(busy) - idle > 5_000_000
    assert abs(busy[0] - busy[1]) < 0.01 * busy[0]


@needs_valgrind
def test_counting_an_init_that_fails_reports_its_error(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('no table configured')\n")
    with pytest.raises(RuntimeError, match="no table configured") as failure:
        cold_start.instructions(sys.executable, tmp_path, "broken.handler", {})
    assert "'broken.handler'" in str(failure.value)


def test_counting_instructions_without_valgrind_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ValueError, match=r"needs valgrind on PATH \(.*apt-get install valgrind"):
        cold_start.valgrind()
    # the command refuses at once, before any benchmark runs
    assert bench.main(["--only", "cold_start", "--cold-start-instructions"]) == 2
    assert "needs valgrind on PATH" in capsys.readouterr().err


def test_the_report_gives_each_inits_instructions_over_the_baseline_now_and_before() -> None:
    counted = cold_start._instruction_counts(
        {
            cold_start.BASELINE: 700_000_000,
            **{name: 710_000_000 + i * 1_000_000 for i, name in enumerate(layout.FUNCTION_NAMES)},
            **{f"{name}@abc1234": 750_000_000 for name in layout.FUNCTION_NAMES},
        },
        "abc1234",
    )
    first = layout.FUNCTION_NAMES[0]
    assert counted["functions"][0] == {
        "function": first,
        "over_baseline": 10_000_000,
        "over_baseline_against": 50_000_000,
    }
    lines = report._instructions({"instructions": counted, "against": {"revision": "abc1234"}})
    assert f"| `{first}` | +10.0 M | 1.014 | +50.0 M | -40.0 M |" in lines
    assert report._instructions({"instructions": None}) == []
