"""A test's Node.js driver script (node_stream_driver.mjs) in a process of its own, driven
one JSON command line at a time.

Each command is `{"id": n, "op": ..., ...}` on the process's stdin; the reply is one stdout
line `{"driverReply": n, ...}`, written after whatever the code printed while doing it.
That other output (the driven code's log lines) goes to this process's stdout, in order, as
a Lambda function's goes to its log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

REPLY_TIMEOUT_S = 120.0
# The AWS SDK warns once per process that its releases from 2027 on need Node.js 22; the
# machines here run Node.js 20, as Lambda's nodejs20.x does, with the SDK pinned.
QUIET = {"AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED": "true"}


def javascript_number(digits: str) -> int | float:
    """A JSON whole number as JavaScript holds it: exact up to 2**53, else a double."""
    number = int(digits)
    return number if abs(number) <= 2**53 else float(number)


class NodeProcess:
    """A Node.js process running `script` with `arguments`, answering one JSON command
    line at a time (the protocol of node_stream_driver.mjs).

    `environment` is added to this process's. Its other output goes to this process's
    stdout, where a Lambda function's goes, in order.
    """

    def __init__(self, script: Path, arguments: list[str], environment: dict[str, str]) -> None:
        self._replies: dict[int, dict[str, Any]] = {}
        self._changed = threading.Condition()
        self._next_id = 0
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            ["node", str(script), *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # inherited: the test run's own stderr
            env={**os.environ, **QUIET, **environment},
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, name="node-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            reply = None
            if line.startswith('{"driverReply":'):
                reply = json.loads(line, parse_int=javascript_number)
            if reply is None:
                sys.stdout.write(line)
                continue
            with self._changed:
                self._replies[reply.pop("driverReply")] = reply
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def call(self, op: str, **arguments: Any) -> dict[str, Any]:
        """Send one command and wait for its reply; an error in Node.js raises here."""
        with self._lock:
            self._next_id += 1
            number = self._next_id
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"id": number, "op": op, **arguments}) + "\n")
            self.process.stdin.flush()
        with self._changed:
            if not self._changed.wait_for(
                lambda: number in self._replies or self.process.poll() is not None,
                REPLY_TIMEOUT_S,
            ):
                raise TimeoutError(f"Node.js did not answer {op} within {REPLY_TIMEOUT_S} s")
            if number not in self._replies:
                raise RuntimeError(f"the Node.js process exited with {self.process.returncode}")
            reply = self._replies.pop(number)
        if "error" in reply:
            raise NodeError(reply["error"]["name"], reply["error"]["message"])
        return reply

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        # A closed stdin ends the driver once its last command is answered; one that is
        # stuck is killed.
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(10)


class NodeError(Exception):
    """An error the Node.js code threw, by its JavaScript name."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
