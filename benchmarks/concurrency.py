"""Concurrency: many sessions streaming at once through the local stack.

Every session opens its own WebSocket through the real `$connect` function, then all
turns start together, each a lexstream fulfillment streaming its own numbered answer.
Delivery delay is measured per chunk: from the model generating it until the client
had all of it. CPU is the CPU time over the streaming phase of this process and of the
processes it started, which hold the whole local stack (model, gateway, functions,
clients) — an upper bound on what the fulfillment helper itself costs.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .clients import WebSocketClients
from .relay import APPROACHES
from .stack import SETTLE_S, BenchStack, NumberedModel, process_cpu
from .stats import percentile
from .timeline import chunk_delivery_delays, lost_and_misordered, visible


def run(
    sessions: int = 200,
    chunks_per_session: int = 100,
    chunks_per_second: float = 50.0,
    callback_latency_ms: float = 30.0,
) -> dict[str, Any]:
    """Stream `sessions` turns at once and judge every chunk.

    sessions: concurrent WebSocket sessions, each with one turn (default 200).
    chunks_per_session: model chunks per turn (default 100).
    chunks_per_second: each model stream's rate (default 50).
    callback_latency_ms: injected on every management API call (default 30).
    """
    if sessions < 1 or chunks_per_session < 1 or chunks_per_second <= 0:
        raise ValueError(
            "need sessions >= 1, chunks_per_session >= 1 and chunks_per_second > 0; got "
            f"{sessions}, {chunks_per_session}, {chunks_per_second}"
        )
    if callback_latency_ms < 0:
        raise ValueError(f"callback_latency_ms must be >= 0, got {callback_latency_ms}")
    model = NumberedModel(chunks_per_session, chunks_per_second)
    expected_length = len("".join(model.tokens))
    with (
        BenchStack(model, callback_latency_ms / 1000) as stack,
        WebSocketClients(stack.gateway.websocket_url) as clients,
    ):
        session_ids = [f"bench-{uuid.uuid4().hex[:16]}" for _ in range(sessions)]
        listeners, _ = stack.connect(clients, session_ids)
        function = stack.fulfillment(APPROACHES["lexstream"])
        function.provision(sessions)
        questions = {sid: f"Tell me about streaming, turn {sid}" for sid in session_ids}
        events = [stack.lex_event(sid, questions[sid]) for sid in session_ids]
        counters = stack.gateway.counters
        posted_before = counters.messages_posted
        with process_cpu() as cpu, ThreadPoolExecutor(max_workers=sessions) as pool:
            started = time.monotonic()
            responses = list(pool.map(function.invoke, events))
            all_arrived = clients.wait_for(listeners.values(), expected_length, SETTLE_S)
            finished = time.monotonic()
        messages = counters.messages_posted - posted_before
        post_errors = dict(counters.post_errors)
        instances_started = function.instances_started
        init_ms = {name: sorted(values) for name, values in stack.reports.init_ms.items()}

    delays: list[float] = []
    lost = misordered = incomplete = 0
    for session_id, listener in listeners.items():
        output = model.output(questions[session_id])
        delays += chunk_delivery_delays(output, listener.frames)
        delivered = "".join(frame.text for frame in visible(listener.frames))
        session_lost, session_misordered = lost_and_misordered(len(output.tokens), delivered)
        lost += session_lost
        misordered += session_misordered
        incomplete += delivered != output.text
    final_wrong = sum(
        "".join(m["content"] for m in response.get("messages", [])) != "".join(model.tokens)
        for response in responses
    )
    chunks = sessions * chunks_per_session
    return {
        "sessions": sessions,
        "chunks_per_session": chunks_per_session,
        "chunks_per_second": chunks_per_second,
        "callback_latency_ms": callback_latency_ms,
        "chunks": chunks,
        "delivered_chunks": len(delays),
        "p50_delivery_delay_ms": round(percentile(delays, 0.50) * 1000, 1) if delays else None,
        "p99_delivery_delay_ms": round(percentile(delays, 0.99) * 1000, 1) if delays else None,
        "max_delivery_delay_ms": round(max(delays) * 1000, 1) if delays else None,
        "lost_chunks": lost,
        "misordered_chunks": misordered,
        "sessions_with_wrong_text": incomplete,
        "final_messages_wrong": final_wrong,
        "all_text_arrived": all_arrived,
        "messages": messages,
        "post_errors": post_errors,
        "streaming_phase_seconds": round(finished - started, 2),
        "model_seconds_per_turn": round((chunks_per_session - 1) / chunks_per_second, 2),
        # Each instance is its own process: one invocation at a time, a cold start each.
        "fulfillment_instances_started": instances_started,
        "fulfillment_max_instances": function.max_instances,
        "init_duration_ms": {
            name: {
                "cold_starts": len(values),
                "median": round(percentile(values, 0.5), 1),
                "max": round(values[-1], 1),
            }
            for name, values in sorted(init_ms.items())
        },
        "cpu_seconds": round(cpu[0], 2),
        "cpu_seconds_per_1000_chunks": round(cpu[0] / chunks * 1000, 3),
    }


def sweep(
    session_counts: tuple[int, ...] = (20, 200),
    chunks_per_session: int = 100,
    chunks_per_second: float = 50.0,
    callback_latency_ms: float = 30.0,
) -> dict[str, Any]:
    """`run` once per session count, each on a fresh stack, lightest load first.

    session_counts: concurrent sessions per level (default 20 and 200: a load the one
        local process relays in real time, and the specification's 200).
    Other arguments as for `run`.
    """
    if not session_counts:
        raise ValueError("session_counts must name at least one session count, e.g. (200,)")
    return {
        "chunks_per_session": chunks_per_session,
        "chunks_per_second": chunks_per_second,
        "callback_latency_ms": callback_latency_ms,
        "levels": [
            run(sessions, chunks_per_session, chunks_per_second, callback_latency_ms)
            for sessions in sorted(session_counts)
        ],
    }
