"""Waiting for something another thread or server does, without asserting on time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def eventually(condition: Callable[[], Any], timeout: float = 10.0) -> bool:
    """Poll `condition` until it is truthy; returns its last verdict (False after timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


class Completions:
    """Wraps a route function and counts finished invocations, to wait on them."""

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self.function = function
        self.finished = 0
        self.responses: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> Any:
        try:
            response = self.function(event)
            with self._lock:
                self.responses.append(response)
            return response
        finally:
            with self._lock:
                self.finished += 1
