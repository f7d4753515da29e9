"""A built Lex Web UI folder, checked before the stack starts.

A build is what `npm run build` of aws-lex-web-ui leaves in `dist/` (or the release's
files): `index.html`, the loader (`lex-web-ui-loader.min.js` or `lex-web-ui-loader.js`)
and the chatbot component (`lex-web-ui.min.js` or `lex-web-ui.js`), which the loader
fetches from the same folder.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

LOADER_FILES = ("lex-web-ui-loader.min.js", "lex-web-ui-loader.js")
COMPONENT_FILES = ("lex-web-ui.min.js", "lex-web-ui.js")
CONFIG_FILE = "lex-web-ui-loader-config.json"


class WebUiError(ValueError):
    """The Web UI folder or its config cannot be served; `problem` says what to change,
    worded to follow the setting's name ("must be ...")."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def checked_build(directory: str) -> Path:
    """The absolute folder of a Lex Web UI build, or WebUiError saying why it is not one."""
    path = Path(directory).expanduser().resolve()
    if not path.exists():
        raise WebUiError(
            f"must be a folder holding a built Lex Web UI (got {directory!r}: {path} does "
            "not exist)"
        )
    if not path.is_dir():
        raise WebUiError(
            f"must be a folder holding a built Lex Web UI (got {directory!r}: {path} is a file)"
        )
    if not (path / "index.html").is_file():
        raise WebUiError(
            f"must be a folder holding a built Lex Web UI (got {directory!r}: {path} has no "
            "index.html; point it at the build output, e.g. aws-lex-web-ui/dist)"
        )
    missing = [
        " or ".join(names)
        for names in (LOADER_FILES, COMPONENT_FILES)
        if not any((path / name).is_file() for name in names)
    ]
    if missing:
        raise WebUiError(
            f"must be a folder holding a built Lex Web UI (got {directory!r}: {path} has "
            f"index.html but not {' and not '.join(missing)}, so it is not a Lex Web UI "
            "build)"
        )
    return path


def is_origin(text: str) -> bool:
    """Whether `text` is an origin exactly as a browser sends one: scheme://host[:port]."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and text == f"{parts.scheme}://{parts.netloc}"
        and not (parts.username or parts.password)
    )
