"""The optional example: a Lex fulfillment function that streams a Bedrock answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from .args import ExampleFulfillmentArgs
from .aws_context import AwsContext
from .children import Children
from .fulfillment_policy import FulfillmentPolicy
from .functions_package import declarations
from .iam import statement
from .lambda_function import LexstreamFunction

INVOKE_ACTIONS = declarations.BEDROCK_INVOKE
# Cross-Region inference profile ids are a geography prefix plus the model id; `ca` is the
# Canada geography that Bedrock added in 2025. A prefix missing here would be taken for a
# model provider and the role would be denied the model at run time.
INFERENCE_PROFILE_PREFIXES = ("us", "us-gov", "eu", "apac", "jp", "au", "ca", "global")


def bedrock_statements(ctx: AwsContext, model_id: str) -> list[dict[str, object]]:
    """Invoke exactly this model, directly or through exactly this inference profile."""
    prefix, _, base_model = model_id.partition(".")
    if prefix not in INFERENCE_PROFILE_PREFIXES:
        # Foundation models are AWS-owned: their ARNs have no account.
        return [
            statement(
                INVOKE_ACTIONS,
                [ctx.arn("bedrock", f"foundation-model/{model_id}", in_account=False)],
            )
        ]
    profile_arn = ctx.arn("bedrock", f"inference-profile/{model_id}")
    # A profile routes each request to a Region of its geography that AWS chooses and may
    # extend, and AWS checks the foundation model's ARN in that Region; so the Region is
    # the one wildcard, and the condition allows it only through this profile. Global
    # profiles are also checked against the Region-less model ARN.
    model_arns = [f"arn:{ctx.partition}:bedrock:*::foundation-model/{base_model}"]
    if prefix == "global":
        model_arns.append(f"arn:{ctx.partition}:bedrock:::foundation-model/{base_model}")
    return [
        statement(INVOKE_ACTIONS, [profile_arn]),
        statement(
            INVOKE_ACTIONS,
            model_arns,
            condition={"StringEquals": {"bedrock:InferenceProfileArn": profile_arn}},
        ),
    ]


class BedrockExample:
    """The example function, with the fulfillment policy and exactly its model."""

    def __init__(
        self,
        children: Children,
        ctx: AwsContext,
        example: ExampleFulfillmentArgs,
        *,
        fulfillment: FulfillmentPolicy,
        settings: Mapping[str, pulumi.Input[str]],
        arns: Mapping[str, Sequence[pulumi.Input[str]]],
        log_retention_days: int,
    ) -> None:
        self.lambda_function = LexstreamFunction(
            children,
            declarations.BEDROCK_FULFILLMENT,
            settings={
                **settings,
                "model_id": example.model_id,
                "system_prompt": example.system_prompt,
                "max_tokens": str(example.max_tokens),
            },
            arns=arns,
            special={"model": bedrock_statements(ctx, example.model_id)},
            managed_policy_arns=[fulfillment.arn],
            log_retention_days=log_retention_days,
        )
        self.function = self.lambda_function.function
        self.lex_permission: aws.lambda_.Permission | None = None
        if example.bot_alias_arn:
            self.lex_permission = children.create(
                "permission",
                aws.lambda_.Permission,
                "example-lex-invoke",
                action="lambda:InvokeFunction",
                function=self.function.name,
                principal="lexv2.amazonaws.com",
                source_arn=example.bot_alias_arn,
            )
        self.arn: pulumi.Output[str] = self.function.arn
