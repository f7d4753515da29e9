"""The local stack, wired for measurement: the real route functions behind the local
gateway, the embedded DynamoDB, and the local Bedrock runtime as a model whose every
chunk is numbered and whose schedule is known.

Everything listens on 127.0.0.1 only, with fake credentials; nothing reaches AWS.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from functions import layout
from functions.lexstream_runtime import contract
from local_stack.bedrock import LocalBedrock, ModelRequest
from local_stack.gateway import LocalGateway
from local_stack.lambda_runtime import LambdaFunction

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
# Far above any benchmark's request count: the quota is not what is measured here.
UNMETERED_QUOTA = 1_000_000_000


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
    """The model: `chunks` numbered word tokens at `chunks_per_second`.

    The local Bedrock runtime emits token i at a fixed schedule (stream start + i / rate),
    independent of how fast the caller reads, so a caller that blocks between reads does
    not slow the model down: it only falls behind it. The schedule is therefore the
    model's own generation time, for every approach alike.
    """

    def __init__(self, chunks: int, chunks_per_second: float) -> None:
        self.tokens = numbered_tokens(chunks)
        self.chunks_per_second = chunks_per_second
        self._started: dict[str, float] = {}
        self.bedrock = LocalBedrock(answer=self._answer, tokens_per_second=chunks_per_second)

    def _answer(self, request: ModelRequest) -> str:
        # Called as the stream starts; the question is unique per turn.
        self._started[request.question] = time.monotonic()
        return "".join(self.tokens)

    def output(self, question: str) -> ModelOutput:
        """The chunks of the turn that asked `question`, with when each was generated."""
        started = self._started[question]
        interval = 1.0 / self.chunks_per_second
        return ModelOutput(self.tokens, [started + i * interval for i in range(len(self.tokens))])


class BenchStack:
    """DynamoDB, route functions, gateway and model on loopback, for one callback latency.

    callback_latency_s: added by the gateway to every management API call (default 0).
    model: the numbered model the fulfillment functions stream from.
    """

    def __init__(self, model: NumberedModel, callback_latency_s: float = 0.0) -> None:
        self.model = model
        self.callback_latency_s = callback_latency_s
        suffix = uuid.uuid4().hex[:8]
        self.connection_table = f"bench-connections-{suffix}"
        self.quota_table = f"bench-quota-{suffix}"
        self._exit = contextlib.ExitStack()
        self._fulfillments: dict[str, LambdaFunction] = {}
        self.gateway: LocalGateway | None = None
        self.dynamodb_endpoint = ""

    def __enter__(self) -> BenchStack:
        self._exit.enter_context(fake_credentials())
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._exit.close()

    def _start(self) -> None:
        dynamodb = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        dynamodb.start()
        self._exit.callback(dynamodb.stop)
        host, port = dynamodb.get_host_and_port()
        self.dynamodb_endpoint = f"http://{host}:{port}"
        self._create_tables()
        self.model.bedrock.start()
        self._exit.callback(self.model.bedrock.stop)
        routes = {
            contract.ROUTE_CONNECT: self._function("connect").invoke,
            contract.ROUTE_DISCONNECT: self._function("disconnect").invoke,
            contract.ROUTE_DEFAULT: self._function("default").invoke,
        }
        # Hundreds of clients connect at once in the concurrency run; API Gateway's
        # account-level connect rate (500/s) is not what is measured.
        self.gateway = LocalGateway(
            routes, callback_latency_s=self.callback_latency_s, max_workers=32
        ).start()
        self._exit.callback(self.gateway.stop)

    def _create_tables(self) -> None:
        client = boto3.client("dynamodb", endpoint_url=self.dynamodb_endpoint)
        for name, schema in (
            (self.connection_table, contract.CONNECTION_TABLE_SCHEMA),
            (self.quota_table, contract.QUOTA_TABLE_SCHEMA),
        ):
            create = {key: value for key, value in schema.items() if key != "TimeToLiveAttribute"}
            client.create_table(TableName=name, **create)

    def environment(self) -> dict[str, str]:
        """What the component sets on the functions, pointed at the loopback servers."""
        return {
            contract.ENV_CONNECTION_TABLE: self.connection_table,
            contract.ENV_QUOTA_TABLE: self.quota_table,
            contract.ENV_QUOTA_LIMIT: str(UNMETERED_QUOTA),
            contract.ENV_QUOTA_PERIOD: contract.QUOTA_PERIODS[0],
            contract.ENV_AUTH_MODE: contract.AUTH_NONE,
            contract.ENV_MODEL_ID: "local.numbered-model",
            contract.ENV_SYSTEM_PROMPT: "",
            contract.ENV_MAX_TOKENS: str(len(self.model.tokens) + 1),
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_endpoint,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.model.bedrock.endpoint_url,
        }

    def _function(self, name: str) -> LambdaFunction:
        function = LambdaFunction.lexstream(name, self.environment())
        self._exit.callback(function.close)
        return function

    def fulfillment(self, module: str) -> LambdaFunction:
        """A fulfillment function from benchmarks/fulfillments/, packaged like ours: its
        module plus the lexstream_runtime package (as the helper's layer provides it).
        One instance per module, so only its first turn pays the cold init.
        """
        if module in self._fulfillments:
            return self._fulfillments[module]
        files = {f"{module}.py": FULFILLMENTS_DIR / f"{module}.py", **layout.runtime_files()}
        if not files[f"{module}.py"].is_file():
            raise ValueError(f"no fulfillment module {module!r} in {FULFILLMENTS_DIR}")
        function = LambdaFunction(
            f"bench-{module}", f"{module}.handler", files, self.environment(), timeout_s=29.0
        )
        self._exit.callback(function.close)
        self._fulfillments[module] = function
        return function

    def connect(
        self, clients: WebSocketClients, session_ids: list[str]
    ) -> tuple[dict[str, Listener], set[str]]:
        """Open one client socket per session; returns the listeners and the new
        connection ids, once the gateway can post to every one of them.
        """
        assert self.gateway is not None
        before = set(self.gateway.open_connection_ids())
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
        """A Lex V2 fulfillment event carrying the two streaming session attributes, as
        the Web UI sets them for every typed message.
        """
        assert self.gateway is not None
        return fulfillment_event(
            session_id,
            question,
            {
                contract.SESSION_ATTR_ENDPOINT: self.gateway.callback_url,
                contract.SESSION_ATTR_TABLE: self.connection_table,
            },
        )


def fulfillment_event(
    session_id: str, question: str, session_attributes: Mapping[str, str]
) -> dict[str, Any]:
    """A Lex V2 FulfillmentCodeHook event for one typed message."""
    intent = {
        "name": "FallbackIntent",
        "slots": {},
        "state": "ReadyForFulfillment",
        "confirmationState": "None",
    }
    return {
        "messageVersion": "1.0",
        "invocationSource": "FulfillmentCodeHook",
        "inputMode": "Text",
        "responseContentType": "text/plain; charset=utf-8",
        "sessionId": session_id,
        "inputTranscript": question,
        "bot": {
            "id": "BENCHBOT01",
            "name": "BenchBot",
            "aliasId": "TSTALIASID",
            "aliasName": "TestBotAlias",
            "localeId": "en_US",
            "version": "DRAFT",
        },
        "interpretations": [{"intent": intent, "interpretationSource": "Lex"}],
        "requestAttributes": {},
        "sessionState": {
            "activeContexts": [],
            "sessionAttributes": dict(session_attributes),
            "intent": intent,
        },
        "transcriptions": [],
    }


@contextlib.contextmanager
def process_cpu() -> Iterator[list[float]]:
    """CPU seconds this process spends inside the block, appended to the yielded list."""
    result: list[float] = []
    started = time.process_time()
    yield result
    result.append(time.process_time() - started)
