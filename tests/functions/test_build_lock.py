"""Builds of the Node.js helper and example take turns across processes (test workers
load what another may be building), and leave no lock file behind."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from functions import node_package
from tests.conftest import ROOT

HOLD_THE_LOCK = """
import sys
from pathlib import Path
from functions import node_package
with node_package.one_build_at_a_time(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_build_waits_while_another_process_builds_into_the_same_folder(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline() == "held\n"
        acquired = threading.Event()

        def build() -> None:
            with node_package.one_build_at_a_time(tmp_path):
                acquired.set()

        waiting = threading.Thread(target=build, daemon=True)
        waiting.start()
        # However long it is given, it cannot get the lock while the other process holds it.
        assert not acquired.wait(1.0)
        holder.stdin.write("done\n")
        holder.stdin.flush()
        assert acquired.wait(30)
        waiting.join(30)
    finally:
        holder.kill()
        holder.wait()
    assert list(tmp_path.iterdir()) == []
