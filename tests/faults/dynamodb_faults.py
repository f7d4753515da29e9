"""A DynamoDB endpoint on loopback that fails on command, the way DynamoDB fails.

DynamoDB Local never throttles and never goes away, so the fault tests put this in front
of it: every request is forwarded unchanged, except the operations told to fail, which
get DynamoDB's own error response (status, `__type`, message), so botocore parses,
retries and raises exactly as it would against AWS.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
_TARGET_PREFIX = "DynamoDB_20120810."


class FaultyDynamoDB:
    """Forwards to `upstream` (an endpoint URL) and fails the operations in `failures`.

    Args:
        upstream: the real endpoint, e.g. DynamoDB Local's URL.
        failures: operation name (e.g. "PutItem", or "*" for all) → error name (a key of
            ERRORS). Default: none; change it any time with `fail()`.
    """

    def __init__(self, upstream: str, failures: dict[str, str] | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.failures: dict[str, str] = {}
        self.seen: list[tuple[str, int]] = []  # (operation, status answered)
        self._lock = threading.Lock()
        for operation, error in (failures or {}).items():
            self.fail(operation, error)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    def fail(self, operation: str, error: str | None) -> None:
        """From now on answer `operation` with `error`; None forwards it again."""
        if error is not None and error not in ERRORS:
            raise ValueError(f"unknown error {error!r}; expected one of {', '.join(ERRORS)}")
        with self._lock:
            if error is None:
                self.failures.pop(operation, None)
            else:
                self.failures[operation] = error

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def failed(self, operation: str) -> int:
        """How many `operation` requests were answered with an error."""
        with self._lock:
            return sum(1 for op, status in self.seen if op == operation and status >= 400)

    def start(self) -> FaultyDynamoDB:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="faulty-dynamodb", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FaultyDynamoDB:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(
        self, operation: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict, bytes]:
        with self._lock:
            error = self.failures.get(operation) or self.failures.get("*")
        if error is not None:
            status, error_type = ERRORS[error]
            payload = json.dumps({"__type": error_type, "message": f"{error} (injected)"})
            answer = (status, {"Content-Type": "application/x-amz-json-1.0"}, payload.encode())
        else:
            answer = self._forward(body, headers)
        with self._lock:
            self.seen.append((operation, answer[0]))
        return answer

    def _forward(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(self.upstream + "/", data=body, method="POST")
        for name, value in headers.items():
            if name.lower() not in ("host", "content-length", "connection"):
                request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                target = self.headers.get("X-Amz-Target", "")
                operation = target.removeprefix(_TARGET_PREFIX)
                status, headers, payload = proxy._answer(operation, body, dict(self.headers))
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:  # keep test output readable
                pass

        return Handler
