"""Run Lambda handlers the way Lambda does, in this process.

Each function gets its archive laid out in a private folder (the same files the
component zips), one cold init with the environment the component sets, and a fresh
context per invocation. Invocations may run concurrently on threads, so handlers must
be thread-safe, which boto3 clients are.

What a handler prints is its log (on Lambda, CloudWatch's). By default it reaches this
process's stdout; a function given `output` hands each line to that callback instead,
for what its cold init and invocations print on their own thread. (Threads a handler
starts itself, such as the helper's sender, still print to stdout.)
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import itertools
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from lexstream_runtime import contract

from functions import layout

_ENV_LOCK = threading.Lock()
_instance_ids = itertools.count(1)
# The line callback of the function running on this thread, if it has one.
_current_output: contextvars.ContextVar[_LineBuffer | None] = contextvars.ContextVar(
    "lambda_output", default=None
)


class _LineBuffer:
    """Collects one invocation's printed text and hands on every complete line."""

    def __init__(self, output: Callable[[str], None]) -> None:
        self.output = output
        self.partial = ""

    def write(self, text: str) -> None:
        *lines, self.partial = (self.partial + text).split("\n")
        for line in lines:
            self.output(line)

    def flush(self) -> None:
        if self.partial:
            self.output(self.partial)
            self.partial = ""


class _RoutedStdout:
    """sys.stdout while functions with `output` may run: their text goes to their
    callback, everyone else's to the stream it replaced."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        buffer = _current_output.get()
        if buffer is None:
            return self.stream.write(text)
        buffer.write(text)
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def _printing_to(output: Callable[[str], None] | None) -> Iterator[None]:
    if output is None:
        yield
        return
    if not isinstance(sys.stdout, _RoutedStdout):
        sys.stdout = _RoutedStdout(sys.stdout)
    buffer = _LineBuffer(output)
    token = _current_output.set(buffer)
    try:
        yield
    finally:
        _current_output.reset(token)
        buffer.flush()


class LambdaContext:
    """The attributes and method Lambda's Python runtime gives a handler's context."""

    def __init__(self, function: LambdaFunction) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = function.memory_mb
        self.invoked_function_arn = (
            f"arn:aws:lambda:{function.region}:000000000000:function:{function.name}"
        )
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = f"local/{function.instance_id}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + function.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LambdaFunction:
    """One deployed function: archive files, handler, environment, timeout.

    `files` maps archive paths to source files, as `functions.layout` returns them;
    `output`, when given, receives each line the function prints (see the module
    docstring), else the lines go to stdout.
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
        output: Callable[[str], None] | None = None,
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
        self.output = output
        self.instance_id = next(_instance_ids)
        self._handler: Callable[[Any, Any], Any] | None = None
        self._init_lock = threading.Lock()
        self._code_dir: Path | None = None
        self._module_name: str | None = None
        self.init_seconds: float | None = None
        # The function's own copies of the archive's packages, once initialised.
        self.private_modules: dict[str, ModuleType] = {}

    @classmethod
    def lexstream(
        cls, name: str, environment: Mapping[str, str] | None = None, **kwargs: Any
    ) -> LambdaFunction:
        """One of this project's functions, by its folder name in functions/."""
        return cls(
            name, contract.HANDLERS[name], layout.function_files(name), environment, **kwargs
        )

    def initialize(self) -> None:
        """Run the cold init now (Lambda does it before the first invocation)."""
        with _printing_to(self.output):
            self._cold_init()

    def invoke(self, event: Any) -> Any:
        with _printing_to(self.output):
            handler = self._cold_init()
            return handler(event, LambdaContext(self))

    __call__ = invoke

    def _cold_init(self) -> Callable[[Any, Any], Any]:
        if self._handler is not None:
            return self._handler
        with self._init_lock:
            if self._handler is None:
                started = time.perf_counter()
                module = self._import_handler_module()
                self._handler = getattr(module, self.handler_spec.rsplit(".", 1)[1])
                self.init_seconds = time.perf_counter() - started
        return self._handler

    def _import_handler_module(self) -> ModuleType:
        # A failed init is retried on the next invocation, as Lambda does: lay the archive
        # out afresh, without leaving the failed attempt's folder behind.
        self.close()
        code_dir = Path(tempfile.mkdtemp(prefix=f"lexstream-{self.name}-"))
        for arcname, source in self.files.items():
            target = code_dir / arcname
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        self._code_dir = code_dir
        module_name, _ = self.handler_spec.rsplit(".", 1)
        path = code_dir / (module_name.replace(".", "/") + ".py")
        if not path.is_file():
            raise FileNotFoundError(
                f"handler module {module_name!r} is not in the archive of {self.name}"
            )
        # Lambda puts the archive root on sys.path (kept at the end here, for imports a
        # handler makes late).
        if str(code_dir) not in sys.path:
            sys.path.append(str(code_dir))
        unique = f"_lambda_{self.instance_id}_{module_name.replace('.', '_')}"
        self._module_name = unique
        spec = importlib.util.spec_from_file_location(unique, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # Handlers read their configuration once, at init, as on Lambda; the environment
        # is theirs only for that moment, because several functions share this process.
        # Every function also gets its own copy of the archive's packages: on Lambda each
        # function is its own process, so module state (such as a client cached on first
        # use) must not leak from one function, or one test's stack, into another.
        top_level = _top_level_names(self.files, exclude=module_name.split(".")[0])
        with (
            _ENV_LOCK,
            patched_environ(self.environment),
            _private_modules(code_dir, top_level) as private,
        ):
            sys.modules[unique] = module
            spec.loader.exec_module(module)
        self.private_modules = private
        return module

    def close(self) -> None:
        """Remove the archive's folder and its traces in sys.path and sys.modules.

        Safe to call twice; the next invocation would start a new cold init.
        """
        self._handler = None
        if self._module_name is not None:
            sys.modules.pop(self._module_name, None)
            self._module_name = None
        if self._code_dir is not None:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(self._code_dir))
            shutil.rmtree(self._code_dir, ignore_errors=True)
            self._code_dir = None


def _top_level_names(files: Mapping[str, Path], exclude: str) -> set[str]:
    names = set()
    for arcname in files:
        first = arcname.split("/", 1)[0]
        names.add(first[: -len(".py")] if first.endswith(".py") else first)
    names.discard(exclude)
    return names


@contextlib.contextmanager
def _private_modules(code_dir: Path, names: set[str]) -> Iterator[dict[str, ModuleType]]:
    """Import `names` afresh from `code_dir` for one function, leaving sys.modules as it was.

    Yields the dict that receives the function's own modules once the block ends.
    While the block runs, the process's own modules of those names (`lexstream_runtime`,
    which the local stack and the tests import too) are out of sys.modules: code on other
    threads imports them when its module loads, never during a cold init elsewhere.
    """

    def owned(module_name: str) -> bool:
        return module_name.split(".", 1)[0] in names

    private: dict[str, ModuleType] = {}
    saved = {name: module for name, module in sys.modules.items() if owned(name)}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(code_dir))
    try:
        yield private
    finally:
        sys.path.remove(str(code_dir))
        for name in [name for name in sys.modules if owned(name)]:
            private[name] = sys.modules.pop(name)
        sys.modules.update(saved)


class patched_environ:
    """Set environment variables on enter; put back what was there on exit."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, old in self.saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
