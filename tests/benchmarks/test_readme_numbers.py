"""Every number the README's Benchmarks section gives is in docs/benchmarks.md's latest
results, and every result it quotes names the machine that run was made on."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MACHINES = ("AMD EPYC", "Intel Xeon")


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end >= 0 else len(text)]


def _latest() -> str:
    return _section((ROOT / "docs" / "benchmarks.md").read_text(), "## Latest results")


def _readme_benchmarks() -> str:
    section = _section((ROOT / "README.md").read_text(), "## Benchmarks")
    return re.sub(r"```.*?```", "", section, flags=re.DOTALL)  # the command, not a result


def _numbers(text: str) -> list[str]:
    dates = re.findall(r"\d{4}-\d{2}-\d{2}", text)
    versions = re.findall(r"\d+\.\d+\.\d+", text)
    rest = re.sub(r"\d{4}-\d{2}-\d{2}|\d+\.\d+\.\d+", " ", text)
    return dates + versions + re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?", rest)


def _present(number: str, text: str) -> bool:
    return re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d]|\.\d)", text) is not None


def test_every_number_in_the_readme_benchmarks_is_in_the_latest_results() -> None:
    latest = _latest()
    missing = [n for n in _numbers(_readme_benchmarks()) if not _present(n, latest)]
    assert not missing, f"README numbers not in docs/benchmarks.md's latest results: {missing}"


def test_every_quoted_result_names_its_machine() -> None:
    latest = _latest()
    assert all(machine.split()[0] in latest for machine in MACHINES)
    bullets = re.findall(r"^- \*\*.*?(?=^- |\Z)", _readme_benchmarks(), re.MULTILINE | re.DOTALL)
    assert bullets
    for bullet in bullets:
        assert any(machine in bullet for machine in MACHINES), bullet


def test_the_check_notices_a_number_that_is_not_in_the_results() -> None:
    assert _present("161.7", "Bare `import boto3`: 161.7 ms")
    assert not _present("61.7", "Bare `import boto3`: 161.7 ms")
    assert not _present("161", "Bare `import boto3`: 161.7 ms")
    assert _numbers("on 2026-11-25 with Python 3.11.7: 1,004 and $0.102929") == [
        "2026-11-25",
        "3.11.7",
        "1,004",
        "0.102929",
    ]
