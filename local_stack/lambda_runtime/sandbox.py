"""What a function's process starts from: its files, its command and its environment.

On Lambda a Python function sees its archive at /var/task (its working directory and
first on the path), its layers under /opt (Python imports from /opt/python), the
runtime's own packages (the runtime interface client, boto3) and nothing else. Locally:

- the archive is unpacked into a private folder (the same files the component zips,
  `functions.layout`), or a user's handler folder is used as it is;
- layers are unpacked into a private `opt` folder, whose `python` (or
  `nodejs/node_modules`) is on the runtime's path;
- the runtime's packages are the installed distributions of `awslambdaric` and `boto3`
  (and what they require), linked into one folder; the interpreter starts without
  `site`, so nothing else installed here, and nothing of this project, is importable.

A Node.js function sees, on Lambda, its archive at /var/task, its layers' packages at
/opt/nodejs/node_modules and the runtime's AWS SDK v3. Locally each function gets a
private folder laid out so that both `require` (NODE_PATH) and ES-module `import` (which
ignores NODE_PATH and looks only in the `node_modules` of the importing file's ancestors)
reach the same packages, first found first:

    <root>/var/task/               the archive, or a copy of the handler's folder (its own
                                   node_modules linked, not copied)
    <root>/var/node_modules        → <root>/opt/nodejs/node_modules (the layers)
    <root>/opt/                    the layers, unpacked
    <root>/node_modules            → the runtime's SDK: the `@aws-sdk/client-*` packages
                                   this project pins and their dependency closure, from
                                   package-lock.json, linked to the installed packages

so a handler imports its own packages, then the layers', then the SDK's, and nothing
else installed in this repository (no TypeScript, esbuild or Pulumi).

When the stack itself runs under coverage.py with `COVERAGE_PROCESS_START` set (as a
measuring run sets it), each Python function's process is measured too: it starts
through `coverage_start`, which finds coverage in a folder of its own, and gets that
variable (and `LEXSTREAM_COVERAGE_CONTEXT`, the file naming the current coverage
context) for the start alone; the function's own environment is unchanged.
"""

from __future__ import annotations

import atexit
import functools
import importlib.metadata
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from functions import declarations, layout

# The distributions Lambda's Python runtime provides, besides the standard library.
PYTHON_RUNTIME_DISTRIBUTIONS = ("awslambdaric", "boto3")
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
PYTHON_SUFFIXES = (".py",)
NODE_SUFFIXES = (".mjs", ".js", ".cjs")
# Lambda runs the runtime's command through this script, when a function sets it.
EXEC_WRAPPER = "AWS_LAMBDA_EXEC_WRAPPER"
REPOSITORY = Path(__file__).resolve().parents[2]
NODE_MODULES = REPOSITORY / "node_modules"
NODE_RIC = NODE_MODULES / "aws-lambda-ric"
# The packages of Lambda's Node.js runtime SDK that this project pins (package.json).
NODE_SDK_PREFIX = "@aws-sdk/client-"
# coverage.py's variable naming its configuration for the processes it should measure.
COVERAGE_CONFIG = "COVERAGE_PROCESS_START"
# A file holding the coverage context (a test's name) to record invocations under.
COVERAGE_CONTEXT = "LEXSTREAM_COVERAGE_CONTEXT"
_COVERAGE_FOLDER = "LEXSTREAM_COVERAGE_FOLDER"
_COVERAGE_START = "lexstream_coverage_start"


