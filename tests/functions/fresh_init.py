"""A function's cold init in a fresh interpreter, with its archive as the only code on the
path and the environment the component sets, as Lambda runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lexstream_runtime import contract

from functions import layout

# Every variable an init reads, with plausible values; nothing at init reaches a server.
INIT_ENVIRONMENT = {
    contract.ENV_CONNECTION_TABLE: "connections",
    contract.ENV_QUOTA_TABLE: "quota",
    contract.ENV_QUOTA_LIMIT: "10",
    contract.ENV_QUOTA_PERIOD: contract.QUOTA_PERIODS[0],
    contract.ENV_QUOTA_PER_IDENTITY_LIMIT: "50",
    contract.ENV_QUOTA_PER_SOURCE_LIMIT: "100",
    contract.ENV_AUTH_MODE: contract.AUTH_NONE,
    contract.ENV_CALLBACK_URL: "http://127.0.0.1:9/local",
    contract.ENV_MODEL_ID: "amazon.nova-lite-v1:0",
    contract.ENV_MAX_TOKENS: "64",
}


def after_init(name: str, folder: Path, probe: str) -> str:
    """Lay out function `name`'s archive in `folder`, import its handler module in a
    fresh interpreter, then run `probe` (Python source) there; returns what it printed."""
    for arcname, source in layout.function_files(name).items():
        target = folder / arcname
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    module_name = contract.HANDLERS[name].rsplit(".", 1)[0]
    script = (
        "import importlib, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "importlib.import_module(sys.argv[2])\n" + probe
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-c", script, str(folder), module_name],
        env={**os.environ, **INIT_ENVIRONMENT},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout
