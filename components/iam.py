"""IAM policy documents as plain data: statements, documents and the Lambda trust policy."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from .children import Children

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


class AttachedPolicy:
    """A managed policy with the given statements, attached to the given role names.

    `part` is the transform key of both the policy and its attachments; the policy's
    logical name is `policy_name` and each attachment's `{attachment_prefix}-{role}`.
    """

    def __init__(
        self,
        children: Children,
        *,
        part: str,
        policy_name: str,
        attachment_prefix: str,
        description: str,
        statements: Sequence[dict[str, Any]],
        role_names: Sequence[str],
    ) -> None:
        self.policy = children.create(
            part,
            aws.iam.Policy,
            policy_name,
            description=description,
            policy=document(statements),
            tags=children.tags,
        )
        self.attachments = [
            children.create(
                part,
                aws.iam.RolePolicyAttachment,
                f"{attachment_prefix}-{role_name}",
                role=role_name,
                policy_arn=self.policy.arn,
            )
            for role_name in role_names
        ]
        self.arn: pulumi.Output[str] = self.policy.arn
