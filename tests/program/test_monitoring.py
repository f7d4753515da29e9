"""The dashboard and the alarms, as the real program deploys them under mocks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from lexstream_runtime import contract

from components.monitoring import quota_alarm_threshold, table_operations

from . import views as v
from .harness import StackRecord, record_stack

DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
NAMESPACE = "Lexstream/lexstream-{stack}"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ops-alerts"


def _metrics(record: StackRecord) -> list[list[Any]]:
    body = json.loads(record.one(DASHBOARD).inputs["dashboardBody"])
    return [
        metric
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for metric in widget["properties"]["metrics"]
    ]


def _names(metrics: list[list[Any]], namespace: str) -> list[tuple[Any, ...]]:
    """(metric, dimension values...) of every metric line in `namespace`, options left out."""
    return [
        tuple(part for part in metric[1:] if not isinstance(part, dict))
        for metric in metrics
        if metric[0] == namespace
    ]


def _alarms(record: StackRecord) -> dict[str, dict[str, Any]]:
    prefix = f"lexstream-{record.stack}-"
    return {
        a.name.removeprefix(prefix).removesuffix("-alarm"): a.inputs for a in record.of_type(ALARM)
    }


def test_the_dashboard_shows_the_api_functions_tables_and_streaming_metrics(
    record: StackRecord,
) -> None:
    if not v.setting(record, "dashboard"):
        assert not record.of_type(DASHBOARD)
        return
    metrics = _metrics(record)
    api_id, stage = v.api(record).id, v.stage_name(record)
    api = set(_names(metrics, "AWS/ApiGateway"))
    for metric in (
        "ConnectCount",
        "MessageCount",
        "ClientError",
        "ExecutionError",
        "IntegrationLatency",
    ):
        assert (metric, "ApiId", api_id, "Stage", stage) in api
    functions = set(_names(metrics, "AWS/Lambda"))
    for function in record.of_type(v.FUNCTION):
        for metric in ("Errors", "Throttles", "Duration"):
            assert (metric, "FunctionName", function.outputs["name"]) in functions
    tables = set(_names(metrics, "AWS/DynamoDB"))
    for suffix, operations in table_operations().items():
        name = v.table(record, suffix).outputs["name"]
        assert ("ReadThrottleEvents", "TableName", name) in tables
        assert ("WriteThrottleEvents", "TableName", name) in tables
        for operation in operations:
            assert ("ThrottledRequests", "TableName", name, "Operation", operation) in tables
    own = set(_names(metrics, NAMESPACE.format(stack=record.stack)))
    assert {
        (contract.METRIC_CONNECTS_ADMITTED,),
        (contract.METRIC_QUOTA_CONSUMED,),
        (contract.METRIC_MESSAGES_POSTED,),
        (contract.METRIC_BYTES_POSTED,),
        (contract.METRIC_POST_RETRIES,),
        (contract.METRIC_FAILED_POSTS,),
        (contract.METRIC_FIRST_POST_DELAY,),
        *(
            (contract.METRIC_CONNECTS_REFUSED, contract.DIMENSION_REASON, r)
            for r in contract.REFUSAL_REASONS
        ),
        *((contract.METRIC_TURNS, contract.DIMENSION_OUTCOME, o) for o in contract.TURN_OUTCOMES),
    } == own


def test_the_table_operations_are_those_the_functions_are_granted() -> None:
    assert table_operations() == {
        "connections": ("DeleteItem", "GetItem", "PutItem", "Query"),
        "quota": ("UpdateItem",),
    }


def test_the_dashboard_url_opens_the_dashboard_in_the_stacks_console(record: StackRecord) -> None:
    if not v.setting(record, "dashboard"):
        assert "dashboard_url" not in record.exports
        return
    host = {"aws": "console.aws.amazon.com", "aws-cn": "console.amazonaws.cn"}[v.partition(record)]
    name = record.one(DASHBOARD).inputs["dashboardName"]
    assert name == f"lexstream-{record.stack}"
    assert record.exports["dashboard_url"] == (
        f"https://{host}/cloudwatch/home?region={v.region(record)}#dashboards/dashboard/{name}"
    )


def test_the_functions_are_told_the_namespace_the_dashboard_reads(record: StackRecord) -> None:
    namespace = NAMESPACE.format(stack=record.stack)
    assert record.exports["metrics_namespace"] == namespace
    for function in record.of_type(v.FUNCTION):
        assert (
            function.inputs["environment"]["variables"][contract.ENV_METRICS_NAMESPACE] == namespace
        )


def test_every_alarm_notifies_the_topic_or_nobody_and_stays_ok_without_traffic(
    record: StackRecord,
) -> None:
    alarms = _alarms(record)
    if not v.setting(record, "alarms"):
        assert not alarms
        return
    assert set(alarms) == {
        "connect-errors",
        "disconnect-errors",
        "default-errors",
        "api-execution-errors",
        "connections-throttling",
        "quota-throttling",
        "quota",
        "post-failure-rate",
    }
    topic = v.setting(record, "alarmTopicArn")
    for alarm in alarms.values():
        assert alarm.get("alarmActions", []) == ([topic] if topic else [])
        assert alarm.get("okActions", []) == ([topic] if topic else [])
        assert alarm["treatMissingData"] == "notBreaching"
        assert alarm["alarmDescription"]


def test_alarms_watch_this_stacks_functions_api_and_tables(record: StackRecord) -> None:
    alarms = _alarms(record)
    if not alarms:
        return
    for name in ("connect", "disconnect", "default"):
        alarm = alarms[f"{name}-errors"]
        assert (alarm["namespace"], alarm["metricName"], alarm["statistic"]) == (
            "AWS/Lambda",
            "Errors",
            "Sum",
        )
        assert alarm["dimensions"] == {"FunctionName": v.function(record, name).outputs["name"]}
        assert alarm["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["threshold"] == 1
    api = alarms["api-execution-errors"]
    assert (api["namespace"], api["metricName"]) == ("AWS/ApiGateway", "ExecutionError")
    assert api["dimensions"] == {"ApiId": v.api(record).id, "Stage": v.stage_name(record)}
    for suffix in ("connections", "quota"):
        queries = {q["id"]: q for q in alarms[f"{suffix}-throttling"]["metricQueries"]}
        table = v.table(record, suffix).outputs["name"]
        assert queries["reads"]["metric"]["metricName"] == "ReadThrottleEvents"
        assert queries["writes"]["metric"]["metricName"] == "WriteThrottleEvents"
        assert queries["reads"]["metric"]["dimensions"] == {"TableName": table}
        assert queries["writes"]["metric"]["dimensions"] == {"TableName": table}
        assert [q["id"] for q in queries.values() if q.get("returnData")] == ["throttled"]
        sources = [q["id"] for q in queries.values() if "metric" in q]
        assert queries["throttled"]["expression"] == " + ".join(f"FILL({q}, 0)" for q in sources)
    # $disconnect queries the connection table's index, which DynamoDB throttles and
    # reports apart from the table, under the index's own dimension.
    queries = {q["id"]: q for q in alarms["connections-throttling"]["metricQueries"]}
    table = v.table(record, "connections").outputs["name"]
    index = {"TableName": table, "GlobalSecondaryIndexName": contract.CONNECTION_INDEX}
    assert {
        (q["metric"]["metricName"], tuple(sorted(q["metric"]["dimensions"].items())))
        for q in queries.values()
        if "metric" in q and "GlobalSecondaryIndexName" in q["metric"]["dimensions"]
    } == {
        (metric, tuple(sorted(index.items())))
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents")
    }
    assert all(
        "GlobalSecondaryIndexName" not in q["metric"]["dimensions"]
        for q in alarms["quota-throttling"]["metricQueries"]
        if "metric" in q
    )


def test_the_quota_alarm_fires_at_80_percent_of_a_day_or_a_days_pace(record: StackRecord) -> None:
    alarms = _alarms(record)
    if not alarms:
        return
    quota = alarms["quota"]
    limit, period = v.setting(record, "quotaLimit"), v.setting(record, "quotaPeriod")
    assert quota["namespace"] == NAMESPACE.format(stack=record.stack)
    assert (quota["metricName"], quota["statistic"]) == (contract.METRIC_QUOTA_CONSUMED, "Sum")
    # CloudWatch's longest alarm period.
    assert quota["period"] == 86400
    assert quota["evaluationPeriods"] == 1
    assert quota["threshold"] == quota_alarm_threshold(limit, period)


@pytest.mark.parametrize(
    ("limit", "period", "threshold"),
    [(1000, "DAY", 800), (7000, "WEEK", 800), (3100, "MONTH", 80), (5000, "WEEK", 571.43)],
)
def test_quota_thresholds_are_80_percent_of_the_limit_per_day_of_the_period(
    limit: int, period: str, threshold: float
) -> None:
    assert quota_alarm_threshold(limit, period) == threshold


def test_the_post_failure_rate_counts_failed_posts_per_streamed_turn(record: StackRecord) -> None:
    alarms = _alarms(record)
    if not alarms:
        return
    alarm = alarms["post-failure-rate"]
    queries = {q["id"]: q for q in alarm["metricQueries"]}
    namespace = NAMESPACE.format(stack=record.stack)
    streamed = [o for o in contract.TURN_OUTCOMES if not o.startswith("off_")]
    assert streamed == ["complete", "gone", "throttled", "failed"]
    for outcome in streamed:
        metric = queries[f"turns_{outcome}"]["metric"]
        assert (metric["namespace"], metric["metricName"]) == (namespace, contract.METRIC_TURNS)
        assert metric["dimensions"] == {contract.DIMENSION_OUTCOME: outcome}
    failed = queries["failed_posts"]["metric"]
    assert (failed["namespace"], failed["metricName"]) == (namespace, contract.METRIC_FAILED_POSTS)
    assert "dimensions" not in failed
    assert queries["streamed"]["expression"] == " + ".join(f"FILL(turns_{o}, 0)" for o in streamed)
    assert queries["failure_rate"]["expression"] == (
        "IF(streamed >= 10, 100 * FILL(failed_posts, 0) / streamed, 0)"
    )
    assert [q["id"] for q in queries.values() if q.get("returnData")] == ["failure_rate"]
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 5)
    # Every query's period is one CloudWatch accepts and the same for all.
    assert {q["metric"]["period"] for q in queries.values() if "metric" in q} == {900}


def test_alarms_with_a_topic_notify_it_on_alarm_and_on_recovery() -> None:
    record = record_stack("prod", {"alarmTopicArn": TOPIC})
    alarms = _alarms(record)
    assert alarms
    for alarm in alarms.values():
        assert alarm["alarmActions"] == [TOPIC]
        assert alarm["okActions"] == [TOPIC]


def test_alarms_without_a_topic_only_change_state() -> None:
    alarms = _alarms(record_stack("prod"))
    assert alarms
    for alarm in alarms.values():
        assert alarm.get("alarmActions", []) == []
        assert alarm.get("okActions", []) == []


def test_dashboard_and_alarms_can_be_turned_off() -> None:
    record = record_stack("staging", {"dashboard": False, "alarms": False, "alarmTopicArn": ""})
    assert not record.of_type(DASHBOARD)
    assert not record.of_type(ALARM)
    assert "dashboard_url" not in record.exports
    # The functions still emit their metrics: the namespace does not depend on either.
    assert record.exports["metrics_namespace"] == "Lexstream/lexstream-staging"


def test_the_dashboard_url_follows_the_partition() -> None:
    record = record_stack("dev", {"aws:region": "us-gov-west-1"})
    assert record.exports["dashboard_url"].startswith(
        "https://console.amazonaws-us-gov.com/cloudwatch/home?region=us-gov-west-1#"
    )


def _note(record: StackRecord) -> str:
    body = json.loads(record.one(DASHBOARD).inputs["dashboardBody"])
    (text,) = [w for w in body["widgets"] if w["type"] == "text"]
    return text["properties"]["markdown"]


def test_without_a_deployed_writer_the_helper_metrics_gap_is_warned_shown_and_explained() -> None:
    # Staging deploys no example: nothing writes the turn metrics the alarm divides.
    record = record_stack("staging")
    namespace = "Lexstream/lexstream-staging"
    setting = f"LEXSTREAM_METRICS_NAMESPACE={namespace}"
    (warning,) = [w for w in record.warnings if "LEXSTREAM_METRICS_NAMESPACE" in w]
    assert setting in warning and "post-failure-rate alarm stays OK" in warning
    assert setting in _note(record) and "No function deployed with this stack" in _note(record)
    assert record.exports["fulfillment_environment"] == {
        "LEXSTREAM_CALLBACK_URL": record.exports["callback_url"],
        "LEXSTREAM_METRICS_NAMESPACE": namespace,
    }


def test_with_the_example_deployed_nothing_is_warned_and_the_note_names_it() -> None:
    record = record_stack("prod", {"exampleFulfillment": True})
    assert not [w for w in record.warnings if "LEXSTREAM_METRICS_NAMESPACE" in w]
    assert "the example function sets it" in _note(record)


def test_with_neither_dashboard_nor_alarms_there_is_nothing_to_warn_about() -> None:
    record = record_stack("staging", {"dashboard": False, "alarms": False, "alarmTopicArn": ""})
    assert not [w for w in record.warnings if "LEXSTREAM_METRICS_NAMESPACE" in w]


DEPLOY_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def _missing_data_table() -> dict[str, tuple[str, str, str]]:
    """docs/deploy.md's table of what each alarm shows without data, by alarm name."""
    text = DEPLOY_GUIDE.read_text()
    start = text.index("| alarm | watches | with no data points | a quiet stack shows |")
    rows = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        names, watches, missing, shows = (cell.strip() for cell in line.strip("|").split("|"))
        for name in re.findall(r"`([a-z-]+)`", names):
            rows[name] = (watches, missing, shows)
    return rows


