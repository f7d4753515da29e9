"""The YAML example program uses only what the served schema declares, with values of
the declared types (the TypeScript example is type-checked in test_typescript_example)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from components.streaming_backend import TYPE_TOKEN
from provider.schema import package_schema

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
INTERPOLATION = re.compile(r"\$\{(\w+)(?:\.(\w+))?\}")


def check_value(value: Any, spec: dict[str, Any], schema: dict[str, Any], where: str) -> None:
    if isinstance(value, str) and INTERPOLATION.fullmatch(value):
        return  # a config value or another resource's output, typed by the program
    if "$ref" in spec:
        properties = schema["types"][spec["$ref"].removeprefix("#/types/")]["properties"]
        assert isinstance(value, dict), where
        for key, item in value.items():
            assert key in properties, f"{where}.{key} is not in the schema"
            check_value(item, properties[key], schema, f"{where}.{key}")
        return
    kind = spec["type"]
    python_types = {"string": str, "integer": int, "number": int | float, "boolean": bool}
    if kind in python_types:
        assert isinstance(value, python_types[kind]), f"{where} should be a {kind}"
    elif kind == "array":
        for item in value:
            check_value(item, spec["items"], schema, where + "[]")
    elif kind == "object":
        for key, item in value.items():
            check_value(item, spec["additionalProperties"], schema, f"{where}.{key}")


def test_the_yaml_example_sets_only_declared_arguments_and_reads_declared_outputs() -> None:
    schema = package_schema()
    resource = schema["resources"][TYPE_TOKEN]
    program = yaml.safe_load((EXAMPLES / "yaml" / "Pulumi.yaml").read_text())
    (name, declaration), *others = program["resources"].items()
    assert not others
    # Pulumi YAML accepts the token without its `index` module.
    assert declaration["type"].replace(":", ":index:", 1) == TYPE_TOKEN
    assert "lexstream" in program["packages"]
    for key, value in declaration["properties"].items():
        assert key in resource["inputProperties"], f"{key} is not in the schema"
        check_value(value, resource["inputProperties"][key], schema, key)
    for expression in program["outputs"].values():
        resource_name, output = INTERPOLATION.fullmatch(expression).groups()  # type: ignore[union-attr]
        assert resource_name == name
        assert output in resource["properties"]
