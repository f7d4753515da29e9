"""Cold start: each function's archive size and its module init time.

The archive is zipped from `functions/layout.py`, the same files the component ships.
Init is measured the way Lambda pays it: a fresh interpreter imports the handler module
from the unpacked archive (no bytecode cache, as /var/task is read-only) and looks up
the handler. The bare `import boto3` baseline runs in the same rounds, interleaved in a
new order each round, so machine noise hits both alike; the comparison is the difference
of the medians.

Two things keep the interpreter itself from deciding the result:
- It runs on the functions' Lambda runtime version when one is given (`python`); the
  bench script finds one and installs the same boto3 into it.
- Each round starts every import at the same, randomly chosen call-stack depth. CPython
  keeps frames in 16 KB chunks and, before the fix for python/cpython#142183, frees and
  maps a chunk again on every call that crosses a chunk's edge; a regex compiled by
  urllib3 at import can cross one thousands of times, which adds 10-20 ms on one
  interpreter and nothing on the next, depending only on how deep the import started.
  At one fixed depth that would favour whichever side happens to miss an edge; at a
  random depth shared by every import of the round, both sides meet edges alike.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from lexstream_runtime import contract

from functions import layout, node_package

from .stats import median

# Targets from the benchmark specification.
MAX_ARCHIVE_BYTES = 50 * 1024
MAX_INIT_OVER_BASELINE_S = 0.020
# Extra call-stack depth, in frames, drawn per round: a frame of the padding function
# takes roughly 100 bytes, so 200 of them span a whole 16 KB frame chunk.
STACK_SPREAD_FRAMES = 200

BASELINE = "import boto3"
# Not targets, but they show where init time goes. A module-scope client (which Lambda
# best practice asks for) costs more than the import itself, so the usual way to get one
# is set against the functions' own lean client path, both from a fresh interpreter.
BASELINE_WITH_CLIENT = "import boto3 + one client"
LEAN_CLIENT = "lexstream's client path"
# The functions run their init with the cycle collector paused (lexstream_runtime.cold_init);
# the bare import paused the same way shows how much of their lead that alone is.
BASELINE_PAUSED = "import boto3, collector paused"

# Runs in the fresh interpreter: time from the first import to a callable handler,
# with the import started `depth` frames deeper than the script itself.
_CHILD = """
import importlib, json, sys, time
depth, archive, target = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sys.path.insert(0, archive)

def init():
    started, cpu = time.perf_counter(), time.process_time()
    if target == "boto3":
        import boto3
    else:
        module_name, function_name = target.rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), function_name)
        assert callable(handler), target
    return time.perf_counter() - started, time.process_time() - cpu

def deeper(frames):
    return deeper(frames - 1) if frames else init()

wall, cpu = deeper(depth)
print(json.dumps({"init_s": wall, "cpu_s": cpu, "modules": len(sys.modules)}))
"""
# What the interpreter is, asked of itself; it must be able to import boto3.
_WHO = """
import json, platform, sys
import boto3, botocore
print(json.dumps({"version": platform.python_version(), "executable": sys.executable,
                  "boto3": boto3.__version__, "botocore": botocore.__version__}))
