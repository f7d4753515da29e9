"""DynamoDB request units: DynamoDB's size rules, and a meter that sees real client calls."""

from __future__ import annotations

import boto3
import pytest

from benchmarks.meters import DynamoDBMeter, DynamoDBUsage, item_bytes, request_units
from benchmarks.stack import fake_credentials
from local_stack.dynamodb import EmbeddedDynamoDB

SMALL = {"sessionId": {"S": "s-1"}, "connectionId": {"S": "c-1"}, "ttl": {"N": "1700000123"}}


def test_an_item_weighs_its_attribute_names_and_values() -> None:
    # 9 + 3, 12 + 3, 3 + (10 significant digits: 5 + 1)
    assert item_bytes(SMALL) == 12 + 15 + 9
    # Leading and trailing zeros are not significant.
    assert item_bytes({"n": {"N": "-0.00120"}}) == 1 + 2


@pytest.mark.parametrize(
    ("operation", "request_json", "response", "units"),
    [
        ("GetItem", {"ConsistentRead": True}, {"Item": SMALL}, (1, 0)),
        ("GetItem", {}, {"Item": SMALL}, (0.5, 0)),
        ("GetItem", {"ConsistentRead": True}, {}, (1, 0)),  # a miss still costs a read
        ("GetItem", {}, {"Item": {"a": {"S": "x" * 5000}}}, (1, 0)),  # two 4 KB halves
        ("PutItem", {"Item": SMALL}, {}, (0, 1)),
        ("PutItem", {"Item": {"a": {"S": "x" * 1500}}}, {}, (0, 2)),
        ("DeleteItem", {"Key": {"sessionId": {"S": "s-1"}}}, {}, (0, 1)),
    ],
)
def test_request_units_follow_dynamodbs_on_demand_rules(
    operation: str, request_json: dict, response: dict, units: tuple[float, float]
) -> None:
    assert request_units(operation, request_json, response) == units


def test_the_meter_counts_the_calls_that_pass_through_it() -> None:
    meter = DynamoDBMeter()
    with fake_credentials():
        database = EmbeddedDynamoDB().start()
        try:
            with meter.proxying(database.endpoint_url):
                client = boto3.client("dynamodb", endpoint_url=meter.endpoint_url)
                client.create_table(
                    TableName="t",
                    KeySchema=[{"AttributeName": "sessionId", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "sessionId", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
                before = meter.snapshot()
                client.put_item(TableName="t", Item=SMALL)
                client.get_item(TableName="t", Key={"sessionId": {"S": "s-1"}}, ConsistentRead=True)
                client.get_item(TableName="t", Key={"sessionId": {"S": "s-1"}})
                with pytest.raises(client.exceptions.ConditionalCheckFailedException):
                    client.put_item(
                        TableName="t",
                        Item=SMALL,
                        ConditionExpression="attribute_not_exists(sessionId)",
                    )
                used = meter.snapshot() - before
        finally:
            database.stop()
    assert used == DynamoDBUsage(requests=4, read_units=1.5, write_units=2, unpriced=())
    # Creating the table is no answer's cost; the meter says it could not price it.
    assert before.unpriced == ("CreateTable",)
