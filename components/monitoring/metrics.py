"""What the dashboard and the alarms watch: the AWS namespaces, the periods and thresholds,
and the DynamoDB operations each table serves (from the functions' declared grants)."""

from __future__ import annotations

import pulumi
from lexstream_runtime import contract

from ..functions_package import declarations

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


# The secondary indexes of each table: DynamoDB reports an index's throttling under its own
# `GlobalSecondaryIndexName` dimension, apart from the table's.
TABLE_INDEXES = {"connections": (contract.CONNECTION_INDEX,), "quota": ()}


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