def _watched(alarm: dict[str, Any]) -> tuple[set[str], bool]:
    """The namespaces an alarm reads, and whether it fills gaps with FILL."""
    queries = alarm.get("metricQueries", [])
    namespaces = {q["metric"]["namespace"] for q in queries if "metric" in q}
    if "namespace" in alarm:
        namespaces.add(alarm["namespace"])
    return namespaces, any("FILL(" in q.get("expression", "") for q in queries)


def test_the_docs_say_what_every_alarm_shows_without_data(record: StackRecord) -> None:
    alarms = _alarms(record)
    if not alarms:
        return
    table = _missing_data_table()
    assert set(table) == set(alarms)
    for name, alarm in alarms.items():
        watches, missing, shows = table[name]
        namespaces, fills = _watched(alarm)
        (namespace,) = namespaces
        own = namespace.startswith("Lexstream/")
        assert watches.startswith("the stack's namespace" if own else f"`{namespace}`"), name
        assert ("through `FILL(…, 0)`" in watches) == fills, name
        assert alarm["treatMissingData"] == "notBreaching"
        if namespace == "AWS/DynamoDB":
            # CloudWatch keeps such an alarm's state when data is missing, and AWS does not
            # document what FILL yields over an empty window: the docs say both outcomes.
            assert missing.startswith("kept state"), name
            assert shows.startswith("`INSUFFICIENT_DATA` or OK"), name
        else:
            assert (missing, shows.split(" ")[0]) == ("not breaching", "OK"), name
