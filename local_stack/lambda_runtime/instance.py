"""One function instance: an OS process running the runtime interface client.

It serves one invocation at a time, as a Lambda execution environment does. Whatever
it prints is its log: each line goes to the function's `output` with the request id of
the invocation it printed during. It ends by being killed (its whole process group, so
anything it started goes too) or by exiting on its own; either way the invocation it
was serving, if any, gets the outcome Lambda reports.
"""

from __future__ import annotations

import array
import concurrent.futures
import contextlib
import fcntl
import logging
import os
import select
import signal
import subprocess
import termios
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .runtime_api import Channel, Invocation, RuntimeApi

log = logging.getLogger("lexstream.local")

# A reader of one function's log lines: (line, request id or None outside invocations).
LineOutput = Callable[[str, "str | None"], None]
# The init phase's limit. Lambda's is 10 s for on-demand functions; locally, cold
# starts share this machine's cores, and a burst of them can take longer.
INIT_LIMIT_SECONDS = 30.0
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
# Every instance whose process may still run, for a stop's last resort.
_live: weakref.WeakSet[Instance] = weakref.WeakSet()


def kill_every_instance() -> None:
    """Kill every function process this process started (a stop's last resort)."""
    for instance in list(_live):
        instance.kill()


@dataclass(frozen=True)
class Outcome:
    """How one invocation ended, as the instance reported it.

    kind: "response", "error" (the handler's or its init's), "timeout", "exit" (the
    process ended) or "out_of_memory". `body` is what the runtime posted, if anything.
    """

    kind: str
    body: bytes = b""
    error_type: str | None = None
    exit_status: int | None = None


class Instance:
    """A started runtime process and its Runtime API channel."""

    def __init__(
        self,
        api: RuntimeApi,
        command: Sequence[str],
        environment: Callable[[str], Mapping[str, str]],
        cwd: Path,
        memory_mb: int,
        output: LineOutput,
    ) -> None:
        self.channel: Channel = api.open_channel()
        self.memory_mb = memory_mb
        self.output = output
        self.started_at = time.monotonic()
        self.exit_status: int | None = None
        self.out_of_memory = False
        self.served = 0
        self.peak_kb = 0
        self._killed = False
        self._exited = threading.Event()
        try:
            self.process = subprocess.Popen(
                list(command),
                cwd=cwd,
                env=dict(environment(self.channel.address)),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Its own process group: a stop kills what the handler started too, and
                # a Ctrl+C in the terminal reaches the stack, which stops it.
                start_new_session=True,
            )
        except BaseException:
            self.channel.close()
            raise
        _live.add(self)
        assert self.process.stdout is not None
        self._stdout_fd = self.process.stdout.fileno()
        self._reading = threading.Condition()
        self._processing = False
        self._reader = threading.Thread(
            target=self._read_output, name=f"lambda-output-{self.process.pid}", daemon=True
        )
        self._reader.start()

    @property
    def alive(self) -> bool:
        return not (self._killed or self._exited.is_set())

    def wait_ready(self, timeout_s: float = INIT_LIMIT_SECONDS) -> Outcome | None:
        """Wait for the init to finish: None when ready, else the outcome of a failed
        init (the runtime's init error, the process's exit, or the init limit)."""
        deadline = time.monotonic() + timeout_s
        while not self.channel.ready.is_set():
            if self._exited.is_set():
                return self._ended_outcome()
            if time.monotonic() >= deadline:
                self.kill()
                return Outcome("timeout")
            self.channel.ready.wait(0.05)
        self._drain()
        return None

    @property
    def init_seconds(self) -> float | None:
        ready_at = self.channel.ready_at
        return None if ready_at is None else ready_at - self.started_at

    def run(self, invocation: Invocation, timeout_s: float) -> Outcome:
        """Serve one invocation; on the timeout, kill the instance."""
        self.served += 1
        self.channel.send(invocation)
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                return Outcome("timeout")
            try:
                kind, body, error_type = invocation.done.result(timeout=min(remaining, 0.25))
            except concurrent.futures.TimeoutError:
                if self._exited.is_set():
                    return self._ended_outcome()
                self._check_memory()
                continue
            self._drain()
            return Outcome(kind, body, error_type)

    def max_memory_used_mb(self) -> int:
        """The process's peak resident memory so far, in MB (Lambda's Max Memory Used)."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))
        return -(-self.peak_kb // 1024)

    def _check_memory(self) -> None:
        try:
            resident_pages = int(Path(f"/proc/{self.process.pid}/statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            return
        self.peak_kb = max(self.peak_kb, resident_pages * _PAGE_KB)
        if self.peak_kb > self.memory_mb * 1024:
            self.out_of_memory = True
            self.kill()

    def _ended_outcome(self) -> Outcome:
        self._exited.wait(5.0)
        if self.out_of_memory:
            return Outcome("out_of_memory", exit_status=self.exit_status)
        if self.channel.init_error is not None:
            error_type, body = self.channel.init_error
            return Outcome("error", body, error_type, self.exit_status)
        return Outcome("exit", exit_status=self.exit_status)

    def kill(self) -> None:
        """End the process and everything it started, at once."""
        self._killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def close(self, wait_s: float = 5.0) -> None:
        """Kill the process, wait (at most `wait_s`) until it is gone, stop listening."""
        self.kill()
        self._exited.wait(wait_s)
        self.channel.close()

    def _drain(self, limit_s: float = 1.0) -> None:
        """Wait until every line printed so far has reached `output`.

        The runtime writes a handler's lines before it posts the response, so once the
        response is here, they are in the pipe or past it.
        """
        deadline = time.monotonic() + limit_s
        with self._reading:
            while self._processing or _unread_bytes(self._stdout_fd) > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._exited.is_set():
                    return
                self._reading.wait(min(remaining, 0.005))

    def _read_output(self) -> None:
        poller = select.poll()
        poller.register(self._stdout_fd, select.POLLIN | select.POLLHUP)
        partial = b""
        try:
            while True:
                poller.poll()
                with self._reading:
                    self._processing = True
                chunk = os.read(self._stdout_fd, 65536)
                *lines, partial = (partial + chunk).split(b"\n")
                if not chunk and partial:
                    lines, partial = [partial], b""
                for line in lines:
                    self._emit(line.decode("utf-8", "replace").rstrip("\r"))
                with self._reading:
                    self._processing = False
                    self._reading.notify_all()
                if not chunk:
                    break
        finally:
            assert self.process.stdout is not None
            self.process.stdout.close()
            self.exit_status = self.process.wait()
            self._exited.set()
            with self._reading:
                self._processing = False
                self._reading.notify_all()

    def _emit(self, line: str) -> None:
        # The runtime may post a response before its last lines reach this reader: a
        # line belongs to the latest invocation, as awslambdaric tags it too.
        current = self.channel.current
        try:
            self.output(line, current.request_id if current is not None else None)
        except Exception:
            # A reader's failure must not stop the pipe being drained.
            log.exception("the log reader of %s failed", self.process.pid)


def _unread_bytes(fd: int) -> int:
    buffer = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, buffer)
    except OSError:
        return 0
    return buffer[0]
