"""Construct over gRPC builds the same StreamingBackend as the Python program: the dev
stack's arguments register the same children with the same inputs, and a bad argument
fails with the component's own message."""

from __future__ import annotations

import dataclasses
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import provider_pb2

from components import InvalidArgumentError, StreamingBackendArgs
from components.stack_config import PROJECT_NAMESPACE, stack_args_from_values
from components.streaming_backend import TYPE_TOKEN
from provider.schema import property_name
from tests.program.harness import record_stack, stack_config
from tests.provider.conftest import PROJECT, STACK
from tests.provider.fake_engine import RunningPlugin

COMPONENT_NAME = f"{PROJECT}-{STACK}"
STACK_URN = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{COMPONENT_NAME}"


def wire_value(value: Any) -> Any:
    """A Python argument value as another language's SDK sends it."""
    if dataclasses.is_dataclass(value):
        return {
            property_name(f.name): wire_value(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, tuple | list):
        return [wire_value(item) for item in value]
    if isinstance(value, dict):
        return {key: wire_value(item) for key, item in value.items()}
    return value


def inputs_of(args: StreamingBackendArgs, schema: dict[str, Any]) -> dict[str, Any]:
    """Every argument the schema has, as the SDK of another language would send it."""
    declared = schema["resources"][TYPE_TOKEN]["inputProperties"]
    return {
        property_name(f.name): wire_value(getattr(args, f.name))
        for f in dataclasses.fields(args)
        if property_name(f.name) in declared and getattr(args, f.name) is not None
    }


def construct(
    plugin: RunningPlugin, inputs: dict[str, Any], name: str = COMPONENT_NAME
) -> provider_pb2.ConstructResponse:
    plugin.engine.registrations.clear()
    request_inputs = struct_pb2.Struct()
    request_inputs.update(inputs)
    config = stack_config(STACK)
    return plugin.provider.Construct(
        provider_pb2.ConstructRequest(
            project=PROJECT,
            stack=STACK,
            # The caller's stack has AWS config, not lexstream's: the inputs carry those.
            config={"aws:region": config["aws:region"]},
            dryRun=False,
            monitorEndpoint=plugin.address,
            type=TYPE_TOKEN,
            name=name,
            parent=STACK_URN,
            inputs=request_inputs,
        ),
        timeout=120,
    )


def dev_stack_args() -> StreamingBackendArgs:
    prefix = PROJECT_NAMESPACE + ":"
    values = {
        key.removeprefix(prefix): value
        for key, value in stack_config(STACK).items()
        if key.startswith(prefix)
    }
    return stack_args_from_values(values)


def test_construct_registers_the_children_the_python_program_registers(
    plugin: RunningPlugin,
) -> None:
    response = construct(plugin, inputs_of(dev_stack_args(), plugin.schema()))

    program = record_stack(STACK)
    expected = sorted((r.type_, r.name, r.parent, r.custom, r.inputs) for r in program.resources)
    registered = sorted(
        (r.type_, r.name, r.parent, r.custom, r.inputs) for r in plugin.engine.registrations
    )
    assert [row[:2] for row in registered] == [row[:2] for row in expected]
    for got, want in zip(registered, expected, strict=True):
        assert got == want, f"{want[0]} {want[1]} differs"

    assert response.urn == program.one(TYPE_TOKEN).urn
    state = json_format.MessageToDict(response.state)
    for output, value in program.exports.items():
        assert state[property_name(output)] == value, output


def test_the_example_function_is_deployed_with_the_nested_arguments(
    plugin: RunningPlugin,
) -> None:
    inputs = inputs_of(dev_stack_args(), plugin.schema())
    assert inputs["exampleFulfillment"]["modelId"] == "us.amazon.nova-lite-v1:0"
    construct(plugin, inputs)
    functions = [r for r in plugin.engine.registrations if r.name.endswith("bedrock-fulfillment")]
    assert len(functions) == 1
    variables = functions[0].inputs["environment"]["variables"]
    assert "us.amazon.nova-lite-v1:0" in variables.values()


def python_error(**kwargs: Any) -> InvalidArgumentError:
    with pytest.raises(InvalidArgumentError) as failure:
        StreamingBackendArgs(**kwargs)
    return failure.value


@pytest.mark.parametrize(
    ("inputs", "python_kwargs", "names"),
    [
        (
            {"quotaBurstLimit": 200},
            {"quota_burst_limit": 200},
            {"quota_burst_limit": "quotaBurstLimit", "throttle_burst_limit": "throttleBurstLimit"},
        ),
        ({"quotaPeriod": "day"}, {"quota_period": "day"}, {"quota_period": "quotaPeriod"}),
        (
            {"logRetentionDays": 8},
            {"log_retention_days": 8},
            {"log_retention_days": "logRetentionDays"},
        ),
        ({"tags": {"aws:owner": "me"}}, {"tags": {"aws:owner": "me"}}, {}),
    ],
)
def test_a_bad_argument_fails_construct_with_the_python_message(
    plugin: RunningPlugin,
    inputs: dict[str, Any],
    python_kwargs: dict[str, Any],
    names: dict[str, str],
) -> None:
    expected = str(python_error(**python_kwargs))
    # The same message, naming each argument as the caller's language spells it.
    for python_name, schema_name in names.items():
        expected = expected.replace(python_name, schema_name)

    with pytest.raises(grpc.RpcError) as failure:
        construct(plugin, inputs)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details() == expected


def test_a_bad_nested_argument_is_named_by_its_path(plugin: RunningPlugin) -> None:
    from components import ExampleFulfillmentArgs

    with pytest.raises(InvalidArgumentError) as python:
        ExampleFulfillmentArgs(model_id="gpt")
    with pytest.raises(grpc.RpcError) as failure:
        construct(plugin, {"exampleFulfillment": {"modelId": "gpt"}})
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details() == str(python.value).replace(
        "example_fulfillment.model_id", "exampleFulfillment.modelId"
    )


def test_a_too_long_name_fails_construct_with_the_python_message(plugin: RunningPlugin) -> None:
    from components.argument_rules import require_component_name

    name = "a" * 41
    with pytest.raises(InvalidArgumentError) as python:
        require_component_name(name, StreamingBackendArgs())
    with pytest.raises(grpc.RpcError) as failure:
        construct(plugin, {}, name=name)
    assert failure.value.details() == str(python.value)


def test_construct_warns_the_engine_when_nothing_writes_the_helper_metrics(
    plugin: RunningPlugin,
) -> None:
    plugin.engine.logs.clear()
    construct(plugin, {})
    namespace = f"Lexstream/{COMPONENT_NAME}"
    assert any(f"LEXSTREAM_METRICS_NAMESPACE={namespace}" in log for log in plugin.engine.logs)
    plugin.engine.logs.clear()
    construct(plugin, {"exampleFulfillment": {}})
    assert not any("LEXSTREAM_METRICS_NAMESPACE" in log for log in plugin.engine.logs)
