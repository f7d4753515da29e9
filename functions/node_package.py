"""The Node.js streaming helper (`functions/nodejs/lexstream-streaming`): built from its
TypeScript sources, and laid out as a Lambda layer.

The package is TypeScript in git and JavaScript only once built: `build()` writes the
shared contract's values (`lexstream_runtime.contract`, the one place that declares the
names) to `src/contract.json` and compiles with the TypeScript compiler pinned in this
project's package-lock.json (`npm ci` installs it; scripts/bootstrap.sh runs both), or
else, installed as a package without the project's node_modules, a `tsc` on PATH. The
output, `dist/`, is rebuilt only when a source, the contract or the compiler changes.
Pure standard library: the component and the set-up both call it.

    python -m functions.node_package      # build it and print where
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from lexstream_runtime import callback_url, contract

FUNCTIONS_DIR = Path(__file__).resolve().parent
PACKAGE_NAME = "lexstream-streaming"
PACKAGE_DIR = FUNCTIONS_DIR / "nodejs" / PACKAGE_NAME
SOURCE_DIR = PACKAGE_DIR / "src"
DIST_DIR = PACKAGE_DIR / "dist"
CONTRACT_JSON = SOURCE_DIR / "contract.json"
# In a checkout, the compiler `npm ci` installed from the project's package-lock.json.
PINNED_TSC = FUNCTIONS_DIR.parent / "node_modules" / ".bin" / "tsc"
BUILD_STAMP = DIST_DIR / ".source-hash"
# Where Lambda's Node.js runtimes look for a layer's packages (/opt/nodejs/node_modules).
LAYER_PREFIX = f"nodejs/node_modules/{PACKAGE_NAME}"


class NodePackageBuildError(RuntimeError):
    """The Node.js helper could not be built; the message says what to install or fix."""


def contract_values() -> dict[str, object]:
    """Every constant of the shared contract as JSON values (patterns as source + flags),
    and the callback policy's pattern of an API Gateway stage host."""
    values: dict[str, object] = {}
    for name in sorted(vars(contract)):
        value = getattr(contract, name)
        if not name.isupper() or name.startswith("_"):
            continue
        if isinstance(value, re.Pattern):
            values[name] = {
                "pattern": value.pattern,
                "ignoreCase": bool(value.flags & re.IGNORECASE),
            }
        elif isinstance(value, str | int | float | tuple | list | dict):
            values[name] = value
    # The one declaration of an API Gateway stage's host, in the callback policy's module.
    values["CALLBACK_EXECUTE_API_HOST"] = {
        "pattern": callback_url._EXECUTE_API_HOST.pattern,
        "ignoreCase": False,
    }
    return values


def _compiler() -> tuple[Path, list[str]]:
    """The TypeScript compiler and the options it needs here.

    In a checkout, the pinned compiler with the project's type declarations (AWS SDK,
    Node.js) type-checks as it compiles. Elsewhere (this project installed as a package,
    without its node_modules) a `tsc` on PATH only strips the types (`--noCheck`, so it
    needs TypeScript 5.6 or later): the checking is the project's own tests' work.
    """
    if PINNED_TSC.is_file():
        return PINNED_TSC, []
    found = shutil.which("tsc")
    if found:
        return Path(found), ["--noCheck", "--types", "null"]
    raise NodePackageBuildError(
        f"the Node.js streaming helper ({PACKAGE_DIR}) is TypeScript and is compiled when its "
        "layer is packaged, but no TypeScript compiler was found: in a checkout of lexstream "
        f"run `npm ci` in {FUNCTIONS_DIR.parent} (Node.js 20 or later), or else install "
        "TypeScript so that `tsc` is on PATH (npm install --global typescript@5.9.3)"
    )


def _sources() -> list[Path]:
    return [
        PACKAGE_DIR / "package.json",
        PACKAGE_DIR / "tsconfig.json",
        *sorted(SOURCE_DIR.glob("*.ts")),
    ]


def _source_hash(contract_json: str, compiler: Path) -> str:
    digest = hashlib.sha256()
    for path in _sources():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(contract_json.encode() + b"\0" + str(compiler.resolve()).encode())
    return digest.hexdigest()


@contextlib.contextmanager
def one_build_at_a_time(folder: Path) -> Iterator[None]:
    """Hold this machine's lock on `folder` (an existing directory) while building into
    it: processes that build the same output at once (test workers, say) take turns, so
    none of them reads a file that another is rewriting. The lock is the directory's own
    (flock), so it leaves no file behind. Where the OS has no `fcntl` (Windows), no lock."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing it releases the lock


def build() -> Path:
    """Compile the package into its dist/ folder (when anything changed) and return it.

    Raises NodePackageBuildError naming what is missing when it cannot be compiled.
    """
    contract_json = json.dumps(contract_values(), indent=2, sort_keys=True) + "\n"
    compiler, options = _compiler()
    wanted = _source_hash(contract_json, compiler)
    with one_build_at_a_time(PACKAGE_DIR):
        built = BUILD_STAMP.is_file() and (DIST_DIR / "index.js").is_file()
        if built and BUILD_STAMP.read_text() == wanted:
            return DIST_DIR
        _compile(contract_json, compiler, options)
        BUILD_STAMP.write_text(wanted)
    return DIST_DIR


def _compile(contract_json: str, compiler: Path, options: list[str]) -> None:
    if not CONTRACT_JSON.is_file() or CONTRACT_JSON.read_text() != contract_json:
        CONTRACT_JSON.write_text(contract_json)
    shutil.rmtree(DIST_DIR, ignore_errors=True)
    try:
        compiled = subprocess.run(
            [str(compiler), "--project", str(PACKAGE_DIR / "tsconfig.json"), *options],
            cwd=PACKAGE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except OSError as error:  # tsc is a node script: no node, no compiler
        raise NodePackageBuildError(
            f"running {compiler} failed ({error}); it needs Node.js 20 or later on PATH"
        ) from error
    if compiled.returncode != 0:
        raise NodePackageBuildError(
            f"compiling {PACKAGE_DIR} with {compiler} failed:\n"
            + (compiled.stdout + compiled.stderr).strip()
        )


def layer_files() -> dict[str, Path]:
    """The built package as a Node.js layer: `nodejs/node_modules/lexstream-streaming/…`,
    its JavaScript, the contract's values and package.json; no AWS SDK (the runtime has
    it) and no type declarations (nothing reads them at run time). Builds it first."""
    dist = build()
    files = {f"{LAYER_PREFIX}/package.json": PACKAGE_DIR / "package.json"}
    for path in sorted(dist.iterdir()):
        if path.suffix in (".js", ".json") and path.is_file():
            files[f"{LAYER_PREFIX}/dist/{path.name}"] = path
    return files


if __name__ == "__main__":
    try:
        print(build())
    except NodePackageBuildError as error:
        sys.exit(f"error: {error}")
