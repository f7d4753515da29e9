"""What the IAM rule accepts as a wildcard AWS requires, and what it rejects as lax."""

from __future__ import annotations

import json

import pytest

from policy import lexstream_policies as rules

ACCOUNT = "123456789012"
API = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123defg"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/lexstream-dev-connections"


@pytest.mark.parametrize(
    ("resource", "actions"),
    [
        (TABLE, ["dynamodb:PutItem"]),
        (f"{TABLE}/index/byConnectionId", ["dynamodb:Query"]),
        (f"{TABLE}/index/*", ["dynamodb:Query"]),
        (f"{API}/dev/POST/@connections/*", ["execute-api:ManageConnections"]),
        (f"{API}/dev/*/@connections/*", ["execute-api:ManageConnections"]),
        (f"{API}/dev/$connect", ["execute-api:Invoke"]),
        (
            f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/connect:*",
            ["logs:PutLogEvents"],
        ),
        (
            "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            ["bedrock:InvokeModel"],
        ),
        ("*", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]),
    ],
)
def test_required_or_exact_resources_pass(resource: str, actions: list[str]) -> None:
    assert rules.needless_wildcard(resource, actions) is None


@pytest.mark.parametrize(
    ("resource", "actions", "reason"),
    [
        ("*", ["dynamodb:PutItem"], "can be scoped"),
        ("*", ["xray:PutTraceSegments", "dynamodb:GetItem"], "dynamodb:GetItem"),
        (
            f"arn:aws:execute-api:us-east-1:{ACCOUNT}:*/Prod/$connect",
            ["execute-api:Invoke"],
            "one API",
        ),
        (f"{API}/*/$connect", ["execute-api:Invoke"], "one API and stage"),
        (f"{API}/dev/*", ["execute-api:Invoke"], "route or method"),
        (f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/*", ["dynamodb:GetItem"], "named resources"),
        (f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/lexstream-*", ["dynamodb:GetItem"], "named"),
        (f"arn:aws:dynamodb:*:{ACCOUNT}:table/t", ["dynamodb:GetItem"], "region"),
        ("arn:aws:dynamodb:us-east-1:*:table/t", ["dynamodb:GetItem"], "account"),
        ("arn:*:dynamodb:us-east-1:1:table/t", ["dynamodb:GetItem"], "partition"),
        ("arn:aws:bedrock:*::foundation-model/*", ["bedrock:InvokeModel"], "named resources"),
        (f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:*", ["logs:PutLogEvents"], "named"),
        ("table/*", ["dynamodb:GetItem"], "not an ARN"),
    ],
)
def test_needless_wildcards_are_named(resource: str, actions: list[str], reason: str) -> None:
    problem = rules.needless_wildcard(resource, actions)
    assert problem is not None and reason in problem


def _role_policy(*statements: dict) -> dict:
    return {"policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}


def test_wildcard_actions_and_exclusions_are_violations() -> None:
    props = _role_policy(
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": TABLE},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": TABLE},
    )
    problems = rules.iam_violations(rules.IAM_ROLE_POLICY, props)
    assert any("every action" in p for p in problems)
    assert any("NotAction" in p for p in problems)


def test_deny_statements_may_use_wildcards() -> None:
    props = _role_policy({"Effect": "Deny", "Action": "*", "Resource": "*"})
    assert rules.iam_violations(rules.IAM_POLICY, props) == []


def test_inline_role_policies_are_checked_and_trust_policies_are_not() -> None:
    props = {
        "assumeRolePolicy": json.dumps(
            {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
        ),
        "inlinePolicies": [
            {
                "name": "table",
                **_role_policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
            }
        ],
    }
    problems = rules.iam_violations(rules.IAM_ROLE, props)
    assert len(problems) == 1 and "s3:GetObject" in problems[0]


def test_a_policy_that_is_not_json_is_reported_not_raised() -> None:
    problems = rules.iam_violations(rules.IAM_POLICY, {"policy": "{not json"})
    assert problems and "not JSON" in problems[0]
