"""Fixtures for the local stack tests (shared servers and fake AWS come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_stack.stack import LocalStack, StackSettings

# Fast enough to keep the suite quick, slow enough that every answer arrives in many posts.
TEST_TOKEN_RATE = 150.0


@pytest.fixture
def make_stack() -> Iterator[Callable[..., LocalStack]]:
    """`make_stack(**settings)` → a started LocalStack on a free port, stopped at the end."""
    started: list[LocalStack] = []

    def make(**settings: Any) -> LocalStack:
        options = {"port": 0, "tokens_per_second": TEST_TOKEN_RATE, "first_token_delay_s": 0.0}
        stack = LocalStack(StackSettings(**{**options, **settings})).start()
        started.append(stack)
        return stack

    yield make
    for stack in started:
        stack.stop()


@pytest.fixture(scope="module")
def iam_stack() -> Iterator[LocalStack]:
    """One iam-mode stack shared by a module's tests (each test uses its own identities)."""
    with LocalStack(
        StackSettings(
            port=0,
            auth_mode="iam",
            tokens_per_second=TEST_TOKEN_RATE,
            first_token_delay_s=0.0,
            quota_limit=100_000,
        )
    ) as stack:
        yield stack
