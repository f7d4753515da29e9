"""lexstream's Lambda runtime: the shared contract and the fulfillment streaming helper.

It ships inside every route function's archive and, as a Lambda layer, to bot developers'
own fulfillment functions. It depends only on what the Lambda Python runtime has (boto3).

The helper's API, importable from the package itself:

    from lexstream_runtime import open_stream, close_response

`contract` stays importable without boto3 (the Pulumi program reads it), so the helper's
names load on first use rather than with the package.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY_EXPORTS = {
    "open_stream": "streaming",
    "StreamingTurn": "streaming",
    "StreamStats": "streaming",
    "StreamTarget": "streaming",
    "close_response": "lex",
}
__all__ = sorted(_LAZY_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
