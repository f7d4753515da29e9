"""Record every AWS action each function calls, from inside each function's process.

Loaded as a pytest plugin for the whole session, so that every function test adds to
the record. Installed, it gives every function Lambda's `AWS_LAMBDA_EXEC_WRAPPER`: a
script that starts the runtime through `recording_layer/aws_action_log.py`, which logs
each SDK call the process makes as one JSON line to a file; the recorder reads the file
back. Each function is its own process, so each line belongs to that function.

Test workers (pytest-xdist) are processes of their own, each with its own functions and
its own log, all in one folder: the process that starts the workers makes the folder
and names it in LEXSTREAM_ACTION_LOGS, which the workers inherit. `recording()` reads a
worker's own log; `actions_by_function()` reads every worker's.

The IAM action of a call is what AWS authorizes, which is not always the operation
name: `post_to_connection` is `execute-api:ManageConnections`, `converse_stream` is
`bedrock:InvokeModelWithResponseStream`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_stack.lambda_runtime import function as lambda_function

LAYER_DIR = Path(__file__).resolve().parent / "recording_layer"
# Started with the runtime's command line: Python ones go through the logging module.
WRAPPER_SCRIPT = """#!/bin/sh
# The shell's own variable, which the function's environment would not have.
unset PWD
case "$1" in
  *python*)
    interpreter="$1"; shift
    [ "$1" = "-S" ] && shift
    export LEXSTREAM_ACTION_LOG='{log}'
    export PYTHONPATH='{layer}'"${{PYTHONPATH:+:$PYTHONPATH}}"
    unset AWS_LAMBDA_EXEC_WRAPPER
    exec "$interpreter" -S -m aws_action_log "$@"
    ;;
