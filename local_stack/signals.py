"""SIGINT and SIGTERM for the command-line servers: always taken by the main thread.

The kernel delivers a process-wide signal to any thread that does not block it. CPython
runs a Python handler only in the main thread, and only once that thread runs Python
code again: when the signal lands on another thread (moto's server starts one per
request) while the main thread sleeps in a lock wait, the handler is only flagged, the
wait is never interrupted, and the process never stops. So the stop signals are blocked
in every thread (a new thread inherits its creator's mask, so blocking them first thing
in the main thread covers every thread the process starts) and the main thread takes
them with sigwait, which returns whichever thread they were sent to.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
# How long a stop may take before whatever is left is ended.
STOP_LIMIT_SECONDS = 5.0


class StoppedWhileStarting(Exception):
    """A stop signal arrived before the start finished; `signal_number` says which."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


@contextlib.contextmanager
def stop_signals_to_main_thread() -> Iterator[None]:
    """Block the stop signals here and in every thread started inside the block."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def start_or_stop_signal(start: Callable[[], T]) -> T:
    """Run `start` on a thread while the main thread waits for a stop signal; its result,
    or StoppedWhileStarting once `start` has returned (call inside the block above)."""
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            done.set_result(start())
        except BaseException as error:
            done.set_exception(error)

    threading.Thread(target=run, name="start", daemon=True).start()
    received: int | None = None
    while not done.done():
        info = signal.sigtimedwait(STOP_SIGNALS, 0.1)
        if info is not None and received is None:
            received = info.si_signo
    result = done.result()
    if received is not None:
        raise StoppedWhileStarting(received)
    return result


def wait_for_stop_signal() -> int:
    """Wait for SIGINT or SIGTERM (call inside the block above); its number."""
    return signal.sigwait(STOP_SIGNALS)


def exit_after(limit_s: float, code: int, last_resort: Callable[[], None]) -> None:
    """From now on, the process ends within `limit_s`: past it, `last_resort()` runs and
    the process exits with `code`, whatever is still running or waiting."""

    def watchdog() -> None:
        # A daemon thread: it ends with the process when the stop finishes in time.
        time.sleep(limit_s)
        with contextlib.suppress(Exception):
            last_resort()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)

    threading.Thread(target=watchdog, name="stop-watchdog", daemon=True).start()
