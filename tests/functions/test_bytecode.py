"""The Lambda runtime's bytecode that ships beside the sources (functions/bytecode.py).

The committed files must be current for every shipped source, land where the import
system looks for them, and never let stale code run. The checks that need the runtime's
own Python run when one is on this machine (on PATH or installed with pyenv).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cold_start import MAX_ARCHIVE_BYTES, archive_bytes
from functions import bytecode, layout

RUNTIME_VERSION = f"{bytecode.VERSION[0]}.{bytecode.VERSION[1]}"
STALE_HINT = "run scripts/compile-bytecode"


def _runtime_python() -> str | None:
    candidates = [shutil.which(f"python{RUNTIME_VERSION}")]
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv}/versions/{RUNTIME_VERSION}.*/bin/python*.*"))
    if shutil.which("uv"):
        found = subprocess.run(
            ["uv", "python", "find", "--no-python-downloads", RUNTIME_VERSION],
            capture_output=True,
            text=True,
        )
        candidates.append(found.stdout.strip() if found.returncode == 0 else None)
    for candidate in candidates:
        # A pyenv shim exists for every installed version but runs only the selected one.
        if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    return None


RUNTIME_PYTHON = _runtime_python()
needs_runtime_python = pytest.mark.skipif(
    RUNTIME_PYTHON is None, reason=f"no Python {RUNTIME_VERSION} on this machine"
)


def test_the_bytecode_is_for_the_runtime_the_functions_deploy_on() -> None:
    # Moving to a new runtime means a new VERSION and MAGIC_NUMBER in functions/bytecode.py.
    assert f"python{RUNTIME_VERSION}" == layout.LAMBDA_RUNTIME


def test_every_shipped_source_has_current_bytecode() -> None:
    sources = bytecode.shipped_sources()
    assert "lexstream_runtime/streaming.py" in sources
    assert "bedrock_fulfillment/bedrock_fulfillment.py" in sources
    stale = [
        relative
        for relative, source in sources.items()
        if not bytecode.is_current(bytecode.bytecode_path(relative), source)
    ]
    assert not stale, f"missing or stale bytecode for {stale}: {STALE_HINT}"


def test_no_bytecode_is_committed_for_a_source_that_is_not_shipped() -> None:
    wanted = {bytecode.bytecode_path(relative) for relative in bytecode.shipped_sources()}
    committed = set(bytecode.BYTECODE_DIR.rglob("*.pyc"))
    assert committed == wanted, f"{STALE_HINT} to remove {committed - wanted}"
    assert bytecode.BUILT_WITH.read_text().startswith(f"{RUNTIME_VERSION}.")


@pytest.mark.parametrize("name", layout.FUNCTION_NAMES)
def test_each_archive_carries_each_sources_bytecode_where_the_import_system_looks(
    name: str,
) -> None:
    files = layout.function_files(name)
    sources = layout.function_sources(name)
    compiled = {arcname: path for arcname, path in files.items() if arcname.endswith(".pyc")}
    assert set(files) == set(sources) | set(compiled)
    expected = {}
    for arcname, source in sources.items():
        folder, _, stem = arcname.rpartition("/")
        cache = f"__pycache__/{stem[: -len('.py')]}.{bytecode.CACHE_TAG}.pyc"
        expected[f"{folder}/{cache}" if folder else cache] = source
    assert set(compiled) == set(expected)
    for arcname, pyc in compiled.items():
        assert bytecode.is_current(pyc, expected[arcname]), arcname


@pytest.mark.parametrize("name", layout.FUNCTION_NAMES)
def test_each_archive_with_its_bytecode_stays_under_70_kb_zipped(name: str) -> None:
    zipped, _ = archive_bytes(layout.function_files(name))
    assert zipped < MAX_ARCHIVE_BYTES, f"{name}: {zipped} bytes"


def test_the_layer_carries_the_bytecode_under_python() -> None:
    files = layout.layer_files()
    assert "python/lexstream_runtime/streaming.py" in files
    pyc = files[f"python/lexstream_runtime/__pycache__/streaming.{bytecode.CACHE_TAG}.pyc"]
    assert bytecode.is_current(pyc, layout.RUNTIME_DIR / "streaming.py")


def test_bytecode_of_an_edited_source_is_not_shipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A functions/ folder with one source and its committed bytecode, as they are now.
    original = (layout.RUNTIME_DIR / "logs.py").read_text()
    source = tmp_path / "lexstream_runtime" / "logs.py"
    source.parent.mkdir(parents=True)
    source.write_text(original)
    pyc = tmp_path / "bytecode" / bytecode.CACHE_TAG / "lexstream_runtime" / "logs.pyc"
    pyc.parent.mkdir(parents=True)
    shutil.copyfile(bytecode.bytecode_path("lexstream_runtime/logs.py"), pyc)
    monkeypatch.setattr(bytecode, "FUNCTIONS_DIR", tmp_path)
    monkeypatch.setattr(bytecode, "BYTECODE_DIR", tmp_path / "bytecode" / bytecode.CACHE_TAG)
    entries = {"lexstream_runtime/logs.py": source}
    cache_name = f"lexstream_runtime/__pycache__/logs.{bytecode.CACHE_TAG}.pyc"
    assert set(bytecode.with_bytecode(entries)) == {"lexstream_runtime/logs.py", cache_name}
    source.write_text(original + "\nEDITED = True\n")
    assert bytecode.with_bytecode(entries) == entries


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:10],  # cut short
        lambda data: b"\x00\x00" + data[2:],  # another Python's magic number
        lambda data: data[:4] + (0).to_bytes(4, "little") + data[8:],  # timestamp-based
        lambda data: data[:4] + (1).to_bytes(4, "little") + data[8:],  # hash not checked
        lambda data: data[:8] + bytes(8) + data[16:],  # another source's hash
    ],
)
def test_bytecode_that_is_not_hash_checked_3_13_for_this_source_is_not_current(
    tmp_path: Path, damage
) -> None:
    source = layout.RUNTIME_DIR / "contract.py"
    pyc = tmp_path / "contract.pyc"
    committed = bytecode.bytecode_path("lexstream_runtime/contract.py").read_bytes()
    pyc.write_bytes(committed)
    assert bytecode.is_current(pyc, source)
    pyc.write_bytes(damage(committed))
    assert not bytecode.is_current(pyc, source)
    assert not bytecode.is_current(tmp_path / "missing.pyc", source)


@pytest.mark.skipif(sys.version_info[:2] == bytecode.VERSION, reason="this is the runtime")
def test_another_python_refuses_to_write_the_runtimes_bytecode() -> None:
    with pytest.raises(RuntimeError, match=f"must be compiled by Python {RUNTIME_VERSION}"):
        bytecode.compile_source(layout.RUNTIME_DIR / "contract.py", "lexstream_runtime/contract.py")


# --- with the runtime's own Python ------------------------------------------------------

_COMPILE_ALL = """
import json, sys
sys.path.insert(0, sys.argv[1])
from functions import bytecode
out = {}
for relative, source in bytecode.shipped_sources().items():
    out[relative] = bytecode.compile_source(source, relative).hex()
