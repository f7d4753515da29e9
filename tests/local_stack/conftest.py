"""Fixtures for the local stack tests (shared servers and fake AWS come from tests/conftest.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from local_stack.stack import LocalStack, StackSettings

# Debian's Chromium, driven by Playwright; never a downloaded browser.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Fast enough to keep the suite quick, slow enough that every answer arrives in many posts.
TEST_TOKEN_RATE = 150.0


@pytest.fixture
def make_stack() -> Iterator[Callable[..., LocalStack]]:
    """`make_stack(**settings)` → a started LocalStack on a free port, stopped at the end."""
    started: list[LocalStack] = []

    def make(**settings: Any) -> LocalStack:
        options = {
            "port": 0,
            "tokens_per_second": TEST_TOKEN_RATE,
            "first_token_delay_s": 0.0,
            # Every test browser connects from 127.0.0.1.
            "quota_per_source_limit": 100_000,
        }
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
            # Every test browser connects from 127.0.0.1.
            quota_per_source_limit=100_000,
        )
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for a module's tests."""
    if not Path(CHROMIUM).is_file() and shutil.which("chromium") is None:
        pytest.fail("Chromium is missing: scripts/test installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
