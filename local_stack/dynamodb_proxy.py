"""A loopback proxy in front of a DynamoDB endpoint, for code that must watch or change
what crosses the wire (a function is a process of its own, so its calls can be seen
only there): the fault tests fail chosen operations, the benchmarks meter every call.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (status, headers, body) of one answer.
Answer = tuple[int, dict[str, str], bytes]
_TARGET_PREFIX = "DynamoDB_20120810."


class DynamoDBProxy:
    """Forwards every request to `upstream`, unless `answer` answers it instead.

    Args:
        upstream: the real endpoint, e.g. DynamoDB Local's URL.
        answer: `answer(operation, body, forward)` → the answer to send; `forward()`
            asks upstream. Default: forward everything.
    """

    def __init__(
        self,
        upstream: str,
        answer: Callable[[str, bytes, Callable[[], Answer]], Answer] | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.answer = answer or (lambda operation, body, forward: forward())
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> DynamoDBProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="dynamodb-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> DynamoDBProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def forward(self, body: bytes, headers: dict[str, str]) -> Answer:
        request = urllib.request.Request(self.upstream + "/", data=body, method="POST")
        for name, value in headers.items():
            if name.lower() not in ("host", "content-length", "connection"):
                request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                operation = self.headers.get("X-Amz-Target", "").removeprefix(_TARGET_PREFIX)
                headers = dict(self.headers)
                status, answer_headers, payload = proxy.answer(
                    operation, body, lambda: proxy.forward(body, headers)
                )
                self.send_response(status)
                for name, value in answer_headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:  # keep output readable
                pass

        return Handler
