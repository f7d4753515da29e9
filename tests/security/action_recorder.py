"""Record every AWS action each function calls, through botocore's event system.

Loaded as a pytest plugin for the whole session, so that every function test adds to
the record. Each botocore client gets a `before-parameter-build` handler (injected through the
`creating-client-class` event, which every new botocore session carries), and each call
is attributed to the function whose handler module is on the calling stack; on a
runtime helper thread (the streaming sender), to the one handler running at the time;
failing both, to the function whose code created the client.

The IAM action of a call is what AWS authorizes, which is not always the operation
name: `post_to_connection` is `execute-api:ManageConnections`, `converse_stream` is
`bedrock:InvokeModelWithResponseStream`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.handlers
from lexstream_runtime import contract

# Handler module file → function name, from the one table of handlers.
HANDLER_FILES = {
    spec.rsplit(".", 1)[0].replace(".", "/") + ".py": name
    for name, spec in contract.HANDLERS.items()
}

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
    """Every attributed AWS call made in this process while installed."""

    calls: list[RecordedCall] = field(default_factory=list)
    active: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def actions_by_function(self) -> dict[str, set[str]]:
        """Function name → the IAM actions it called."""
        result: dict[str, set[str]] = {}
        for call in self.snapshot():
            result.setdefault(call.function, set()).add(call.action)
        return result

    def snapshot(self) -> list[RecordedCall]:
        with self._lock:
            return list(self.calls)

    def install(self) -> None:
        """Hook every botocore session created from now on (boto3's default one included)."""
        self.active = True
        spec = ("creating-client-class", self._inject_mixin)
        if spec not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(spec)
        import boto3

        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION._session.register(*spec)

    def uninstall(self) -> None:
        self.active = False
        spec = ("creating-client-class", self._inject_mixin)
        while spec in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.remove(spec)

    @contextmanager
    def recording(self, keep: bool = True) -> Iterator[list[RecordedCall]]:
        """The calls recorded while the block runs (the recorder must be installed).

        Args:
            keep: leave them in the session's record (default True); False for calls
                made by stand-in code that is not one of the project's functions.
        """
        with self._lock:
            start = len(self.calls)
        found: list[RecordedCall] = []
        try:
            yield found
        finally:
            with self._lock:
                found.extend(self.calls[start:])
                if not keep:
                    self.calls = [call for call in self.calls if call not in found]

    def _inject_mixin(self, base_classes: list[type], **_: Any) -> None:
        if _RecordingClient not in base_classes:
            base_classes.insert(0, _RecordingClient)

    def record(self, client: Any, model: Any, params: Mapping) -> None:
        if not self.active:
            return
        function = (
            calling_function()
            or helper_thread_function()
            or getattr(client, "_lexstream_created_by", None)
        )
        if function is None:
            return  # test set-up and assertions, not function code
        service = model.service_model
        new = [
            RecordedCall(
                function=function,
                action=action,
                service=service.service_name,
                operation=model.name,
                endpoint=client.meta.endpoint_url,
                resource=tuple(
                    (name, str(part[name])) for name in _RESOURCE_PARAMETERS if name in part
                ),
            )
            for action, part in iam_actions(
                service.service_name, service.signing_name, model.name, params
            )
        ]
        with self._lock:
            self.calls.extend(new)


def calling_function() -> str | None:
    """The function whose handler module is on this thread's stack, if any."""
    for frame in _frames(sys._getframe(1)):
        name = HANDLER_FILES.get(Path(frame.f_code.co_filename).name)
        if name is not None:
            return name
    return None


def helper_thread_function() -> str | None:
    """On a thread the runtime started (the streaming sender), the function it serves.

    Such a thread has no handler below it. Its stack holds lexstream_runtime code and no
    test code; while exactly one handler runs anywhere in the process, the thread works
    for that handler. (A client's creator alone is not enough: the runtime caches
    clients per process, and the first turn to create one may belong to test code.)
    """
    files = [Path(f.f_code.co_filename) for f in _frames(sys._getframe(1))]
    if not any(path.parent.name == contract.RUNTIME_PACKAGE for path in files):
        return None
    if any(_TESTS_DIR in path.parents for path in files):
        return None
    running = {
        name
        for frame in sys._current_frames().values()
        for f in _frames(frame)
        if (name := HANDLER_FILES.get(Path(f.f_code.co_filename).name)) is not None
    }
    return running.pop() if len(running) == 1 else None


def _frames(frame: Any) -> Iterator[Any]:
    while frame is not None:
        yield frame
        frame = frame.f_back


_TESTS_DIR = Path(__file__).resolve().parents[1]


class _RecordingClient:
    """Mixed into every botocore client class while the recorder is installed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lexstream_created_by = calling_function()
        self.meta.events.register("before-parameter-build", self._lexstream_record)

    def _lexstream_record(self, model: Any, params: Mapping, **_: Any) -> None:
        RECORDER.record(self, model, params)


RECORDER = ActionRecorder()


def pytest_configure(config: Any) -> None:
    RECORDER.install()


def pytest_unconfigure(config: Any) -> None:
    RECORDER.uninstall()
