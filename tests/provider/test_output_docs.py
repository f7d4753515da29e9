"""Every outputs table in the docs is the rendering of StreamingBackend's declared outputs,
so no table can leave one out (or keep one that is gone)."""

from __future__ import annotations

import re

from provider.output_docs import DOCUMENTS, ROOT, TABLE, render, rendered
from provider.schema import output_names, property_name


def test_every_outputs_table_in_the_docs_matches_the_declaration() -> None:
    stale = [d.relative_to(ROOT) for d in DOCUMENTS if rendered(d.read_text()) != d.read_text()]
    assert not stale, f"run `.venv/bin/python -m provider.output_docs`: stale tables in {stale}"


def test_the_deploy_guide_and_the_language_guide_each_have_a_table() -> None:
    namings = {
        d.name: {m.group("naming") for m in TABLE.finditer(d.read_text())} for d in DOCUMENTS
    }
    assert namings["deploy.md"] == {"python"}
    assert namings["any-language.md"] == {"schema"}


def test_a_rendered_table_names_every_output_once_in_the_callers_spelling() -> None:
    for naming, name_of in (("python", str), ("schema", property_name)):
        rows = re.findall(r"^\| `(\w+)` \|", render(naming), re.MULTILINE)
        assert rows == [name_of(name) for name in output_names()]
    assert "fulfillment_environment" in output_names()
    assert "dashboard_url" in output_names() and "metrics_namespace" in output_names()


def test_no_doc_lists_outputs_by_hand_outside_a_table() -> None:
    # The lists that drifted before: four or more output names in a row, comma-separated.
    names = {n for name in output_names() for n in (name, property_name(name))}
    run = re.compile(r"`(\w+)`(?:,\s+(?:and\s+)?`(\w+)`){3,}")
    for document in DOCUMENTS:
        for match in run.finditer(TABLE.sub("", document.read_text())):
            listed = re.findall(r"`(\w+)`", match.group(0))
            assert not set(listed) <= names, (document.name, listed)
