"""The request quota: the functions' atomic counter, plus the API Gateway usage plan.

API Gateway meters a WebSocket usage plan only when `$connect` requires an API key, and a
browser can present one only through a Lambda authorizer, which cannot be combined with
AWS_IAM on the same route. So the limit is enforced by the connect and default functions
with a conditional counter in the quota table, in every auth mode. The usage plan and its
key stay attached to the stage so that API Gateway's own throttle settings and reports
are in place, and so that a deployment which does put a key on `$connect` is metered too.
"""

from __future__ import annotations

import pulumi_aws as aws

from .children import Children


class UsagePlanQuota:
    """A usage plan on the stage, with one API key attached to it."""

    def __init__(
        self,
        children: Children,
        *,
        api: aws.apigatewayv2.Api,
        stage: aws.apigatewayv2.Stage,
        limit: int,
        period: str,
        burst_limit: int,
        rate_limit: float,
    ) -> None:
        self.plan = children.create(
            "usage_plan",
            aws.apigateway.UsagePlan,
            "usage-plan",
            description=f"Lex Web UI streaming: {limit} requests per {period.lower()}",
            api_stages=[aws.apigateway.UsagePlanApiStageArgs(api_id=api.id, stage=stage.name)],
            quota_settings=aws.apigateway.UsagePlanQuotaSettingsArgs(limit=limit, period=period),
            throttle_settings=aws.apigateway.UsagePlanThrottleSettingsArgs(
                burst_limit=burst_limit, rate_limit=rate_limit
            ),
        )
        self.api_key = children.create(
            "api_key",
            aws.apigateway.ApiKey,
            "api-key",
            description="Usage plan key of the Lex Web UI streaming API",
            enabled=True,
        )
        self.plan_key = children.create(
            "usage_plan",
            aws.apigateway.UsagePlanKey,
            "usage-plan-key",
            key_id=self.api_key.id,
            key_type="API_KEY",
            usage_plan_id=self.plan.id,
        )
