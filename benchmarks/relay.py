"""Streaming relay: the reference's one-post-per-chunk loop against lexstream's helper.

For each callback latency, both approaches stream the same numbered model (same chunk
count and rate) through the same local gateway to a real WebSocket client, one turn
after the other, `repeat` times, alternating which goes first. Each cell is the median
over the repetitions; correctness (delivered == generated) must hold in every one.
Each turn also counts what it would be billed for (messages in 32 KB units, connection
time, the fulfillment's billed duration, DynamoDB request units), which `cost` prices.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import boto3
from lexstream_runtime import contract

from . import cost
from .clients import WebSocketClients
from .meters import DynamoDBMeter
from .stack import SETTLE_S, BenchStack, NumberedModel, process_cpu
from .stats import median
from .timeline import judge_turn

APPROACHES = {
    "reference": "reference_fulfillment",
    "lexstream": "helper_fulfillment",
    # The Node.js helper (benchmarks/fulfillments/*.mjs), run as `--handler x.mjs:handler`.
    "lexstream_node": "helper_fulfillment.mjs",
}
# The approaches held to lexstream's targets.
HELPERS = ("lexstream", "lexstream_node")

# Targets for lexstream, from the benchmark specification.
MAX_COMPLETION_OVER_MODEL = 1.05
MAX_MESSAGE_SHARE_OF_REFERENCE = 1 / 5
MAX_GAP_MS = 250.0
# A post is only visible after one callback round trip plus this machine's loopback
# transport (HTTP to the gateway, a WebSocket frame to the client). That transport cost
# is measured in the same run (a bare post at the same latency); this allowance covers
# scheduler noise on a shared machine on top of it.
FIRST_TEXT_JITTER_MS = 5.0
POST_PROBES = 5


def _session_id() -> str:
    return f"bench-{uuid.uuid4().hex[:16]}"


def one_post_visible_ms(stack: BenchStack, clients: WebSocketClients) -> float:
    """The median time from calling `post_to_connection` until the client has the frame:
    one callback latency as this machine delivers it.
    """
    session_id = _session_id()
    listeners, opened = stack.connect(clients, [session_id])
    listener, (connection_id,) = listeners[session_id], opened
    management = boto3.client("apigatewaymanagementapi", endpoint_url=stack.gateway.callback_url)
    samples = []
    for probe in range(POST_PROBES):
        before = len(listener.frames)
        started = time.monotonic()
        management.post_to_connection(ConnectionId=connection_id, Data=f"p{probe}".encode())
        deadline = started + SETTLE_S
        while len(listener.frames) == before and time.monotonic() < deadline:
            time.sleep(0.0005)
        if len(listener.frames) == before:
            raise RuntimeError("a bare post never reached the client")
        samples.append((listener.frames[before].at - started) * 1000)
    return median(samples[1:] or samples)  # the first pays for the TCP connection


def run_turn(
    stack: BenchStack, clients: WebSocketClients, approach: str, dynamodb: DynamoDBMeter
) -> dict[str, Any]:
    """One streamed turn of `approach` (one of APPROACHES), judged, with what it used:
    messages, connection time, billed duration, DynamoDB request units (counted by
    `dynamodb`, the proxy the benchmark's fulfillments reach DynamoDB through, the Node.js
    one's too).
    """
    if approach not in APPROACHES:
        raise ValueError(f"unknown approach {approach!r}; expected one of {', '.join(APPROACHES)}")
    function = stack.fulfillment(APPROACHES[approach])
    session_id = _session_id()
    counters = stack.gateway.counters
    received_before_connect = counters.messages_received
    listener = stack.connect(clients, [session_id])[0][session_id]
    # The client pings as it opens: a message of the connection, not of the answer, so
    # wait for it before the answer's count starts.
    deadline = time.monotonic() + SETTLE_S
    while counters.messages_received == received_before_connect and time.monotonic() < deadline:
        time.sleep(0.001)
    question = f"Tell me about streaming, turn {session_id}"
    event = stack.lex_event(session_id, question)
    posted_before, billed_before = counters.messages_posted, counters.billed_messages
    received_before = counters.messages_received
    dynamodb_before = dynamodb.snapshot()
    with process_cpu() as cpu:
        started = time.monotonic()
        response = function.invoke(event)
        returned = time.monotonic()
        clients.wait_for([listener], len("".join(stack.model.tokens)), SETTLE_S)
    dynamodb_used = dynamodb.snapshot() - dynamodb_before
    if dynamodb_used.unpriced:
        raise RuntimeError(f"no price for DynamoDB {', '.join(dynamodb_used.unpriced)}")
    model = stack.model.output(question)
    result: dict[str, Any] = judge_turn(model, listener.frames, started)
    final_text = "".join(message["content"] for message in response.get("messages", []))
    result.update(
        final_message_equals_generated=final_text == model.text,
        messages=counters.messages_posted - posted_before,
        billed_units=counters.billed_messages - billed_before,
        cpu_ms_per_1000_chunks=cpu[0] * 1000 / len(model.tokens) * 1000,
    )
    # Every message the client received, at its size on the wire, plus any the client
    # sent during the answer (none, normally: the Web UI pings on open and then every
    # 9 minutes; a ping is one unit). The answer holds the socket from the invocation to
    # its last frame; before and after, the socket is the session's, whatever answers.
    posted_sizes = [len(frame.text.encode("utf-8")) for frame in listener.frames]
    last_frame_at = max([returned, *(frame.at for frame in listener.frames)])
    result.update(
        message_bytes=sum(posted_sizes),
        message_units=cost.message_units(posted_sizes)
        + counters.messages_received
        - received_before,
        connection_seconds=last_frame_at - started,
        billed_duration_ms=cost.billed_duration_ms(returned - started),
        memory_mb=function.memory_mb,
        lambda_requests=1,
        dynamodb_requests=dynamodb_used.requests,
        read_units=dynamodb_used.read_units,
        write_units=dynamodb_used.write_units,
    )
    return result


def answer_cost(result: dict[str, Any]) -> dict[str, float]:
    """Dollars per 1,000 answers for one approach's (median) counts."""
    usage = cost.AnswerUsage(
        message_units=result["message_units"],
        connection_seconds=result["connection_seconds"],
        billed_duration_ms=result["billed_duration_ms"],
        memory_mb=result["memory_mb"],
        lambda_requests=result["lambda_requests"],
        read_units=result["read_units"],
        write_units=result["write_units"],
    )
    return cost.cost_per_answers(usage)


def _combine(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the numbers; correctness only if every repetition was correct."""
    combined: dict[str, Any] = {}
    for key, value in turns[0].items():
        values = [turn.get(key) for turn in turns]
        if isinstance(value, bool):
            combined[key] = all(values)
        elif key in ("lost_chunks", "misordered_chunks"):
            combined[key] = max(values)
        elif all(isinstance(v, int | float) for v in values):
            combined[key] = round(median(values), 3)
    return combined


def _targets(
    lexstream: dict[str, Any], reference: dict[str, Any], latency_ms: float, one_post_ms: float
) -> dict[str, dict[str, Any]]:
    first_text_budget = one_post_ms + FIRST_TEXT_JITTER_MS
    return {
        "completion": {
            "description": "completion within 5% of model time",
            "value": lexstream.get("completion_over_model"),
            "limit": MAX_COMPLETION_OVER_MODEL,
            "met": lexstream.get("completion_over_model", float("inf"))
            <= MAX_COMPLETION_OVER_MODEL,
        },
        "messages": {
            "description": "at most 1/5 of the reference's messages",
            "value": lexstream["messages"],
            "limit": reference["messages"] * MAX_MESSAGE_SHARE_OF_REFERENCE,
            "met": lexstream["messages"] <= reference["messages"] * MAX_MESSAGE_SHARE_OF_REFERENCE,
        },
        "first_text": {
            "description": (
                "first text within one callback latency of the model's first chunk "
                f"(measured bare post + {FIRST_TEXT_JITTER_MS:g} ms)"
            ),
            "value": lexstream.get("first_text_after_model_ms"),
            "limit": round(first_text_budget, 3),
            "met": lexstream.get("first_text_after_model_ms", float("inf")) <= first_text_budget,
        },
        "gap": {
            "description": "no update gap above 250 ms while the model produces",
            "value": lexstream.get("largest_gap_ms"),
            "limit": MAX_GAP_MS,
            "met": lexstream.get("largest_gap_ms", float("inf")) <= MAX_GAP_MS,
        },
        "zero_loss": {
            "description": "zero loss: delivered == generated, in order",
            "value": lexstream["lost_chunks"] + lexstream["misordered_chunks"],
            "limit": 0,
            "met": bool(
                lexstream["delivered_equals_generated"]
                and lexstream["final_message_equals_generated"]
                and lexstream["lost_chunks"] == 0
                and lexstream["misordered_chunks"] == 0
            ),
        },
    }


def run(
    chunks: int = 400,
    chunks_per_second: float = 50.0,
    latencies_ms: tuple[float, ...] = (0.0, 30.0),
    repeat: int = 3,
) -> dict[str, Any]:
    """Both approaches at each callback latency.

    chunks: model chunks per turn (default 400).
    chunks_per_second: the model's generation rate (default 50).
    latencies_ms: callback latencies injected by the gateway (default 0 and 30 ms).
    repeat: turns per approach and latency; cells are medians (default 3).
    """
    if chunks < 1 or chunks_per_second <= 0 or repeat < 1:
        raise ValueError(
            f"need chunks >= 1, chunks_per_second > 0 and repeat >= 1; got {chunks}, "
            f"{chunks_per_second}, {repeat}"
        )
    if any(latency < 0 for latency in latencies_ms):
        raise ValueError(f"callback latencies must be >= 0 ms, got {latencies_ms}")
    scenarios = []
    dynamodb = DynamoDBMeter()
    for latency_ms in latencies_ms:
        model = NumberedModel(chunks, chunks_per_second)
        with (
            BenchStack(model, latency_ms / 1000) as stack,
            dynamodb.proxying(stack.dynamodb_endpoint),
            WebSocketClients(stack.gateway.websocket_url) as clients,
        ):
            stack.fulfillment_dynamodb = dynamodb.endpoint_url
            one_post_ms = one_post_visible_ms(stack, clients)
            turns: dict[str, list[dict[str, Any]]] = {name: [] for name in APPROACHES}
            for repetition in range(repeat):
                order = list(APPROACHES) if repetition % 2 == 0 else list(reversed(APPROACHES))
                for approach in order:
                    turns[approach].append(run_turn(stack, clients, approach, dynamodb))
        combined = {name: _combine(turns[name]) for name in APPROACHES}
        for result in combined.values():
            result["usd_per_1000_answers"] = answer_cost(result)
        reference = combined["reference"]
        scenarios.append(
            {
                "callback_latency_ms": latency_ms,
                "one_post_visible_ms": round(one_post_ms, 3),
                **combined,
                "targets": _targets(combined["lexstream"], reference, latency_ms, one_post_ms),
                "node_targets": _targets(
                    combined["lexstream_node"], reference, latency_ms, one_post_ms
                ),
            }
        )
    return {
        "chunks": chunks,
        "chunks_per_second": chunks_per_second,
        "repeat": repeat,
        "billing_unit_bytes": contract.BILLING_UNIT_BYTES,
        "prices": cost.price_list(),
        "scenarios": scenarios,
    }
