"""The region's account-level API Gateway CloudWatch role (opt-in).

Stage access logs need it, but it is one setting per account and region, shared by every
API and stack there. Destroying `aws.apigateway.Account` in pulumi-aws v7 resets it, which
would silently break every other stack's logging, so everything here is retained on
destroy: a stack may set the role, never take it away.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from .aws_context import AwsContext
from .children import Children
from .iam import service_trust_policy

PUSH_TO_CLOUDWATCH = "policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def create_api_gateway_account(children: Children, ctx: AwsContext) -> list[pulumi.Resource]:
    """The role, its AWS managed policy, and the account setting that names it."""
    role = children.create(
        "api_gateway_account",
        aws.iam.Role,
        "apigateway-cloudwatch-role",
        assume_role_policy=service_trust_policy("apigateway.amazonaws.com"),
        retain_on_delete=True,
    )
    attachment = children.create(
        "api_gateway_account",
        aws.iam.RolePolicyAttachment,
        "apigateway-cloudwatch-logs",
        role=role.name,
        # AWS managed policies live in the pseudo-account `aws`.
        policy_arn=f"arn:{ctx.partition}:iam::aws:{PUSH_TO_CLOUDWATCH}",
        retain_on_delete=True,
    )
    account = children.create(
        "api_gateway_account",
        aws.apigateway.Account,
        "apigateway-account",
        cloudwatch_role_arn=role.arn,
        depends_on=[attachment],
        retain_on_delete=True,
    )
    return [account]
