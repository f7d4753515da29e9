"""DynamoDB request units, counted from the calls the benchmark's functions really make.

Each fulfillment function is a process of its own, so the meter sits on the wire: a
proxy on loopback in front of the stack's DynamoDB, which the benchmark's functions are
pointed at, sees every request and answer. The embedded DynamoDB does not report
consumed capacity faithfully (it answers fixed numbers), so the units follow DynamoDB's
documented on-demand rules from the sizes on the wire: a read is one unit per 4 KB of
item (half for an eventually consistent read, at least one half), a write one unit per
1 KB (at least one, charged even when its condition fails).
"""

from __future__ import annotations

import base64
import json
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from local_stack.dynamodb_proxy import Answer, DynamoDBProxy

READ_UNIT_BYTES = 4 * 1024
WRITE_UNIT_BYTES = 1024
READS = {"GetItem", "Query", "Scan"}
# For a write the response does not carry the item's size; these read it from the request.
WRITES = {"PutItem": "Item", "UpdateItem": "Key", "DeleteItem": "Key"}
# A write whose condition fails still consumes write units.
CHARGED_ERRORS = {"ConditionalCheckFailedException"}


@dataclass(frozen=True)
class DynamoDBUsage:
    """Totals of the DynamoDB calls seen so far."""

    requests: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    # Operations the meter cannot price, so a new call never goes uncounted unnoticed.
    unpriced: tuple[str, ...] = ()

    def __sub__(self, earlier: DynamoDBUsage) -> DynamoDBUsage:
        return DynamoDBUsage(
            self.requests - earlier.requests,
            self.read_units - earlier.read_units,
            self.write_units - earlier.write_units,
            self.unpriced[len(earlier.unpriced) :],
        )


def attribute_bytes(value: Mapping[str, Any]) -> int:
    """The size DynamoDB counts for one typed attribute value ({"S": "..."} and so on)."""
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(data.encode("utf-8"))
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(base64.b64decode(data))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_bytes({kind[0]: member}) for member in data)
    if kind == "L":
        return 3 + sum(attribute_bytes(member) + 1 for member in data)
    if kind == "M":
        return 3 + item_bytes(data) + len(data)
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_bytes(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + attribute_bytes(value) for name, value in item.items())


def request_units(
    operation: str, request: Mapping[str, Any], response: Mapping[str, Any]
) -> tuple[float, float]:
    """(read units, write units) one call consumed, from its request and response JSON."""
    if operation in READS:
        items = [response["Item"]] if "Item" in response else response.get("Items", [])
        units = max(1, math.ceil(sum(item_bytes(item) for item in items) / READ_UNIT_BYTES))
        return (units if request.get("ConsistentRead") else units / 2), 0.0
    written = request.get(WRITES[operation], {})
    return 0.0, float(max(1, math.ceil(item_bytes(written) / WRITE_UNIT_BYTES)))


@dataclass
class DynamoDBMeter:
    """Counts the DynamoDB calls that pass through it: a proxy on loopback in front of a
    DynamoDB endpoint (use `proxying(upstream)` and give the functions its
    `endpoint_url`). Each function is a process of its own, so the wire is where its
    calls can be seen."""

    _usage: DynamoDBUsage = field(default_factory=DynamoDBUsage)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    endpoint_url: str | None = None

    def snapshot(self) -> DynamoDBUsage:
        with self._lock:
            return self._usage

    @contextmanager
    def proxying(self, upstream: str) -> Iterator[DynamoDBMeter]:
        """Serve as a proxy to `upstream` (a DynamoDB endpoint URL) while the block runs."""

        def answer(operation: str, body: bytes, forward: Callable[[], Answer]) -> Answer:
            status, headers, payload = forward()
            self.record(operation, body, status, payload)
            return status, headers, payload

        with DynamoDBProxy(upstream, answer) as proxy:
            self.endpoint_url = proxy.endpoint_url
            try:
                yield self
            finally:
                self.endpoint_url = None

    def record(
        self, operation: str, request_body: bytes, status: int, response_body: bytes
    ) -> None:
        """Count one call from its request and response as they crossed the wire."""
        request = json.loads(request_body or b"{}")
        response = json.loads(response_body or b"{}")
        failed = status >= 300
        charged = not failed or response.get("__type", "").rsplit("#", 1)[-1] in CHARGED_ERRORS
        with self._lock:
            usage = replace(self._usage, requests=self._usage.requests + 1)
            if operation not in READS and operation not in WRITES:
                usage = replace(usage, unpriced=(*usage.unpriced, operation))
            elif charged:
                reads, writes = request_units(operation, request, {} if failed else response)
                usage = replace(
                    usage,
                    read_units=usage.read_units + reads,
                    write_units=usage.write_units + writes,
                )
            self._usage = usage
