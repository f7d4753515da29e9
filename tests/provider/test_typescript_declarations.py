"""The declarations of `@pulumi/lexstream` map every schema type the way Pulumi's Node.js
SDKs do, and refuse what they do not express."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.provider.typescript_declarations import (
    UnsupportedSchemaError,
    input_type,
    output_type,
    resource_declaration,
    write_package,
)

OBJECT = {"$ref": "#/types/pkg:index:Fulfillment"}
ANY = {"$ref": "pulumi.json#/Any"}


@pytest.mark.parametrize(
    ("spec", "as_input", "as_output"),
    [
        ({"type": "string"}, "pulumi.Input<string>", "string"),
        ({"type": "integer"}, "pulumi.Input<number>", "number"),
        ({"type": "number"}, "pulumi.Input<number>", "number"),
        ({"type": "boolean"}, "pulumi.Input<boolean>", "boolean"),
        (
            {"type": "array", "items": {"type": "string"}},
            "pulumi.Input<pulumi.Input<string>[]>",
            "string[]",
        ),
        (
            {"type": "object", "additionalProperties": {"type": "integer"}},
            "pulumi.Input<{[key: string]: pulumi.Input<number>}>",
            "{[key: string]: number}",
        ),
        (
            {"type": "object"},
            "pulumi.Input<{[key: string]: pulumi.Input<string>}>",
            "{[key: string]: string}",
        ),
        (OBJECT, "pulumi.Input<inputs.FulfillmentArgs>", "outputs.Fulfillment"),
        (ANY, "any", "any"),
        (
            {"type": "object", "additionalProperties": ANY},
            "pulumi.Input<{[key: string]: any}>",
            "{[key: string]: any}",
        ),
    ],
)
def test_each_schema_type_has_its_typescript_type(
    spec: dict[str, Any], as_input: str, as_output: str
) -> None:
    assert input_type(spec) == as_input
    assert output_type(spec) == as_output


@pytest.mark.parametrize(
    ("spec", "as_input"),
    [
        ({"type": "integer", "plain": True}, "number"),
        ({**OBJECT, "plain": True}, "inputs.FulfillmentArgs"),
        # Only the level that carries the mark is plain: the items may still be outputs.
        ({"type": "array", "items": {"type": "string"}, "plain": True}, "pulumi.Input<string>[]"),
        (
            {"type": "array", "items": {"type": "string", "plain": True}, "plain": True},
            "string[]",
        ),
        (
            {"type": "object", "additionalProperties": {"type": "string"}, "plain": True},
            "{[key: string]: pulumi.Input<string>}",
        ),
    ],
)
def test_a_plain_level_of_an_input_is_not_wrapped_in_input(
    spec: dict[str, Any], as_input: str
) -> None:
    assert input_type(spec) == as_input


def component(**overrides: Any) -> dict[str, Any]:
    return {
        "isComponent": True,
        "inputProperties": {"limit": {"type": "integer"}, "name": {"type": "string"}},
        "requiredInputs": [],
        "properties": {"url": {"type": "string"}, "arn": {"type": "string"}},
        "required": ["url"],
        **overrides,
    }


def test_a_component_is_a_component_resource_class_with_an_args_interface() -> None:
    declared = resource_declaration("Backend", component())
    assert "export declare class Backend extends pulumi.ComponentResource {" in declared
    assert "    readonly url: pulumi.Output<string>;" in declared
    assert "    readonly arn: pulumi.Output<string | undefined>;" in declared
    assert (
        "    constructor(name: string, args?: BackendArgs, opts?: pulumi.ComponentResourceOptions);"
    ) in declared
    assert "export interface BackendArgs {" in declared
    assert "    limit?: pulumi.Input<number>;" in declared


def test_a_required_input_makes_the_args_required() -> None:
    declared = resource_declaration("Backend", component(requiredInputs=["name"]))
    assert "constructor(name: string, args: BackendArgs," in declared
    assert "    name: pulumi.Input<string>;" in declared
    assert "    limit?: pulumi.Input<number>;" in declared


def test_object_types_are_args_interfaces_for_inputs_and_plain_interfaces_for_outputs(
    tmp_path: Path,
) -> None:
    schema = {
        "name": "pkg",
        "version": "1.2.3",
        "resources": {"pkg:index:Backend": component()},
        "types": {
            "pkg:index:Fulfillment": {
                "type": "object",
                "properties": {"modelId": {"type": "string"}, "maxTokens": {"type": "integer"}},
                "required": ["modelId"],
            }
        },
    }
    sdk = write_package(schema, tmp_path / "pkg")
    inputs = (sdk / "types" / "input.d.ts").read_text()
    outputs = (sdk / "types" / "output.d.ts").read_text()
    assert "export interface FulfillmentArgs {" in inputs
    assert "    modelId: pulumi.Input<string>;" in inputs
    assert "    maxTokens?: pulumi.Input<number>;" in inputs
    assert "export interface Fulfillment {" in outputs
    assert "    modelId: string;" in outputs
    assert "    maxTokens?: number;" in outputs
    assert (sdk / "backend.d.ts").exists()
    assert '"name": "@pulumi/pkg"' in (sdk / "package.json").read_text()


@pytest.mark.parametrize(
    "schema",
    [
        {"name": "pkg", "resources": {"pkg:index:Bucket": {"inputProperties": {}}}},
        {"name": "pkg", "resources": {"pkg:storage:Backend": component()}},
        {"name": "pkg", "functions": {"pkg:index:lookup": {}}},
        {"name": "pkg", "types": {"pkg:index:Mode": {"type": "string", "enum": [{"value": "a"}]}}},
        {
            "name": "pkg",
            "resources": {
                "pkg:index:Backend": component(
                    inputProperties={"role": {"$ref": "/aws/v7.0.0/schema.json#/resources/x"}}
                )
            },
        },
        {
            "name": "pkg",
            "resources": {
                "pkg:index:Backend": component(
                    inputProperties={"size": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}
                )
            },
        },
    ],
    ids=["custom resource", "other module", "function", "enum", "other package", "oneOf"],
)
def test_what_the_declarations_cannot_express_fails_instead_of_being_left_out(
    schema: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(UnsupportedSchemaError):
        write_package(schema, tmp_path / "pkg")
