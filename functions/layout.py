"""What goes into each Lambda archive, in one place.

The component zips exactly these files; the local stack loads exactly this layout, so a
function that runs locally is the function that deploys. Pure standard library.
"""

from __future__ import annotations

from pathlib import Path

FUNCTIONS_DIR = Path(__file__).resolve().parent
RUNTIME_DIR = FUNCTIONS_DIR / "lexstream_runtime"

# One folder per function; the handler module inside has a unique name so that several
# functions can be loaded side by side in one local process.
FUNCTION_NAMES = ("connect", "disconnect", "default", "bedrock_fulfillment")

# The Lambda runtime every function runs on. Python 3.13 is the newest runtime that every
# commercial, China and GovCloud region offers; it is supported until 2029. The code
# itself stays 3.11-clean, so the local stack and the tests run it on the local Python.
LAMBDA_RUNTIME = "python3.13"


def runtime_files() -> dict[str, Path]:
    """The lexstream_runtime package's sources, as `lexstream_runtime/<file>` → path.

    Only sources ship, so an archive holds exactly what is in git. Lambda compiles them
    at each cold start (its /var/task is read-only, so nothing is cached); the cold
    start benchmark's init times include that.
    """
    return {
        f"lexstream_runtime/{path.name}": path
        for path in sorted(RUNTIME_DIR.glob("*.py"))
        if path.is_file() and not path.is_symlink()
    }


def function_files(name: str) -> dict[str, Path]:
    """Archive entries for one function: its handler module(s) plus the runtime package.

    Raises ValueError naming the valid functions when `name` is unknown.
    """
    if name not in FUNCTION_NAMES:
        raise ValueError(f"unknown function {name!r}; expected one of {', '.join(FUNCTION_NAMES)}")
    folder = FUNCTIONS_DIR / name
    own = {
        path.name: path
        for path in sorted(folder.glob("*.py"))
        if path.name != "__init__.py" and path.is_file() and not path.is_symlink()
    }
    return {**own, **runtime_files()}


def layer_files() -> dict[str, Path]:
    """The fulfillment helper as a Lambda layer: Python layers unpack under /opt/python."""
    return {f"python/{arcname}": path for arcname, path in runtime_files().items()}
