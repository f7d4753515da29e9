"""The Pulumi package schema of StreamingBackend, derived from its Python declarations.

Every input property comes from a field of `StreamingBackendArgs` (nested dataclasses such
as `ExampleFulfillmentArgs` become object types): its name in camelCase, its type from the
annotation, its default from the field, its description from the docstring written under
the field. Every output property comes from an attribute that `StreamingBackend` annotates
as a `pulumi.Output`, described the same way. Nothing here lists an argument or an
output by hand, so a new field reaches every language without touching this module.

One rule leaves arguments out: a field whose type involves a Python callable (today only
`transforms`) cannot cross a language boundary, so it stays a Python-only argument. Any
other type this module cannot map is an error, raised when the schema is built.

The same type walk turns the values a Construct request carries back into the dataclass,
so that the Python component validates them with its own rules.
"""

from __future__ import annotations

import ast
import collections.abc
import dataclasses
import inspect
import itertools
import re
import sys
import textwrap
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi.output import Unknown

from components import InvalidArgumentError, StreamingBackend, StreamingBackendArgs
from components.streaming_backend import TYPE_TOKEN

PACKAGE = TYPE_TOKEN.split(":", 1)[0]
MODULE = f"{PACKAGE}:index"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# Input object types are named without the Python `Args` suffix: SDK generators add their
# own (`ExampleFulfillmentArgs` in TypeScript comes from the type `ExampleFulfillment`).
ARGS_SUFFIX = "Args"
ANY_REF = "pulumi.json#/Any"
PRIMITIVE_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
# The largest whole number a float (every number on the wire) holds exactly.
EXACT_FLOAT_INTEGER = 2**53


class UnmappableTypeError(TypeError):
    """A declared argument or output has a type that no Pulumi schema type expresses."""


class PythonOnlyTypeError(TypeError):
    """The type involves a Python callable: the argument exists only for Python callers."""


def property_name(argument: str) -> str:
    """The schema name of a Python argument path: `example_fulfillment.model_id` →
    `exampleFulfillment.modelId`."""
    return ".".join(_camel(part) for part in argument.split("."))


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def package_version() -> str:
    """The package version, as pyproject.toml declares it."""
    return tomllib.loads(PYPROJECT.read_text())["project"]["version"]


def attribute_docs(cls: type) -> dict[str, str]:
    """The docstring written under each annotated attribute of `cls`, whitespace folded."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def schema_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of a dataclass that cross languages (Python-only ones left out)."""
    hints = typing.get_type_hints(cls)
    crossing = []
    for field in dataclasses.fields(cls):
        try:
            _TypeWalk().schema_type(hints[field.name])
        except PythonOnlyTypeError:
            continue
        except UnmappableTypeError as error:
            raise UnmappableTypeError(f"{cls.__name__}.{field.name} is {error}") from None
        crossing.append(field)
    return crossing


def python_only_arguments(cls: type = StreamingBackendArgs) -> list[str]:
    """The arguments left out of the schema because they hold Python callables."""
    kept = {field.name for field in schema_fields(cls)}
    return [field.name for field in dataclasses.fields(cls) if field.name not in kept]


def output_names(component: type = StreamingBackend) -> list[str]:
    """The attributes `component` annotates as `pulumi.Output` (optionally None), in order."""
    hints = _own_type_hints(component)
    return [name for name, hint in hints.items() if _output_value_type(hint) is not None]


def _own_type_hints(cls: type) -> dict[str, Any]:
    # Only the class's own annotations: the Pulumi base classes' cannot all be resolved.
    module_globals = vars(sys.modules[cls.__module__])
    return {
        name: eval(hint, module_globals) if isinstance(hint, str) else hint
        for name, hint in inspect.get_annotations(cls).items()
    }


def _output_value_type(hint: Any) -> tuple[Any, bool] | None:
    """`(T, optional)` for `pulumi.Output[T]` or `pulumi.Output[T] | None`, else None."""
    optional = False
    if _is_union(hint):
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        if len(members) != 1:
            return None
        hint = members[0]
    if typing.get_origin(hint) is pulumi.Output:
        return typing.get_args(hint)[0], optional
    return None


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


class _TypeWalk:
    """Maps Python annotations to schema types, collecting the object types it meets."""

    def __init__(self) -> None:
        self.object_types: dict[str, dict[str, Any]] = {}

    def schema_type(self, hint: Any) -> dict[str, Any]:
        if hint is Any:
            return {"$ref": ANY_REF}
        if _is_union(hint):
            members = [m for m in typing.get_args(hint) if m is not type(None)]
            if len(members) != 1:
                raise UnmappableTypeError(f"a union of several types: {hint}")
            return self.schema_type(members[0])
        if hint in PRIMITIVE_TYPES:
            return {"type": PRIMITIVE_TYPES[hint]}
        if dataclasses.is_dataclass(hint):
            return {"$ref": f"#/types/{self.object_type(hint)}"}
        origin, params = typing.get_origin(hint), typing.get_args(hint)
        if origin in (collections.abc.Callable, Callable) or hint in (
            collections.abc.Callable,
            Callable,
        ):
            raise PythonOnlyTypeError(f"a Python callable: {hint}")
        if origin in (collections.abc.Sequence, list, tuple) and params:
            if origin is tuple and not (len(params) == 2 and params[1] is Ellipsis):
                raise UnmappableTypeError(f"a fixed-length tuple: {hint}")
            return {"type": "array", "items": self.schema_type(params[0])}
        if origin in (collections.abc.Mapping, dict) and params:
            if params[0] is not str:
                raise UnmappableTypeError(f"a mapping with non-string keys: {hint}")
            return {"type": "object", "additionalProperties": self.schema_type(params[1])}
        raise UnmappableTypeError(f"no schema type for {hint!r}")

    def object_type(self, cls: type) -> str:
        token = f"{MODULE}:{cls.__name__.removesuffix(ARGS_SUFFIX)}"
        if token not in self.object_types:
            self.object_types[token] = {}  # placeholder: a type may refer to itself
            self.object_types[token] = {
                "type": "object",
                "description": _doc_summary(cls),
                "properties": self.properties(cls),
            }
        return token

    def properties(self, cls: type) -> dict[str, dict[str, Any]]:
        hints = typing.get_type_hints(cls)
        docs = attribute_docs(cls)
        properties = {}
        for field in schema_fields(cls):
            spec = self.schema_type(hints[field.name])
            if field.name not in docs:
                raise UnmappableTypeError(
                    f"{cls.__name__}.{field.name} has no docstring to describe it with"
                )
            spec["description"] = describe(docs[field.name])
            if isinstance(field.default, bool | int | float | str):
                spec["default"] = field.default
            # The Python arguments are plain values, validated when the component is built,
            # so the SDKs take plain values too (not outputs of other resources), down to
            # every list item and map value.
            properties[property_name(field.name)] = _plain_throughout(spec)
        return properties


