"""Stopping many parts: each one tried whatever the others do, none waited on forever."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

log = logging.getLogger("lexstream.local")


def stop_each(parts: Iterable[tuple[str, Callable[[], None]]]) -> None:
    """Call every part's stop in order; a failing one is logged and the rest still run."""
    for name, stop in parts:
        try:
            stop()
        except Exception:
            log.exception("stopping the %s failed; stopping the rest", name)


def within(seconds: float, what: str, call: Callable[[], None]) -> bool:
    """Run `call` (a wait that has no limit of its own) for at most `seconds`; False,
    logged, when it had not finished by then (it goes on, on a daemon thread)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:
            failure.append(error)

    worker = threading.Thread(target=run, name=f"stopping {what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        log.warning("%s did not finish within %.0f s; going on without it", what, seconds)
        return False
    if failure:
        raise failure[0]
    return True
