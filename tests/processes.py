"""Helpers for tests that run servers as child processes."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Ask `process` to exit, and kill it if it has not within `grace_s`."""
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
