"""What each Lambda archive holds (functions/layout.py) and how big it is zipped.

The size cap is the cold start benchmark's own target, so the test and the report can
never disagree about it.
"""

from __future__ import annotations

import pytest
from lexstream_runtime import contract

from benchmarks.cold_start import MAX_ARCHIVE_BYTES, archive_bytes
from functions import layout


@pytest.mark.parametrize("name", layout.FUNCTION_NAMES)
def test_each_archive_ships_only_python_sources_with_its_handler_module(name: str) -> None:
    files = layout.function_files(name)
    assert all(arcname.endswith(".py") for arcname in files), sorted(files)
    assert contract.HANDLERS[name].split(".")[0] + ".py" in files
    assert "lexstream_runtime/streaming.py" in files


@pytest.mark.parametrize("name", layout.FUNCTION_NAMES)
def test_each_archive_stays_under_50_kb_zipped(name: str) -> None:
    zipped, _ = archive_bytes(layout.function_files(name))
    assert zipped < MAX_ARCHIVE_BYTES == 50 * 1024, f"{name}: {zipped} bytes"


def test_the_layer_ships_the_runtime_sources_under_python_and_stays_under_50_kb() -> None:
    files = layout.layer_files()
    assert set(files) == {f"python/{arcname}" for arcname in layout.runtime_files()}
    zipped, _ = archive_bytes(files)
    assert zipped < MAX_ARCHIVE_BYTES, f"layer: {zipped} bytes"
