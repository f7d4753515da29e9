"""A Node.js handler run by the local stack imports what Lambda's Node.js runtime gives
it, wherever its folder is: the AWS SDK v3 clients (by ES-module `import` and by
`require`), the helper layer, its own node_modules, and nothing else installed in this
repository."""

from __future__ import annotations

import shutil
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_stack.stack_functions import handler_function

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed"),
]

LIST_TABLES_ESM = """
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";

const client = new DynamoDBClient({ endpoint: process.env.TABLE_ENDPOINT });

export const handler = async () => {
  const { TableNames } = await client.send(new ListTablesCommand({}));
  return { tables: TableNames };
};
"""

LIST_TABLES_CJS = """
const { DynamoDBClient, ListTablesCommand } = require("@aws-sdk/client-dynamodb");

const client = new DynamoDBClient({ endpoint: process.env.TABLE_ENDPOINT });

exports.handler = async () => {
  const { TableNames } = await client.send(new ListTablesCommand({}));
  return { tables: TableNames };
};
"""

# Both ways of loading a package, each reporting the error code Node gave, or "loaded".
IMPORT_PROBE = """
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export const handler = async ({ name }) => {
  const outcome = {};
  try {
    await import(name);
    outcome.esm = "loaded";
  } catch (error) {
    outcome.esm = error.code;
  }
  try {
    require(name);
    outcome.cjs = "loaded";
  } catch (error) {
    outcome.cjs = error.code;
  }
  return outcome;
};
"""


def invoke(handler_file: Path, event: Any, environment: dict[str, str] | None = None) -> Any:
    # Its credentials are this process's, the fake ones the session sets.
    function = handler_function(handler_file, "handler", environment or {}, timeout_s=30.0)
    try:
        return function.invoke(event)
    finally:
        function.close()


@pytest.fixture
def folder_in_repository() -> Iterator[Path]:
    """A handler folder inside this repository, whose ancestors hold its node_modules."""
    folder = Path(tempfile.mkdtemp(prefix=".node-handler-", dir=ROOT))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize(
    ("file_name", "source"), [("index.mjs", LIST_TABLES_ESM), ("index.cjs", LIST_TABLES_CJS)]
)
def test_a_handler_outside_the_repository_calls_dynamodb_with_the_runtimes_sdk(
    tmp_path: Path, dynamodb: Any, dynamodb_local: str, file_name: str, source: str
):
    assert not tmp_path.is_relative_to(ROOT)
    table = f"sdk-{uuid.uuid4().hex[:12]}"
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        (tmp_path / file_name).write_text(source)
        result = invoke(tmp_path / file_name, {}, {"TABLE_ENDPOINT": dynamodb_local})
    finally:
        dynamodb.delete_table(TableName=table)

    assert table in result["tables"]


@pytest.mark.parametrize("package", ["typescript", "esbuild", "@pulumi/pulumi"])
def test_a_handler_inside_the_repository_cannot_load_its_development_packages(
    folder_in_repository: Path, package: str
):
    assert (ROOT / "node_modules" / package / "package.json").is_file()
    (folder_in_repository / "index.mjs").write_text(IMPORT_PROBE)

    outcome = invoke(folder_in_repository / "index.mjs", {"name": package})

    assert outcome == {"esm": "ERR_MODULE_NOT_FOUND", "cjs": "MODULE_NOT_FOUND"}


def test_a_handler_inside_the_repository_loads_the_sdk_both_ways(folder_in_repository: Path):
    (folder_in_repository / "index.mjs").write_text(IMPORT_PROBE)

    outcome = invoke(folder_in_repository / "index.mjs", {"name": "@aws-sdk/client-dynamodb"})

    assert outcome == {"esm": "loaded", "cjs": "loaded"}


def test_a_handlers_own_node_modules_load_before_the_runtimes(tmp_path: Path):
    # Its own copy of a package the runtime also has wins, as on Lambda (/var/task first).
    for name, marker in [("own-package", "own"), ("@aws-sdk/client-dynamodb", "bundled")]:
        package = tmp_path / "node_modules" / name
        package.mkdir(parents=True)
        (package / "package.json").write_text(f'{{"name": "{name}", "main": "index.js"}}')
        (package / "index.js").write_text(f'exports.marker = "{marker}";')
    (tmp_path / "index.mjs").write_text(
        textwrap.dedent(
            """
            import { createRequire } from "node:module";
            import own from "own-package";
            import sdk from "@aws-sdk/client-dynamodb";

            const require = createRequire(import.meta.url);

            export const handler = async () => ({
              esm: [own.marker, sdk.marker],
              cjs: [require("own-package").marker, require("@aws-sdk/client-dynamodb").marker],
            });
            """
        )
    )

    result = invoke(tmp_path / "index.mjs", {})

    assert result == {"esm": ["own", "bundled"], "cjs": ["own", "bundled"]}
