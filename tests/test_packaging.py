"""The project as another Pulumi program gets it: built, installed into a fresh virtual
environment, and used under mocks without the repository on the path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from lexstream_runtime import contract
from program import views as v
from program.harness import ROOT, run_program, stack_config

from functions import layout

PACKAGE_SOURCES = ("pyproject.toml", "README.md", "components", "functions")

pytestmark = pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not installed")


def _uv(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["uv", *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A new virtual environment with this project installed from its path, dependencies
    pinned to uv.lock (so the test exercises the locked versions, from uv's cache)."""
    workdir = tmp_path_factory.mktemp("packaging")
    requirements = workdir / "requirements.txt"
    exported = _uv(
        "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes",
        "--format", "requirements-txt", "--output-file", str(requirements), "--quiet",
        cwd=ROOT,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    # Build from a copy of what a checkout holds, so the build leaves no build/ or
    # egg-info in the working tree and cannot depend on anything untracked.
    source = workdir / "source"
    for name in PACKAGE_SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif origin.is_file():
            source.mkdir(exist_ok=True)
            shutil.copy2(origin, source / name)
    venv = workdir / "venv"
    created = _uv("venv", "--quiet", "--python", sys.executable, str(venv), cwd=workdir)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    install = [
        "pip", "install", "--quiet", "--python", str(python), "-r", str(requirements),
        # uv keys a local project's build on its metadata files; rebuild from the sources.
        "--refresh-package", "lexstream", str(source),
    ]  # fmt: skip
    # Offline first: after the project's own `uv sync` the cache usually has everything.
    installed = _uv(*install, "--offline", cwd=workdir)
    if installed.returncode != 0:
        installed = _uv(*install, cwd=workdir)
    assert installed.returncode == 0, installed.stderr
    yield venv


def _site_packages(venv: Path) -> Path:
    (site_packages,) = venv.glob("lib/python*/site-packages")
    return site_packages


def test_install_puts_everything_under_the_lexstream_name(fresh_venv: Path) -> None:
    site_packages = _site_packages(fresh_venv)
    assert not (site_packages / "components").exists()
    assert not (site_packages / "functions").exists()
    installed = site_packages / "lexstream"
    assert (installed / "components" / "__init__.py").is_file()
    assert (installed / "functions" / "layout.py").is_file()
    for name in layout.FUNCTION_NAMES:
        handler_module = contract.HANDLERS[name].split(".")[0] + ".py"
        assert (installed / "functions" / name / handler_module).is_file(), name
    (record_file,) = site_packages.glob("lexstream-*.dist-info/RECORD")
    top_level = {line.split("/", 1)[0] for line in record_file.read_text().splitlines()}
    assert {entry for entry in top_level if not entry.startswith("lexstream")} == set()


def test_generic_top_level_names_are_not_importable(fresh_venv: Path, tmp_path: Path) -> None:
    probe = subprocess.run(
        [str(fresh_venv / "bin" / "python"), "-c", "import components"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode != 0
    assert "No module named 'components'" in probe.stderr


OUTSIDE_PROGRAM = """
    import pulumi
    from lexstream.components import (
        ExampleFulfillmentArgs,
        StreamingBackend,
        StreamingBackendArgs,
    )

    backend = StreamingBackend(
        "support-chat",
        StreamingBackendArgs(
            auth_mode="iam",
            web_ui_role_names=["SupportWebUi-AuthRole"],
            example_fulfillment=ExampleFulfillmentArgs(),
        ),
    )
    pulumi.export("websocket_url", backend.websocket_url)
    pulumi.export("web_ui_config", backend.web_ui_config)
"""


def test_an_outside_program_deploys_the_component_from_the_installed_package(
    fresh_venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Node.js helper's layer is compiled from the installed TypeScript sources by a
    # `tsc` on PATH, as a user with TypeScript installed has it.
    monkeypatch.setenv("PATH", f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}")
    program = tmp_path / "outside_program.py"
    program.write_text(textwrap.dedent(OUTSIDE_PROGRAM))
    record = run_program(
        program,
        "staging",
        stack_config("dev"),
        python=str(fresh_venv / "bin" / "python"),
        project_on_path=False,
    )
    (component,) = record.of_type(v.COMPONENT)
    assert component.name == "support-chat"
    assert record.exports["websocket_url"].startswith("wss://")
    assert record.exports["websocket_url"].endswith("/Prod")
    installed = _site_packages(fresh_venv).resolve()
    (node_layer,) = [
        layer
        for layer in record.of_type(v.LAYER)
        if layer.inputs["compatibleRuntimes"][0].startswith("nodejs")
    ]
    for path in node_layer.inputs["code"]["archive"].values():
        assert Path(path).resolve().is_relative_to(installed), path
    assert any(name.endswith("/dist/index.js") for name in node_layer.inputs["code"]["archive"])
    functions = record.of_type(v.FUNCTION)
    assert len(functions) == 4
    for function in functions:
        for path in function.inputs["code"]["archive"].values():
            # Archived from the installed package, wherever the program runs from.
            assert Path(path).resolve().is_relative_to(installed), path
            assert Path(path).is_file()
