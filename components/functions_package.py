"""The modules of the `functions` folder the components read: the layout of each archive
and the declaration of each function.

Installed from a wheel, this project lives under one name (`lexstream.components` beside
`lexstream.functions`), so the relative import works. Run from the project folder, as
`pulumi up` runs `__main__.py`, `components` and `functions` are top-level packages and
the relative import has no parent package to climb to; then the absolute one applies.
Keeping both paths in this one module means no other component needs to know which.
The shared contract is not among them: it is part of `lexstream_runtime`, which every
piece of code imports by that one name (see pyproject.toml).
"""

from __future__ import annotations

try:
    from ..functions import declarations, layout, node_package
except ImportError:
    from functions import declarations, layout, node_package  # type: ignore[no-redef]

FunctionDeclaration = declarations.FunctionDeclaration

__all__ = ["FunctionDeclaration", "declarations", "layout", "node_package"]
