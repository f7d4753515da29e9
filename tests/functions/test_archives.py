"""What each Lambda archive holds (functions/layout.py, functions/node_package.py) and how
big it is zipped; the Node.js layer's package loads from where Lambda unpacks it.

The size cap is the cold start benchmark's own target, so the test and the report can
never disagree about it.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from lexstream_runtime import contract

from benchmarks.cold_start import MAX_ARCHIVE_BYTES, archive_bytes
from functions import layout, node_package

ROOT = Path(__file__).resolve().parents[2]


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


def test_the_node_layer_ships_the_compiled_package_under_nodejs_node_modules_only() -> None:
    files = node_package.layer_files()
    prefix = "nodejs/node_modules/lexstream-streaming/"
    assert all(arcname.startswith(prefix) for arcname in files), sorted(files)
    inside = {arcname.removeprefix(prefix) for arcname in files}
    assert {"package.json", "dist/index.js", "dist/streaming.js", "dist/contract.json"} <= inside
    # JavaScript and its data only: no TypeScript, no declarations, no node_modules of its own
    # (the AWS SDK comes with the Lambda runtime).
    assert all(name == "package.json" or name.startswith("dist/") for name in inside)
    assert not [name for name in inside if name.endswith(".ts") or "node_modules" in name]
    zipped, _ = archive_bytes(files)
    assert zipped < MAX_ARCHIVE_BYTES, f"node layer: {zipped} bytes"


HANDLER = """
import { readFileSync } from "node:fs";
const base = "%(opt)s/nodejs/node_modules/lexstream-streaming/";
const entry = JSON.parse(readFileSync(base + "package.json", "utf8")).exports["."].default;
const { openStream, closeResponse } = await import(base + entry);
const event = {
  sessionId: "lex-web-ui-0a1b",
  sessionState: { sessionAttributes: {
    streamingEndpoint: "https://abc123defg.execute-api.us-east-1.amazonaws.com/Prod",
    streamingDynamoDbTable: "connections",
  } },
};
const stream = await openStream(event);
stream.write("From the layer.");
await stream.close();
const response = closeResponse(event, stream.text);
console.log(JSON.stringify({ reason: stream.stopReason, response }));
"""


def _run_from_layer(tmp_path: Path, node_path: str | None) -> subprocess.CompletedProcess[str]:
    """Unzip the layer into <tmp>/opt, as Lambda does into /opt, and run a handler module
    from <tmp>/var/task that imports the package from there (the SDK only via `node_path`,
    where the Lambda runtime keeps its own)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname, path in sorted(node_package.layer_files().items()):
            archive.write(path, arcname)
    with zipfile.ZipFile(buffer) as archive:
        archive.extractall(tmp_path / "opt")
    task = tmp_path / "var" / "task"
    task.mkdir(parents=True)
    (task / "index.mjs").write_text(HANDLER % {"opt": tmp_path / "opt"})
    environment = {
        key: value for key, value in os.environ.items() if key not in ("NODE_PATH", "NODE_OPTIONS")
    }
    # Nothing listens there: the lookup fails, after the SDK has been loaded to make it.
    environment["AWS_ENDPOINT_URL_DYNAMODB"] = "http://127.0.0.1:9"
    if node_path is not None:
        environment["NODE_PATH"] = node_path
    return subprocess.run(
        ["node", str(task / "index.mjs")],
        cwd=task,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_node_layer_loads_from_opt_nodejs_node_modules_with_the_runtime_sdk(
    tmp_path: Path,
) -> None:
    ran = _run_from_layer(tmp_path, node_path=str(ROOT / "node_modules"))

    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.splitlines()[-1])
    # It reached for DynamoDB with the runtime's SDK, and still answered in full.
    assert result["reason"] == "lookup_failed:ECONNREFUSED"
    assert result["response"]["messages"] == [
        {"contentType": "CustomPayload", "content": "From the layer."}
    ]


def test_the_node_layer_does_not_bundle_the_aws_sdk(tmp_path: Path) -> None:
    ran = _run_from_layer(tmp_path, node_path=None)

    assert ran.returncode != 0
    assert "Cannot find module '@aws-sdk/client-dynamodb'" in ran.stderr
