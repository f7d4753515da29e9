"""One running plugin, started as the engine starts it, against one fake engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.program.harness import stack_config
from tests.provider.fake_engine import FakeEngine, RunningPlugin, serve_engine, start_plugin

PROJECT = "lexstream"
STACK = "dev"


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlugin]:
    region = stack_config(STACK)["aws:region"]
    engine = FakeEngine(PROJECT, STACK, region)
    workdir: Path = tmp_path_factory.mktemp("plugin-cwd")
    with serve_engine(engine) as address, start_plugin(address, workdir) as provider:
        yield RunningPlugin(provider, engine, address)
