"""Compiled bytecode for the Lambda runtime, shipped beside the sources in every archive.

Lambda unpacks an archive into a read-only /var/task, so Python cannot cache what it
compiles there: every cold start compiles every module it imports, which is several
milliseconds for lexstream's own code. The archives therefore carry the bytecode for
the functions' runtime version (`layout.LAMBDA_RUNTIME`) as well, where the import
system looks for it (`lexstream_runtime/__pycache__/streaming.cpython-313.pyc`).

It is safe whatever happens to the files:
- Each file is a hash-checked pyc (PEP 552): Python compares the source's hash with the
  one recorded and compiles the source instead when they differ, so stale bytecode can
  never run.
- Another Python version looks for its own tag and ignores these files.
- Only files whose recorded hash matches the current source are shipped at all.

The files are committed (`functions/bytecode/cpython-313/`), so every machine deploys
the same archive, whatever Python runs the Pulumi program. `scripts/compile-bytecode`
rewrites them with a 3.13 interpreter; a test fails while any is missing or stale.
Docstrings are left out of the bytecode (nothing reads them at run time; the sources
keep them) and so are column positions (tracebacks keep their line numbers), which
keeps each archive under 50 KB.
"""

from __future__ import annotations

import _imp
import ast
import importlib.util
import marshal
import sys
from collections.abc import Mapping
from pathlib import Path

FUNCTIONS_DIR = Path(__file__).resolve().parent
# The runtime the bytecode is for (`layout.LAMBDA_RUNTIME`; a test keeps them equal), as
# Python's version and cache tag.
VERSION = (3, 13)
CACHE_TAG = f"cpython-{VERSION[0]}{VERSION[1]}"
BYTECODE_DIR = FUNCTIONS_DIR / "bytecode" / CACHE_TAG
# Python 3.13's bytecode magic number (fixed for the whole 3.13 series), so that any
# Python can tell whether a file here is current.
MAGIC_NUMBER = (3571).to_bytes(2, "little") + b"\r\n"
_RAW_MAGIC = int.from_bytes(MAGIC_NUMBER, "little")
# PEP 552 flags: hash-based, and check the source's hash at every import.
_CHECKED_HASH = 0b11
# Which Python wrote the files: the compiler may differ between patch releases, so the
# test that recompiles and compares bytes only runs on the same one.
BUILT_WITH = BYTECODE_DIR / "BUILT_WITH"
_HEADER_BYTES = 16


def source_hash(source: bytes) -> bytes:
    """The source hash a 3.13 import computes for `source` (keyed by 3.13's magic)."""
    return _imp.source_hash(_RAW_MAGIC, source)


def bytecode_path(relative: str) -> Path:
    """Where the committed bytecode for source `relative` ("connect/on_connect.py") lives."""
    return BYTECODE_DIR / Path(relative).with_suffix(".pyc")


def archive_name(arcname: str) -> str:
    """Where the import system looks for the bytecode of archive entry `arcname`:
    "lexstream_runtime/aws.py" → "lexstream_runtime/__pycache__/aws.cpython-313.pyc".
    """
    path = Path(arcname)
    return (path.parent / "__pycache__" / f"{path.stem}.{CACHE_TAG}.pyc").as_posix()


def is_current(pyc: Path, source: Path) -> bool:
    """Whether `pyc` is 3.13 bytecode, hash-checked, compiled from `source` as it is now."""
    try:
        header = pyc.read_bytes()[:_HEADER_BYTES]
    except FileNotFoundError:
        return False
    return (
        len(header) == _HEADER_BYTES
        and header[:4] == MAGIC_NUMBER
        and int.from_bytes(header[4:8], "little") == _CHECKED_HASH
        and header[8:] == source_hash(source.read_bytes())
    )


def with_bytecode(entries: Mapping[str, Path]) -> dict[str, Path]:
    """Archive `entries` (arcname → source) plus the current bytecode of each source
    that has one, under the name the import system looks for."""
    compiled: dict[str, Path] = {}
    for arcname, source in entries.items():
        if not arcname.endswith(".py"):
            continue
        pyc = bytecode_path(source.relative_to(FUNCTIONS_DIR).as_posix())
        if is_current(pyc, source):
            compiled[archive_name(arcname)] = pyc
    return {**entries, **compiled}


def compile_source(source: Path, filename: str) -> bytes:
    """Hash-checked pyc bytes for `source`, without docstrings. Needs Python 3.13 run
    with `-X no_debug_ranges`, so that the files are the same from any machine."""
    if sys.version_info[:2] != VERSION or importlib.util.MAGIC_NUMBER != MAGIC_NUMBER:
        raise RuntimeError(
            f"bytecode for {CACHE_TAG} must be compiled by Python "
            f"{VERSION[0]}.{VERSION[1]}; this is {sys.version.split()[0]}"
        )
    if "no_debug_ranges" not in sys._xoptions:
        raise RuntimeError("run with `python -X no_debug_ranges` (scripts/compile-bytecode does)")
    data = source.read_bytes()
    tree = ast.parse(data, filename=filename)
    for node in ast.walk(tree):
        if _has_docstring(node):
            node.body = node.body[1:] or [ast.Pass()]
    code = compile(ast.fix_missing_locations(tree), filename, "exec", dont_inherit=True)
    header = MAGIC_NUMBER + _CHECKED_HASH.to_bytes(4, "little") + source_hash(data)
    return header + marshal.dumps(code)


def _has_docstring(node: ast.AST) -> bool:
    if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    first = node.body[0] if node.body else None
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )


def shipped_sources() -> dict[str, Path]:
    """Every Python source any archive ships, by its path under functions/."""
    from . import layout

    sources: dict[str, Path] = {}
    for name in layout.FUNCTION_NAMES:
        for source in layout.function_sources(name).values():
            sources[source.relative_to(FUNCTIONS_DIR).as_posix()] = source
    return dict(sorted(sources.items()))


def main() -> int:
    """Rewrite the committed bytecode for every shipped source; remove any other."""
    sources = shipped_sources()
    wanted = {bytecode_path(relative) for relative in sources}
    for relative, source in sources.items():
        target = bytecode_path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(compile_source(source, relative))
    for leftover in BYTECODE_DIR.rglob("*.pyc"):
        if leftover not in wanted:
            leftover.unlink()
    BUILT_WITH.write_text(f"{sys.version.split()[0]}\n")
    print(f"wrote {len(wanted)} files under {BYTECODE_DIR.relative_to(FUNCTIONS_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
