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
"""

from __future__ import annotations

import atexit
import functools
import importlib.metadata
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from functions import declarations, layout

# The distributions Lambda's Python runtime provides, besides the standard library.
PYTHON_RUNTIME_DISTRIBUTIONS = ("awslambdaric", "boto3")
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
PYTHON_SUFFIXES = (".py",)
NODE_SUFFIXES = (".mjs", ".js", ".cjs")
# Lambda runs the runtime's command through this script, when a function sets it.
EXEC_WRAPPER = "AWS_LAMBDA_EXEC_WRAPPER"
NODE_RIC = Path(__file__).resolve().parents[2] / "node_modules" / "aws-lambda-ric"


def unpack(files: Mapping[str, Path], prefix: str) -> Path:
    """Copy archive entries (`arcname` → source file) into a new private folder."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    for arcname, source in files.items():
        target = folder / arcname
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return folder


def language_of(handler_file: str) -> str:
    """ "python" or "node", from the handler module's file name."""
    return "node" if handler_file.endswith(NODE_SUFFIXES) else "python"


def runtime_command(language: str, handler: str) -> list[str]:
    """The command that starts the runtime interface client for `handler`."""
    if language == "node":
        return [node_executable(), str(NODE_RIC / "index.mjs"), handler]
    # -S: no site, so the runtime path below is the whole of what is installed.
    return [sys.executable, "-S", "-m", "awslambdaric", handler]


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
