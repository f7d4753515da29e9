"""CloudWatch metrics as fields of the functions' own JSON log lines (Embedded Metric Format).

A log line that carries an `_aws` block naming a namespace, its metrics and their
dimensions becomes CloudWatch metrics when Lambda ships it: no metric API calls, no
extra package, no extra latency. Without a namespace (`LEXSTREAM_METRICS_NAMESPACE`, or the
one a caller gives) a line carries no metrics and stays a plain log line.

Dimensions are few and their values bounded (contract.REFUSAL_REASONS,
contract.TURN_OUTCOMES), so the number of metrics stays bounded too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

from . import contract

# Read once at cold init, like the rest of a function's configuration.
NAMESPACE = os.environ.get(contract.ENV_METRICS_NAMESPACE, "").strip()

COUNT = "Count"
BYTES = "Bytes"
MILLISECONDS = "Milliseconds"


@dataclass(frozen=True)
class Metric:
    """One value of a metric, with its unit and the dimensions it is recorded under."""

    name: str
    value: float
    unit: str = COUNT
    dimensions: tuple[tuple[str, str], ...] = ()


def fields(metrics: list[Metric], namespace: str | None = None) -> dict[str, object]:
    """The log-line fields that record `metrics` under `namespace` (default: the
    function's), or {} when there is no namespace or nothing to record.

    Metrics with the same dimensions share one directive; every metric value and dimension
    value becomes a field of the line, as the format requires.
    """
    namespace = NAMESPACE if namespace is None else namespace.strip()
    if not namespace or not metrics:
        return {}
    groups: dict[tuple[str, ...], list[Metric]] = {}
    values: dict[str, object] = {}
    for metric in metrics:
        keys = tuple(name for name, _ in metric.dimensions)
        groups.setdefault(keys, []).append(metric)
        values[metric.name] = metric.value
        values.update(metric.dimensions)
    directives = [
        {
            "Namespace": namespace,
            "Dimensions": [list(keys)],
            "Metrics": [{"Name": m.name, "Unit": m.unit} for m in group],
        }
        for keys, group in groups.items()
    ]
    return {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directives},
        **values,
    }


def route_decision_metrics(route: str, status: int, quota_consumed: bool) -> list[Metric]:
    """A route function's decision as metrics: connects admitted or refused (by kind:
    quota 429, invalid 400, ownership 403), and whether the shared quota counted it."""
    metrics = []
    if quota_consumed:
        metrics.append(Metric(contract.METRIC_QUOTA_CONSUMED, 1))
    if route == contract.ROUTE_CONNECT:
        if status < 400:
            metrics.append(Metric(contract.METRIC_CONNECTS_ADMITTED, 1))
        elif status in _REFUSALS:
            reason = ((contract.DIMENSION_REASON, _REFUSALS[status]),)
            metrics.append(Metric(contract.METRIC_CONNECTS_REFUSED, 1, dimensions=reason))
    return metrics


_REFUSALS = dict(zip((429, 400, 403), contract.REFUSAL_REASONS, strict=True))


def turn_outcome(streaming: bool, stop_reason: str | None) -> str:
    """How a turn's stream ended (one of contract.TURN_OUTCOMES)."""
    if streaming:
        if stop_reason is None:
            return "complete"
        if stop_reason == "gone":
            return "gone"
        if stop_reason == "LimitExceededException":
            return "throttled"
        return "failed"
    outcome = "off_" + (stop_reason or "").split(":", 1)[0]
    return outcome if outcome in contract.TURN_OUTCOMES else "off_other"


def turn_metrics(
    outcome: str, counts: Mapping[str, int], first_post_delay_ms: float | None
) -> list[Metric]:
    """One turn as metrics: the turn by its outcome, and what it posted."""
    metrics = [
        Metric(contract.METRIC_TURNS, 1, dimensions=((contract.DIMENSION_OUTCOME, outcome),)),
        Metric(contract.METRIC_MESSAGES_POSTED, counts["messages"]),
        Metric(contract.METRIC_BYTES_POSTED, counts["bytes"], BYTES),
        Metric(contract.METRIC_POST_RETRIES, counts["retries"]),
        Metric(contract.METRIC_FAILED_POSTS, counts["failed"]),
    ]
    if first_post_delay_ms is not None:
        metrics.append(Metric(contract.METRIC_FIRST_POST_DELAY, first_post_delay_ms, MILLISECONDS))
    return metrics
