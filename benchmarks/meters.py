"""DynamoDB request units, counted from the calls the benchmark's functions really make.

The fulfillment functions create their clients from boto3's default session at init;
a meter registered on that session before then sees every call they make, through
botocore's own `before-call` / `after-call` events. The embedded DynamoDB does not report
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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import boto3

READ_UNIT_BYTES = 4 * 1024
WRITE_UNIT_BYTES = 1024
READS = {"GetItem", "Query", "Scan"}
# For a write the response does not carry the item's size; these read it from the request.
WRITES = {"PutItem": "Item", "UpdateItem": "Key", "DeleteItem": "Key"}
# A write whose condition fails still consumes write units.
CHARGED_ERRORS = {"ConditionalCheckFailedException"}
_EVENT_ID = "lexstream-bench-dynamodb-meter"


@dataclass(frozen=True)
class DynamoDBUsage:
    """Totals of the DynamoDB calls seen so far."""

    requests: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    # Operations the meter cannot price, so a new call never goes uncounted unnoticed.
    unpriced: tuple[str, ...] = ()

    def __add__(self, other: DynamoDBUsage) -> DynamoDBUsage:
        return DynamoDBUsage(
            self.requests + other.requests,
            self.read_units + other.read_units,
            self.write_units + other.write_units,
            self.unpriced + other.unpriced,
        )

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
    """Counts DynamoDB calls made by clients of boto3's default session created while it
    is installed (use `installed()`)."""

    _usage: DynamoDBUsage = field(default_factory=DynamoDBUsage)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> DynamoDBUsage:
        with self._lock:
            return self._usage

    @contextmanager
    def installed(self) -> Iterator[DynamoDBMeter]:
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
        events.register("before-call.dynamodb", self._before, unique_id=f"{_EVENT_ID}-before")
        events.register("after-call.dynamodb", self._after, unique_id=f"{_EVENT_ID}-after")
        try:
            yield self
        finally:
            events.unregister("before-call.dynamodb", unique_id=f"{_EVENT_ID}-before")
            events.unregister("after-call.dynamodb", unique_id=f"{_EVENT_ID}-after")

    def _before(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_EVENT_ID] = json.loads(params.get("body") or b"{}")

    def _after(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        operation = model.name
        request = context.pop(_EVENT_ID, {})
        response = json.loads(http_response.content or b"{}")
        failed = http_response.status_code >= 300
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
