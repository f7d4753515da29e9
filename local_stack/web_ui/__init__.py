"""A user's own built Lex Web UI, served by the local stack (`scripts/local --web-ui DIR`)."""

from .build import WebUiError, checked_build, is_origin
from .loader_config import StackValues
from .site import WebUiSite, site_for_stack

__all__ = [
    "StackValues",
    "WebUiError",
    "WebUiSite",
    "checked_build",
    "is_origin",
    "site_for_stack",
]
