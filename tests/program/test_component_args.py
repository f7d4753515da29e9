"""StreamingBackendArgs as an outside program uses them: validated, with errors that name
the argument, and transforms and tags that reach the children."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from components import (
    CLOUDWATCH_RETENTION_DAYS,
    ExampleFulfillmentArgs,
    InvalidArgumentError,
    StreamingBackendArgs,
)

from . import views as v
from .harness import StackProgramError, run_program, stack_config


def test_defaults_are_a_valid_deployment() -> None:
    args = StreamingBackendArgs()
    assert args.auth_mode == "iam"
    assert args.quota_limit == 1000
    assert args.quota_period == "DAY"
    assert args.log_retention_days in CLOUDWATCH_RETENTION_DAYS


CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0b5e2f7c-3d41-4a8e-9c6b-2f1d8e7a5c30"


@pytest.mark.parametrize(
    ("kwargs", "argument", "fragment"),
    [
        ({"auth_mode": "IAM"}, "auth_mode", "iam, none"),
        ({"stage_name": ""}, "stage_name", "1-128"),
        ({"throttle_burst_limit": 0}, "throttle_burst_limit", "at least 1"),
        ({"throttle_rate_limit": float("nan")}, "throttle_rate_limit", "above 0"),
        ({"throttle_rate_limit": True}, "throttle_rate_limit", "above 0"),
        ({"quota_limit": 10.5}, "quota_limit", "whole number"),
        ({"quota_limit": -1}, "quota_limit", "at least 1"),
        ({"quota_period": "day"}, "quota_period", "DAY, WEEK, MONTH"),
        ({"quota_burst_limit": 5, "quota_rate_limit": 6}, "quota_burst_limit", "quota_rate_limit"),
        ({"quota_burst_limit": 101}, "quota_burst_limit", "throttle_burst_limit (100)"),
        ({"log_retention_days": 0}, "log_retention_days", "CloudWatch Logs accepts"),
        ({"deletion_protection": "yes"}, "deletion_protection", "true or false"),
        ({"web_ui_role_names": ["A", "A"]}, "web_ui_role_names", "twice"),
        ({"fulfillment_role_names": ["has space"]}, "fulfillment_role_names", "IAM role names"),
        ({"tags": {"aws:owner": "me"}}, "tags", "aws:"),
        ({"transforms": {"lambda": print}}, "transforms", "valid parts: connection_table"),
        ({"transforms": {"function": "bigger"}}, "transforms['function']", "callable"),
        ({"example_fulfillment": {"model_id": "x"}}, "example_fulfillment", "ExampleFulfillment"),
        (
            {"custom_domain_name": "chat.example.com"},
            "custom_domain_certificate_arn",
            "must be set when custom_domain_name",
        ),
        ({"custom_domain_certificate_arn": CERTIFICATE}, "custom_domain_name", "must be set when"),
        (
            {"custom_domain_hosted_zone_id": "Z0123456789"},
            "custom_domain_hosted_zone_id",
            "only applies with custom_domain_name",
        ),
        (
            {"custom_domain_name": "", "custom_domain_certificate_arn": CERTIFICATE},
            "custom_domain_name",
            "lower-case",
        ),
        (
            {"alarm_topic_arn": "arn:aws:sns:eu-west-1:123456789012:t", "alarms": False},
            "alarm_topic_arn",
            "only applies with alarms on",
        ),
        ({"dashboard": 1}, "dashboard", "true or false"),
    ],
)
def test_invalid_arguments_are_refused_by_name(
    kwargs: dict[str, object], argument: str, fragment: str
) -> None:
    with pytest.raises(InvalidArgumentError) as failure:
        StreamingBackendArgs(**kwargs)  # type: ignore[arg-type]
    assert failure.value.argument == argument
    assert str(failure.value).startswith(argument + " ")
    assert fragment in str(failure.value)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"model_id": "arn:aws:bedrock:us-east-1::foundation-model/x"}, "model_id"),
        ({"system_prompt": "  "}, "system_prompt"),
        ({"system_prompt": "é" * 1600}, "system_prompt"),  # 3200 bytes in UTF-8
        ({"max_tokens": 0}, "max_tokens"),
        ({"bot_alias_arn": "arn:aws:lex:us-east-1:123456789012:bot/ABC"}, "bot_alias_arn"),
    ],
)
def test_invalid_example_arguments_are_refused_by_name(
    kwargs: dict[str, object], argument: str
) -> None:
    with pytest.raises(InvalidArgumentError) as failure:
        ExampleFulfillmentArgs(**kwargs)  # type: ignore[arg-type]
    assert failure.value.argument == "example_fulfillment." + argument


def test_later_changes_to_a_callers_list_do_not_reach_validated_args() -> None:
    roles = ["WebUiRole"]
    args = StreamingBackendArgs(web_ui_role_names=roles)
    roles.append("not a valid role name")
    assert args.web_ui_role_names == ("WebUiRole",)


OUTSIDE_PROGRAM = """
    import pulumi
    from components import StreamingBackend, StreamingBackendArgs

    def bigger_functions(draft):
        draft.args["memory_size"] = 512

    def named_table(draft):
        draft.args["name"] = "chat-connections"

    backend = StreamingBackend(
        "chat",
        StreamingBackendArgs(
            auth_mode="none",
            tags={"team": "bots"},
            transforms={"function": bigger_functions, "connection_table": named_table},
        ),
    )
    pulumi.export("table_name", backend.table_name)
