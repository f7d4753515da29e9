"""Program evaluation: what `pulumi preview` costs the Python side, per stack file.

Each stack runs the real `__main__.py` under Pulumi's mocks in a fresh interpreter,
exactly as the program tests do (`program_mocks/runner.py`), and is measured from
process start to exit: wall time, and the peak resident memory of that interpreter.
Next to it, in the same rounds, a fresh interpreter that only imports pulumi and the
pulumi_aws submodules the program uses: pulumi_aws loads submodules lazily and they
dominate both numbers, so the difference is what the program itself adds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from program_mocks import runner

from .stats import median

COMPONENTS_DIR = runner.ROOT / "components"
_SUBMODULE_USE = re.compile(r"\baws\.([a-z][a-z0-9_]*)\.([A-Z][A-Za-z0-9_]*)")
RUNNER_SCRIPT = Path(runner.__file__).resolve()
BASELINE_LABEL = "baseline: import pulumi + the pulumi_aws submodules used"


def used_aws_names() -> list[str]:
    """What the program's code touches in pulumi_aws submodules, as `submodule.Name`
    (`aws.dynamodb.Table` in the source gives `dynamodb.Table`).
    """
    found: set[tuple[str, str]] = set()
    for path in [runner.PROGRAM, *sorted(COMPONENTS_DIR.glob("*.py"))]:
        found.update(_SUBMODULE_USE.findall(path.read_text()))
    return sorted(
        f"{module}.{name}"
        for module, name in found
        if importlib.util.find_spec(f"pulumi_aws.{module}") is not None
    )


def baseline_code(names: list[str]) -> str:
    """Python that imports pulumi and loads each `submodule.Name` of pulumi_aws.

    pulumi_aws installs its submodules as lazy proxies: importing one costs nothing
    until an attribute is read, so the baseline reads exactly what the program reads.
    """
    return "import pulumi, pulumi_aws\n" + "".join(f"pulumi_aws.{name}\n" for name in names)


def _child_environment() -> dict[str, str]:
    # As the mock runner runs it: no Pulumi engine variables, no PYTHONPATH, fake keys.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.pop("PYTHONPATH", None)
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    return env


# Wraps what a child runs so that it reports its own peak memory as it exits. Measured
# inside the child on purpose: the kernel's ru_maxrss of a child also remembers the
# parent's memory it was forked from, which would make every child look as big as the
# benchmark process itself.
_PEAK_REPORTER = """
import atexit, resource, sys

def _report_peak(path={peak_path!r}):
    peak_kb = None
    try:
        with open("/proc/self/status") as status:  # Linux: this image's own high-water mark
            for line in status:
                if line.startswith("VmHWM:"):
                    peak_kb = int(line.split()[1])
    except OSError:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(path, "w") as out:
        out.write(str(peak_kb))

atexit.register(_report_peak)
"""


def measure_process(body: str, stdin_text: str, cwd: Path) -> tuple[float, float]:
    """Run Python `body` in a fresh interpreter to completion; return (wall seconds from
    spawn to exit, peak resident memory in MB of that interpreter).
    """
    stdin_path, stderr_path = cwd / "stdin.txt", cwd / "stderr.txt"
    peak_path = cwd / "peak_kb.txt"
    peak_path.unlink(missing_ok=True)
    stdin_path.write_text(stdin_text)
    code = _PEAK_REPORTER.format(peak_path=str(peak_path)) + body
    with stdin_path.open() as stdin, stderr_path.open("w") as stderr:
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-c", code],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=cwd,
            env=_child_environment(),
            timeout=runner.RUN_TIMEOUT_SECONDS,
            check=False,
        )
        seconds = time.perf_counter() - started
    if completed.returncode != 0 or not peak_path.is_file():
        raise RuntimeError(
            f"benchmark child exited {completed.returncode}:\n{stderr_path.read_text()[-3000:]}"
        )
    return seconds, int(peak_path.read_text()) / 1024


def _runner_body(stack: str, out: Path) -> str:
    """Python that runs the mock runner's own run of `stack`, as its script would."""
    argv = [str(RUNNER_SCRIPT), stack, str(out), str(runner.PROGRAM), "--project-on-path"]
    return f"import runpy\nsys.argv = {argv!r}\nrunpy.run_path({argv[0]!r}, run_name='__main__')\n"


def run(repeat: int = 3) -> dict[str, Any]:
    """Every stack file, and the import baseline, `repeat` times each, interleaved.

    repeat: fresh interpreters per stack and for the baseline; medians are reported
        (default 3).
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    names = used_aws_names()
    baseline = baseline_code(names)
    stacks = runner.stack_names()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in [*stacks, ""]}
    resources: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="lexstream-bench-program-") as scratch:
        workdir = Path(scratch)
        for _ in range(repeat):
            samples[""].append(measure_process(baseline, "", workdir))
            for stack in stacks:
                out = workdir / f"{stack}.json"
                config = json.dumps(runner.stack_config(stack))
                samples[stack].append(measure_process(_runner_body(stack, out), config, workdir))
                record = json.loads(out.read_text())
                if "error" in record:
                    raise RuntimeError(f"stack {stack!r} failed under mocks: {record['error']}")
                resources[stack] = len(record["resources"])

    def summary(label: str, runs: list[tuple[float, float]]) -> dict[str, Any]:
        return {
            "label": label,
            "seconds": round(median([seconds for seconds, _ in runs]), 3),
            "peak_rss_mb": round(median([rss for _, rss in runs]), 1),
        }

    imports_only = summary(BASELINE_LABEL, samples[""])
    entries = []
    for stack in stacks:
        entry = summary(f"stack `{stack}` under mocks", samples[stack])
        entry.update(
            stack=stack,
            resources=resources[stack],
            over_baseline_seconds=round(entry["seconds"] - imports_only["seconds"], 3),
            over_baseline_mb=round(entry["peak_rss_mb"] - imports_only["peak_rss_mb"], 1),
        )
        entries.append(entry)
    return {
        "repeat": repeat,
        "aws_names": names,
        "baseline": imports_only,
        "stacks": entries,
    }
