"""A DynamoDB endpoint on loopback that fails on command, the way DynamoDB fails.

DynamoDB Local never throttles and never goes away, so the fault tests put this in front
of it: every request is forwarded unchanged, except the operations told to fail, which
get DynamoDB's own error response (status, `__type`, message), so botocore parses,
retries and raises exactly as it would against AWS.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from local_stack.dynamodb_proxy import Answer, DynamoDBProxy

# DynamoDB's error responses: HTTP status and the `__type` botocore reads the code from.
ERRORS = {
    "ThrottlingException": (400, "com.amazon.coral.availability#ThrottlingException"),
    "ProvisionedThroughputExceededException": (
        400,
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    ),
    "InternalServerError": (500, "com.amazonaws.dynamodb.v20120810#InternalServerError"),
    "ServiceUnavailableException": (
        503,
        "com.amazon.coral.availability#ServiceUnavailableException",
    ),
}


class FaultyDynamoDB(DynamoDBProxy):
    """Forwards to `upstream` (an endpoint URL) and fails the operations in `failures`.

    Args:
        upstream: the real endpoint, e.g. DynamoDB Local's URL.
        failures: operation name (e.g. "PutItem", or "*" for all) → error name (a key of
            ERRORS). Default: none; change it any time with `fail()`.
    """

    def __init__(self, upstream: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(upstream, self._answer)
        self.failures: dict[str, str] = {}
        self.seen: list[tuple[str, int]] = []  # (operation, status answered)
        # operation → called once its upstream answer is in, before the caller gets it.
        self.before_answering: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        for operation, error in (failures or {}).items():
            self.fail(operation, error)

    def fail(self, operation: str, error: str | None) -> None:
        """From now on answer `operation` with `error`; None forwards it again."""
        if error is not None and error not in ERRORS:
            raise ValueError(f"unknown error {error!r}; expected one of {', '.join(ERRORS)}")
        with self._lock:
            if error is None:
                self.failures.pop(operation, None)
            else:
                self.failures[operation] = error

    def failed(self, operation: str) -> int:
        """How many `operation` requests were answered with an error."""
        with self._lock:
            return sum(1 for op, status in self.seen if op == operation and status >= 400)

    def __enter__(self) -> FaultyDynamoDB:
        self.start()
        return self

    def _answer(self, operation: str, body: bytes, forward: Callable[[], Answer]) -> Answer:
        with self._lock:
            error = self.failures.get(operation) or self.failures.get("*")
        if error is not None:
            status, error_type = ERRORS[error]
            payload = json.dumps({"__type": error_type, "message": f"{error} (injected)"})
            answer = (status, {"Content-Type": "application/x-amz-json-1.0"}, payload.encode())
        else:
            answer = forward()
        hook = self.before_answering.get(operation)
        if hook is not None:
            hook()
        with self._lock:
            self.seen.append((operation, answer[0]))
        return answer