esac
unset AWS_LAMBDA_EXEC_WRAPPER
exec "$@"
"""

# The folder of every test process's log, set by the process that made it.
SHARED_FOLDER = "LEXSTREAM_ACTION_LOGS"
# pytest-xdist names each of its workers in this variable (gw0, gw1, …).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")

# Operations whose IAM action is not `{signing name}:{operation}`.
IAM_ACTION_OVERRIDES = {
    ("apigatewaymanagementapi", "PostToConnection"): "execute-api:ManageConnections",
    ("apigatewaymanagementapi", "GetConnection"): "execute-api:ManageConnections",
    ("apigatewaymanagementapi", "DeleteConnection"): "execute-api:ManageConnections",
    ("bedrock-runtime", "Converse"): "bedrock:InvokeModel",
    ("bedrock-runtime", "ConverseStream"): "bedrock:InvokeModelWithResponseStream",
    ("bedrock-runtime", "InvokeModel"): "bedrock:InvokeModel",
    ("bedrock-runtime", "InvokeModelWithResponseStream"): "bedrock:InvokeModelWithResponseStream",
}
# DynamoDB authorizes each part of a transaction as the single-item action it performs.
_TRANSACT_PARTS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
# Calls that need no permission at all.
_UNAUTHORIZED_OPERATIONS = {("sts", "GetCallerIdentity")}

# Request parameters that name the resource a call acts on.
_RESOURCE_PARAMETERS = ("TableName", "IndexName", "ConnectionId", "modelId")


def iam_actions(
    service_name: str, signing_name: str, operation: str, params: Mapping
) -> list[tuple[str, Mapping]]:
    """The IAM actions AWS evaluates for one SDK call, each with the parameters naming its
    resource (a transaction is one action per part, on that part's table)."""
    if (service_name, operation) in _UNAUTHORIZED_OPERATIONS:
        return []
    if (service_name, operation) in IAM_ACTION_OVERRIDES:
        return [(IAM_ACTION_OVERRIDES[(service_name, operation)], params)]
    if service_name == "dynamodb" and operation in ("TransactWriteItems", "TransactGetItems"):
        return [
            (_TRANSACT_PARTS[kind], part)
            for item in params.get("TransactItems", [])
            for kind, part in item.items()
        ]
    return [(f"{signing_name}:{operation}", params)]


@dataclass(frozen=True)
class RecordedCall:
    """One SDK call made by a function."""

    function: str
    action: str
    service: str
    operation: str
    endpoint: str
    resource: tuple[tuple[str, str], ...] = ()


@dataclass
class ActionRecorder:
    """Every AWS call made by a function process started while installed."""

    calls: list[RecordedCall] = field(default_factory=list)
    active: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _folder: Path | None = None
    _owns_folder: bool = False
    _read_up_to: int = 0

    def actions_by_function(self) -> dict[str, set[str]]:
        """Function name → the IAM actions it called, in every test process so far."""
        result: dict[str, set[str]] = {}
        for call in [*self.snapshot(), *self._other_workers_calls()]:
            result.setdefault(call.function, set()).add(call.action)
        return result

    def snapshot(self) -> list[RecordedCall]:
        with self._lock:
            self._read_log()
            return list(self.calls)

    def install(self) -> None:
        """Give every function started from now on the recording exec wrapper."""
        self.active = True
        shared = os.environ.get(SHARED_FOLDER)
        self._owns_folder = not shared
        if shared:
            self._folder = Path(shared)
        else:
            self._folder = Path(tempfile.mkdtemp(prefix="lexstream-actions-"))
            os.environ[SHARED_FOLDER] = str(self._folder)
        self._read_up_to = 0
        self._log.touch()
        wrapper = self._folder / f"record-actions-{_WORKER}"
        wrapper.write_text(WRAPPER_SCRIPT.format(log=self._log, layer=LAYER_DIR))
        wrapper.chmod(0o755)
        lambda_function.SHARED_ENVIRONMENT["AWS_LAMBDA_EXEC_WRAPPER"] = str(wrapper)

    def uninstall(self) -> None:
        self.active = False
        lambda_function.SHARED_ENVIRONMENT.pop("AWS_LAMBDA_EXEC_WRAPPER", None)
        if self._folder is not None and self._owns_folder:
            shutil.rmtree(self._folder, ignore_errors=True)
            os.environ.pop(SHARED_FOLDER, None)
        self._folder = None

    @property
    def _log(self) -> Path:
        assert self._folder is not None, "the recorder is not installed"
        return self._folder / f"actions-{_WORKER}.jsonl"

    def _other_workers_calls(self) -> list[RecordedCall]:
        if self._folder is None:
            return []
        calls = []
        for log in sorted(self._folder.glob("actions-*.jsonl")):
            if log != self._log:
                data = log.read_bytes()
                for line in data[: data.rfind(b"\n") + 1].splitlines():
                    calls.extend(_calls(json.loads(line)))
        return calls

    @contextmanager
    def recording(self, keep: bool = True) -> Iterator[list[RecordedCall]]:
        """The calls recorded while the block runs (the recorder must be installed).

        Args:
            keep: leave them in the session's record (default True); False for calls
                made by stand-in code that is not one of the project's functions.
        """
        with self._lock:
            self._read_log()
            start = len(self.calls)
        found: list[RecordedCall] = []
        try:
            yield found
        finally:
            with self._lock:
                self._read_log()
                found.extend(self.calls[start:])
                if not keep:
                    del self.calls[start:]

    def _read_log(self) -> None:
        # A function writes each line before its call is made, so every call of an
        # invocation that has returned is in the file.
        if self._folder is None:
            return
        with self._log.open("rb") as log:
            log.seek(self._read_up_to)
            data = log.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._read_up_to += len(complete)
        for line in complete.splitlines():
            self.calls.extend(_calls(json.loads(line)))


def _calls(logged: Mapping[str, Any]) -> list[RecordedCall]:
    return [
        RecordedCall(
            function=logged["function"],
            action=action,
            service=logged["service"],
            operation=logged["operation"],
            endpoint=logged["endpoint"],
            resource=tuple(
                (name, str(part[name])) for name in _RESOURCE_PARAMETERS if name in part
            ),
        )
        for action, part in iam_actions(
            logged["service"], logged["signing"], logged["operation"], logged["params"]
        )
    ]


RECORDER = ActionRecorder()


def pytest_configure(config: Any) -> None:
    RECORDER.install()


def pytest_unconfigure(config: Any) -> None:
    RECORDER.uninstall()
