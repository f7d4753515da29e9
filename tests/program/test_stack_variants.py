"""What the optional settings deploy: role grants, the account role, the Bedrock example,
redeployment on route changes."""

from __future__ import annotations

import json

import pytest
from lexstream_runtime import contract

from . import views as v
from .conftest import variant
from .harness import ACCOUNT_ID, record_stack

ALIAS_ARN = "arn:aws:lex:us-east-1:123456789012:bot-alias/ORDERBOT01/TSTALIASID"


def test_fulfillment_policy_is_attached_to_each_named_role() -> None:
    record = variant("prod-with-roles")
    policy = record.one(v.POLICY, "-fulfillment-policy")
    attached = {
        a.inputs["role"]
        for a in record.of_type(v.ATTACHMENT)
        if a.inputs["policyArn"] == policy.outputs["arn"]
    }
    assert attached == {"OrderBot-FulfillmentRole"}


def test_opted_in_account_role_survives_destroy_and_precedes_the_stage() -> None:
    record = variant("prod-with-roles")
    account = record.one(v.ACCOUNT)
    role = record.one(v.ROLE, "-apigateway-cloudwatch-role")
    assert account.inputs["cloudwatchRoleArn"] == role.outputs["arn"]
    # Destroying the account setting would reset it for every stack in the region.
    assert account.retain_on_delete and role.retain_on_delete
    attachment = record.one(v.ATTACHMENT, "-apigateway-cloudwatch-logs")
    assert attachment.retain_on_delete
    assert attachment.inputs["policyArn"] == (
        "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    )
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    assert account.urn in record.one(v.STAGE).dependencies


def test_example_function_streams_with_the_fulfillment_policy_and_its_settings() -> None:
    record = variant("prod-with-example")
    example = v.function(record, "bedrock_fulfillment")
    assert example.inputs["timeout"] == 29  # Lex gives the whole turn about 30 s
    assert example.inputs["environment"]["variables"] == {
        # The browser names the callback URL; the example posts only to its own API.
        contract.ENV_CALLBACK_URL: record.exports["callback_url"],
        contract.ENV_MODEL_ID: "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        contract.ENV_SYSTEM_PROMPT: v.setting(record, "exampleSystemPrompt"),
        contract.ENV_MAX_TOKENS: str(v.setting(record, "exampleMaxTokens")),
        contract.ENV_METRICS_NAMESPACE: f"Lexstream/lexstream-{record.stack}",
        # No custom domain: no alias of the callback URL.
        contract.ENV_CALLBACK_ALIAS: "",
    }
    policy = record.one(v.POLICY, "-fulfillment-policy")
    attachment = record.one(v.ATTACHMENT, "-bedrock-fulfillment-managed-0")
    assert attachment.inputs["policyArn"] == policy.outputs["arn"]
    assert (
        attachment.inputs["role"] == record.one(v.ROLE, "-bedrock-fulfillment-role").outputs["name"]
    )
    assert attachment.urn in example.dependencies
    lex = record.one(v.PERMISSION, "-example-lex-invoke")
    assert lex.inputs["principal"] == "lexv2.amazonaws.com"
    assert lex.inputs["sourceArn"] == ALIAS_ARN
    assert lex.inputs["function"] == example.outputs["name"]
    assert record.exports["example_function_arn"] == example.outputs["arn"]


def _bedrock_statements(model_id: str, region: str = "us-east-1") -> list[dict]:
    record = record_stack(
        "dev", {"exampleModelId": model_id, "aws:region": region, "exampleFulfillment": True}
    )
    return [
        s
        for s in v.statements(v.role_policy(record, "bedrock_fulfillment"))
        if s["Action"][0].startswith("bedrock:")
    ]


INVOKE = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]


def test_example_may_invoke_exactly_its_foundation_model() -> None:
    assert _bedrock_statements("amazon.nova-lite-v1:0") == [
        {
            "Effect": "Allow",
            "Action": INVOKE,
            "Resource": ["arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"],
        }
    ]


@pytest.mark.parametrize(
    ("profile", "region", "partition"),
    [
        ("us.amazon.nova-lite-v1:0", "us-east-1", "aws"),
        ("eu.anthropic.claude-3-haiku-20240307-v1:0", "eu-west-1", "aws"),
        ("ca.anthropic.claude-sonnet-4-5-20250929-v1:0", "ca-central-1", "aws"),
    ],
)
def test_example_may_use_the_model_only_through_its_inference_profile(
    profile: str, region: str, partition: str
) -> None:
    base = profile.split(".", 1)[1]
    profile_arn = f"arn:{partition}:bedrock:{region}:{ACCOUNT_ID}:inference-profile/{profile}"
    assert _bedrock_statements(profile, region) == [
        {"Effect": "Allow", "Action": INVOKE, "Resource": [profile_arn]},
        {
            "Effect": "Allow",
            "Action": INVOKE,
            "Resource": [f"arn:{partition}:bedrock:*::foundation-model/{base}"],
            "Condition": {"StringEquals": {"bedrock:InferenceProfileArn": profile_arn}},
        },
    ]


def test_global_profiles_also_cover_the_regionless_model_arn() -> None:
    profile = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
    base = profile.removeprefix("global.")
    (_, models) = _bedrock_statements(profile)
    assert models["Resource"] == [
        f"arn:aws:bedrock:*::foundation-model/{base}",
        f"arn:aws:bedrock:::foundation-model/{base}",
    ]


def _trigger(overrides: dict[str, object]) -> str:
    record = record_stack("dev", overrides)
    return record.one(v.DEPLOYMENT).inputs["triggers"]["redeployment"]


def test_deployment_is_redone_when_a_route_changes_and_only_then() -> None:
    baseline = _trigger({})
    assert _trigger({"authMode": "iam"}) != baseline  # $connect's authorization changed
    assert _trigger({"quotaLimit": 777}) == baseline  # no route or integration changed


def test_iam_stack_without_role_names_still_exports_the_policy_to_attach() -> None:
    record = record_stack("prod")
    policy = record.one(v.POLICY, "-web-ui-connect-policy")
    assert not [
        a for a in record.of_type(v.ATTACHMENT) if a.inputs["policyArn"] == policy.outputs["arn"]
    ]
    assert record.exports["web_ui_policy_arn"] == policy.outputs["arn"]
