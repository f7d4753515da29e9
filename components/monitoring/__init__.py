"""The stack's CloudWatch dashboard and alarms.

Everything watched here is either a metric AWS publishes for the API, the functions and
the tables, or one the functions emit in Embedded Metric Format under the namespace the
component gives them (names and dimensions from the contract). The helper's turn and post
metrics reach this namespace only from fulfillment functions that are given it: the
example, and a bot's own function whose environment sets the namespace the component
exports. When no function deployed with the stack writes them, `pulumi up` says so.

`metrics` holds what is watched, `dashboard` the dashboard, `alarms` the alarms.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from ..aws_context import AwsContext
from ..children import Children
from .alarms import create_alarms
from .dashboard import Dashboard, helper_metrics_note
from .metrics import dashboard_url, quota_alarm_threshold, table_operations

__all__ = ["Monitoring", "quota_alarm_threshold", "table_operations"]


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
        """`other_functions` are the fulfillment functions deployed with the stack, which
        write the helper's metrics to `namespace`."""
        quota_threshold = quota_alarm_threshold(quota_limit, quota_period)
        self.dashboard: aws.cloudwatch.Dashboard | None = None
        self.dashboard_url: pulumi.Output[str] | None = None
        if dashboard:
            self.dashboard = Dashboard(
                children,
                region=ctx.region,
                api_dimensions=["ApiId", api_id, "Stage", stage_name],
                functions={**route_functions, **other_functions},
                tables=tables,
                namespace=namespace,
                quota_threshold=quota_threshold,
                quota_period=quota_period,
                helper_writers=[f"the {name} function" for name in other_functions],
            ).resource
            self.dashboard_url = dashboard_url(
                ctx.partition, ctx.region, self.dashboard.dashboard_name
            )
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        if alarms:
            self.alarms = create_alarms(
                children,
                api_dimensions={"ApiId": api_id, "Stage": stage_name},
                route_functions=route_functions,
                tables=tables,
                namespace=namespace,
                quota_threshold=quota_threshold,
                quota_period=quota_period,
                actions=[alarm_topic_arn] if alarm_topic_arn else [],
            )
        if (dashboard or alarms) and not other_functions:
            pulumi.log.warn(f"{children.prefix}: {helper_metrics_note(namespace, [])}")
