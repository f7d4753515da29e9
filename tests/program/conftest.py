"""Fixtures for the stack program tests: one recorded run per stack file."""

from __future__ import annotations

import pytest

from .harness import StackRecord, record_stack, stack_names

STACKS = stack_names()


@pytest.fixture(params=STACKS)
def record(request: pytest.FixtureRequest) -> StackRecord:
    """The recorded run of one stack file; every Pulumi.<stack>.yaml is covered."""
    return record_stack(request.param)
