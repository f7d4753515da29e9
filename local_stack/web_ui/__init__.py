"""A user's own built Lex Web UI, served by the local stack (`scripts/local --web-ui DIR`)."""

from .build import WebUiError, checked_build
from .loader_config import StackValues
from .site import WebUiSite

__all__ = ["StackValues", "WebUiError", "WebUiSite", "checked_build"]
