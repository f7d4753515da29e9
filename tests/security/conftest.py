"""The AWS call recorder must be on while these tests run, even when they run alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.action_recorder import RECORDER


@pytest.fixture(scope="session", autouse=True)
def aws_call_recorder() -> Iterator[None]:
    installed_here = not RECORDER.active
    if installed_here:
        RECORDER.install()
    yield
    if installed_here:
        RECORDER.uninstall()
