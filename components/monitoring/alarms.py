"""The stack's CloudWatch alarms: route function errors, API execution errors, table (and
index) throttling, quota use and the helper's post-failure rate. docs/deploy.md says what
each shows when there is no data; tests/program/test_monitoring.py holds it to that."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws
from lexstream_runtime import contract

from ..children import Children
from .metrics import (
    ALARM_PERIOD_SECONDS,
    API_NAMESPACE,
    DYNAMODB_NAMESPACE,
    FAILURE_RATE_MIN_TURNS,
    FAILURE_RATE_PERCENT,
    FAILURE_RATE_PERIOD_SECONDS,
    LAMBDA_NAMESPACE,
    QUOTA_ALARM_SHARE,
    QUOTA_PERIOD_DAYS,
    SECONDS_PER_DAY,
    STREAMED_OUTCOMES,
    TABLE_INDEXES,
)


def create_alarms(
    children: Children,
    *,
    api_dimensions: Mapping[str, pulumi.Input[str]],
    route_functions: Mapping[str, aws.lambda_.Function],
    tables: Mapping[str, aws.dynamodb.Table],
    namespace: str,
    quota_threshold: float,
    quota_period: str,
    actions: list[str],
) -> dict[str, aws.cloudwatch.MetricAlarm]:
    """Every alarm, by name suffix; each notifies `actions` on alarm and on recovery."""
    alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}

    def alarm(suffix: str, description: str, **args: Any) -> None:
        alarms[suffix] = children.create(
            "alarm",
            aws.cloudwatch.MetricAlarm,
            f"{suffix}-alarm",
            alarm_description=description,
            alarm_actions=actions,
            ok_actions=actions,
            # No traffic is no trouble: a quiet stack stays OK rather than turning
            # INSUFFICIENT_DATA after every idle period. (CloudWatch keeps the current
            # state instead for AWS/DynamoDB metrics; see docs/deploy.md.)
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
        dimensions=dict(api_dimensions),
        **any_in_five_minutes,
    )
    for suffix, table in tables.items():
        alarm(
            f"{suffix}-throttling",
            _throttling_description(suffix),
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=1,
            evaluation_periods=1,
            metric_queries=_throttle_queries(table, TABLE_INDEXES[suffix]),
        )
    if quota_period == "DAY":
        quota_description = (
            f"The shared quota counted at least {QUOTA_ALARM_SHARE:.0%} of its daily limit "
            "in one day."
        )
    else:
        quota_description = (
            f"At one day's pace, the shared quota would count {QUOTA_ALARM_SHARE:.0%} of its "
            f"{quota_period.lower()}ly limit ({QUOTA_PERIOD_DAYS[quota_period]} "
            "days). CloudWatch alarms cannot sum more than one day."
        )
    alarm(
        "quota",
        quota_description,
        namespace=namespace,
        metric_name=contract.METRIC_QUOTA_CONSUMED,
        statistic="Sum",
        period=SECONDS_PER_DAY,
        evaluation_periods=1,
        comparison_operator="GreaterThanOrEqualToThreshold",
        threshold=quota_threshold,
    )
    alarm(
        "post-failure-rate",
        f"More than {FAILURE_RATE_PERCENT}% of the streamed turns of the last "
        f"{FAILURE_RATE_PERIOD_SECONDS // 60} minutes (at least {FAILURE_RATE_MIN_TURNS}) "
        "stopped streaming because a post failed.",
        comparison_operator="GreaterThanThreshold",
        threshold=FAILURE_RATE_PERCENT,
        evaluation_periods=1,
        metric_queries=_failure_rate_queries(namespace),
    )
    return alarms


def _throttling_description(suffix: str) -> str:
    indexes = TABLE_INDEXES[suffix]
    also = f" or its index {', '.join(indexes)}" if indexes else ""
    return (
        f"DynamoDB throttled reads or writes of the {suffix} table{also} in the last five minutes."
    )


def _throttle_queries(
    table: aws.dynamodb.Table, indexes: tuple[str, ...]
) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgs]:
    """The table's read and write throttle events, and each index's under its own
    `GlobalSecondaryIndexName` dimension (DynamoDB counts an index's apart), summed."""
    sources: list[tuple[str, dict[str, pulumi.Input[str]]]] = [("", {"TableName": table.name})]
    sources += [
        (f"_{index}", {"TableName": table.name, "GlobalSecondaryIndexName": index})
        for index in indexes
    ]
    queries = [
        _metric_query(
            f"{kind}{suffix}", DYNAMODB_NAMESPACE, metric, dimensions, ALARM_PERIOD_SECONDS
        )
        for suffix, dimensions in sources
        for kind, metric in (("reads", "ReadThrottleEvents"), ("writes", "WriteThrottleEvents"))
    ]
    return [
        *queries,
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id="throttled",
            expression=" + ".join(f"FILL({query.id}, 0)" for query in queries),
            label="throttle events",
            return_data=True,
        ),
    ]


def _failure_rate_queries(namespace: str) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgs]:
    turns = [
        _metric_query(
            f"turns_{outcome}",
            namespace,
            contract.METRIC_TURNS,
            {contract.DIMENSION_OUTCOME: outcome},
            FAILURE_RATE_PERIOD_SECONDS,
        )
        for outcome in STREAMED_OUTCOMES
    ]
    streamed = " + ".join(f"FILL({query.id}, 0)" for query in turns)
    return [
        *turns,
        _metric_query(
            "failed_posts",
            namespace,
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
    ]


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
