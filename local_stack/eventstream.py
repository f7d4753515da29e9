"""AWS's event-stream framing (`application/vnd.amazon.eventstream`), as Bedrock's
converse_stream sends it: what botocore's parser reads, written by hand because no
well-kept library writes it (botocore only reads it)."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

EVENTSTREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"


def encode_event(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude, string headers, payload, two CRC32s."""
    encoded_headers = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        # Header value type 7 is a UTF-8 string with a 2-byte length.
        encoded_headers += struct.pack("!B", len(raw_name)) + raw_name
        encoded_headers += struct.pack("!BH", 7, len(raw_value)) + raw_value
    total_length = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack("!II", total_length, len(encoded_headers))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    message = prelude + encoded_headers + payload
    return message + struct.pack("!I", zlib.crc32(message))


def event_message(event_type: str, body: dict[str, Any]) -> bytes:
    """A converse_stream event such as contentBlockDelta."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_event(headers, json.dumps(body).encode())


def exception_message(exception_type: str, message: str) -> bytes:
    """An exception event; botocore raises it as EventStreamError while iterating."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    body = {"message": message, "originalStatusCode": 500, "originalMessage": message}
    return encode_event(headers, json.dumps(body).encode())