def unpack(files: Mapping[str, Path], prefix: str) -> Path:
    """Copy archive entries (`arcname` → source file) into a new private folder."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    copy_files(files, folder)
    return folder


def copy_files(files: Mapping[str, Path], folder: Path) -> None:
    """Copy archive entries (`arcname` → source file) into `folder`."""
    for arcname, source in files.items():
        target = folder / arcname
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def node_sandbox(
    prefix: str, files: Mapping[str, Path], handler_dir: Path | None, layers: Mapping[str, Path]
) -> tuple[Path, Path, Path | None]:
    """A Node.js function's private folder (see the module docstring), from its archive
    `files` or, when given, a copy of `handler_dir`. Returns (root, task root, opt)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    task_root = root / "var" / "task"
    if handler_dir is None:
        task_root.mkdir(parents=True)
        copy_files(files, task_root)
    else:
        handler_dir = handler_dir.resolve()
        # Copied, since Node resolves an import from the file's real location; the
        # handler's own node_modules is linked, as its packages resolve among themselves.
        # Never the temporary folder (this copy's, and every function's) if it is inside.
        skipped = {Path(tempfile.gettempdir()).resolve(), root.resolve()}

        def ignored(folder: str, names: list[str]) -> list[str]:
            here = Path(folder)
            own = ["node_modules"] if here == handler_dir else []
            return own + [name for name in names if (here / name).resolve() in skipped]

        shutil.copytree(handler_dir, task_root, symlinks=True, ignore=ignored)
        if (handler_dir / "node_modules").is_dir():
            (task_root / "node_modules").symlink_to(handler_dir / "node_modules")
    opt = None
    if layers:
        opt = root / "opt"
        copy_files(layers, opt)
        (root / "var" / "node_modules").symlink_to(opt / "nodejs" / "node_modules")
    (root / "node_modules").symlink_to(node_runtime_modules(), target_is_directory=True)
    return root, task_root, opt


def language_of(handler_file: str) -> str:
    """ "python" or "node", from the handler module's file name."""
    return "node" if handler_file.endswith(NODE_SUFFIXES) else "python"


def runtime_command(language: str, handler: str) -> list[str]:
    """The command that starts the runtime interface client for `handler`."""
    if language == "node":
        return [node_executable(), str(NODE_RIC / "index.mjs"), handler]
    # -S: no site, so the runtime path below is the whole of what is installed.
    if measuring():
        return [sys.executable, "-S", "-m", _COVERAGE_START, handler]
    return [sys.executable, "-S", "-m", "awslambdaric", handler]


def measuring() -> bool:
    """Whether Python functions' processes run under coverage (see the module docstring)."""
    return bool(os.environ.get(COVERAGE_CONFIG))


def node_runtime_missing() -> str | None:
    """What is missing to run a Node.js function here, or None."""
    if shutil.which("node") is None:
        return "Node.js (node) is not on PATH"
    if not (NODE_RIC / "index.mjs").is_file():
        return f"aws-lambda-ric is not installed in {NODE_RIC.parent} (npm ci installs it)"
    return None


def node_executable() -> str:
    found = shutil.which("node")
    if found is None:
        raise FileNotFoundError("node is not on PATH; install Node.js 20 or later")
    return found


def runtime_path(language: str, task_root: Path, opt: Path | None) -> str:
    """The module search path Lambda's runtime gives a function, as a path list."""
    if language == "node":
        parts = [] if opt is None else [str(opt / "nodejs" / "node_modules")]
        parts += [str(node_runtime_modules()), str(task_root)]
    else:
        # The task root comes first too: `python -m` puts the working directory there.
        parts = []
        if opt is not None:
            parts.append(str(opt / "python"))
        parts.append(str(python_runtime_dir()))
    return os.pathsep.join(parts)


def lambda_environment(
    *,
    name: str,
    handler: str,
    language: str,
    memory_mb: int,
    region: str,
    task_root: Path,
    opt: Path | None,
    runtime_api: str,
    instance_id: int,
    environment: Mapping[str, str],
    credentials: Mapping[str, str],
) -> dict[str, str]:
    """Every variable the function's process gets: Lambda's own, the credentials, and
    the function's declared ones (which cannot override Lambda's reserved ones)."""
    executable_dir = str(Path(sys.executable).parent)
    runtime = layout.LAMBDA_RUNTIME if language == "python" else "nodejs20.x"
    reserved = {
        "_HANDLER": handler,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{instance_id:032x}",
        "AWS_LAMBDA_LOG_FORMAT": declarations.LOG_FORMAT,
        "AWS_LAMBDA_LOG_LEVEL": declarations.APPLICATION_LOG_LEVEL,
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(
            python_runtime_dir() if language == "python" else NODE_RIC.parent
        ),
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": os.pathsep.join([executable_dir, "/usr/local/bin", "/usr/bin", "/bin"]),
        "LD_LIBRARY_PATH": "/lib64:/usr/lib64",
    }
    if language == "python":
        reserved["PYTHONPATH"] = runtime_path(language, task_root, opt)
        if measuring():
            # For coverage_start, which removes them before the runtime starts.
            folder = str(coverage_start_dir())
            reserved["PYTHONPATH"] = os.pathsep.join([folder, reserved["PYTHONPATH"]])
            reserved[COVERAGE_CONFIG] = os.environ[COVERAGE_CONFIG]
            reserved[_COVERAGE_FOLDER] = folder
            if os.environ.get(COVERAGE_CONTEXT):
                reserved[COVERAGE_CONTEXT] = os.environ[COVERAGE_CONTEXT]
    else:
        reserved["NODE_PATH"] = runtime_path(language, task_root, opt)
    return {**dict(environment), **dict(credentials), **reserved}


