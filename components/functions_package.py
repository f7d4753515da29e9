"""The two modules the components share with the Lambda code: the contract and the layout.

Installed from a wheel, this project lives under one name (`lexstream.components` beside
`lexstream.functions`), so the relative import works. Run from the project folder, as
`pulumi up` runs `__main__.py`, `components` and `functions` are top-level packages and
the relative import has no parent package to climb to; then the absolute one applies.
Keeping both paths in this one module means no other component needs to know which.
"""

from __future__ import annotations

try:
    from ..functions import layout
    from ..functions.lexstream_runtime import contract
except ImportError:
    from functions import layout  # type: ignore[no-redef]
    from functions.lexstream_runtime import contract  # type: ignore[no-redef]

__all__ = ["contract", "layout"]
