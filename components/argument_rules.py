"""What AWS accepts for the component's arguments, and the checks every argument passes
before its own rules: its declared type, and for numbers the range its consumer takes.

The type of an argument is its annotation in `args`; nothing here lists arguments by name.
An `int` argument is a whole number from 1 to 2**31 - 1 and a `float` one a finite number
above 0 and at most 2**31 - 1 (the AWS APIs these numbers reach declare them as 32-bit
integers or doubles: API Gateway's throttle and quota settings, Bedrock's `maxTokens`);
an argument whose consumer takes a narrower range says so with `Annotated[int, Bounds(…)]`,
or `Choices(…)` for a set of values.
A new argument is checked the same way without a line here.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lexstream_runtime import contract

INT32_MAX = 2**31 - 1

# CloudWatch Logs accepts only these retention periods (0, "never expire", is left out on
# purpose: every log group this component creates must expire).
CLOUDWATCH_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip

STAGE_NAME_PATTERN = contract.STAGE_NAME_PATTERN
# IAM role names (not ARNs, not paths).
ROLE_NAME_PATTERN = re.compile(r"[\w+=,.@-]{1,64}")
# Component names become the prefix of every physical name.
COMPONENT_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
COMPONENT_NAME_MAX = 40
# AWS caps IAM role and Lambda function names at 64 characters, and the provider names each
# child `{component}-{suffix}` plus a separator and 7 random characters. These are the
# longest such children, each deployed only when its argument is on (None: always).
AUTONAME_LIMIT = 64
AUTONAME_RANDOM_SUFFIX = 8
LONGEST_CHILD_SUFFIXES = {
    None: "disconnect-role",
    "example_fulfillment": "bedrock-fulfillment-role",
    "manage_api_gateway_account": "apigateway-cloudwatch-role",
}
# Bedrock model ids such as `amazon.nova-lite-v1:0` or, with a cross-Region inference
# profile, `us.anthropic.claude-3-5-haiku-20241022-v1:0`.
MODEL_ID_PATTERN = re.compile(r"[a-z0-9-]+\.[A-Za-z0-9._:-]+")
# Lex V2 bot alias ARN, which is what Lex presents when it invokes a fulfillment function.
BOT_ALIAS_ARN_PATTERN = re.compile(
    r"arn:aws[a-z-]*:lex:[a-z0-9-]+:\d{12}:bot-alias/[0-9A-Za-z]+/[0-9A-Za-z]+"
)
# An ACM certificate, and an SNS topic (standard, not FIFO), by ARN; the groups are the
# partition, region and account that `require_deployable_to` compares with the stack's.
CERTIFICATE_ARN_PATTERN = re.compile(
    r"arn:(aws[a-z-]*):acm:([a-z0-9-]+):(\d{12}):certificate/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
SNS_TOPIC_ARN_PATTERN = re.compile(
    r"arn:(aws[a-z-]*):sns:([a-z0-9-]+):(\d{12}):[A-Za-z0-9_-]{1,256}"
)
# A lower-case DNS name of two or more labels (no wildcard: the API mapping and the alias
# records are for exactly one name).
DOMAIN_NAME_PATTERN = re.compile(
    r"(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
)
HOSTED_ZONE_ID_PATTERN = re.compile(r"[A-Z0-9]{1,32}")
# Lambda caps all environment variables of a function at 4 KB together; the system prompt
# travels as one of them, so it must leave room for the others.
MAX_SYSTEM_PROMPT_BYTES = 3072


class InvalidArgumentError(ValueError):
    """A component argument is invalid. `argument` names it; `problem` says what is allowed.

    When the problem involves other arguments, `problem` names them as `{argument}`
    placeholders listed in `related`, so that `describe` can name every argument the way
    the caller knows it (a Python argument, or a stack config key).
    """

    def __init__(self, argument: str, problem: str, *, related: Sequence[str] = ()) -> None:
        self.argument = argument
        self.problem = problem
        self.related = tuple(related)
        super().__init__(self.describe(lambda name: name))

    def describe(self, name_of: Callable[[str], str]) -> str:
        """The message, with every argument named by `name_of(argument)`."""
        problem = self.problem
        if self.related:
            problem = problem.format(**{r: name_of(r) for r in self.related})
        return f"{name_of(self.argument)} {problem}"


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The range a number argument takes, as `Annotated[int, Bounds(1, 3653)]` declares it;
    `above` makes the minimum exclusive."""

    minimum: float
    maximum: float
    above: bool = False

    def contains(self, value: float) -> bool:
        low_ok = value > self.minimum if self.above else value >= self.minimum
        return low_ok and value <= self.maximum

    def describe(self) -> str:
        low = "above" if self.above else "of at least"
        return f"{low} {_number(self.minimum)} and at most {_number(self.maximum)}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclasses.dataclass(frozen=True)
