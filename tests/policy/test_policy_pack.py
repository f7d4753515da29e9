"""The policy pack passes every shipped stack and fails deliberately broken ones.

The resources come from the real program run under mocks for each `Pulumi.<stack>.yaml`
(tests/program/harness.py). The policies are called directly, as the policy analyzer
calls them, with properties wrapped in the analyzer's unknown-checking proxy.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from lexstream_runtime import contract
from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy

from policy import lexstream_policies as rules
from tests.program.conftest import VARIANTS
from tests.program.harness import ResourceRecord, StackRecord, record_stack, stack_names

Mutation = Callable[[str, str, dict[str, Any]], None]
Violations = dict[str, list[tuple[str, str]]]


def run_pack(
    record: StackRecord,
    mutate: Mutation | None = None,
    config: Mapping[str, Any] | None = None,
    stack: str | None = None,
) -> Violations:
    """Every policy's violations as {policy: [(resource name, message)]}.

    `mutate(type, name, props)` edits a copy of each resource's properties first;
    `stack` renames the stack in every URN.
    """
    found: Violations = {policy.name: [] for policy in rules.ALL_POLICIES}
    resources = [_props_of(r, mutate) for r in record.resources]
    resources = [(r, props) for r, props in resources if props is not None]
    for resource, props in resources:
        urn = _urn(resource, stack)
        for policy in rules.RESOURCE_POLICIES:
            args = ResourceValidationArgs(
                resource.type_, unknown_checking_proxy(props), urn, resource.name,
                None, None, dict(config or {}),
            )  # fmt: skip
            policy.validate(args, _reporter(found[policy.name], resource.name))
    stack_resources = [
        PolicyResource(
            r.type_, unknown_checking_proxy(props), _urn(r, stack), r.name, None, None, None, [], {}
        )
        for r, props in resources
    ]
    for policy in rules.STACK_POLICIES:
        policy.validate(
            StackValidationArgs(stack_resources, dict(config or {})),
            _reporter(found[policy.name], "<stack>"),
        )
    return found


def _props_of(resource: ResourceRecord, mutate: Mutation | None) -> tuple[ResourceRecord, Any]:
    # The analyzer sees a resource's inputs; the mocks echo them into the outputs.
    props = copy.deepcopy({**resource.outputs, **resource.inputs})
    if mutate is not None:
        mutate(resource.type_, resource.name, props)
        if props.get("__removed__"):
            return resource, None
    return resource, props


def _urn(resource: ResourceRecord, stack: str | None) -> str:
    if stack is None:
        return resource.urn
    return f"urn:pulumi:{stack}::" + resource.urn.split("::", 1)[1]


def _reporter(into: list[tuple[str, str]], name: str) -> Callable[..., None]:
    return lambda message, urn=None: into.append((name, message))


def failing(violations: Violations) -> dict[str, list[tuple[str, str]]]:
    return {policy: found for policy, found in violations.items() if found}


# --- every shipped stack passes ---------------------------------------------------------


@pytest.mark.parametrize("stack", stack_names())
def test_every_shipped_stack_passes_every_policy(stack: str) -> None:
    assert failing(run_pack(record_stack(stack))) == {}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_program_variants_pass_every_policy(variant: str) -> None:
    # Other partitions, Web UI role grants, the example behind IAM auth in production.
    stack, overrides = VARIANTS[variant]
    assert failing(run_pack(record_stack(stack, overrides))) == {}


@pytest.mark.parametrize("stack", stack_names())
def test_the_policies_have_something_to_judge_in_every_stack(stack: str) -> None:
    # Guards against a vacuous pass: each policy's subject is present in each stack.
    types = {r.type_ for r in record_stack(stack).resources}
    assert {
        rules.DYNAMODB_TABLE,
        rules.WEBSOCKET_STAGE,
        rules.WEBSOCKET_ROUTE,
        rules.LOG_GROUP,
        rules.LAMBDA_FUNCTION,
        rules.USAGE_PLAN,
        rules.USAGE_PLAN_KEY,
        rules.IAM_ROLE_POLICY,
        rules.IAM_POLICY,
    } <= types


def test_the_prod_stack_counts_as_production_and_dev_does_not() -> None:
    patterns = rules.production_patterns({})
    assert rules.is_production("prod", patterns)
    assert rules.is_production("production-eu", patterns)
    assert not rules.is_production("dev", patterns)
    assert not rules.is_production("preprod", patterns)


# --- deliberately broken stacks fail ----------------------------------------------------


def test_an_open_connect_fails_in_production_and_passes_in_dev() -> None:
    broken = record_stack("prod", {"authMode": contract.AUTH_NONE, "webUiRoleNames": []})
    found = failing(run_pack(broken))
    assert list(found) == ["connect-authorized-in-production"]
    [(resource, message)] = found["connect-authorized-in-production"]
    assert "connect" in resource and "authorizationType NONE" in message
    # The same open route in a stack that is not production is allowed (older clients).
    assert failing(run_pack(broken, stack="dev")) == {}


def test_production_stacks_are_whatever_the_pack_config_names() -> None:
    broken = record_stack("prod", {"authMode": contract.AUTH_NONE})
    config = {"productionStacks": ["live-*"]}
    assert failing(run_pack(broken, config=config, stack="prod")) == {}
    assert "connect-authorized-in-production" in failing(
        run_pack(broken, config=config, stack="live-eu")
    )


def test_a_malformed_production_config_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="productionStacks must be a list"):
        run_pack(record_stack("prod"), config={"productionStacks": "prod"})


def _edit(type_: str, edit: Callable[[dict[str, Any]], None], name_part: str = "") -> Mutation:
    def mutate(resource_type: str, name: str, props: dict[str, Any]) -> None:
        if resource_type == type_ and name_part in name:
            edit(props)

    return mutate


def _remove(props: dict[str, Any]) -> None:
    props["__removed__"] = True


def _rewrite_policy(edit: Callable[[list[dict[str, Any]]], None]) -> Callable[[dict], None]:
    def rewrite(props: dict[str, Any]) -> None:
        document = json.loads(props["policy"])
        edit(document["Statement"])
        props["policy"] = json.dumps(document)

    return rewrite


def _on_any_api(arn: str) -> str:
    """The reference's mistake: `{apiId}` replaced by `*`, so any API in the account."""
    prefix, name = arn.rsplit(":", 1)
    return prefix + ":" + "/".join(["*", *name.split("/")[1:]])


