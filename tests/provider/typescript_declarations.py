"""TypeScript declarations of a component package's Node.js SDK, written from its schema.

`pulumi package add` generates `@pulumi/lexstream` with Pulumi's SDK generator, which is
part of the Pulumi CLI and cannot be installed here. So that the TypeScript example can
still be type-checked against the schema the plugin serves, this module writes the
declarations (`.d.ts` files, no JavaScript) of that SDK itself. It is hand-written because
the generator has no form other than the CLI. It follows the shape of the Node.js SDKs
Pulumi generates, as published packages such as `@pulumi/eks` show it:

- The package is a folder with `package.json`, `index.d.ts`, one `.d.ts` per resource,
  named after it in camelCase, and `types/input.d.ts` and `types/output.d.ts`, exported
  from `index.d.ts` as the namespace `types`.
- A component `pkg:index:Name` becomes `export declare class Name extends
  pulumi.ComponentResource`, with `static isInstance`, one `readonly` property per output
  typed `pulumi.Output<T>` (`pulumi.Output<T | undefined>` unless the output is required)
  and `constructor(name: string, args?: NameArgs, opts?: pulumi.ComponentResourceOptions)`
  (`args` without `?` once an input is required).
- Its inputs become `export interface NameArgs`, a property with `?` unless required.
- An object type `pkg:index:Foo` becomes `FooArgs` in `types/input.d.ts`, met as
  `inputs.FooArgs`, and `Foo` in `types/output.d.ts`, met as `outputs.Foo`.
- Schema types map to `string`, `number` (integer and number), `boolean`, `T[]` (array),
  `{[key: string]: T}` (object with `additionalProperties`, string values without) and
  `any` (`pulumi.json#/Any`).
- On the input side each level of a type is wrapped in `pulumi.Input<...>` unless that
  level is marked `"plain": true`: a plain array of strings is `pulumi.Input<string>[]`,
  because only the array carries the mark, not its items. Output types are never wrapped.

What the schema can hold beyond that (custom resources, functions, enums, `oneOf`,
references to other packages, modules other than `index`) raises
`UnsupportedSchemaError`, so that nothing is silently left out of the declarations.
Descriptions become doc comments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

ANY_REF = "pulumi.json#/Any"
LOCAL_TYPE_REF = "#/types/"
PRIMITIVES = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}
IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


class UnsupportedSchemaError(ValueError):
    """The schema uses something these declarations do not express."""


def write_package(schema: dict[str, Any], folder: Path) -> Path:
    """Write the declarations of `schema`'s Node.js SDK into `folder` (created), the way
    `node_modules/@pulumi/<name>` holds them; returns `folder`."""
    for section in ("functions", "config", "provider"):
        if schema.get(section):
            raise UnsupportedSchemaError(f"the schema has {section}, which is not declared")
    (folder / "types").mkdir(parents=True, exist_ok=True)
    package_json = {
        "name": f"@pulumi/{schema['name']}",
        "version": schema.get("version", "0.0.0"),
        "types": "index.d.ts",
    }
    (folder / "package.json").write_text(json.dumps(package_json, indent=2) + "\n")
    modules = []
    for token, resource in schema.get("resources", {}).items():
        name = _index_name(token)
        module = name[0].lower() + name[1:]
        (folder / f"{module}.d.ts").write_text(resource_declaration(name, resource))
        modules.append(module)
    exports = [f'export * from "./{module}";' for module in modules]
    exports += ['import * as types from "./types";', "export { types };"]
    (folder / "index.d.ts").write_text("\n".join(exports) + "\n")
    (folder / "types" / "index.d.ts").write_text(
        'import * as input from "./input";\n'
        'import * as output from "./output";\n'
        "export { input, output };\n"
    )
    types = schema.get("types", {})
    (folder / "types" / "input.d.ts").write_text(object_declarations(types, "input"))
    (folder / "types" / "output.d.ts").write_text(object_declarations(types, "output"))
    return folder


def resource_declaration(name: str, resource: dict[str, Any]) -> str:
    """The `.d.ts` module of one component: its class and its `Args` interface."""
    if not resource.get("isComponent"):
        raise UnsupportedSchemaError(f"{name} is a custom resource; only components are declared")
    required_outputs = set(resource.get("required", []))
    required_inputs = set(resource.get("requiredInputs", []))
    lines = [*_imports("./types"), ""]
    lines += _doc(resource.get("description"), "")
    lines.append(f"export declare class {name} extends pulumi.ComponentResource {{")
    lines.append(f"    static isInstance(obj: any): obj is {name};")
    for output, spec in resource.get("properties", {}).items():
        value = output_type(spec)
        if output not in required_outputs:
            value += " | undefined"
        lines += _doc(spec.get("description"), "    ")
        lines.append(f"    readonly {_member(output)}: pulumi.Output<{value}>;")
    args = "args" if required_inputs else "args?"
    lines.append(
        f"    constructor(name: string, {args}: {name}Args, "
        "opts?: pulumi.ComponentResourceOptions);"
    )
    lines += ["}", ""]
    lines += _interface(
        f"{name}Args", resource.get("inputProperties", {}), required_inputs, "input"
    )
    return "\n".join(lines) + "\n"


def object_declarations(types: dict[str, Any], side: str) -> str:
    """`types/input.d.ts` (`side="input"`) or `types/output.d.ts` (`"output"`)."""
    lines = [*_imports("."), ""]
    for token, spec in types.items():
        if spec.get("type") != "object" or "enum" in spec:
            raise UnsupportedSchemaError(f"type {token} is not an object type")
        name = _index_name(token) + ("Args" if side == "input" else "")
        lines += _doc(spec.get("description"), "")
        lines += _interface(name, spec.get("properties", {}), set(spec.get("required", [])), side)
    return "\n".join(lines) + "\n"


def input_type(spec: dict[str, Any]) -> str:
    """The TypeScript type of an input property, or of one level inside it."""
    if spec.get("$ref") == ANY_REF:
        return "any"
    inner = _type(spec, input_type, "inputs", "Args")
    return inner if spec.get("plain") else f"pulumi.Input<{inner}>"


def output_type(spec: dict[str, Any]) -> str:
    """The TypeScript type of an output property, or of one level inside it."""
    if spec.get("$ref") == ANY_REF:
        return "any"
    return _type(spec, output_type, "outputs", "")


def _type(
    spec: dict[str, Any], nested: Callable[[dict[str, Any]], str], namespace: str, suffix: str
) -> str:
    if "oneOf" in spec:
        raise UnsupportedSchemaError(f"oneOf is not declared: {spec}")
    if "$ref" in spec:
        ref = spec["$ref"]
        if not ref.startswith(LOCAL_TYPE_REF):
            raise UnsupportedSchemaError(f"a reference outside the package's types: {ref}")
        return f"{namespace}.{_index_name(ref.removeprefix(LOCAL_TYPE_REF))}{suffix}"
    kind = spec.get("type")
    if kind in PRIMITIVES:
        return PRIMITIVES[kind]
    if kind == "array":
        return f"{nested(spec['items'])}[]"
    if kind == "object":
        # An object without additionalProperties is a map of strings in every SDK.
        values = spec.get("additionalProperties", {"type": "string"})
        return f"{{[key: string]: {nested(values)}}}"
    raise UnsupportedSchemaError(f"no TypeScript type for {spec}")


def _interface(name: str, properties: dict[str, Any], required: set[str], side: str) -> list[str]:
    to_type = input_type if side == "input" else output_type
    lines = [f"export interface {name} {{"]
    for prop, spec in properties.items():
        lines += _doc(spec.get("description"), "    ")
        optional = "" if prop in required else "?"
        lines.append(f"    {_member(prop)}{optional}: {to_type(spec)};")
    return [*lines, "}", ""]


def _imports(types_folder: str) -> list[str]:
    """The imports of a module, given the path from it to the `types` folder."""
    return [
        'import * as pulumi from "@pulumi/pulumi";',
        f'import * as inputs from "{types_folder}/input";',
        f'import * as outputs from "{types_folder}/output";',
    ]


def _index_name(token: str) -> str:
    """`lexstream:index:StreamingBackend` → `StreamingBackend`."""
    _, module, name = token.split(":")
    if module != "index":
        raise UnsupportedSchemaError(f"{token} is in module {module!r}; only index is declared")
    return name


def _member(name: str) -> str:
    return name if IDENTIFIER.fullmatch(name) else json.dumps(name)


def _doc(description: str | None, indent: str) -> list[str]:
    if not description:
        return []
    text = description.replace("*/", "*\\/")
    return [
        f"{indent}/**",
        *(f"{indent} * {line}".rstrip() for line in text.splitlines()),
        f"{indent} */",
    ]
