"""Fixtures for the local stack tests: fake AWS credentials and gateways that always stop."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_stack.gateway import LocalGateway

# The AWS-shaped event fixtures live beside the repository.
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    """One of the shared AWS-shaped event fixtures (skips the test when they are absent)."""
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"event fixture {path} is not available on this machine")
    return json.loads(path.read_text())


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, so no test can reach or bill a real account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def make_gateway() -> Iterator[Callable[..., LocalGateway]]:
    """Start gateways with any arguments; every one is stopped when the test ends."""
    started: list[LocalGateway] = []

    def make(routes: dict[str, Any] | None = None, **kwargs: Any) -> LocalGateway:
        gateway = LocalGateway(routes or {}, **kwargs).start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


def management_client(gateway: LocalGateway) -> Any:
    """An unmodified boto3 management API client pointed at the gateway."""
    return boto3.client(
        "apigatewaymanagementapi", endpoint_url=gateway.callback_url, region_name="us-east-1"
    )
