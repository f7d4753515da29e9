"""Every argument the package schema declares, each with the values of every JSON kind
that its schema type does not take, and every number argument with its range.

Both the Python API tests and the provider tests draw from here, so both try the same
mistakes, and an argument added to `StreamingBackendArgs` (or to a nested settings type)
is tried without a line here.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from typing import Any

from components import StreamingBackendArgs
from components.argument_rules import DEFAULT_BOUNDS, Bounds, Choices
from components.streaming_backend import TYPE_TOKEN
from provider.schema import package_schema

# One value of each kind a JSON document (so a YAML or TypeScript program) can hold.
SAMPLES: dict[str, Any] = {
    "string": "Admin",
    "whole number": 7,
    "fraction": 12.5,
    "boolean": True,
    "array": ["a", "b"],
    "object": {"team": "bots"},
}
# The kinds each schema type takes; every other kind is a mistake.
ACCEPTED_KINDS = {
    "string": {"string"},
    "integer": {"whole number"},
    "number": {"whole number", "fraction"},
    "boolean": {"boolean"},
    "array": {"array"},
    "object": {"object"},
}
# A list or map of the right shape whose item is of the wrong kind.
WRONG_ITEMS = {"array": [7], "object": {"team": 7}}


@dataclasses.dataclass(frozen=True)
class Mistake:
    """One wrong value for one argument: `path` in Python names (`a.b` when nested)."""

    path: str
    value: Any

    def python_args(self) -> StreamingBackendArgs:
        """The Python API given this mistake (raises the error under test)."""
        head, _, nested = self.path.partition(".")
        if nested:
            return StreamingBackendArgs(**{head: _settings_type(head)(**{nested: self.value})})
        return StreamingBackendArgs(**{head: self.value})


def _settings_type(argument: str) -> type:
    hint = typing.get_type_hints(StreamingBackendArgs)[argument]
    return next(m for m in typing.get_args(hint) if dataclasses.is_dataclass(m))


def _snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


def _kind(spec: dict[str, Any]) -> str:
    return "object" if "$ref" in spec else spec["type"]


def mistakes() -> Iterator[Mistake]:
    """Every schema property (nested ones by path) with every value its type refuses."""
    schema = package_schema()
    for name, spec in schema["resources"][TYPE_TOKEN]["inputProperties"].items():
        yield from _mistakes_for(_snake(name), spec, schema)


def _mistakes_for(path: str, spec: dict[str, Any], schema: dict[str, Any]) -> Iterator[Mistake]:
    kind = _kind(spec)
    for sample_kind, value in SAMPLES.items():
        if sample_kind not in ACCEPTED_KINDS[kind]:
            yield Mistake(path, value)
    if kind in WRONG_ITEMS and "$ref" not in spec:
        yield Mistake(path, WRONG_ITEMS[kind])
    if "$ref" in spec:
        nested_type = schema["types"][spec["$ref"].removeprefix("#/types/")]
        for name, nested in nested_type["properties"].items():
            yield from _mistakes_for(f"{path}.{_snake(name)}", nested, schema)


def number_arguments(
    cls: type = StreamingBackendArgs, prefix: str = ""
) -> Iterator[tuple[str, Bounds | Choices]]:
    """Every whole-number and number argument (nested ones by path), with its range."""
    hints = typing.get_type_hints(cls, include_extras=True)
    for field in dataclasses.fields(cls):
        hint, extras = hints[field.name], ()
        if typing.get_origin(hint) is typing.Annotated:
            hint, *extras = typing.get_args(hint)
        nested = [m for m in typing.get_args(hint) if dataclasses.is_dataclass(m)]
        if nested:
            yield from number_arguments(nested[0], f"{prefix}{field.name}.")
        elif hint in DEFAULT_BOUNDS:
            declared = [e for e in extras if isinstance(e, Bounds | Choices)]
            yield prefix + field.name, (declared[0] if declared else DEFAULT_BOUNDS[hint])


# Throttle settings come in pairs whose burst must hold the rate and whose per-client
# values must fit under the stage's: these hold every number at its largest.
ROOMY = {
    "throttle_burst_limit": 2**31 - 1,
    "throttle_rate_limit": 2**31 - 1,
    "quota_burst_limit": 2**31 - 1,
    "quota_rate_limit": 2**31 - 1,
}


def args_with(path: str, value: Any) -> StreamingBackendArgs:
    """StreamingBackendArgs with `path` set to `value`, every throttle pair given room."""
    head, _, nested = path.partition(".")
    if nested:
        return StreamingBackendArgs(**ROOMY, **{head: _settings_type(head)(**{nested: value})})
    return StreamingBackendArgs(**{**ROOMY, head: value})
