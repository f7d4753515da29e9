"""A turn whose posts stay throttled past the retry bound ends as `throttled`: on its
closing log line and in its Turns metric, so the dashboard's throttled line counts it."""

from __future__ import annotations

import pytest
from lexstream_runtime import contract
from lexstream_runtime.streaming import open_stream

from tests.functions.test_metrics import NAMESPACE, assert_emf, lines
from tests.functions.test_streaming import stalled  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(120)


def test_posts_throttled_past_the_retry_bound_end_the_turn_as_throttled(
    stalled,  # noqa: F811
    dynamodb,
    capsys,
):
    # A client that reads nothing and a gateway that buffers nothing for it: once the
    # socket's own buffers are full, every post gets 429.
    gateway, _client, lex_event = stalled(client_buffer_bytes=0)
    capsys.readouterr()

    stream = open_stream(
        lex_event,
        dynamodb=dynamodb,
        flush_interval_s=0,
        max_retries=2,
        retry_backoff_s=0.01,
        metrics_namespace=NAMESPACE,
    )
    stream.write("x" * (6 * 1024 * 1024))
    stream.close(timeout_s=60)

    assert gateway.counters.post_errors == {"LimitExceededException": 3}
    assert stream.outcome == "throttled"
    [closed] = lines(capsys.readouterr().out, "stream_closed")
    assert closed["outcome"] == "throttled"
    assert closed["stopReason"] == "LimitExceededException"
    recorded = assert_emf(closed)
    assert recorded[contract.METRIC_TURNS] == (
        1,
        "Count",
        {contract.DIMENSION_OUTCOME: "throttled"},
    )
    assert recorded[contract.METRIC_POST_RETRIES][0] == 2
    assert recorded[contract.METRIC_FAILED_POSTS][0] == 1
    assert recorded[contract.METRIC_MESSAGES_POSTED][0] == gateway.counters.messages_posted
