"""The mutation run's scope names code and tests that exist, so it cannot silently mutate
nothing after a module moves or a function is renamed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mutation import scope

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("target", scope.TARGETS, ids=lambda t: t.name)
def test_every_target_names_an_existing_module_its_functions_and_its_tests(target):
    source = ROOT / target.path
    assert source.is_file(), f"{target.name}: {target.path} does not exist"
    tree = ast.parse(source.read_text())
    missing = [name for name in target.functions if scope.find_definition(tree, name) is None]
    assert not missing, f"{target.name}: {target.path} defines no {', '.join(missing)}"
    assert target.tests
    absent = [test for test in target.tests if not (ROOT / test).exists()]
    assert not absent, f"{target.name}: no such tests {', '.join(absent)}"


def test_target_names_and_paths_are_unique():
    assert len({t.name for t in scope.TARGETS}) == len(scope.TARGETS)
    assert len({(t.path, t.functions) for t in scope.TARGETS}) == len(scope.TARGETS)


def test_a_renamed_function_is_not_found():
    tree = ast.parse("class Quota:\n    def admit(self): pass\ndef helper(): pass\n")

    assert scope.find_definition(tree, "Quota.admit") is not None
    assert scope.find_definition(tree, "helper") is not None
    assert scope.find_definition(tree, "Quota.count") is None
    assert scope.find_definition(tree, "admit") is None
