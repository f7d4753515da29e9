"""The local stack, set up for measurement: its model answers with numbered chunks on a
known schedule, and the benchmark's fulfillment functions run beside the stack's own.

Everything listens on 127.0.0.1 only, with fake credentials; nothing reaches AWS.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lexstream_runtime import contract

from functions import declarations, layout
from local_stack.activity import FunctionPrinted
from local_stack.bedrock import ModelRequest
from local_stack.gateway import LocalGateway
from local_stack.lambda_runtime import LambdaFunction
from local_stack.stack import LocalStack, StackSettings
from local_stack.stack_functions import handler_function

from .clients import Listener, WebSocketClients
from .timeline import ModelOutput, numbered_tokens

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    # Never ask an instance metadata service for credentials.
    "AWS_EC2_METADATA_DISABLED": "true",
    # A client created without an endpoint of its own fails here, locally, instead of
    # reaching AWS (port 9 is discard, closed on loopback).
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
}
FULFILLMENTS_DIR = Path(__file__).resolve().parent / "fulfillments"
# How long to wait for sockets to register and for text still in flight.
SETTLE_S = 5.0
# Far above any benchmark's request count: neither the quota nor stage throttling is
# what is measured here (hundreds of clients connect at once in the concurrency run).
UNMETERED_QUOTA = 1_000_000_000
UNTHROTTLED = 1_000_000
MODEL_ID = "local.numbered-model"


class ReportLines:
    """Lambda's REPORT lines of every function, as the local runtime writes them: each
    cold start's Init Duration by function name."""

    def __init__(self) -> None:
        self.init_ms: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def output(self, function: str) -> Callable[[str, str | None], None]:
        """A LambdaFunction `output` that reads the function's REPORT lines."""
        return lambda line, request_id: self.read(function, line)

    def on_activity(self, event: Any) -> None:
        """An activity subscriber: the stack's own functions' lines."""
        if isinstance(event, FunctionPrinted):
            self.read(event.function, event.line)

    def read(self, function: str, line: str) -> None:
        if not line.startswith("REPORT "):
            return
        for part in line.split("\t"):
            if part.startswith("Init Duration: "):
                with self._lock:
                    self.init_ms.setdefault(function, []).append(float(part.split()[2]))


@contextlib.contextmanager
def fake_credentials() -> Iterator[None]:
    """Make every boto3 client in this process sign with fake keys for one region, and
    restore the environment afterwards.

    Process-wide because fulfillment code creates its management client per turn (the
    reference does so inside the handler), after the Lambda runner's init-time
    environment is gone.
    """
    saved = {name: os.environ.get(name) for name in FAKE_CREDENTIALS}
    os.environ.update(FAKE_CREDENTIALS)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class NumberedModel:
    """The model's answer: `chunks` numbered word tokens at `chunks_per_second`.

    The local Bedrock runtime emits token i at a fixed schedule (stream start + i / rate),
    independent of how fast the caller reads, so a caller that blocks between reads does
    not slow the model down: it only falls behind it. The schedule is therefore the
    model's own generation time, for every approach alike.
    """

    def __init__(self, chunks: int, chunks_per_second: float) -> None:
        self.tokens = numbered_tokens(chunks)
        self.chunks_per_second = chunks_per_second
        self._started: dict[str, float] = {}

    def answer(self, request: ModelRequest) -> str:
        """The local Bedrock runtime's `answer` hook, called as each stream starts."""
        self._started[request.question] = time.monotonic()
        return "".join(self.tokens)

    def output(self, question: str) -> ModelOutput:
        """The chunks of the turn that asked `question`, with when each was generated."""
        started = self._started[question]
        interval = 1.0 / self.chunks_per_second
        return ModelOutput(self.tokens, [started + i * interval for i in range(len(self.tokens))])


