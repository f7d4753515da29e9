"""The stack's CloudWatch dashboard: the API's, the functions' and the tables' metrics, the
metrics the functions emit, and a note on where the helper's metrics come from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
from lexstream_runtime import contract

from ..children import Children
from .metrics import (
    ALARM_PERIOD_SECONDS,
    API_NAMESPACE,
    DYNAMODB_NAMESPACE,
    LAMBDA_NAMESPACE,
    QUOTA_ALARM_SHARE,
    SECONDS_PER_DAY,
    TABLE_INDEXES,
    WIDGET_HEIGHT,
    WIDGET_WIDTH,
    table_operations,
)


def helper_metrics_note(namespace: str, writers: Sequence[str]) -> str:
    """Where the turn and post metrics come from: only fulfillment functions that are told
    the namespace write them, so without one their widgets and the post-failure alarm see
    nothing. Shown on the dashboard and, when no deployed function writes them, warned."""
    if writers:
        source = f"Deployed with this stack, {' and '.join(writers)} sets it."
    else:
        source = (
            "No function deployed with this stack sets it, so the turn and post widgets stay "
            "empty and the post-failure-rate alarm stays OK whatever happens, until a bot's "
            "own fulfillment function does."
        )
    return (
        "The streamed-turn and post metrics come only from fulfillment functions whose "
        f"environment sets {contract.ENV_METRICS_NAMESPACE}={namespace} (stack output "
        f"fulfillment_environment). {source}"
    )


class Dashboard:
    """One dashboard of metric widgets, two to a row."""

    def __init__(
        self,
        children: Children,
        *,
        region: str,
        api_dimensions: list[Any],
        functions: Mapping[str, aws.lambda_.Function],
        tables: Mapping[str, aws.dynamodb.Table],
        namespace: str,
        quota_threshold: float,
        quota_period: str,
        helper_writers: Sequence[str],
    ) -> None:
        self.region = region
        self.api_dimensions = api_dimensions
        self.tables = tables
        self.namespace = namespace
        self.quota_threshold = quota_threshold
        self.quota_period = quota_period
        widgets = [
            *self._api_widgets(),
            *self._function_widgets(functions),
            self._table_widget(),
            *self._streaming_widgets(),
        ]
        for index, widget in enumerate(widgets):
            widget.update(
                x=(index % 2) * WIDGET_WIDTH,
                y=(index // 2) * WIDGET_HEIGHT,
                width=WIDGET_WIDTH,
                height=WIDGET_HEIGHT,
            )
        rows = (len(widgets) + 1) // 2
        widgets.append(
            {
                "type": "text",
                "x": 0,
                "y": rows * WIDGET_HEIGHT,
                "width": 2 * WIDGET_WIDTH,
                "height": 2,
                "properties": {"markdown": helper_metrics_note(namespace, helper_writers)},
            }
        )
        self.resource = children.create(
            "dashboard",
            aws.cloudwatch.Dashboard,
            "dashboard",
            dashboard_name=children.prefix,
            dashboard_body=pulumi.Output.json_dumps({"widgets": widgets}),
        )

    def _widget(
        self,
        title: str,
        metrics: Sequence[list[Any]],
        *,
        stat: str = "Sum",
        period: int = ALARM_PERIOD_SECONDS,
        annotations: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "title": title,
            "view": "timeSeries",
            "region": self.region,
            "stat": stat,
            "period": period,
            "metrics": list(metrics),
        }
        if annotations:
            properties["annotations"] = {"horizontal": list(annotations)}
        return {"type": "metric", "properties": properties}

    def _api_widgets(self) -> list[dict[str, Any]]:
        def api(metric: str, **options: Any) -> list[Any]:
            return [API_NAMESPACE, metric, *self.api_dimensions, *([options] if options else [])]

        return [
            self._widget(
                "WebSocket API: connects and messages", [api("ConnectCount"), api("MessageCount")]
            ),
            self._widget(
                "WebSocket API: errors",
                [api("ClientError"), api("ExecutionError"), api("IntegrationError")],
            ),
            self._widget(
                "WebSocket API: integration latency (ms)",
                [api("IntegrationLatency", stat="p50"), api("IntegrationLatency", stat="p99")],
                stat="p99",
            ),
        ]

    def _function_widgets(
        self, functions: Mapping[str, aws.lambda_.Function]
    ) -> list[dict[str, Any]]:
        def fn(metric: str, name: str, function: aws.lambda_.Function) -> list[Any]:
            return [
                LAMBDA_NAMESPACE,
                metric,
                "FunctionName",
                function.name,
                {"label": f"{name} {metric}"},
            ]

        return [
            self._widget(
                "Functions: errors and throttles",
                [
                    fn(metric, name, function)
                    for name, function in functions.items()
                    for metric in ("Errors", "Throttles")
                ],
            ),
            self._widget(
                "Functions: duration p99 (ms)",
                [fn("Duration", name, function) for name, function in functions.items()],
                stat="p99",
            ),
        ]

    def _table_widget(self) -> dict[str, Any]:
        operations = table_operations()
        metrics = []
        for suffix, table in self.tables.items():
            for metric in ("ReadThrottleEvents", "WriteThrottleEvents"):
                metrics.append(
                    [
                        DYNAMODB_NAMESPACE,
                        metric,
                        "TableName",
                        table.name,
                        {"label": f"{suffix} {metric}"},
                    ]
                )
                for index in TABLE_INDEXES[suffix]:
                    metrics.append(
                        [
                            DYNAMODB_NAMESPACE,
                            metric,
                            "TableName",
                            table.name,
                            "GlobalSecondaryIndexName",
                            index,
                            {"label": f"{suffix} {index} {metric}"},
                        ]
                    )
            for operation in operations[suffix]:
                metrics.append(
                    [
                        DYNAMODB_NAMESPACE,
                        "ThrottledRequests",
                        "TableName",
                        table.name,
                        "Operation",
                        operation,
                        {"label": f"{suffix} {operation} throttled"},
                    ]
                )
        return self._widget("DynamoDB: throttles", metrics)

    def _streaming_widgets(self) -> list[dict[str, Any]]:
        def own(metric: str, *dimensions: str, **options: Any) -> list[Any]:
            return [self.namespace, metric, *dimensions, *([options] if options else [])]

        quota_line = {
            "label": (
                f"alarm: {QUOTA_ALARM_SHARE:.0%} of the day's limit"
                if self.quota_period == "DAY"
                else f"alarm: a day's pace toward {QUOTA_ALARM_SHARE:.0%} of the "
                f"{self.quota_period.lower()}'s limit"
            ),
            "value": self.quota_threshold,
        }
        return [
            self._widget(
                "Connects: admitted and refused",
                [
                    own(contract.METRIC_CONNECTS_ADMITTED),
                    *(
                        own(contract.METRIC_CONNECTS_REFUSED, contract.DIMENSION_REASON, reason)
                        for reason in contract.REFUSAL_REASONS
                    ),
                ],
            ),
            self._widget(
                "Quota consumed per day",
                [own(contract.METRIC_QUOTA_CONSUMED)],
                period=SECONDS_PER_DAY,
                annotations=[quota_line],
            ),
            self._widget(
                "Streamed turns by outcome",
                [
                    own(contract.METRIC_TURNS, contract.DIMENSION_OUTCOME, outcome)
                    for outcome in contract.TURN_OUTCOMES
                ],
            ),
            self._widget(
                "Posts: messages, failures, retries",
                [
                    own(contract.METRIC_MESSAGES_POSTED),
                    own(contract.METRIC_FAILED_POSTS),
                    own(contract.METRIC_POST_RETRIES),
                ],
            ),
            self._widget("Bytes posted", [own(contract.METRIC_BYTES_POSTED)]),
            self._widget(
                "First post delay (ms)",
                [
                    own(contract.METRIC_FIRST_POST_DELAY, stat="p50"),
                    own(contract.METRIC_FIRST_POST_DELAY, stat="p99"),
                ],
                stat="p99",
            ),
        ]
