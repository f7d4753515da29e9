"""Fixtures for the stack program tests: one recorded run per stack file (and variant)."""

from __future__ import annotations

import pytest

from .harness import StackRecord, record_stack, stack_names

STACKS = stack_names()

# Variants of the shipped stacks that reach what the stack files leave off: another
# partition, the optional role grants and account role, the example behind IAM auth.
VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    "dev-in-china": ("dev", {"aws:region": "cn-north-1"}),
    "prod-with-roles": (
        "prod",
        {
            "webUiRoleNames": ["WebUi-CognitoAuthRole", "WebUi-CognitoUnauthRole"],
            "fulfillmentRoleNames": ["OrderBot-FulfillmentRole"],
            "manageApiGatewayAccount": True,
        },
    ),
    "prod-with-example": (
        "prod",
        {
            "exampleFulfillment": True,
            "exampleModelId": "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "exampleBotAliasArn": (
                "arn:aws:lex:us-east-1:123456789012:bot-alias/ORDERBOT01/TSTALIASID"
            ),
        },
    ),
}


@pytest.fixture(params=STACKS + list(VARIANTS))
def record(request: pytest.FixtureRequest) -> StackRecord:
    """The recorded run of one stack file (every Pulumi.<stack>.yaml) or variant."""
    stack, overrides = VARIANTS.get(request.param, (request.param, {}))
    return record_stack(stack, overrides)


def variant(name: str) -> StackRecord:
    """One named variant's recorded run."""
    stack, overrides = VARIANTS[name]
    return record_stack(stack, overrides)