"""


def test_transforms_and_tags_reach_the_children(tmp_path: Path) -> None:
    program = tmp_path / "outside.py"
    program.write_text(textwrap.dedent(OUTSIDE_PROGRAM))
    record = run_program(program, "dev", stack_config("dev"))
    assert {f.inputs["memorySize"] for f in record.of_type(v.FUNCTION)} == {512}
    assert record.exports["table_name"] == "chat-connections"
    assert v.table(record, "connections").inputs["name"] == "chat-connections"
    assert all(
        r.inputs["tags"] == {"lexstream:component": "chat", "team": "bots"}
        for r in record.of_type(v.TABLE) + record.of_type(v.FUNCTION)
    )


def test_a_bad_component_name_fails_before_anything_is_created(tmp_path: Path) -> None:
    program = tmp_path / "bad_name.py"
    program.write_text("from components import StreamingBackend\nStreamingBackend('chat.prod')\n")
    with pytest.raises(StackProgramError, match=r"^name must start with a letter"):
        run_program(program, "dev", stack_config("dev"))


@pytest.mark.parametrize(
    ("arguments", "maximum"),
    [
        ("", 40),
        ("example_fulfillment=ExampleFulfillmentArgs()", 31),
        ("example_fulfillment=ExampleFulfillmentArgs(), manage_api_gateway_account=True", 29),
    ],
)
def test_the_longest_accepted_name_fits_every_aws_name_limit(
    tmp_path: Path, arguments: str, maximum: int
) -> None:
    # The mocks refuse IAM role and Lambda function names beyond AWS's 64 characters, as the
    # provider's auto-naming would at preview; the name check must refuse them first.
    program = tmp_path / "longest_name.py"
    program.write_text(
        "from components import ExampleFulfillmentArgs, StreamingBackend, StreamingBackendArgs\n"
        f"StreamingBackend({'n' * maximum!r}, StreamingBackendArgs({arguments}))\n"
    )
    record = run_program(program, "dev", stack_config("dev"))
    assert max(len(r.outputs["name"]) for r in record.of_type(v.ROLE)) <= 64
    program.write_text(program.read_text().replace("n" * maximum, "n" * (maximum + 1)))
    with pytest.raises(StackProgramError, match=rf"^name must have at most {maximum} characters"):
        run_program(program, "dev", stack_config("dev"))


PROVIDER_PROGRAM = """
    import pulumi
    import pulumi_aws as aws
    from components import StreamingBackend, StreamingBackendArgs

    frankfurt = aws.Provider("frankfurt", region="eu-central-1")
    backend = StreamingBackend(
        "chat", StreamingBackendArgs(), pulumi.ResourceOptions(providers=[frankfurt])
    )
    pulumi.export("websocket_url", backend.websocket_url)
"""


def test_an_explicit_provider_decides_region_and_arns(tmp_path: Path) -> None:
    program = tmp_path / "frankfurt.py"
    program.write_text(textwrap.dedent(PROVIDER_PROGRAM))
    record = run_program(program, "dev", stack_config("dev"))  # the stack says us-east-1
    assert ".execute-api.eu-central-1.amazonaws.com/" in record.exports["websocket_url"]
    fulfillment = record.one(v.POLICY, "-fulfillment-policy")
    assert all(":eu-central-1:" in arn for _, arn in v.grants(fulfillment))


def test_the_certificate_and_topic_must_be_in_the_stacks_region() -> None:
    args = StreamingBackendArgs(
        custom_domain_name="chat.example.com",
        custom_domain_certificate_arn=CERTIFICATE,
        alarm_topic_arn="arn:aws:sns:eu-west-1:210987654321:central-alerts",
    )
    args.require_deployable_to("aws", "eu-west-1", "123456789012")
    with pytest.raises(InvalidArgumentError) as failure:
        args.require_deployable_to("aws", "eu-central-1", "123456789012")
    assert failure.value.argument == "custom_domain_certificate_arn"
    with pytest.raises(InvalidArgumentError) as failure:
        args.require_deployable_to("aws", "eu-west-1", "210987654321")
    assert failure.value.argument == "custom_domain_certificate_arn"
    topic_only = StreamingBackendArgs(alarm_topic_arn="arn:aws:sns:eu-west-1:123456789012:t")
    with pytest.raises(InvalidArgumentError) as failure:
        topic_only.require_deployable_to("aws", "us-east-1", "123456789012")
    assert failure.value.argument == "alarm_topic_arn"
