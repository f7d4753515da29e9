"""boto3 clients with timeouts and retries sized for API Gateway's and Lex's time limits.

Endpoints are never set here: botocore reads the standard `AWS_ENDPOINT_URL_<SERVICE>`
variables, which is how the local stack points these clients at loopback servers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# What a failed AWS call raises: a modelled error, or no answer at all (timeout, refused).
AWS_ERRORS = (ClientError, BotoCoreError)

# The route functions run with a 10 s timeout (API Gateway itself waits 29 s): a stuck
# DynamoDB call must fail well inside it, two attempts of at most 1 s + 2 s each, so the
# client gets a clean 5xx instead of a timed-out function.
_ROUTE_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2}
)
# Posts are retried by the streaming helper itself (bounded, with its own counters), so
# botocore must not add hidden retries on top; a post normally takes milliseconds.
_POST_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1})

# The callback URL comes from the browser (a session attribute), so a client could name
# a new one every turn: keep only the most recently used few, or a warm function would
# grow by one boto3 client per URL until it runs out of memory. A deployment has one.
MAX_MANAGEMENT_CLIENTS = 8
_management_clients: OrderedDict[str, Any] = OrderedDict()
_clients_lock = threading.Lock()
_shared_dynamodb: list[Any] = []


def dynamodb_client() -> Any:
    """A new DynamoDB client for the route functions (create it once, at cold init)."""
    return boto3.client("dynamodb", config=_ROUTE_CONFIG)


def shared_dynamodb_client() -> Any:
    """One DynamoDB client per process, created on first use and then reused by every turn."""
    with _clients_lock:
        if not _shared_dynamodb:
            _shared_dynamodb.append(boto3.client("dynamodb", config=_ROUTE_CONFIG))
        return _shared_dynamodb[0]


def management_client(endpoint_url: str) -> Any:
    """The API Gateway management API client for one callback URL, reused across turns."""
    with _clients_lock:
        client = _management_clients.get(endpoint_url)
        if client is None:
            client = boto3.client(
                "apigatewaymanagementapi", endpoint_url=endpoint_url, config=_POST_CONFIG
            )
            _management_clients[endpoint_url] = client
            while len(_management_clients) > MAX_MANAGEMENT_CLIENTS:
                _management_clients.popitem(last=False)
        else:
            _management_clients.move_to_end(endpoint_url)
        return client


def bedrock_runtime_client(read_timeout_s: float) -> Any:
    """A Bedrock runtime client whose calls cannot outlive `read_timeout_s` per read.

    Throttling is retried once at most: a Lex turn has no time for a long backoff.
    """
    config = Config(
        connect_timeout=2,
        read_timeout=read_timeout_s,
        retries={"mode": "standard", "total_max_attempts": 2},
    )
    return boto3.client("bedrock-runtime", config=config)


def error_code(error: BaseException) -> str:
    """The AWS error code of a failed call ("GoneException"), or the exception's class name."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__


def http_status(error: BaseException) -> int | None:
    """The HTTP status of a failed call, when the service answered at all."""
    if isinstance(error, ClientError):
        return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None