"""


# The two ways to get a client, as modules beside the runtime package, so that they load
# through the same import machinery as the handlers (a handler's init is its import).
_CLIENT_PROBES = {
    BASELINE_WITH_CLIENT: (
        "probe_boto3_client",
        'import boto3\n\nCLIENT = boto3.client("dynamodb")\n',
    ),
    LEAN_CLIENT: (
        "probe_lean_client",
        "from lexstream_runtime import aws\n\nCLIENT = aws.dynamodb_client()\n",
    ),
    BASELINE_PAUSED: (
        "probe_boto3_paused",
        "from lexstream_runtime import cold_init\n\nimport boto3\n\nCLIENT = None\n"
        "cold_init.done()\n",
    ),
}
_PROBE_HANDLER = "\n\ndef handler(event, context):\n    return CLIENT\n"


def archive_bytes(files: Mapping[str, Path]) -> tuple[int, int]:
    """(zipped, unzipped) size in bytes of an archive holding `files` (arcname → path),
    deflated as Lambda deployment packages are.
    """
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname, path in sorted(files.items()):
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(arcname, data)
    return len(buffer.getvalue()), unzipped


def function_environment() -> dict[str, str]:
    """Every variable the component may set on a function, with plausible values, plus
    fake credentials and loopback endpoints so that nothing at init can reach AWS.
    """
    unreachable = "http://127.0.0.1:9"  # discard port: a call at init fails fast, locally
    return {
        contract.ENV_CONNECTION_TABLE: "lexstream-bench-connections",
        contract.ENV_QUOTA_TABLE: "lexstream-bench-quota",
        contract.ENV_QUOTA_LIMIT: "1000",
        contract.ENV_QUOTA_PERIOD: contract.QUOTA_PERIODS[0],
        contract.ENV_QUOTA_PER_IDENTITY_LIMIT: "50",
        contract.ENV_QUOTA_PER_SOURCE_LIMIT: "100",
        contract.ENV_AUTH_MODE: contract.AUTH_IAM,
        contract.ENV_CALLBACK_URL: f"{unreachable}/bench",
        contract.ENV_MODEL_ID: "anthropic.claude-3-haiku-20240307-v1:0",
        contract.ENV_SYSTEM_PROMPT: "You are a helpful assistant.",
        contract.ENV_MAX_TOKENS: "512",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": unreachable,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _lay_out(files: Mapping[str, Path], into: Path) -> None:
    for arcname, source in files.items():
        target = into / arcname
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())


def interpreter(python: str | None = None) -> dict[str, str]:
    """Who `python` (default: this interpreter) is: version, executable, boto3 and
    botocore versions. Raises ValueError naming the interpreter when it cannot run or
    cannot import boto3, which every measurement needs.
    """
    command = python or sys.executable
    try:
        completed = subprocess.run(
            [command, "-I", "-c", _WHO], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as error:
        raise ValueError(f"cold start interpreter {command!r} cannot run: {error}") from None
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise ValueError(
            f"cold start interpreter {command!r} must be a Python that can import boto3 "
            f"(the bench script installs it); it said: {last}"
        )
    return json.loads(completed.stdout)


def _init_seconds(
    python: str, depth: int, archive: Path, target: str, env: Mapping[str, str]
) -> float:
    """The wall-clock time of one init."""
    return _init_sample(python, depth, archive, target, env)[0]


def _init_sample(
    python: str, depth: int, archive: Path, target: str, env: Mapping[str, str]
) -> tuple[float, float]:
    """The wall-clock and the CPU time of one init, in seconds. CPU time is what the
    init itself did: on a machine shared with other work, the wall clock also counts the
    time the scheduler gave to others, while Lambda gives an init its vCPU share alone."""
    completed = subprocess.run(
        _child_command(python, depth, archive, target),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"init of {target!r} from {archive} failed:\n{completed.stderr.strip()}")
    measured = json.loads(completed.stdout.strip().splitlines()[-1])
    return float(measured["init_s"]), float(measured["cpu_s"])


def _child_command(python: str, depth: int, archive: Path, target: str) -> list[str]:
    """The fresh interpreter that inits `target` from `archive`, `depth` frames deep."""
    # -I: ignore the caller's PYTHONPATH and user site; -B: write no bytecode, so every
    # repetition compiles the archive's sources, as every Lambda cold start does.
    return [python, "-I", "-B", "-c", _CHILD, str(depth), str(archive), target]


def valgrind() -> str:
    """The path of valgrind, which counts instructions; raises ValueError saying how to
    get it when it is not on PATH."""
    found = shutil.which("valgrind")
    if found is None:
        raise ValueError(
            "counting instructions needs valgrind on PATH "
            "(Debian and Ubuntu: apt-get install valgrind)"
        )
    return found


_COLLECTED = re.compile(r"^==\d+== Collected : (\d+)$", re.MULTILINE)


def instructions(python: str, archive: Path, target: str, env: Mapping[str, str]) -> int:
    """Instructions the whole fresh interpreter runs to import `target` from `archive`
    (valgrind's callgrind, no bytecode written, string hashing fixed): unlike a time, the
    same on a busy machine as on a quiet one. The interpreter's own start is in every
    count alike, so differences between targets are differences between their inits.
    """
    completed = subprocess.run(
        [
            valgrind(),
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            *_child_command(python, 0, archive, target),
        ],
        env={**os.environ, **env, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    found = _COLLECTED.search(completed.stderr)
    if completed.returncode != 0 or found is None:
        said = [line for line in completed.stderr.splitlines() if not line.startswith("==")]
        raise RuntimeError(
            f"counting the init of {target!r} from {archive} failed:\n"
            + "\n".join((said or completed.stderr.strip().splitlines())[-5:])
        )
    return int(found.group(1))


def revision_archives(revision: str, into: Path) -> dict[str, dict[str, Path]]:
    """Every function's archive files as git `revision` of this repository laid them out
    (its own `functions/layout.py` decides), checked out under `into`.

    Raises ValueError naming the revision when git cannot export it.
    """
    root = Path(layout.FUNCTIONS_DIR).parent
    exported = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", revision, "functions"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if exported.returncode != 0:
        message = exported.stderr.decode(errors="replace").strip()
        raise ValueError(f"cannot export functions/ at revision {revision!r}: {message}")
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as archive:
        archive.extractall(into, filter="data")
    listed = subprocess.run(
        [sys.executable, "-I", "-c", _LIST_LAYOUT],
        cwd=into,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {
        name: {arcname: Path(path) for arcname, path in files.items()}
        for name, files in json.loads(listed.stdout).items()
    }


# Asks a checked-out revision's own layout for its archives.
_LIST_LAYOUT = """
import json, sys
sys.path.insert(0, ".")
from functions import layout
print(json.dumps({name: {arc: str(path) for arc, path in layout.function_files(name).items()}
                  for name in layout.FUNCTION_NAMES}))
"""


def run(
    repeat: int = 21,
    python: str | None = None,
    seed: int | None = None,
    against: str | None = None,
    count_instructions: bool = False,
) -> dict[str, object]:
    """Measure every function in `functions.layout.FUNCTION_NAMES`.

    repeat: fresh interpreters per function and per baseline, interleaved by round;
        the medians are reported (default 21).
    python: the interpreter to measure with (default: this one); ideally the functions'
        Lambda runtime version, with boto3 installed.
    seed: for the rounds' stack depths and orders (default: a fresh one, reported).
    against: a git revision whose functions are measured in the same rounds, so that a
        change's before and after come from one run (default: none).
    count_instructions: also count, once each, the instructions of every init and of
        the baseline with valgrind (`instructions`), which no other work on the machine
        changes (default: off; needs valgrind).
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    who = interpreter(python)
    command = who["executable"]
    seed = random.randrange(2**32) if seed is None else seed
    rounds = random.Random(seed)
    depths: list[int] = []
    env = function_environment()
    samples: dict[str, list[float]] = {label: [] for label in (BASELINE, *_CLIENT_PROBES)}
    cpu_samples: dict[str, list[float]] = {}
    targets = {BASELINE: "boto3"}
    sizes: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="lexstream-bench-cold-") as scratch:
        runtime_only = Path(scratch) / "runtime"
        _lay_out(layout.runtime_files(), runtime_only)
        archives = {BASELINE: Path(scratch)}
        for label, (module, source) in _CLIENT_PROBES.items():
            (runtime_only / f"{module}.py").write_text(source + _PROBE_HANDLER)
            archives[label] = runtime_only
            targets[label] = f"{module}.handler"
        for name in layout.FUNCTION_NAMES:
            files = layout.function_files(name)
            sizes[name] = archive_bytes(files)
            archives[name] = Path(scratch) / name
            _lay_out(files, archives[name])
            targets[name] = contract.HANDLERS[name]
            samples[name] = []
        before = revision_archives(against, Path(scratch) / "revision") if against else {}
        for name, files in before.items():
            label = f"{name}@{against}"
            archives[label] = Path(scratch) / "before" / name
            _lay_out(files, archives[label])
            targets[label] = contract.HANDLERS[name]
            samples[label] = []
        counted = {
            label: instructions(command, archives[label], targets[label], env)
            for label in (targets if count_instructions else ())
        }
        for _ in range(repeat):
            depth = rounds.randrange(STACK_SPREAD_FRAMES)
            depths.append(depth)
            for label in rounds.sample(list(targets), len(targets)):
                wall, cpu = _init_sample(command, depth, archives[label], targets[label], env)
                samples[label].append(wall)
                cpu_samples.setdefault(label, []).append(cpu)

    baseline_s = median(samples[BASELINE])
    baseline_cpu_s = median(cpu_samples[BASELINE])

    def cpu_over_baseline_ms(label: str) -> float:
        return round((median(cpu_samples[label]) - baseline_cpu_s) * 1000, 2)

    with_client_s = median(samples[BASELINE_WITH_CLIENT])
    lean_client_s = median(samples[LEAN_CLIENT])
    functions = []
    for name in layout.FUNCTION_NAMES:
        zipped, unzipped = sizes[name]
        init_s = median(samples[name])
        functions.append(
            {
                "function": name,
                "handler": contract.HANDLERS[name],
                "archive_bytes": zipped,
                "unzipped_bytes": unzipped,
                "init_ms": round(init_s * 1000, 2),
                "over_baseline_ms": round((init_s - baseline_s) * 1000, 2),
                "over_baseline_with_client_ms": round((init_s - with_client_s) * 1000, 2),
                "init_cpu_ms": round(median(cpu_samples[name]) * 1000, 2),
                "cpu_over_baseline_ms": cpu_over_baseline_ms(name),
                "archive_target_met": zipped < MAX_ARCHIVE_BYTES,
                "init_target_met": init_s - baseline_s <= MAX_INIT_OVER_BASELINE_S,
            }
        )
    layer_zipped, layer_unzipped = archive_bytes(layout.layer_files())
    node_layer_zipped, node_layer_unzipped = archive_bytes(node_package.layer_files())
    against_functions = [
        {
            "function": name,
            "init_ms": round(median(samples[f"{name}@{against}"]) * 1000, 2),
            "over_baseline_ms": round(
                (median(samples[f"{name}@{against}"]) - baseline_s) * 1000, 2
            ),
            "cpu_over_baseline_ms": cpu_over_baseline_ms(f"{name}@{against}"),
        }
        for name in before
    ]
    return {
        "repeat": repeat,
        "python": who,
        "lambda_runtime": layout.LAMBDA_RUNTIME,
        "runtime_version_matched": _runtime_of(who["version"]) == layout.LAMBDA_RUNTIME,
        "seed": seed,
        "stack_depths": depths,
        "baseline_ms": round(baseline_s * 1000, 2),
        "baseline_cpu_ms": round(baseline_cpu_s * 1000, 2),
        "baseline_with_client_ms": round(with_client_s * 1000, 2),
        "lean_client_ms": round(lean_client_s * 1000, 2),
        "lean_client_ratio": round(lean_client_s / with_client_s, 3),
        "baseline_paused_ms": round(median(samples[BASELINE_PAUSED]) * 1000, 2),
        "baseline_paused_cpu_ms": round(median(cpu_samples[BASELINE_PAUSED]) * 1000, 2),
        "targets": {
            "archive_bytes_below": MAX_ARCHIVE_BYTES,
            "init_over_baseline_ms_at_most": MAX_INIT_OVER_BASELINE_S * 1000,
        },
        "functions": functions,
        "layer": {"archive_bytes": layer_zipped, "unzipped_bytes": layer_unzipped},
        "node_layer": {"archive_bytes": node_layer_zipped, "unzipped_bytes": node_layer_unzipped},
        "against": {"revision": against, "functions": against_functions} if against else None,
        "instructions": _instruction_counts(counted, against) if counted else None,
    }


def _instruction_counts(counted: Mapping[str, int], against: str | None) -> dict[str, object]:
    """Each function's init in instructions over the bare `import boto3`'s, now and (when
    `against` was measured) at that revision."""
    baseline = counted[BASELINE]

    def over(label: str) -> int | None:
        return counted[label] - baseline if label in counted else None

    return {
        "baseline": baseline,
        "functions": [
            {
                "function": name,
                "over_baseline": over(name),
                "over_baseline_against": over(f"{name}@{against}"),
            }
            for name in layout.FUNCTION_NAMES
        ],
    }


def _runtime_of(version: str) -> str:
    """The Lambda runtime name for a Python version: "3.13.0" → "python3.13"."""
    major, minor = version.split(".")[:2]
    return f"python{major}.{minor}"
