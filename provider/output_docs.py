"""The docs' tables of outputs, rendered from StreamingBackend's output declarations.

Every table of outputs in README.md and docs/ sits between two markers:
`<!-- outputs: python -->` (the stack's and the Python component's names, `websocket_url`)
or `<!-- outputs: schema -->` (other languages' names, `websocketUrl`), and
`<!-- /outputs -->`. What lies between is this module's rendering of the outputs that
`StreamingBackend` annotates, each with its docstring, so a new output reaches every
table by running

    .venv/bin/python -m provider.output_docs

and `tests/provider/test_output_docs.py` fails while a table differs from the rendering.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from components import StreamingBackend

from .schema import attribute_docs, describe, output_names, property_name

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
TABLE = re.compile(
    r"(<!-- outputs: (?P<naming>python|schema) -->\n)(?P<table>.*?)(<!-- /outputs -->)",
    re.DOTALL,
)


def render(naming: str) -> str:
    """The outputs table, naming outputs (and the arguments their docs mention) the way
    `python` or `schema` callers spell them."""
    docs = attribute_docs(StreamingBackend)
    rows = ["| output | what it is |", "|---|---|"]
    for name in output_names():
        if naming == "schema":
            rows.append(f"| `{property_name(name)}` | {describe(docs[name])} |")
        else:
            rows.append(f"| `{name}` | {docs[name]} |")
    return "\n".join(rows) + "\n"


def rendered(text: str) -> str:
    """`text` with every marked table replaced by its rendering."""
    return TABLE.sub(lambda m: m.group(1) + render(m.group("naming")) + m.group(4), text)


def main() -> int:
    for document in DOCUMENTS:
        text = document.read_text()
        if rendered(text) != text:
            document.write_text(rendered(text))
            print(f"rewrote the outputs in {document.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