def _set_env(name: str, value: str | None) -> Callable[[dict[str, Any]], None]:
    def edit(props: dict[str, Any]) -> None:
        variables = props["environment"]["variables"]
        if value is None:
            variables.pop(name, None)
        else:
            variables[name] = value

    return edit


BROKEN: dict[str, tuple[Mutation, str, str]] = {
    "table without KMS encryption": (
        _edit(rules.DYNAMODB_TABLE, lambda p: p.pop("serverSideEncryption", None), "connections"),
        "table-encrypted-with-ttl",
        "serverSideEncryption",
    ),
    "table with TTL off": (
        _edit(rules.DYNAMODB_TABLE, lambda p: p["ttl"].update(enabled=False), "quota"),
        "table-encrypted-with-ttl",
        "ttl.enabled",
    ),
    "table expiring the wrong attribute": (
        _edit(rules.DYNAMODB_TABLE, lambda p: p["ttl"].update(attributeName="expires")),
        "table-encrypted-with-ttl",
        "ttl.attributeName",
    ),
    "stage without throttling": (
        _edit(rules.WEBSOCKET_STAGE, lambda p: p.pop("defaultRouteSettings")),
        "stage-throttled-and-logged",
        "throttlingBurstLimit",
    ),
    "stage without access logs": (
        _edit(rules.WEBSOCKET_STAGE, lambda p: p.pop("accessLogSettings")),
        "stage-throttled-and-logged",
        "accessLogSettings.destinationArn",
    ),
    "access logs that are not JSON": (
        _edit(
            rules.WEBSOCKET_STAGE,
            lambda p: p.setdefault("accessLogSettings", {}).update(format="$context.requestId"),
        ),
        "stage-throttled-and-logged",
        "must be JSON",
    ),
    "log group kept forever": (
        _edit(rules.LOG_GROUP, lambda p: p.pop("retentionInDays")),
        "log-retention-set",
        "retentionInDays",
    ),
    "role policy on every table": (
        _edit(
            rules.IAM_ROLE_POLICY,
            _rewrite_policy(
                lambda s: [x.update(Resource="*") for x in s if "dynamodb:PutItem" in x["Action"]]
            ),
            "connect",
        ),
        "iam-no-needless-wildcards",
        'Resource "*" for dynamodb:PutItem',
    ),
    "callback permission on any API": (
        _edit(
            rules.IAM_POLICY,
            _rewrite_policy(
                lambda s: [
                    x.update(Resource=[_on_any_api(arn) for arn in x["Resource"]])
                    for x in s
                    if "execute-api:ManageConnections" in x["Action"]
                ]
            ),
        ),
        "iam-no-needless-wildcards",
        "not limited to one API and stage",
    ),
    "quota limit missing from connect": (
        _edit(rules.LAMBDA_FUNCTION, _set_env(contract.ENV_QUOTA_LIMIT, None), "connect"),
        "quota-in-force",
        contract.ENV_QUOTA_LIMIT,
    ),
    "quota table missing from default": (
        _edit(rules.LAMBDA_FUNCTION, _set_env(contract.ENV_QUOTA_TABLE, None), "default"),
        "quota-in-force",
        contract.ENV_QUOTA_TABLE,
    ),
    "usage plan declaring another limit": (
        _edit(rules.USAGE_PLAN, lambda p: p["quotaSettings"].update(limit=999999)),
        "quota-in-force",
        "differs",
    ),
    "usage plan without an API key": (
        _edit(rules.USAGE_PLAN_KEY, _remove),
        "quota-in-force",
        "no API key",
    ),
    "the local loopback switch on a route function": (
        _edit(
            rules.LAMBDA_FUNCTION, _set_env(contract.ENV_LOCAL_LOOPBACK_CALLBACKS, "1"), "default"
        ),
        "no-loopback-callbacks-deployed",
        f"{contract.ENV_LOCAL_LOOPBACK_CALLBACKS} is set (to '1')",
    ),
    "the local loopback switch, even turned off": (
        _edit(
            rules.LAMBDA_FUNCTION, _set_env(contract.ENV_LOCAL_LOOPBACK_CALLBACKS, ""), "connect"
        ),
        "no-loopback-callbacks-deployed",
        "remove it from the function's environment",
    ),
    "messages that are never counted": (
        _edit(rules.LAMBDA_FUNCTION, _remove, "default"),
        "quota-in-force",
        contract.HANDLERS["default"],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_stack_fails_the_policy_that_guards_it(case: str) -> None:
    mutate, policy, words = BROKEN[case]
    found = failing(run_pack(record_stack("prod"), mutate))
    assert list(found) == [policy], f"{case}: {found}"
    assert any(words in message for _, message in found[policy]), found[policy]


def test_a_stack_broken_everywhere_fails_every_policy() -> None:
    def everything(type_: str, name: str, props: dict[str, Any]) -> None:
        for mutate, _, _ in BROKEN.values():
            mutate(type_, name, props)

    broken = record_stack("prod", {"authMode": contract.AUTH_NONE})
    assert set(failing(run_pack(broken, everything))) == {p.name for p in rules.ALL_POLICIES}


def test_policy_names_are_unique() -> None:
    names = [policy.name for policy in rules.ALL_POLICIES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    "props",
    [{}, {"environment": None}, {"environment": {}}, {"environment": {"variables": None}}],
)
def test_a_function_without_environment_variables_has_no_loopback_switch(props) -> None:
    assert rules.loopback_switch_violation(props) is None


def test_a_bot_developers_own_function_with_the_loopback_switch_fails_too() -> None:
    own = {"environment": {"variables": {"MODEL": "x", contract.ENV_LOCAL_LOOPBACK_CALLBACKS: "1"}}}
    found: list[tuple[str, str]] = []
    args = ResourceValidationArgs(
        rules.LAMBDA_FUNCTION, unknown_checking_proxy(own),
        "urn:pulumi:dev::bots::aws:lambda/function:Function::my-fulfillment",
        "my-fulfillment", None, None, {},
    )  # fmt: skip
    rules.NO_LOOPBACK_SWITCH.validate(args, _reporter(found, "my-fulfillment"))
    assert [name for name, _ in found] == ["my-fulfillment"]


def test_the_example_with_the_loopback_switch_fails_in_a_stack_that_deploys_it() -> None:
    mutate = _edit(
        rules.LAMBDA_FUNCTION, _set_env(contract.ENV_LOCAL_LOOPBACK_CALLBACKS, "1"), "fulfillment"
    )
    found = failing(run_pack(record_stack("dev"), mutate))
    assert list(found) == ["no-loopback-callbacks-deployed"]
    assert [name for name, _ in found["no-loopback-callbacks-deployed"]] == [
        "lexstream-dev-bedrock-fulfillment"
    ]
