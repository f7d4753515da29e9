"""The schema the plugin serves over gRPC is StreamingBackendArgs and StreamingBackend's
outputs: every argument with its type, default and description, and nothing else."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from components import ExampleFulfillmentArgs, StreamingBackend, StreamingBackendArgs
from components.streaming_backend import TYPE_TOKEN
from provider.schema import (
    UnmappableTypeError,
    argument_properties,
    property_name,
    python_only_arguments,
)
from tests.provider.fake_engine import RunningPlugin


def declared_docs(cls: type) -> dict[str, str]:
    """The docstring under each annotated attribute, read from the source text."""
    import inspect

    source = textwrap.dedent(inspect.getsource(cls))
    pattern = re.compile(r'^    (\w+): [^\n]+\n    """(.*?)"""', re.MULTILINE | re.DOTALL)
    return {name: " ".join(doc.split()) for name, doc in pattern.findall(source)}


def as_python_names(description: str, names: set[str]) -> str:
    """Undo the schema's renaming of argument and output names in backticks."""
    for name in names:
        description = description.replace("`" + property_name(name), "`" + name)
    return description


def conforms(value: Any, spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Whether a Python default is a value of the schema type `spec` (None: left out)."""
    if value is None:
        return True
    if "$ref" in spec:
        return dataclasses.is_dataclass(value)
    kind = spec["type"]
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, Sequence) and all(
            conforms(item, spec["items"], schema) for item in value
        )
    if kind == "object":
        return isinstance(value, Mapping) and all(
            conforms(item, spec["additionalProperties"], schema) for item in value.values()
        )
    return False


ALL_NAMES = {f.name for f in dataclasses.fields(StreamingBackendArgs)} | set(
    StreamingBackend.__annotations__
)


def check_properties(cls: type, properties: dict[str, Any], schema: dict[str, Any]) -> None:
    fields = [f for f in dataclasses.fields(cls) if f.name not in python_only_arguments(cls)]
    assert list(properties) == [property_name(f.name) for f in fields]
    docs = declared_docs(cls)
    for field in fields:
        spec = properties[property_name(field.name)]
        default = (
            field.default_factory()  # type: ignore[misc]
            if field.default is dataclasses.MISSING
            else field.default
        )
        assert conforms(default, spec, schema), (field.name, default, spec)
        if isinstance(default, bool | int | float | str):
            assert spec["default"] == default, field.name
        else:
            # Collections default to empty and optional objects to absent: no default.
            assert "default" not in spec and not default, field.name
        assert as_python_names(spec["description"], ALL_NAMES) == docs[field.name]
        assert spec["plain"] is True


def test_the_plugin_serves_every_argument_with_type_default_and_description(
    plugin: RunningPlugin,
) -> None:
    schema = plugin.schema()
    resource = schema["resources"][TYPE_TOKEN]
    assert resource["isComponent"] is True
    assert resource["requiredInputs"] == []
    check_properties(StreamingBackendArgs, resource["inputProperties"], schema)


def test_nested_arguments_are_object_types_of_their_own(plugin: RunningPlugin) -> None:
    schema = plugin.schema()
    example = schema["resources"][TYPE_TOKEN]["inputProperties"]["exampleFulfillment"]
    assert example["$ref"] == "#/types/lexstream:index:ExampleFulfillment"
    nested = schema["types"]["lexstream:index:ExampleFulfillment"]
    assert nested["type"] == "object"
    check_properties(ExampleFulfillmentArgs, nested["properties"], schema)


def test_the_plugin_serves_every_output_of_the_component(plugin: RunningPlugin) -> None:
    resource = plugin.schema()["resources"][TYPE_TOKEN]
    annotations = StreamingBackend.__annotations__
    outputs = [name for name, hint in annotations.items() if hint.startswith("pulumi.Output")]
    assert list(resource["properties"]) == [property_name(name) for name in outputs]
    assert resource["required"] == [
        property_name(name) for name in outputs if not annotations[name].endswith("| None")
    ]
    docs = declared_docs(StreamingBackend)
    for name in outputs:
        spec = resource["properties"][property_name(name)]
        assert as_python_names(spec["description"], ALL_NAMES) == docs[name]
    assert resource["properties"]["websocketUrl"]["type"] == "string"
    assert resource["properties"]["webUiConfig"]["type"] == "object"


def test_only_arguments_holding_python_callables_stay_out_of_the_schema() -> None:
    left_out = python_only_arguments()
    assert left_out == ["transforms"]
    for name in left_out:
        assert "Transform" in StreamingBackendArgs.__dataclass_fields__[name].type


@dataclasses.dataclass(frozen=True)
class WithACallable:
    name: str = "x"
    """A name."""

    hook: Callable[[str], None] | None = None
    """A Python-only hook."""


@dataclasses.dataclass(frozen=True)
class WithAnUnmappableType:
    name: str = "x"
    """A name."""

    window: complex = 0j
    """No Pulumi type expresses this."""


@dataclasses.dataclass(frozen=True)
class WithoutADocstring:
    name: str = "x"


def test_a_callable_argument_is_left_out_by_rule() -> None:
    properties, _ = argument_properties(WithACallable)
    assert list(properties) == ["name"]
    assert python_only_arguments(WithACallable) == ["hook"]


def test_an_argument_of_an_unmappable_type_fails_the_schema() -> None:
    with pytest.raises(UnmappableTypeError, match=r"WithAnUnmappableType\.window"):
        argument_properties(WithAnUnmappableType)


def test_an_argument_without_a_description_fails_the_schema() -> None:
    with pytest.raises(UnmappableTypeError, match=r"WithoutADocstring\.name has no docstring"):
        argument_properties(WithoutADocstring)
