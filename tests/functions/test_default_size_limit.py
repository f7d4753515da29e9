"""$default's size limit is inclusive: a message of exactly 1,024 bytes of UTF-8 is
answered, one byte more is refused with 413, whatever mix of characters makes it up."""

from __future__ import annotations

import json

import pytest
from lexstream_runtime import contract

LIMIT = 1024


def ping_of_size(size: int, pad_character: str) -> str:
    """A heartbeat message, valid JSON, of exactly `size` bytes of UTF-8."""
    empty = json.dumps({"action": "ping", "pad": ""}, ensure_ascii=False)
    room = size - len(empty.encode())
    width = len(pad_character.encode())
    # Fill with `pad_character`, then ASCII for the bytes it cannot fill exactly.
    pad = pad_character * (room // width) + "x" * (room % width)
    body = json.dumps({"action": "ping", "pad": pad}, ensure_ascii=False)
    assert len(body.encode()) == size
    return body


@pytest.mark.parametrize("pad_character", ["x", "€"])
@pytest.mark.parametrize(("size", "status"), [(LIMIT - 1, 200), (LIMIT, 200), (LIMIT + 1, 413)])
def test_a_message_up_to_exactly_1024_bytes_is_answered_and_one_byte_more_is_refused(
    routes, event, size, status, pad_character
):
    default = routes()[contract.ROUTE_DEFAULT]
    request = event("websocket-message-default")
    request["body"] = ping_of_size(size, pad_character)

    response = default.invoke(request)

    assert response["statusCode"] == status
    expected = "pong" if status == 200 else f"Messages are limited to {LIMIT} bytes"
    assert json.loads(response["body"])["message"] == expected
