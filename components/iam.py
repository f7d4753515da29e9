"""IAM policy documents as plain data: statements, documents and the Lambda trust policy."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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


def grant_statements(
    grants: Sequence[Any],
    arns: Mapping[str, Sequence[pulumi.Input[str]]],
    **special: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Statements for declared grants (`functions.declarations.Grant`): each grant's actions
    on the ARNs `arns` gives for its resource, or, for a resource named in `special`, the
    statements given there (a model grant needs conditions an ARN list cannot carry).

    Raises KeyError naming a resource that neither maps."""
    statements: list[dict[str, Any]] = []
    for grant in grants:
        if grant.resource in special:
            statements += special[grant.resource]
        elif grant.resource in arns:
            statements.append(statement(grant.actions, arns[grant.resource]))
        else:
            raise KeyError(f"no ARN for resource {grant.resource!r} ({grant.reason})")
    return statements


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