print(json.dumps({
    "magic": __import__("importlib.util").util.MAGIC_NUMBER.hex(),
    "version": sys.version.split()[0],
    "files": out,
}))
"""


@needs_runtime_python
def test_the_committed_bytecode_is_exactly_what_the_runtimes_python_compiles_now() -> None:
    root = Path(layout.FUNCTIONS_DIR).parent
    completed = subprocess.run(
        [RUNTIME_PYTHON, "-I", "-X", "no_debug_ranges", "-c", _COMPILE_ALL, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(completed.stdout)
    assert bytes.fromhex(result["magic"]) == bytecode.MAGIC_NUMBER
    built_with = bytecode.BUILT_WITH.read_text().strip()
    if result["version"] != built_with:
        pytest.skip(f"the files were written by Python {built_with}, this is {result['version']}")
    for relative, compiled in result["files"].items():
        committed = bytecode.bytecode_path(relative).read_bytes()
        assert committed == bytes.fromhex(compiled), f"{relative}: {STALE_HINT}"


# Imports runtime modules from an unpacked archive, recording which the import system
# had to compile from source, and what it loaded.
_IMPORT = """
import importlib._bootstrap_external as external, json, sys, traceback
compiled = []
original = external.SourceLoader.source_to_code
def source_to_code(self, data, path, **kwargs):
    compiled.append(path)
    return original(self, data, path, **kwargs)
external.SourceLoader.source_to_code = source_to_code
sys.path.insert(0, sys.argv[1])
from lexstream_runtime import contract, environment
try:
    environment.positive_int("LEXSTREAM_NOT_SET")
except Exception as error:
    line = traceback.extract_tb(error.__traceback__)[-1]
    failure = [line.filename, line.lineno, line.line]
print(json.dumps({
    "compiled": compiled,
    "cached": contract.__cached__,
    "doc": environment.__doc__,
    "handlers": contract.HANDLERS,
    "failure": failure,
}))
"""


def _import_from_archive(archive: Path) -> dict:
    completed = subprocess.run(
        [RUNTIME_PYTHON, "-I", "-B", "-c", _IMPORT, str(archive)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(completed.stdout)


def _unpack(files: dict[str, Path], into: Path) -> None:
    for arcname, source in files.items():
        target = into / arcname
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


@needs_runtime_python
def test_the_runtime_loads_the_shipped_bytecode_instead_of_compiling(tmp_path: Path) -> None:
    _unpack(layout.function_files("connect"), tmp_path)
    result = _import_from_archive(tmp_path)
    assert result["compiled"] == []
    cache = f"lexstream_runtime/__pycache__/contract.{bytecode.CACHE_TAG}.pyc"
    assert result["cached"] == str(tmp_path / cache)
    from functions.lexstream_runtime import contract

    assert result["handlers"] == contract.HANDLERS
    # Docstrings are left out of the bytecode; line numbers and source lines are not.
    assert result["doc"] is None
    filename, lineno, text = result["failure"]
    assert filename == str(tmp_path / "lexstream_runtime" / "environment.py")
    source_lines = (layout.RUNTIME_DIR / "environment.py").read_text().splitlines()
    assert source_lines[lineno - 1].strip() == text


@needs_runtime_python
def test_an_edited_source_runs_as_edited_even_beside_old_bytecode(tmp_path: Path) -> None:
    _unpack(layout.function_files("connect"), tmp_path)
    contract_source = tmp_path / "lexstream_runtime" / "contract.py"
    contract_source.write_text(contract_source.read_text() + '\nHANDLERS = {"edited": "yes"}\n')
    result = _import_from_archive(tmp_path)
    assert result["compiled"] == [str(contract_source)]
    assert result["handlers"] == {"edited": "yes"}