class Choices:
    """The only values a number argument takes, as `Annotated[int, Choices(…, what)]`
    declares it (`what` says whose values they are)."""

    values: tuple[int, ...]
    what: str

    def contains(self, value: float) -> bool:
        return value in self.values

    def describe(self) -> str:
        return f"one of the {self.what}: {', '.join(str(v) for v in self.values)}"


DEFAULT_BOUNDS: dict[type, Bounds | Choices] = {
    int: Bounds(1, INT32_MAX),
    float: Bounds(0, INT32_MAX, above=True),
}


def check_declared_types(instance: Any, prefix: str = "") -> None:
    """Check every field of the dataclass `instance` against its annotation (and number
    bounds), before any rule of its own reads it; the error names `prefix + field`."""
    hints = typing.get_type_hints(type(instance), include_extras=True)
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        expected = _expected(hints[field.name], value)
        if expected is not None:
            raise InvalidArgumentError(prefix + field.name, f"must be {expected} (got {value!r})")


def _expected(hint: Any, value: Any) -> str | None:
    """None when `value` fits `hint`; otherwise what would, in words for any language."""
    bounds = None
    if typing.get_origin(hint) is typing.Annotated:
        hint, *extras = typing.get_args(hint)
        bounds = next((extra for extra in extras if isinstance(extra, Bounds | Choices)), None)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        if value is None:
            return None
        (member,) = members
        expected = _expected(member, value)
        return None if expected is None else f"{expected}, or left unset (None)"
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    if hint in (int, float):
        return _expected_number(hint, bounds or DEFAULT_BOUNDS[hint], value)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):  # type: ignore[arg-type]
            return None
        return f"an {hint.__name__} (outside Python: an object of its settings)"
    origin, params = typing.get_origin(hint), typing.get_args(hint)
    if origin in (collections.abc.Sequence, list, tuple):
        fits = isinstance(value, Sequence) and not isinstance(value, str | bytes)
        if fits and all(_expected(params[0], item) is None for item in value):
            return None
        return f"a list of {_plural(params[0])}"
    if origin in (collections.abc.Mapping, dict):
        # A callable's check (a transform) is the argument's own rule, with its own message.
        value_hint = params[1]
        values_ok = _is_callable_hint(value_hint) or (
            isinstance(value, Mapping)
            and all(_expected(value_hint, item) is None for item in value.values())
        )
        if isinstance(value, Mapping) and all(isinstance(k, str) for k in value) and values_ok:
            return None
        return f"a map of strings to {_plural(value_hint)}"
    raise TypeError(f"no check for arguments of type {hint!r}")


def _expected_number(hint: type, bounds: Bounds | Choices, value: Any) -> str | None:
    whole = hint is int
    kind = "a whole number" if whole else "a number"
    if isinstance(bounds, Choices):
        kind = ""
    fits = not isinstance(value, bool) and (
        isinstance(value, int) if whole else isinstance(value, int | float)
    )
    if fits and math.isfinite(value) and bounds.contains(value):
        return None
    return f"{kind} {bounds.describe()}".strip()


def _plural(hint: Any) -> str:
    if _is_callable_hint(hint):
        return "functions"
    return {str: "strings", int: "whole numbers", float: "numbers", bool: "booleans"}.get(
        hint, f"{getattr(hint, '__name__', hint)} values"
    )


def _is_callable_hint(hint: Any) -> bool:
    return hint in (Callable, collections.abc.Callable) or typing.get_origin(hint) in (
        Callable,
        collections.abc.Callable,
    )


def require_component_name(name: str, arguments: Any) -> None:
    """Check a StreamingBackend's name, which prefixes every physical name it creates, against
    the longest child name that `arguments` deploys."""
    if not isinstance(name, str) or not COMPONENT_NAME_PATTERN.fullmatch(name):
        raise InvalidArgumentError(
            "name",
            "must start with a letter and have only letters, digits, hyphens or underscores, "
            f"because it prefixes Lambda and IAM names (got {name!r})",
        )
    longest = max(
        (
            suffix
            for argument, suffix in LONGEST_CHILD_SUFFIXES.items()
            if argument is None or getattr(arguments, argument)
        ),
        key=len,
    )
    maximum = min(COMPONENT_NAME_MAX, AUTONAME_LIMIT - AUTONAME_RANDOM_SUFFIX - len(longest) - 1)
    if len(name) > maximum:
        raise InvalidArgumentError(
            "name",
            f"must have at most {maximum} characters with these arguments, because the child "
            f"{name}-{longest} gets {AUTONAME_RANDOM_SUFFIX} random characters appended and AWS "
            f"allows {AUTONAME_LIMIT} (got {len(name)} characters: {name!r})",
        )
