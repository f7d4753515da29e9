"""Reading a function's configuration from its environment, once, at cold init.

A missing or invalid value fails the init with an error that names the variable and what
would be valid, so a misconfigured deployment shows up in the first invocation's log.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


class ConfigurationError(RuntimeError):
    """An environment variable is missing or holds a value the function cannot use."""


def required(name: str) -> str:
    """The non-empty value of `name`; raises ConfigurationError when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is required but not set")
    return value


def optional(name: str, default: str = "") -> str:
    """The value of `name`, or `default` (default "") when it is unset."""
    return os.environ.get(name, default)


def positive_int(name: str) -> int:
    """The whole number >= 1 in `name`; raises ConfigurationError naming the variable."""
    raw = required(name)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(f"environment variable {name}={raw!r} must be a whole number >= 1")
    return value


def one_of(name: str, choices: Iterable[str]) -> str:
    """The value of `name`, which must be one of `choices`."""
    allowed = tuple(choices)
    value = required(name)
    if value not in allowed:
        raise ConfigurationError(
            f"environment variable {name}={value!r} must be one of {', '.join(allowed)}"
        )
    return value
