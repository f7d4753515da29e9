"""The stack's CloudWatch dashboard and alarms.

Everything watched here is either a metric AWS publishes for the API, the functions and
the tables, or one the functions emit in Embedded Metric Format under the namespace the
component gives them (names and dimensions from the contract). Helper metrics reach this
namespace only from functions that are given it: the example, and a bot's own function
whose environment sets the namespace the component exports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
from lexstream_runtime import contract

from .aws_context import AwsContext
from .children import Children
from .functions_package import declarations

API_NAMESPACE = "AWS/ApiGateway"
LAMBDA_NAMESPACE = "AWS/Lambda"
DYNAMODB_NAMESPACE = "AWS/DynamoDB"

# Alarms look at five-minute sums: short enough to page during an incident, long enough
# that one evaluation sees several requests.
ALARM_PERIOD_SECONDS = 300
# The post-failure rate is judged over a quarter of an hour and only once enough streamed
# turns happened in it, so that one broken turn on a quiet stack is no alarm.
FAILURE_RATE_PERIOD_SECONDS = 900
FAILURE_RATE_MIN_TURNS = 10
FAILURE_RATE_PERCENT = 5
# The quota alarm fires at this share of the limit.
QUOTA_ALARM_SHARE = 0.8
# A CloudWatch alarm sums a metric over at most one day per period, and compares each
# period with the threshold on its own. So for DAY the alarm is the quota itself; for WEEK
# and MONTH it watches the pace: one day's use that, kept up for the whole period, would
# reach the share (the longest month, so that it warns early rather than late).
SECONDS_PER_DAY = 86_400
QUOTA_PERIOD_DAYS = {"DAY": 1, "WEEK": 7, "MONTH": 31}
# How a streamed turn can end; the others (`off_…`) never streamed.
STREAMED_OUTCOMES = tuple(o for o in contract.TURN_OUTCOMES if not o.startswith("off_"))
# Console hosts per partition; in another partition the dashboard has no URL output.
CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}
# The functions' grants name these resources; their DynamoDB actions are the operations
# the dashboard shows throttling for.
TABLE_RESOURCES = {
    "connection_table": "connections",
    "connection_index": "connections",
    "quota_table": "quota",
}
WIDGET_WIDTH = 12
WIDGET_HEIGHT = 6


def quota_alarm_threshold(limit: int, period: str) -> float:
    """The requests in one day at which the quota alarm fires (see QUOTA_PERIOD_DAYS)."""
    return round(QUOTA_ALARM_SHARE * limit / QUOTA_PERIOD_DAYS[period], 2)


def table_operations() -> dict[str, tuple[str, ...]]:
    """The DynamoDB operations each table serves, from every function's declared grants
    (the fulfillment policy's included), by table (`connections`, `quota`)."""
    operations: dict[str, set[str]] = {table: set() for table in set(TABLE_RESOURCES.values())}
    for declaration in declarations.FUNCTIONS.values():
        for grant in declaration.all_grants():
            table = TABLE_RESOURCES.get(grant.resource)
            if table is not None:
                operations[table] |= {
                    action.split(":", 1)[1]
                    for action in grant.actions
                    if action.startswith("dynamodb:")
                }
    return {table: tuple(sorted(ops)) for table, ops in operations.items()}


def dashboard_url(
    partition: str, region: str, name: pulumi.Input[str]
) -> pulumi.Output[str] | None:
    """The dashboard's page in the console of `partition`, or None for a partition whose
    console host is not known here."""
    host = CONSOLE_HOSTS.get(partition)
    if host is None:
        return None
    return pulumi.Output.concat(
        f"https://{host}/cloudwatch/home?region={region}#dashboards/dashboard/", name
    )


class Monitoring:
    """The dashboard and the alarms, each only when its argument is on."""

    def __init__(
        self,
        children: Children,
        ctx: AwsContext,
        *,
        api_id: pulumi.Input[str],
        stage_name: str,
        route_functions: Mapping[str, aws.lambda_.Function],
        other_functions: Mapping[str, aws.lambda_.Function],
        tables: Mapping[str, aws.dynamodb.Table],
        namespace: str,
        quota_limit: int,
        quota_period: str,
        dashboard: bool,
        alarms: bool,
        alarm_topic_arn: str | None,
    ) -> None:
        self.ctx = ctx
        self.api_dimensions = ["ApiId", api_id, "Stage", stage_name]
        self.namespace = namespace
        self.tables = dict(tables)
        self.quota_threshold = quota_alarm_threshold(quota_limit, quota_period)
        self.quota_period = quota_period
        self.dashboard: aws.cloudwatch.Dashboard | None = None
        self.dashboard_url: pulumi.Output[str] | None = None
        if dashboard:
            self._create_dashboard(children, {**route_functions, **other_functions})
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        if alarms:
            actions = [alarm_topic_arn] if alarm_topic_arn else []
            self._create_alarms(children, route_functions, actions)

    # --- the dashboard ---

    def _create_dashboard(
        self, children: Children, functions: Mapping[str, aws.lambda_.Function]
    ) -> None:
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
        self.dashboard = children.create(
            "dashboard",
            aws.cloudwatch.Dashboard,
            "dashboard",
            dashboard_name=children.prefix,
            dashboard_body=pulumi.Output.json_dumps({"widgets": widgets}),
        )
        self.dashboard_url = dashboard_url(
            self.ctx.partition, self.ctx.region, self.dashboard.dashboard_name
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
            "region": self.ctx.region,
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

    # --- the alarms ---

    def _create_alarms(
        self,
        children: Children,
        route_functions: Mapping[str, aws.lambda_.Function],
        actions: list[str],
    ) -> None:
        def alarm(suffix: str, description: str, **args: Any) -> None:
            self.alarms[suffix] = children.create(
                "alarm",
                aws.cloudwatch.MetricAlarm,
                f"{suffix}-alarm",
                alarm_description=description,
                alarm_actions=actions,
                ok_actions=actions,
                # No traffic is no trouble: a quiet stack stays OK rather than turning
                # INSUFFICIENT_DATA after every idle period.
                treat_missing_data="notBreaching",
                **args,
            )

        any_in_five_minutes = {
            "statistic": "Sum",
            "period": ALARM_PERIOD_SECONDS,
            "evaluation_periods": 1,
            "comparison_operator": "GreaterThanOrEqualToThreshold",
            "threshold": 1,
        }
        for name, function in route_functions.items():
            alarm(
                f"{name}-errors",
                f"The {name} route function failed (unhandled errors, timeouts) in the last "
                "five minutes.",
                namespace=LAMBDA_NAMESPACE,
                metric_name="Errors",
                dimensions={"FunctionName": function.name},
                **any_in_five_minutes,
            )
        alarm(
            "api-execution-errors",
            "The WebSocket API had execution errors in the last five minutes.",
            namespace=API_NAMESPACE,
            metric_name="ExecutionError",
            dimensions=dict(zip(self.api_dimensions[::2], self.api_dimensions[1::2], strict=True)),
            **any_in_five_minutes,
        )
        for suffix, table in self.tables.items():
            alarm(
                f"{suffix}-throttling",
                f"DynamoDB throttled reads or writes of the {suffix} table in the last five "
                "minutes.",
                comparison_operator="GreaterThanOrEqualToThreshold",
                threshold=1,
                evaluation_periods=1,
                metric_queries=[
                    _metric_query(
                        query_id,
                        DYNAMODB_NAMESPACE,
                        metric,
                        {"TableName": table.name},
                        ALARM_PERIOD_SECONDS,
                    )
                    for query_id, metric in (
                        ("reads", "ReadThrottleEvents"),
                        ("writes", "WriteThrottleEvents"),
                    )
                ]
                + [
                    aws.cloudwatch.MetricAlarmMetricQueryArgs(
                        id="throttled",
                        expression="FILL(reads, 0) + FILL(writes, 0)",
                        label="throttle events",
                        return_data=True,
                    )
                ],
            )
        if self.quota_period == "DAY":
            quota_description = (
                f"The shared quota counted at least {QUOTA_ALARM_SHARE:.0%} of its daily limit "
                "in one day."
            )
        else:
            quota_description = (
                f"At one day's pace, the shared quota would count {QUOTA_ALARM_SHARE:.0%} of its "
                f"{self.quota_period.lower()}ly limit ({QUOTA_PERIOD_DAYS[self.quota_period]} "
                "days). CloudWatch alarms cannot sum more than one day."
            )
        alarm(
            "quota",
            quota_description,
            namespace=self.namespace,
            metric_name=contract.METRIC_QUOTA_CONSUMED,
            statistic="Sum",
            period=SECONDS_PER_DAY,
            evaluation_periods=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=self.quota_threshold,
        )
        turns = [
            _metric_query(
                f"turns_{outcome}",
                self.namespace,
                contract.METRIC_TURNS,
                {contract.DIMENSION_OUTCOME: outcome},
                FAILURE_RATE_PERIOD_SECONDS,
            )
            for outcome in STREAMED_OUTCOMES
        ]
        streamed = " + ".join(f"FILL({query.id}, 0)" for query in turns)
        alarm(
            "post-failure-rate",
            f"More than {FAILURE_RATE_PERCENT}% of the streamed turns of the last "
            f"{FAILURE_RATE_PERIOD_SECONDS // 60} minutes (at least {FAILURE_RATE_MIN_TURNS}) "
            "stopped streaming because a post failed.",
            comparison_operator="GreaterThanThreshold",
            threshold=FAILURE_RATE_PERCENT,
            evaluation_periods=1,
            metric_queries=[
                *turns,
                _metric_query(
                    "failed_posts",
                    self.namespace,
                    contract.METRIC_FAILED_POSTS,
                    None,
                    FAILURE_RATE_PERIOD_SECONDS,
                ),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="streamed", expression=streamed, label="streamed turns", return_data=False
                ),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="failure_rate",
                    expression=(
                        f"IF(streamed >= {FAILURE_RATE_MIN_TURNS}, "
                        "100 * FILL(failed_posts, 0) / streamed, 0)"
                    ),
                    label="post failures per 100 streamed turns",
                    return_data=True,
                ),
            ],
        )


def _metric_query(
    query_id: str,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, pulumi.Input[str]] | None,
    period: int,
) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=query_id,
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace=namespace,
            metric_name=metric,
            dimensions=dict(dimensions) if dimensions else None,
            period=period,
            stat="Sum",
        ),
        return_data=False,
    )
