"""Each function is declared once (`functions/declarations.py`): the local stack runs every
function with the handler, timeout, memory and environment variables that the component
deploys for it, read from the real program under Pulumi's mocks."""

from __future__ import annotations

import pytest
from lexstream_runtime import contract

from functions import declarations, layout
from local_stack.__main__ import parse_arguments
from tests.program.harness import record_stack, stack_names

FUNCTION = "aws:lambda/function:Function"
# The local stack runs the fulfillment (the example, or your own) under this name.
LOCAL_NAMES = {"bedrock_fulfillment": "fulfillment"}


@pytest.mark.parametrize("stack", stack_names())
def test_the_local_stack_runs_every_function_as_the_component_deploys_it(make_stack, stack):
    record = record_stack(stack)
    deployed = {
        name: function
        for function in record.of_type(FUNCTION)
        for name, handler in contract.HANDLERS.items()
        if function.inputs["handler"] == handler
    }
    assert {d.name for d in declarations.ROUTE_FUNCTIONS.values()} <= set(deployed)
    local = make_stack(auth_mode=record.config["lexstream:authMode"]).functions

    for name, function in deployed.items():
        running = local[LOCAL_NAMES.get(name, name)]
        variables = function.inputs["environment"]["variables"]
        assert running.handler_spec == function.inputs["handler"], name
        assert running.timeout_s == function.inputs["timeout"], name
        assert running.memory_mb == function.inputs["memorySize"], name
        # Beside the deployed variables, only the endpoints and fake credentials of the
        # loopback servers, which stand in for AWS, and the switch that lets the helper post
        # to the loopback gateway, which no deployed function has.
        local_only = contract.ENV_LOCAL_LOOPBACK_CALLBACKS
        assert running.environment[local_only] == "1", name
        assert local_only not in variables, name
        assert {key for key in running.environment if key.startswith("LEXSTREAM_")} == {
            *variables,
            local_only,
        }, name


def test_every_function_in_the_layout_is_declared_once_with_its_handler():
    assert tuple(declarations.FUNCTIONS) == layout.FUNCTION_NAMES
    for name, declaration in declarations.FUNCTIONS.items():
        assert declaration.handler == contract.HANDLERS[name]
        assert set(declaration.environment.values()) <= set(declarations.SETTINGS)
        assert {g.resource for g in declaration.all_grants()} <= set(declarations.RESOURCES)


def test_a_declaration_names_a_missing_setting_and_refuses_an_unknown_one():
    with pytest.raises(KeyError, match=r"needs settings \['auth_mode'"):
        declarations.CONNECT.environment_from({"connection_table": "t"})
    with pytest.raises(ValueError, match="unknown settings"):
        declarations.FunctionDeclaration("connect", 10, {"X": "no_such_setting"}, ())
    with pytest.raises(ValueError, match="unknown resource"):
        declarations.Grant(("dynamodb:Scan",), "everything", "no")


def test_the_per_identity_limit_flag_reaches_the_connect_function(make_stack):
    settings, _ = parse_arguments(["--quota-per-identity-limit", "7", "--auth", "iam"])
    stack = make_stack(
        auth_mode=settings.auth_mode, quota_per_identity_limit=settings.quota_per_identity_limit
    )

    environment = stack.functions["connect"].environment
    assert environment[contract.ENV_QUOTA_PER_IDENTITY_LIMIT] == "7"


def test_the_per_source_limit_flag_reaches_the_connect_function(make_stack):
    settings, _ = parse_arguments(["--quota-per-source-limit", "9"])
    stack = make_stack(quota_per_source_limit=settings.quota_per_source_limit)

    environment = stack.functions["connect"].environment
    assert environment[contract.ENV_QUOTA_PER_SOURCE_LIMIT] == "9"
