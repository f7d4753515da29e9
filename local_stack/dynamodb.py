"""The local stack's DynamoDB: an embedded pure-Python server, or any endpoint you name.

By default moto's DynamoDB runs in this process on a free loopback port (ready in well
under a second, no Java), one request at a time: moto reads, checks and writes an item
in separate steps, so two conditional writes served at once could both pass their
condition, which DynamoDB never allows. Any other endpoint works too — DynamoDB Local, or AWS itself
when you point the stack at it on purpose. Either way the two tables are created from
`contract.CONNECTION_TABLE_SCHEMA` and `contract.QUOTA_TABLE_SCHEMA`, exactly the
schemas the component deploys.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import boto3
from lexstream_runtime import contract
from moto.dynamodb.models import dynamodb_backends
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from .stopping import within

log = logging.getLogger("lexstream.local.dynamodb")


class _OneAtATime:
    """A WSGI application that serves one request at a time. DynamoDB makes every
    single-item write atomic (a conditional UpdateItem's check and write cannot be split
    by another write); moto does not, so its requests are served in turn.

    moto answers with a body it has already built, so the lock covers the whole call."""

    def __init__(self, application: Any) -> None:
        self._application = application
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._lock:
            return self._application(environ, start_response)


class EmbeddedDynamoDB:
    """moto's DynamoDB on 127.0.0.1 with a free port; `endpoint_url` once started.

    moto keeps items past their TTL (it does not expire them); the route functions
    never rely on expiry, so the stack behaves the same. Its data lives in this process,
    so run one embedded DynamoDB per process at a time; starting one empties it.
    """

    _running: EmbeddedDynamoDB | None = None
    _running_lock = threading.Lock()

    def __init__(self) -> None:
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.endpoint_url: str | None = None

    def start(self) -> EmbeddedDynamoDB:
        """Start empty on a free port. Raises RuntimeError if another one is running here."""
        with EmbeddedDynamoDB._running_lock:
            if EmbeddedDynamoDB._running is not None:
                raise RuntimeError(
                    "an embedded DynamoDB is already running in this process and would share "
                    "its data; stop it first, or pass a DynamoDB endpoint instead"
                )
            EmbeddedDynamoDB._running = self
        # moto's web server logs every SDK call as a request line; the stack's own log
        # already says what matters.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # moto keeps its data in module state shared by every moto server in the process;
        # an embedded DynamoDB starts empty, like DynamoDB Local with -inMemory.
        for account in list(dynamodb_backends.values()):
            account.reset()
        application = _OneAtATime(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            "127.0.0.1", 0, application, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="embedded-dynamodb", daemon=True
        )
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            within(3.0, "the embedded DynamoDB", self._server.shutdown)
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(3.0)
            self._server = self._thread = None
            self.endpoint_url = None
        with EmbeddedDynamoDB._running_lock:
            if EmbeddedDynamoDB._running is self:
                EmbeddedDynamoDB._running = None

    def __enter__(self) -> EmbeddedDynamoDB:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def dynamodb_client(endpoint_url: str | None, region: str) -> Any:
    """A DynamoDB client for `endpoint_url` (None: the SDK's default endpoint for AWS).

    It comes from a session of its own, so the credentials it resolves now are not
    cached in boto3's process-wide default session.
    """
    return boto3.session.Session().client("dynamodb", endpoint_url=endpoint_url, region_name=region)


def ensure_table(client: Any, name: str, schema: dict[str, Any]) -> bool:
    """Create table `name` from a contract schema unless it exists; True if created.

    Args:
        client: a boto3 DynamoDB client.
        name: the table name.
        schema: `contract.CONNECTION_TABLE_SCHEMA` or `contract.QUOTA_TABLE_SCHEMA`
            (CreateTable arguments plus `TimeToLiveAttribute`).
    """
    try:
        client.describe_table(TableName=name)
        return False
    except client.exceptions.ResourceNotFoundException:
        pass
    definition = {key: value for key, value in schema.items() if key != "TimeToLiveAttribute"}
    client.create_table(TableName=name, **definition)
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
    )
    client.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": schema["TimeToLiveAttribute"]},
    )
    log.info("created table %s", name)
    return True


def ensure_stack_tables(client: Any, connection_table: str, quota_table: str) -> None:
    """The connection and quota tables, with exactly the schemas the component declares."""
    ensure_table(client, connection_table, contract.CONNECTION_TABLE_SCHEMA)
    ensure_table(client, quota_table, contract.QUOTA_TABLE_SCHEMA)
