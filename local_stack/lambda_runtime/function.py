"""One deployed function: its archive, handler, environment and limits, and its instances.

`invoke(event)` runs the event on an idle instance, or starts a new one (a cold start)
while fewer than `max_instances` run; past that it waits for one to come free. Each
instance serves one invocation at a time. What Lambda reports, the caller gets:
the handler's error, `Sandbox.Timedout` after the timeout (the instance is killed),
`Runtime.ExitError` when the process ends, `Runtime.OutOfMemory` over the memory
size, the init's error (`Runtime.ImportModuleError`, `Runtime.HandlerNotFound`, or the
exception the module raised). After every invocation it logs Lambda's REPORT line.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import json
import math
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lexstream_runtime import contract

from functions import layout

from . import sandbox
from .instance import INIT_LIMIT_SECONDS, Instance, LineOutput, Outcome
from .runtime_api import Invocation, shared_api

# Instances one function may run at once, locally. Lambda's own default is the
# account's 1,000; each local instance is a process of 40-50 MB whose cold start costs
# a few hundred milliseconds of CPU, so a burst of hundreds would stall a laptop for many
# seconds. Past the limit an invocation waits for a free instance, up to
# INSTANCE_WAIT_SECONDS (Lambda would throttle it instead).
DEFAULT_MAX_INSTANCES = 16
# How long an invocation waits for an instance, API Gateway's integration timeout.
INSTANCE_WAIT_SECONDS = 29.0
# Variables every function gets unless its own environment sets them. A test session
# puts AWS_LAMBDA_EXEC_WRAPPER here to instrument every function, as a layer's wrapper
# script would on Lambda.
SHARED_ENVIRONMENT: dict[str, str] = {}


class FunctionError(RuntimeError):
    """An invocation failed, as Lambda reports it: `error_type` (e.g.
    `Runtime.ExitError`, or the handler's exception class), `message`, `stack_trace`."""

    def __init__(
        self,
        error_type: str,
        message: str,
        request_id: str = "",
        stack_trace: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.request_id = request_id
        self.stack_trace = stack_trace or []

    def describe(self) -> str:
        """`Type: message`, as Lambda's console shows an error."""
        return f"{self.error_type}: {self.message}"


class LambdaFunction:
    """One deployed function, run as Lambda runs it (see the module docstring).

    Args:
        name: the function's name (context.function_name).
        handler: `module.function`, the module's file (`.py`, `.mjs`, `.js`, `.cjs`)
            at the task root.
        files: the archive, as `functions.layout` returns it (archive path → file).
            Ignored when `task_root` is given.
        environment: the function's own variables.
        timeout_s: the invocation timeout. Default 10.
        memory_mb: the memory size; an instance over it is killed. Default 256.
        region: AWS_REGION. Default us-east-1.
        output: receives each line the function logs, with the request id it belongs to
            (None for its init) when it takes two arguments, else the line alone;
            default: this process's stdout.
        task_root: a folder to run as it is, instead of an unpacked copy of `files`.
        layers: files unpacked into the instance's /opt (e.g. `layout.layer_files()`).
        credentials: the credential triple it runs with (its execution role's); default:
            the one in this process's environment.
        max_instances: instances at once. Default DEFAULT_MAX_INSTANCES.
    """

    def __init__(
        self,
        name: str,
        handler: str,
        files: Mapping[str, Path],
        environment: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        memory_mb: int = 256,
        region: str = "us-east-1",
        output: Callable[..., None] | None = None,
        *,
        task_root: Path | None = None,
        layers: Mapping[str, Path] | None = None,
        credentials: Mapping[str, str] | None = None,
        max_instances: int = DEFAULT_MAX_INSTANCES,
    ) -> None:
        if "." not in handler:
            raise ValueError(f"handler {handler!r} must look like 'module.function'")
        self.name = name
        self.handler_spec = handler
        self.files = dict(files)
        self.environment = dict(environment or {})
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.region = region
        self.output: LineOutput = _two_argument(output) if output else _print_line
        self.layers = dict(layers or {})
        self.credentials = (
            dict(credentials) if credentials is not None else sandbox.credentials_from_environment()
        )
        self.max_instances = max_instances
        self.arn = f"arn:aws:lambda:{region}:000000000000:function:{name}"
        self.instances_started = 0
        self.init_seconds: float | None = None
        self._given_root = task_root
        self._task_root: Path | None = task_root
        self._opt: Path | None = None
        self._sandbox: Path | None = None  # a Node.js function's folder, with both above
        self._idle: list[Instance] = []
        self._busy: set[Instance] = set()
        self._lock = threading.Condition()
        self._closed = False

    @classmethod
    def lexstream(
        cls, name: str, environment: Mapping[str, str] | None = None, **kwargs: Any
    ) -> LambdaFunction:
        """One of this project's functions, by its folder name in functions/."""
        return cls(
            name, contract.HANDLERS[name], layout.function_files(name), environment, **kwargs
        )

    @property
    def language(self) -> str:
        """ "python" or "node", from the handler module's file at the task root."""
        module = self.handler_spec.rsplit(".", 1)[0].replace(".", "/")
        names = set(self.files) if self._given_root is None else _files_in(self._given_root)
        node = [module + suffix for suffix in sandbox.NODE_SUFFIXES]
        return "node" if any(name in names for name in node) else "python"

    # --- invoking --------------------------------------------------------------------

    def initialize(self) -> None:
        """Start one instance now and wait for its init (Lambda's provisioned start);
        raises FunctionError when the init fails."""
        instance = self._acquire(time.monotonic() + self.timeout_s)
        self._release(instance)

    def provision(self, count: int) -> None:
        """Have `count` instances ready (at most `max_instances`), started side by side,
        as Lambda's provisioned concurrency does; raises FunctionError when an init
        fails."""
        wanted = min(count, self.max_instances)
        with self._lock:
            missing = wanted - len(self._idle) - len(self._busy)
        if missing <= 0:
            return
        with concurrent.futures.ThreadPoolExecutor(missing) as starting:
            acquiring = [
                starting.submit(self._acquire, time.monotonic() + INSTANCE_WAIT_SECONDS)
                for _ in range(missing)
            ]
        for instance in [future.result() for future in acquiring]:
            self._release(instance)

    def invoke(self, event: Any) -> Any:
        """Run `event` on an instance; the handler's result, or FunctionError."""
        payload = json.dumps(event).encode()
        started = time.monotonic()
        instance = self._acquire(started + INSTANCE_WAIT_SECONDS)
        cold = instance.served == 0
        invocation = Invocation(
            request_id=str(uuid.uuid4()),
            payload=payload,
            deadline_ms=int((time.time() + self.timeout_s) * 1000),
            function_arn=self.arn,
            cognito_identity=_cognito_identity(event),
        )
        began = time.monotonic()
        try:
            outcome = instance.run(invocation, self.timeout_s)
        finally:
            self._release(instance)
        if outcome.kind == "timeout":
            # Lambda's own log line for it, before the REPORT.
            self.output(
                f"{_timestamp()} {self._timed_out(invocation.request_id)}", invocation.request_id
            )
        self._report(invocation.request_id, instance, began, cold)
        return self._result(outcome, invocation.request_id)

    __call__ = invoke

    def _acquire(self, deadline: float) -> Instance:
        with self._lock:
            while True:
                if self._closed:
                    raise FunctionError("Runtime.Unavailable", f"function {self.name} is closed")
                while self._idle and not self._idle[-1].alive:
                    self._idle.pop().close()
                if self._idle:
                    instance = self._idle.pop()
                    self._busy.add(instance)
                    return instance
                if len(self._busy) < self.max_instances:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FunctionError(
                        "TooManyRequestsException",
                        f"Rate Exceeded: all {self.max_instances} instances of "
                        f"{self.name} stayed busy",
                    )
                self._lock.wait(remaining)
            placeholder = _Starting()
            self._busy.add(placeholder)  # type: ignore[arg-type]
        try:
            instance = self._start_instance()
        except BaseException:
            self._give_back(placeholder)
            raise
        failed = instance.wait_ready()
        if failed is not None:
            self._give_back(placeholder)
            instance.close()
            raise self._init_failure(failed)
        with self._lock:
            self._busy.discard(placeholder)  # type: ignore[arg-type]
            if self._closed:
                self._lock.notify()
                instance.close()
                raise FunctionError("Runtime.Unavailable", f"function {self.name} is closed")
            self._busy.add(instance)
            self.init_seconds = instance.init_seconds
        return instance

    def _give_back(self, placeholder: _Starting) -> None:
        with self._lock:
            self._busy.discard(placeholder)  # type: ignore[arg-type]
            self._lock.notify()

    def _release(self, instance: Instance) -> None:
        with self._lock:
            self._busy.discard(instance)
            if instance.alive and not self._closed:
                self._idle.append(instance)
                instance = None  # type: ignore[assignment]
            self._lock.notify()
        if instance is not None:
            instance.close()

    def _start_instance(self) -> Instance:
        task_root, opt = self._prepare()
        language = self.language
        own_environment = {**SHARED_ENVIRONMENT, **self.environment}
        command = sandbox.runtime_command(language, self.handler_spec)
        wrapper = own_environment.get(sandbox.EXEC_WRAPPER)
        if wrapper:
            command = [wrapper, *command]
        with self._lock:
            self.instances_started += 1
            number = self.instances_started

        def environment(runtime_api: str) -> dict[str, str]:
            return sandbox.lambda_environment(
                name=self.name,
                handler=self.handler_spec,
                language=language,
                memory_mb=self.memory_mb,
                region=self.region,
                task_root=task_root,
                opt=opt,
                runtime_api=runtime_api,
                instance_id=number,
                environment=own_environment,
                credentials=self.credentials,
            )

        return Instance(shared_api(), command, environment, task_root, self.memory_mb, self.output)

    def _prepare(self) -> tuple[Path, Path | None]:
        with self._lock:
            if self._sandbox is None and self.language == "node":
                self._sandbox, self._task_root, self._opt = sandbox.node_sandbox(
                    f"lexstream-{self.name}-", self.files, self._given_root, self.layers
                )
            if self._task_root is None:
                self._task_root = sandbox.unpack(self.files, f"lexstream-{self.name}-")
            if self._opt is None and self.layers:
                self._opt = sandbox.unpack(self.layers, f"lexstream-{self.name}-opt-")
            return self._task_root, self._opt

    # --- outcomes --------------------------------------------------------------------

    def _init_failure(self, outcome: Outcome) -> FunctionError:
        if outcome.kind == "timeout":
            return FunctionError(
                "Runtime.InitTimeout",
                f"the init of {self.name} took longer than {INIT_LIMIT_SECONDS:.0f} s",
            )
        return self._result_error(outcome, "")

    def _result(self, outcome: Outcome, request_id: str) -> Any:
        if outcome.kind == "response":
            return json.loads(outcome.body) if outcome.body else None
        if outcome.kind == "timeout":
            raise FunctionError("Sandbox.Timedout", self._timed_out(request_id), request_id)
        raise self._result_error(outcome, request_id)

    def _timed_out(self, request_id: str) -> str:
        return f"{request_id} Task timed out after {self.timeout_s:.2f} seconds"

    def _result_error(self, outcome: Outcome, request_id: str) -> FunctionError:
        if outcome.kind == "error":
            try:
                body = json.loads(outcome.body)
            except ValueError:
                body = {}
            body = body if isinstance(body, dict) else {}
            return FunctionError(
                str(outcome.error_type or body.get("errorType") or "Unhandled"),
                str(body.get("errorMessage", "")),
                request_id,
                [str(line) for line in body.get("stackTrace") or []],
            )
        status = outcome.exit_status
        if outcome.kind == "out_of_memory":
            error_type, how = "Runtime.OutOfMemory", "signal: killed"
        elif status is not None and status < 0:
            error_type, how = "Runtime.ExitError", f"signal: {_signal_name(-status)}"
        else:
            error_type, how = "Runtime.ExitError", f"exit status {status}"
        message = f"RequestId: {request_id} Error: Runtime exited with error: {how}"
        return FunctionError(error_type, message, request_id)

    def _report(self, request_id: str, instance: Instance, began: float, cold: bool) -> None:
        duration_ms = (time.monotonic() - began) * 1000
        parts = [
            f"REPORT RequestId: {request_id}",
            f"Duration: {duration_ms:.2f} ms",
            f"Billed Duration: {math.ceil(duration_ms)} ms",
            f"Memory Size: {self.memory_mb} MB",
            f"Max Memory Used: {instance.max_memory_used_mb()} MB",
        ]
        if cold and instance.init_seconds is not None:
            parts.append(f"Init Duration: {instance.init_seconds * 1000:.2f} ms")
        self.output("\t".join(parts), request_id)

    # --- stopping --------------------------------------------------------------------

    def close(self, wait_s: float = 5.0) -> None:
        """Kill every instance and remove the unpacked archive. Safe to call twice; the
        function takes no invocations afterwards."""
        with self._lock:
            self._closed = True
            instances = [*self._idle, *(i for i in self._busy if isinstance(i, Instance))]
            self._idle.clear()
            self._lock.notify_all()
        for instance in instances:
            instance.kill()
        deadline = time.monotonic() + wait_s
        for instance in instances:
            instance.close(max(0.0, deadline - time.monotonic()))
        if self._sandbox is not None:
            shutil.rmtree(self._sandbox, ignore_errors=True)
            self._sandbox, self._task_root, self._opt = None, self._given_root, None
        for folder in (None if self._given_root else self._task_root, self._opt):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        if self._given_root is None:
            self._task_root = None
        self._opt = None


class _Starting:
    """Holds an instance's place in the count while its process starts."""


def _files_in(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()} if folder.is_dir() else set()


def _cognito_identity(event: Any) -> str | None:
    """The Lambda-Runtime-Cognito-Identity header, for an event that carries one."""
    if not isinstance(event, dict):
        return None
    context = event.get("requestContext")
    identity = context.get("identity") if isinstance(context, dict) else None
    if not isinstance(identity, dict):
        return None
    identity_id, pool_id = identity.get("cognitoIdentityId"), identity.get("cognitoIdentityPoolId")
    # Only a real identity: anything else in an event is the caller's data, not Cognito's.
    if not isinstance(identity_id, str) or not contract.COGNITO_IDENTITY_ID_PATTERN.fullmatch(
        identity_id
    ):
        return None
    if not isinstance(pool_id, str) or not contract.COGNITO_IDENTITY_ID_PATTERN.fullmatch(pool_id):
        pool_id = None
    return json.dumps({"cognitoIdentityId": identity_id, "cognitoIdentityPoolId": pool_id})


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name.removeprefix("SIG").lower().replace("kill", "killed")
    except ValueError:
        return str(number)


def _two_argument(output: Callable[..., None]) -> LineOutput:
    """`output` as a (line, request id) reader; one that takes the line alone (as before
    request ids were given) gets just the line."""
    try:
        inspect.signature(output).bind("line", None)
    except TypeError:
        return lambda line, request_id: output(line)
    except ValueError:  # a builtin without a signature, e.g. list.append
        return lambda line, request_id: output(line)
    return output


def _print_line(line: str, request_id: str | None) -> None:
    print(line, file=sys.stdout, flush=True)
