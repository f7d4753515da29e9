"""LambdaFunction runs a handler as Lambda does: its own process per instance, through
the Runtime API and the official runtime interface client, one invocation at a time."""

from __future__ import annotations

import json
import os
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions import layout
from local_stack.lambda_runtime import FunctionError, LambdaFunction

# One handler module for every behaviour below, chosen by the event's "do".
PROBE = textwrap.dedent(
    """
    import json
    import os
    import sys
    import threading
    import time
    from pathlib import Path

    print("init of", os.environ["AWS_LAMBDA_FUNCTION_NAME"])
    if os.environ.get("FAIL_INIT"):
        raise ValueError("init failed on purpose")


    def handler(event, context):
        do = event.get("do")
        if do == "wait_for":
            # Returns once `count` invocations are in a handler at the same time.
            folder = Path(event["folder"])
            (folder / context.aws_request_id).touch()
            deadline = time.monotonic() + 10
            while len(list(folder.iterdir())) < event["count"] and time.monotonic() < deadline:
                time.sleep(0.01)
        elif do == "sleep":
            time.sleep(event["seconds"])
        elif do == "exit":
            print("about to exit")
            os._exit(3)
        elif do == "grow":
            hoard = bytearray(event["mb"] * 1024 * 1024)
            time.sleep(5)
        elif do == "vandalize":
            os.environ["GREETING"] = "vandalized"
            sys.modules["json"] = None
            threading.Thread(target=time.sleep, args=(3600,)).start()
        elif do == "import":
            try:
                __import__(event["module"])
                found = True
            except ImportError:
                found = False
            return {"found": found}
        elif do == "log":
            print("plain line")
            print(json.dumps({"event": "metrics", "value": 1}))
        identity = context.identity
        return {
            "pid": os.getpid(),
            "event": event,
            "requestId": context.aws_request_id,
            "functionName": context.function_name,
            "arn": context.invoked_function_arn,
            "memory": context.memory_limit_in_mb,
            "remainingMs": context.get_remaining_time_in_millis(),
            "cognitoIdentityId": getattr(identity, "cognito_identity_id", None),
            "environment": dict(os.environ),
            "cwd": os.getcwd(),
            "greeting": os.environ.get("GREETING"),
            "jsonModule": type(sys.modules.get("json")).__name__,
        }
    """
)


