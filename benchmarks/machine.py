"""What the benchmarks ran on, so a table is never read without its machine."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path


def cpu_model() -> str:
    """The CPU model as the kernel names it, or the platform's guess off Linux."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def machine_info() -> dict[str, object]:
    """CPU model, usable cores, Python version, OS and the time of the run (UTC)."""
    return {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def machine_line(info: dict[str, object]) -> str:
    """One line for the README: `AMD EPYC, 2 cores, Python 3.11.7, Linux ... (date)`."""
    return (
        f"{info['cpu']}, {info['cores']} cores, Python {info['python']}, "
        f"{info['os']} ({info['started_at']})"
    )
