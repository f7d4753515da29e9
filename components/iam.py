"""IAM policy documents as plain data: statements, documents and the Lambda trust policy."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi

POLICY_VERSION = "2012-10-17"


def statement(
    actions: Sequence[str],
    resources: Sequence[pulumi.Input[str]],
    condition: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One Allow statement; resources may be Outputs."""
    result: dict[str, Any] = {
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": list(resources),
    }
    if condition:
        result["Condition"] = condition
    return result


def document(statements: Sequence[dict[str, Any]]) -> pulumi.Output[str]:
    """A policy document as JSON, resolving any Outputs inside the statements."""
    return pulumi.Output.json_dumps({"Version": POLICY_VERSION, "Statement": list(statements)})


def service_trust_policy(service: str) -> str:
    """Lets one AWS service principal (e.g. `lambda.amazonaws.com`) assume a role."""
    return json.dumps(
        {
            "Version": POLICY_VERSION,
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )
