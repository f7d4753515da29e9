"""The recorder behind the least-privilege contract attributes calls and names IAM actions right."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local_stack.lambda_runtime import LambdaFunction
from tests.security.action_recorder import RECORDER, SHARED_FOLDER, iam_actions


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.mark.parametrize(
    ("service", "signing", "operation", "expected"),
    [
        (
            "apigatewaymanagementapi",
            "execute-api",
            "PostToConnection",
            "execute-api:ManageConnections",
        ),
        (
            "apigatewaymanagementapi",
            "execute-api",
            "DeleteConnection",
            "execute-api:ManageConnections",
        ),
        ("bedrock-runtime", "bedrock", "ConverseStream", "bedrock:InvokeModelWithResponseStream"),
        ("bedrock-runtime", "bedrock", "Converse", "bedrock:InvokeModel"),
        ("dynamodb", "dynamodb", "UpdateItem", "dynamodb:UpdateItem"),
    ],
)
def test_operations_map_to_the_iam_action_aws_evaluates(
    service: str, signing: str, operation: str, expected: str
) -> None:
    assert [action for action, _ in iam_actions(service, signing, operation, {})] == [expected]


def test_a_transaction_needs_the_action_of_each_part() -> None:
    params = {
        "TransactItems": [
            {"Put": {"TableName": "connections"}},
            {"Update": {"TableName": "quota"}},
        ]
    }
    found = iam_actions("dynamodb", "dynamodb", "TransactWriteItems", params)
    assert [(a, p["TableName"]) for a, p in found] == [
        ("dynamodb:PutItem", "connections"),
        ("dynamodb:UpdateItem", "quota"),
    ]


HANDLER = textwrap.dedent(
    """
    import threading
    import boto3

    DYNAMODB = boto3.client("dynamodb")

    def handler(event, context):
        DYNAMODB.list_tables()
        # A call from a helper thread, with no handler frame below it.
        worker = threading.Thread(target=DYNAMODB.describe_limits)
        worker.start()
        worker.join()
        return {"statusCode": 200}
    """
)


def test_calls_are_attributed_to_the_function_even_from_its_threads(
    tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    source = tmp_path / "on_default.py"
    source.write_text(HANDLER)
    function = LambdaFunction(
        "default",
        "on_default.handler",
        {"on_default.py": source},
        {"AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint},
    )
    try:
        # A stand-in handler: its calls must not count as the real $default's.
        with RECORDER.recording(keep=False) as calls:
            boto3.client("dynamodb").list_tables()  # the test's own call: not attributed
            function.invoke({})
    finally:
        function.close()
    assert [(c.function, c.action) for c in calls] == [
        ("default", "dynamodb:ListTables"),
        ("default", "dynamodb:DescribeLimits"),
    ]
    assert all(c.endpoint == moto_endpoint for c in calls)


def test_the_session_record_holds_every_test_workers_calls_and_a_block_only_its_own() -> None:
    # Another test worker's function, as its recording layer logs a call.
    other_worker = {
        "function": "disconnect",
        "service": "dynamodb",
        "signing": "dynamodb",
        "operation": "DescribeEndpoints",
        "endpoint": "http://127.0.0.1:9",
        "params": {},
    }
    folder = Path(os.environ[SHARED_FOLDER])
    log = folder / "actions-other-worker.jsonl"
    try:
        with RECORDER.recording(keep=False) as calls:
            # Two lines; the second is half written, as a log being appended to can be.
            log.write_text(json.dumps(other_worker) + "\n" + json.dumps(other_worker)[:20])
            recorded = RECORDER.actions_by_function()
    finally:
        log.unlink()
    assert "dynamodb:DescribeEndpoints" in recorded["disconnect"]
    assert calls == []
    assert "dynamodb:DescribeEndpoints" not in RECORDER.actions_by_function().get("disconnect", ())