class Log:
    """The lines a function logged, with their request ids."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    def __call__(self, line: str, request_id: str | None) -> None:
        with self.lock:
            self.lines.append((line, request_id))

    def of(self, request_id: str) -> list[str]:
        with self.lock:
            return [line for line, rid in self.lines if rid == request_id]


@pytest.fixture(scope="module")
def probe_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("probe") / "probe.py"
    source.write_text(PROBE)
    return source


@pytest.fixture
def make(probe_source: Path) -> Iterator[Any]:
    made: list[LambdaFunction] = []

    def make(environment: dict[str, str] | None = None, **kwargs: Any) -> LambdaFunction:
        kwargs.setdefault("output", Log())
        function = LambdaFunction(
            "probe",
            "probe.handler",
            {"probe.py": probe_source},
            {"GREETING": "hello", **(environment or {})},
            **kwargs,
        )
        made.append(function)
        return function

    yield make
    for function in made:
        function.close()


@pytest.fixture(scope="module")
def warm(probe_source: Path) -> Iterator[LambdaFunction]:
    """One function, its instances reused by the tests that allow it."""
    function = LambdaFunction(
        "probe",
        "probe.handler",
        {"probe.py": probe_source},
        {"GREETING": "hello"},
        output=Log(),
        credentials={"AWS_ACCESS_KEY_ID": "probekey", "AWS_SECRET_ACCESS_KEY": "probesecret"},
    )
    yield function
    function.close()


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is gone for every purpose but its table entry.
    state = (
        Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "X"
    )
    return state in ("Z", "X")


def test_an_idle_instance_serves_the_next_invocation_each_with_its_own_context(warm):
    first = warm.invoke({"n": 1})
    second = warm.invoke({"n": 2})

    assert first["pid"] == second["pid"] != os.getpid()
    assert [first["event"], second["event"]] == [{"n": 1}, {"n": 2}]
    assert first["requestId"] != second["requestId"]
    assert first["functionName"] == "probe"
    assert first["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:probe"
    assert first["memory"] == "256"
    assert 0 < first["remainingMs"] <= 10_000


def test_the_environment_is_lambdas_and_the_functions_and_nothing_of_this_process(
    warm, monkeypatch
):
    monkeypatch.setenv("STACK_ONLY_VARIABLE", "must not leak")
    result = warm.invoke({})
    environment = result["environment"]
    task_root = result["cwd"]

    lambdas = {
        "_HANDLER": "probe.handler",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{layout.LAMBDA_RUNTIME}",
        "AWS_LAMBDA_FUNCTION_NAME": "probe",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/probe",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "LAMBDA_TASK_ROOT": task_root,
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
    }
    own = {
        "GREETING": "hello",
        "AWS_ACCESS_KEY_ID": "probekey",
        "AWS_SECRET_ACCESS_KEY": "probesecret",
    }
    assert {key: environment[key] for key in lambdas} == lambdas
    assert {key: environment[key] for key in own} == own
    # Set per process or per invocation by the runtime itself; and LC_CTYPE by CPython,
    # which coerces a locale the machine lacks.
    per_process = {
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_RUNTIME_DIR",
        "PATH",
        "LD_LIBRARY_PATH",
        "PYTHONPATH",
        "_X_AMZN_TRACE_ID",
        "LC_CTYPE",
    }
    assert set(environment) - set(lambdas) - set(own) <= per_process
    assert "STACK_ONLY_VARIABLE" not in environment
    assert environment["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert Path(task_root, "probe.py").read_text() == PROBE


@pytest.mark.parametrize(
    ("module", "found"),
    [("boto3", True), ("awslambdaric", True), ("local_stack", False), ("pulumi", False)],
)
def test_only_the_runtimes_packages_are_importable(warm, module, found):
    assert warm.invoke({"do": "import", "module": module}) == {"found": found}


def test_the_helper_layer_is_importable_from_opt_when_given(make):
    without = make()
    with_layer = make(layers=layout.layer_files())

    assert without.invoke({"do": "import", "module": "lexstream_runtime"}) == {"found": False}
    assert with_layer.invoke({"do": "import", "module": "lexstream_runtime"}) == {"found": True}


def test_concurrent_invocations_run_on_as_many_instances_each_serving_one(make, tmp_path):
    function = make()
    count = 4
    results: list[dict[str, Any]] = []

    def call() -> None:
        results.append(function.invoke({"do": "wait_for", "folder": str(tmp_path), "count": count}))

    threads = [threading.Thread(target=call) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Each call returned only once all four were inside a handler at once.
    assert len(results) == count
    assert len({result["pid"] for result in results}) == count
    assert function.instances_started == count
    # Idle again, they are reused: no new instance for the next calls.
    assert {function.invoke({})["pid"] for _ in range(count)} <= {r["pid"] for r in results}
    assert function.instances_started == count


def test_provisioned_instances_serve_a_burst_without_cold_starts(make, tmp_path):
    function = make(max_instances=3)
    function.provision(5)  # no more than the limit
    assert function.instances_started == 3
    results: list[dict[str, Any]] = []

    def call() -> None:
        results.append(function.invoke({"do": "wait_for", "folder": str(tmp_path), "count": 3}))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({result["pid"] for result in results}) == 3
    assert function.instances_started == 3


def test_invocations_past_the_instance_limit_wait_for_a_free_instance(make):
    function = make(max_instances=1)
    pids: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: pids.append(function.invoke({"do": "sleep", "seconds": 0.2})["pid"])
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(pids) == 3
    assert len(set(pids)) == 1
    assert function.instances_started == 1


def test_a_timeout_kills_the_instance_and_reports_lambdas_error(make):
    log = Log()
    function = make(timeout_s=0.5, output=log)
    pid = function.invoke({})["pid"]

    with pytest.raises(FunctionError) as raised:
        function.invoke({"do": "sleep", "seconds": 30})

    assert raised.value.error_type == "Sandbox.Timedout"
    assert raised.value.message.endswith("Task timed out after 0.50 seconds")
    assert raised.value.message.startswith(raised.value.request_id)
    assert process_gone(pid)
    assert any(
        "Task timed out after 0.50 seconds" in line for line in log.of(raised.value.request_id)
    )
    after = function.invoke({})
    assert after["pid"] != pid
    assert function.instances_started == 2


def test_a_process_that_exits_mid_invocation_gives_runtime_exit_error(make):
    log = Log()
    function = make(output=log)
    with pytest.raises(FunctionError) as raised:
        function.invoke({"do": "exit"})

    assert raised.value.error_type == "Runtime.ExitError"
    assert raised.value.message.endswith("Error: Runtime exited with error: exit status 3")
    assert "about to exit" in log.of(raised.value.request_id)
    assert function.invoke({})["greeting"] == "hello"  # a new instance serves the next


def test_an_instance_over_its_memory_size_ends_with_out_of_memory(make):
    function = make(memory_mb=128)
    with pytest.raises(FunctionError) as raised:
        function.invoke({"do": "grow", "mb": 200})

    assert raised.value.error_type == "Runtime.OutOfMemory"
    assert raised.value.message.endswith("Runtime exited with error: signal: killed")


def test_an_init_error_reaches_the_caller_with_lambdas_error_type_and_is_retried(make):
    failing = make({"FAIL_INIT": "1"})
    with pytest.raises(FunctionError) as raised:
        failing.invoke({})
    assert (raised.value.error_type, raised.value.message) == (
        "ValueError",
        "init failed on purpose",
    )
    with pytest.raises(FunctionError):
        failing.invoke({})
    assert failing.instances_started == 2


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("probe.missing", "Runtime.HandlerNotFound", "Handler 'missing' missing on module 'probe'"),
        (
            "absent.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'absent': No module named 'absent'",
        ),
    ],
)
def test_a_handler_that_cannot_load_gives_the_runtimes_init_error(
    probe_source, handler, error_type, message
):
    function = LambdaFunction("probe", handler, {"probe.py": probe_source}, output=Log())
    try:
        with pytest.raises(FunctionError) as raised:
            function.initialize()
    finally:
        function.close()
    assert (raised.value.error_type, raised.value.message) == (error_type, message)


def test_a_handler_that_vandalizes_its_process_affects_no_other_function_and_stops(make):
    vandal = make()
    bystander = make()
    vandal_pid = vandal.invoke({"do": "vandalize"})["pid"]

    spoiled = vandal.invoke({})
    clean = bystander.invoke({})
    assert (spoiled["greeting"], spoiled["jsonModule"]) == ("vandalized", "NoneType")
    assert (clean["greeting"], clean["jsonModule"]) == ("hello", "module")
    assert os.environ.get("GREETING") is None

    started = time.monotonic()
    vandal.close()
    assert time.monotonic() - started < 5
    assert process_gone(vandal_pid)


def test_log_lines_carry_their_request_id_and_a_report_follows_each_invocation(make):
    log = Log()
    function = make(output=log)
    cold = function.invoke({"do": "log"})["requestId"]
    warm_id = function.invoke({"do": "log"})["requestId"]

    cold_lines = log.of(cold)
    assert cold_lines[:2] == ["plain line", json.dumps({"event": "metrics", "value": 1})]
    report = cold_lines[-1].split("\t")
    assert report[0] == f"REPORT RequestId: {cold}"
    assert [part.split(":")[0] for part in report[1:]] == [
        "Duration",
        "Billed Duration",
        "Memory Size",
        "Max Memory Used",
        "Init Duration",
    ]
    assert report[3] == "Memory Size: 256 MB"
    assert int(report[4].split()[3]) > 0
    # A warm invocation has no Init Duration; the init's own line has no request id.
    assert "Init Duration" not in log.of(warm_id)[-1]
    assert ("init of probe", None) in log.lines


IDENTITY = "us-east-1:6f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"


def test_the_cognito_identity_of_an_event_reaches_the_context(warm):
    event = {"requestContext": {"identity": {"cognitoIdentityId": IDENTITY}}}
    assert warm.invoke(event)["cognitoIdentityId"] == IDENTITY


def test_close_ends_every_instance_and_removes_the_unpacked_archive(make):
    function = make()
    result = function.invoke({})
    function.close()
    function.close()

    assert process_gone(result["pid"])
    assert not Path(result["cwd"]).exists()
    with pytest.raises(FunctionError):
        function.invoke({})