class BenchStack:
    """The local stack (`local_stack.LocalStack`: embedded DynamoDB, the real route
    functions, the gateway, the local model) answering with a `NumberedModel`, plus the
    benchmark's own fulfillment functions beside the stack's.

    model: what the local model answers, and at what rate.
    callback_latency_s: added by the gateway to every management API call (default 0).
    """

    def __init__(self, model: NumberedModel, callback_latency_s: float = 0.0) -> None:
        self.model = model
        self.settings = StackSettings(
            auth_mode=contract.AUTH_NONE,
            tokens_per_second=model.chunks_per_second,
            first_token_delay_s=0.0,
            model_id=MODEL_ID,
            max_tokens=len(model.tokens) + 1,
            quota_limit=UNMETERED_QUOTA,
            # Every benchmark client connects from 127.0.0.1.
            quota_per_source_limit=UNMETERED_QUOTA,
            throttle_rate=UNTHROTTLED,
            throttle_burst=UNTHROTTLED,
            callback_latency_s=callback_latency_s,
        )
        self.local: LocalStack | None = None
        self._exit = contextlib.ExitStack()
        self._fulfillments: dict[str, LambdaFunction] = {}
        self.reports = ReportLines()
        # Where the benchmark's own fulfillments reach DynamoDB (a meter, say); None:
        # where the stack's fulfillment does.
        self.fulfillment_dynamodb: str | None = None

    def __enter__(self) -> BenchStack:
        with contextlib.ExitStack() as starting:
            starting.enter_context(fake_credentials())
            self.local = LocalStack(self.settings)
            self.local.activity.subscribe(self.reports.on_activity)
            starting.enter_context(self.local)
            assert self.local.bedrock is not None
            self.local.bedrock.answer = self.model.answer
            self._exit = starting.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        for function in self._fulfillments.values():
            function.close()
        self._exit.close()

    @property
    def dynamodb_endpoint(self) -> str:
        """The running stack's DynamoDB endpoint."""
        if self.local is None or self.local.dynamodb_endpoint is None:
            raise RuntimeError("the benchmark stack is not running; use it as a context manager")
        return self.local.dynamodb_endpoint

    @property
    def gateway(self) -> LocalGateway:
        """The running stack's gateway."""
        if self.local is None or self.local.gateway is None:
            raise RuntimeError("the benchmark stack is not running; use it as a context manager")
        return self.local.gateway

    def fulfillment(self, module: str) -> LambdaFunction:
        """A fulfillment function from benchmarks/fulfillments/, packaged like a bot's own
        (its module plus `lexstream_runtime`, as the helper layer provides it) and with
        the environment the stack gives its own fulfillment. One cold init per module.

        A module named `*.mjs` is a Node.js handler, run as the stack runs `--handler
        x.mjs:handler` (aws-lambda-ric, the helpers as its layers), reaching DynamoDB as the
        others do.
        """
        if module not in self._fulfillments:
            source = FULFILLMENTS_DIR / (module if module.endswith(".mjs") else f"{module}.py")
            if not source.is_file():
                raise ValueError(f"no fulfillment module {module!r} in {FULFILLMENTS_DIR}")
            assert self.local is not None
            environment = dict(self.local.functions["fulfillment"].environment)
            if self.fulfillment_dynamodb is not None:
                environment["AWS_ENDPOINT_URL_DYNAMODB"] = self.fulfillment_dynamodb
            timeout_s = declarations.BEDROCK_FULFILLMENT.timeout_seconds
            output = self.reports.output(f"bench-{module}")
            if source.suffix == ".mjs":
                function = handler_function(
                    source, "handler", environment, timeout_s=timeout_s, output=output
                )
            else:
                function = LambdaFunction(
                    f"bench-{module}",
                    f"{module}.handler",
                    {source.name: source, **layout.runtime_files()},
                    environment,
                    timeout_s=timeout_s,
                    output=output,
                )
            function.initialize()  # the cold start is measured elsewhere, not in a turn
            self._fulfillments[module] = function
        return self._fulfillments[module]

    def connect(
        self, clients: WebSocketClients, session_ids: list[str]
    ) -> tuple[dict[str, Listener], set[str]]:
        """Open one client socket per session; returns the listeners and the new
        connection ids, once the gateway can post to every one of them.
        """
        before = set(self.gateway.open_connection_ids())
        # Provisioned, as a deployment expecting a burst would be: what is measured is
        # the streaming, not a burst of cold starts sharing this machine's cores.
        assert self.local is not None
        self.local.functions["connect"].provision(len(session_ids))
        listeners = clients.connect(session_ids)
        # The client may see the handshake complete a moment before the gateway has
        # registered the socket; a post in that moment would be answered 410 Gone.
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            opened = set(self.gateway.open_connection_ids()) - before
            if len(opened) >= len(session_ids):
                return listeners, opened
            time.sleep(0.005)
        raise RuntimeError(f"the gateway registered {len(opened)} of {len(session_ids)} sockets")

    def lex_event(self, session_id: str, question: str) -> dict[str, Any]:
        """The Lex V2 fulfillment event the stack's Lex runtime makes for a typed message,
        with the streaming session attributes the Web UI sets on every turn.
        """
        assert self.local is not None and self.local.lex is not None
        lex = self.local.lex
        return lex.fulfillment_event(session_id, question, lex.streaming_attributes)


@contextlib.contextmanager
def process_cpu() -> Iterator[list[float]]:
    """CPU seconds this process and every process it started (the functions' instances,
    DynamoDB Local) spend inside the block, appended to the yielded list.

    The functions run in processes of their own, as on Lambda, so this process's CPU time
    alone would leave out the fulfillment whose cost the relay compares. A process that
    starts and ends inside the block is counted once it is reaped (RUSAGE_CHILDREN).
    """
    result: list[float] = []
    started_self, started_reaped = time.process_time(), _reaped_children_cpu()
    started_tree = _descendants_cpu()
    yield result
    ended_tree = _descendants_cpu()
    descendants = sum(cpu - started_tree.get(pid, 0.0) for pid, cpu in ended_tree.items())
    result.append(
        time.process_time() - started_self + _reaped_children_cpu() - started_reaped + descendants
    )


def _reaped_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _descendants_cpu() -> dict[int, float]:
    """{pid: user + system CPU seconds} of every live descendant of this process, read
    from /proc (empty where there is none, as off Linux)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*/stat") if Path("/proc").is_dir() else ():
        try:
            # The command name, in parentheses, may hold spaces: split after its last ")".
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while being read
        pid = int(entry.parent.name)
        parents[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
    ours, frontier = set(), [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in ours]
        ours.update(children)
        frontier.extend(children)
    return {pid: cpu[pid] for pid in ours}
