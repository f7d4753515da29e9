"""The TypeScript example type-checks against `@pulumi/lexstream` as declared from the
schema the plugin serves, with the real types of Pulumi's Node.js SDK; a copy of it with
one mistake (an argument or output the schema lacks, a value of the wrong type) does not.

The declarations are written by `typescript_declarations`, which follows the shape of the
SDKs Pulumi generates; Pulumi's own generator is not run (see docs/any-language.md).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.provider.fake_engine import RunningPlugin
from tests.provider.typescript_declarations import write_package

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "typescript"
NODE_MODULES = ROOT / "node_modules"
TSC = NODE_MODULES / "typescript" / "bin" / "tsc"
DIAGNOSTIC = re.compile(r"^(?P<file>.+)\((?P<line>\d+),\d+\): error TS\d+: (?P<message>.*)$")

# Each mistake replaces one piece of the example; tsc must fail on the changed line with
# a message that contains the last item.
MISTAKES = {
    "misspelt_argument": ("quotaLimit: 5000", "quotaLimt: 5000", "'quotaLimt' does not exist"),
    "misspelt_nested_argument": ("modelId:", "modelID:", "'modelID' does not exist"),
    "argument_of_the_wrong_type": (
        "quotaLimit: 5000",
        'quotaLimit: "5000"',
        "Type 'string' is not assignable to type 'number'",
    ),
    "nested_argument_of_the_wrong_type": (
        "maxTokens: 512",
        'maxTokens: "512"',
        "Type 'string' is not assignable to type 'number'",
    ),
    "map_argument_of_the_wrong_type": (
        'tags: { team: "support" }',
        "tags: { team: 7 }",
        "Type 'number' is not assignable to type 'string'",
    ),
    "resource_output_in_a_plain_list": (
        'config.requireObject<string[]>("webUiRoleNames")',
        '[pulumi.output("SupportWebUi-AuthRole")]',
        "Type 'Output<string>' is not assignable to type 'string'",
    ),
    "resource_output_for_a_plain_argument": (
        'authMode: "iam"',
        'authMode: pulumi.output("iam")',
        "Type 'Output<string>' is not assignable to type 'string",
    ),
    "misspelt_output": ("chat.tableName", "chat.tableNme", "'tableNme' does not exist"),
    "optional_output_read_as_always_set": (
        "export const tableName = chat.tableName",
        "export const tableName: pulumi.Output<string> = chat.dashboardUrl",
        "Type 'Output<string | undefined>' is not assignable to type 'Output<string>'",
    ),
}


@pytest.fixture(scope="module")
def checkout(plugin: RunningPlugin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder with `@pulumi/lexstream` declared from the served schema and a tsconfig
    that extends the example's own, resolving `@pulumi/pulumi` to the installed package."""
    assert TSC.exists(), f"{TSC} is missing: run scripts/test, or npm ci, first"
    folder = tmp_path_factory.mktemp("typescript")
    sdk = write_package(plugin.schema(), folder / "lexstream")
    base = {
        "extends": str(EXAMPLE / "tsconfig.json"),
        "compilerOptions": {
            "noEmit": True,
            "paths": {
                "@pulumi/lexstream": [str(sdk)],
                "@pulumi/pulumi": [str(NODE_MODULES / "@pulumi" / "pulumi")],
            },
            "typeRoots": [str(NODE_MODULES / "@types")],
            "types": ["node"],
        },
    }
    (folder / "tsconfig.base.json").write_text(json.dumps(base, indent=2))
    yield folder


def type_check(checkout: Path, name: str, files: list[Path]) -> tuple[int, str]:
    """tsc's exit code and output (every file it read, then its errors) for `files`."""
    tsconfig = checkout / f"tsconfig.{name}.json"
    settings = {"extends": str(checkout / "tsconfig.base.json"), "files": [str(f) for f in files]}
    tsconfig.write_text(json.dumps(settings, indent=2))
    result = subprocess.run(
        ["node", str(TSC), "-p", str(tsconfig), "--pretty", "false", "--listFiles"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


def errors_by_file(output: str) -> dict[str, list[tuple[int, str]]]:
    errors: dict[str, list[tuple[int, str]]] = {}
    for line in output.splitlines():
        if match := DIAGNOSTIC.match(line):
            name = Path(match["file"]).name
            errors.setdefault(name, []).append((int(match["line"]), match["message"]))
    return errors


def test_the_typescript_example_type_checks_against_the_declared_sdk(checkout: Path) -> None:
    code, output = type_check(checkout, "example", [EXAMPLE / "index.ts"])
    assert code == 0, output
    read = output.splitlines()
    # The types came from the declarations of the served schema and from Pulumi's SDK.
    assert str(checkout / "lexstream" / "streamingBackend.d.ts") in read
    assert str(NODE_MODULES / "@pulumi" / "pulumi" / "index.d.ts") in read


@pytest.fixture(scope="module")
def mistakes_checked(checkout: Path) -> tuple[dict[str, list[tuple[int, str]]], str]:
    """Every mistake in a copy of the example of its own, checked in one tsc run."""
    example = (EXAMPLE / "index.ts").read_text()
    variants = []
    for case, (original, mistake, _) in MISTAKES.items():
        assert example.count(original) == 1, f"{case}: the example no longer has {original!r}"
        variant = checkout / f"{case}.ts"
        variant.write_text(example.replace(original, mistake))
        variants.append(variant)
    code, output = type_check(checkout, "mistakes", variants)
    assert code != 0, output
    return errors_by_file(output), output


@pytest.mark.parametrize("case", MISTAKES)
def test_a_mistake_in_the_typescript_example_fails_the_type_check_naming_it(
    case: str, mistakes_checked: tuple[dict[str, list[tuple[int, str]]], str]
) -> None:
    errors, output = mistakes_checked
    original, _, expected = MISTAKES[case]
    example = (EXAMPLE / "index.ts").read_text()
    line = example[: example.index(original)].count("\n") + 1
    assert any(
        at == line and expected in message for at, message in errors.get(f"{case}.ts", [])
    ), f"{case}: no error on line {line} with {expected!r}:\n{output}"