def credentials_from_environment() -> dict[str, str]:
    """The credential triple of this process's environment, as an execution role's."""
    return {key: os.environ[key] for key in CREDENTIAL_VARIABLES if key in os.environ}


@functools.cache
def python_runtime_dir() -> Path:
    """A folder holding exactly the runtime's packages (links to the installed ones)."""
    folder = Path(tempfile.mkdtemp(prefix="lexstream-lambda-runtime-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for top_level in sorted(_top_level_entries(PYTHON_RUNTIME_DISTRIBUTIONS)):
        (folder / top_level.name).symlink_to(top_level)
    return folder


@functools.cache
def coverage_start_dir() -> Path:
    """A folder holding coverage.py and `coverage_start` (links), for measured processes."""
    import coverage

    folder = Path(tempfile.mkdtemp(prefix="lexstream-coverage-start-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / "coverage").symlink_to(Path(coverage.__file__).parent)
    (folder / f"{_COVERAGE_START}.py").symlink_to(Path(__file__).with_name("coverage_start.py"))
    return folder


def _top_level_entries(names: tuple[str, ...]) -> set[Path]:
    entries: set[Path] = set()
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = _normalized(pending.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # required only under a marker that does not apply here
        for file in distribution.files or ():
            first = file.parts[0]
            if first == ".." or first.endswith((".dist-info", ".pth")) or first == "__pycache__":
                continue
            entries.add(Path(str(distribution.locate_file(first))))
        for requirement in distribution.requires or ():
            if "extra ==" in requirement:
                continue
            pending.append(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
    return entries


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def node_runtime_modules() -> Path:
    """A `node_modules` folder holding exactly the runtime's AWS SDK packages (links to
    the installed ones)."""
    folder = Path(tempfile.mkdtemp(prefix="lexstream-node-runtime-")) / "node_modules"
    atexit.register(shutil.rmtree, folder.parent, ignore_errors=True)
    folder.mkdir()
    lock = json.loads((REPOSITORY / "package-lock.json").read_text(encoding="utf-8"))
    for name in sorted(node_sdk_closure(lock["packages"])):
        link = folder / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(NODE_MODULES / name, target_is_directory=True)
    return folder


def node_sdk_closure(packages: Mapping[str, Any]) -> set[str]:
    """The top-level packages the pinned `@aws-sdk/client-*` packages need, themselves
    included: a walk of package-lock.json's `packages`, resolving each dependency as
    Node does (the nearest `node_modules` upwards from the package that needs it)."""
    root = packages[""]
    pinned = {**root.get("dependencies", {}), **root.get("devDependencies", {})}
    pending = [f"node_modules/{name}" for name in pinned if name.startswith(NODE_SDK_PREFIX)]
    seen: set[str] = set()
    while pending:
        key = pending.pop()
        if key in seen or key not in packages:
            continue
        seen.add(key)
        entry = packages[key]
        for name in {**entry.get("dependencies", {}), **entry.get("optionalDependencies", {})}:
            found = _resolved(packages, key, name)
            if found is not None:
                pending.append(found)
    return {key.removeprefix("node_modules/") for key in seen if key.count("node_modules/") == 1}


def _resolved(packages: Mapping[str, Any], key: str, name: str) -> str | None:
    """The lock key `name` resolves to when required from the package at `key`."""
    base = key
    while True:
        candidate = f"{base}/node_modules/{name}" if base else f"node_modules/{name}"
        if candidate in packages:
            return candidate
        if not base:
            return None
        cut = base.rfind("/node_modules/")
        base = base[:cut] if cut >= 0 else ""