def _plain_throughout(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` marked plain, with its list items and map values (recursively) too."""
    for nested in ("items", "additionalProperties"):
        if isinstance(spec.get(nested), dict):
            _plain_throughout(spec[nested])
    spec["plain"] = True
    return spec


def argument_properties(cls: type) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schema properties of the dataclass `cls`, and the object types they refer to;
    UnmappableTypeError names the first field that no schema type expresses."""
    walk = _TypeWalk()
    return walk.properties(cls), walk.object_types


def describe(docstring: str) -> str:
    """A docstring for another language: `snake_case` names of arguments and outputs in
    backticks become the camelCase property names that language uses."""
    known = {f.name for f in dataclasses.fields(StreamingBackendArgs)} | set(output_names())
    return re.sub(
        r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)",
        lambda m: "`" + (_camel(m[1]) if m[1] in known else m[1]),
        docstring,
    )


def _doc_summary(cls: type) -> str:
    return " ".join(inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].split())


def package_schema() -> dict[str, Any]:
    """The whole package schema, as GetSchema returns it (before JSON encoding)."""
    walk = _TypeWalk()
    inputs = walk.properties(StreamingBackendArgs)
    hints = _own_type_hints(StreamingBackend)
    docs = attribute_docs(StreamingBackend)
    outputs, required = {}, []
    for name in output_names():
        value_type, optional = _output_value_type(hints[name])  # type: ignore[misc]
        try:
            spec = walk.schema_type(value_type)
        except (UnmappableTypeError, PythonOnlyTypeError) as error:
            raise UnmappableTypeError(f"output {name} is {error}") from None
        if name not in docs:
            raise UnmappableTypeError(f"output {name} has no docstring to describe it with")
        spec["description"] = describe(docs[name])
        outputs[property_name(name)] = spec
        if not optional:
            required.append(property_name(name))
    return {
        "name": PACKAGE,
        "version": package_version(),
        "description": _doc_summary(StreamingBackend),
        "resources": {
            TYPE_TOKEN: {
                "isComponent": True,
                "description": _doc_summary(StreamingBackend),
                "inputProperties": inputs,
                "requiredInputs": [],
                "properties": outputs,
                "required": required,
            }
        },
        "types": walk.object_types,
    }


def args_from_inputs(cls: type, inputs: Mapping[str, Any], prefix: str = "") -> Any:
    """Build the dataclass `cls` from Construct inputs (camelCase, numbers as floats); the
    dataclass then validates the values with its own rules and messages."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in schema_fields(cls):
        argument = prefix + field.name
        raw = inputs.get(property_name(field.name))
        if raw is not None:
            values[field.name] = _from_wire(hints[field.name], raw, argument)
    return cls(**values)


def _from_wire(hint: Any, value: Any, argument: str) -> Any:
    """The Python value of one input, as the caller wrote it: its type is left as it came,
    so that the dataclass's own type check refuses a wrong one by name."""
    # An unknown (a resource output at preview) is refused like the output it stands for.
    if isinstance(value, pulumi.Output | Unknown):
        raise InvalidArgumentError(
            argument, "must be a plain value, known before deployment, not a resource output"
        )
    if _is_union(hint):
        hint = next(m for m in typing.get_args(hint) if m is not type(None))
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return args_from_inputs(hint, value, prefix=argument + ".")  # type: ignore[arg-type]
    # Every number crosses the wire as a float, so a whole one comes back as the int the
    # caller wrote (`7`, not `7.0`, in values and messages) whatever type is expected;
    # only a fraction stays a float, which an integer argument then refuses.
    if isinstance(value, float) and value.is_integer() and abs(value) <= EXACT_FLOAT_INTEGER:
        return int(value)
    origin, params = typing.get_origin(hint), typing.get_args(hint)
    if origin in (collections.abc.Sequence, list, tuple) and isinstance(value, list):
        return [_from_wire(params[0], item, argument) for item in value]
    if origin in (collections.abc.Mapping, dict) and isinstance(value, Mapping):
        return {key: _from_wire(params[1], item, argument) for key, item in value.items()}
    return value


def error_message(error: InvalidArgumentError) -> str:
    """The component's own message, naming each argument by its schema property name."""
    return error.describe(property_name)
