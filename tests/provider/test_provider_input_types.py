"""Through the provider, as TypeScript and YAML programs call it: every argument of the
schema given a value of every JSON kind its type does not take is refused as an invalid
input (no traceback) naming the property as those languages spell it and the value as
given; numbers out of range are refused the same way; `false`, `0`, `[]` and `{}` are
taken as given, not as "unset"; and the provider keeps serving after each refusal."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from components.argument_rules import Bounds, Choices
from provider.schema import property_name
from tests.program import views as v
from tests.program.argument_matrix import ROOMY, Mistake, mistakes, number_arguments
from tests.provider.fake_engine import RunningPlugin
from tests.provider.test_provider_construct import construct

# The marks with which the engine sends a resource output (rpc's output-value encoding)
# and a value not known yet at preview.
SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"
OUTPUT_VALUE_SIGNATURE = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

MISTAKES = list(mistakes())
NUMBERS = list(number_arguments())


def nested_inputs(path: str, value: Any) -> dict[str, Any]:
    """Construct inputs that set the argument at `path` (Python names) to `value`."""
    head, _, nested = path.partition(".")
    if nested:
        return {property_name(head): {property_name(nested): value}}
    return {property_name(head): value}


def refusal(plugin: RunningPlugin, inputs: dict[str, Any]) -> str:
    """The details of Construct's refusal, which must be an invalid-input error."""
    with pytest.raises(grpc.RpcError) as failure:
        construct(plugin, inputs)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT, failure.value.details()
    details = failure.value.details()
    assert "Traceback" not in details
    return details


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: f"{m.path}={m.value!r}")
def test_a_value_of_the_wrong_type_is_refused_by_its_property_name(
    plugin: RunningPlugin, mistake: Mistake
) -> None:
    details = refusal(plugin, nested_inputs(mistake.path, mistake.value))
    assert details.startswith(f"{property_name(mistake.path)} must be "), details
    # The value as the caller wrote it: a whole number is not reported as a float.
    assert details.endswith(f"(got {mistake.value!r})"), details
    assert not plugin.engine.registrations


def test_a_string_for_a_list_of_roles_attaches_nothing(plugin: RunningPlugin) -> None:
    details = refusal(plugin, {"webUiRoleNames": "Admin"})
    assert details == "webUiRoleNames must be a list of strings (got 'Admin')"


def test_tags_that_are_not_a_map_are_an_invalid_input_not_a_crash(
    plugin: RunningPlugin,
) -> None:
    for tags in ("team", ["a", "b"]):
        assert refusal(plugin, {"tags": tags}).startswith("tags must be a map of strings")


def test_a_whole_number_for_a_string_is_reported_as_written(plugin: RunningPlugin) -> None:
    assert refusal(plugin, {"stageName": 7}) == "stageName must be a string (got 7)"


@pytest.mark.parametrize("path", ["quota_limit", "example_fulfillment.max_tokens"])
def test_a_fraction_for_a_whole_number_is_refused_not_truncated(
    plugin: RunningPlugin, path: str
) -> None:
    details = refusal(plugin, nested_inputs(path, 12.5))
    assert details.startswith(f"{property_name(path)} must be a whole number")
    assert details.endswith("(got 12.5)")


@pytest.mark.parametrize(("path", "bounds"), NUMBERS, ids=[path for path, _ in NUMBERS])
def test_every_number_is_refused_one_past_its_bound(
    plugin: RunningPlugin, path: str, bounds: Bounds | Choices
) -> None:
    largest = max(bounds.values) if isinstance(bounds, Choices) else bounds.maximum
    roomy = {property_name(name): value for name, value in ROOMY.items()}
    details = refusal(plugin, {**roomy, **nested_inputs(path, largest + 1)})
    assert details.startswith(f"{property_name(path)} must be "), details
    assert details.endswith(f"(got {largest + 1!r})")


def output_value(value: Any) -> dict[str, Any]:
    return {
        SIGNATURE_KEY: OUTPUT_VALUE_SIGNATURE,
        "value": value,
        "dependencies": ["urn:pulumi:dev::lexstream::aws:lex/v2modelsBot:V2modelsBot::bot"],
    }


def test_a_resource_output_inside_the_example_settings_is_named_by_its_nested_key(
    plugin: RunningPlugin,
) -> None:
    details = refusal(
        plugin, {"exampleFulfillment": {"botAliasArn": output_value("arn:aws:lex:…")}}
    )
    assert details.startswith("exampleFulfillment.botAliasArn must be a plain value")


def test_an_unknown_value_is_refused_as_the_output_it_stands_for(plugin: RunningPlugin) -> None:
    details = refusal(plugin, {"exampleFulfillment": {"modelId": UNKNOWN}})
    assert details.startswith("exampleFulfillment.modelId must be a plain value")


def test_zero_reaches_the_check_instead_of_meaning_unset(plugin: RunningPlugin) -> None:
    details = refusal(plugin, {"quotaLimit": 0})
    assert details.startswith("quotaLimit must be a whole number of at least 1")
    assert details.endswith("(got 0)")


def test_dashboard_false_and_alarms_false_turn_both_off(plugin: RunningPlugin) -> None:
    response = construct(plugin, {"dashboard": False, "alarms": False})
    types = {r.type_ for r in plugin.engine.registrations}
    assert v.FUNCTION in types  # the component was built
    assert "aws:cloudwatch/dashboard:Dashboard" not in types
    assert "aws:cloudwatch/metricAlarm:MetricAlarm" not in types
    assert "dashboardUrl" not in json_format.MessageToDict(response.state)


def test_an_empty_example_object_deploys_the_example_with_its_defaults(
    plugin: RunningPlugin,
) -> None:
    # `[]` for a list and `{}` for tags equal those arguments' defaults, so only an empty
    # object for the optional example settings can show that empty is not "unset".
    construct(plugin, {"exampleFulfillment": {}, "webUiRoleNames": [], "tags": {}})
    functions = [r for r in plugin.engine.registrations if r.name.endswith("bedrock-fulfillment")]
    assert len(functions) == 1
    assert "amazon.nova-lite-v1:0" in functions[0].inputs["environment"]["variables"].values()


def test_the_provider_keeps_serving_after_refusals(plugin: RunningPlugin) -> None:
    refusal(plugin, {"tags": ["a", "b"]})
    refusal(plugin, {"webUiRoleNames": {"Admin": "x"}})
    construct(plugin, {})
    assert any(r.type_ == v.FUNCTION for r in plugin.engine.registrations)


def test_a_whole_number_is_reported_as_written_up_to_2_to_the_53_and_as_it_arrived_above(
    plugin: RunningPlugin,
) -> None:
    # Every number crosses the wire as a float, which holds every whole number up to 2**53
    # exactly; above, it no longer tells which whole number the caller wrote.
    largest_exact = 2**53
    details = refusal(plugin, {"quotaLimit": float(largest_exact)})
    assert details.startswith("quotaLimit must be "), details
    assert details.endswith(f"(got {largest_exact})"), details
    inexact = float(largest_exact + 2)
    details = refusal(plugin, {"quotaLimit": inexact})
    assert details.startswith("quotaLimit must be "), details
    assert details.endswith(f"(got {inexact!r})"), details
