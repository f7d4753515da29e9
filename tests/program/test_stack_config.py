"""Stack config: what Pulumi.yaml declares, how the stacks differ, and how bad values fail."""

from __future__ import annotations

import pytest
import yaml

from components import ExampleFulfillmentArgs, StackConfigError, StreamingBackendArgs
from components.stack_config import CONFIG_KEYS, stack_args_from_values

from .harness import (
    PROGRAM,
    PROJECT_FILE,
    StackProgramError,
    config_string,
    project_config_defaults,
    record_stack,
    run_program,
    stack_config,
)

DECLARED = yaml.safe_load(PROJECT_FILE.read_text())["config"]
PYTHON_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}


def test_pulumi_yaml_declares_exactly_the_keys_the_program_reads() -> None:
    assert set(DECLARED) == {entry.key for entry in CONFIG_KEYS}
    for entry in CONFIG_KEYS:
        declaration = DECLARED[entry.key]
        assert declaration["type"] == entry.type, entry.key
        assert declaration["description"].strip(), entry.key
        assert isinstance(declaration["default"], PYTHON_TYPES[entry.type]), entry.key
        if entry.type == "array":
            assert declaration["items"] == {"type": "string"}


def test_pulumi_yaml_defaults_are_the_component_defaults() -> None:
    # Under the CLI the Pulumi.yaml defaults apply; an outside program gets the argument
    # defaults. They must be the same deployment.
    defaults = {
        key.split(":", 1)[1]: config_string(value)
        for key, value in project_config_defaults().items()
    }
    assert stack_args_from_values(defaults) == StreamingBackendArgs()
    with_example = stack_args_from_values({**defaults, "exampleFulfillment": "true"})
    assert with_example.example_fulfillment == ExampleFulfillmentArgs()


def test_production_is_stricter_than_development() -> None:
    dev, prod = stack_config("dev"), stack_config("prod")
    assert prod["lexstream:authMode"] == "iam"
    assert prod["lexstream:pointInTimeRecovery"] == "true"
    assert prod["lexstream:deletionProtection"] == "true"
    assert dev["lexstream:deletionProtection"] == "false"
    assert int(prod["lexstream:logRetentionDays"]) > int(dev["lexstream:logRetentionDays"])


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"authMode": "cognito"}, ["lexstream:authMode", "iam, none", "'cognito'"]),
        ({"quotaLimit": 0}, ["lexstream:quotaLimit", "at least 1"]),
        ({"quotaPeriod": "HOUR"}, ["lexstream:quotaPeriod", "DAY, WEEK, MONTH"]),
        (
            {"throttleBurstLimit": 10, "throttleRateLimit": 50},
            ["lexstream:throttleBurstLimit", "at least lexstream:throttleRateLimit (50)"],
        ),
        (
            {"quotaRateLimit": 80, "quotaBurstLimit": 90},
            ["lexstream:quotaRateLimit", "must not exceed lexstream:throttleRateLimit (50)"],
        ),
        ({"logRetentionDays": 10}, ["lexstream:logRetentionDays", "14", "3653", "(got 10)"]),
        ({"stageName": "my stage"}, ["lexstream:stageName", "letters, digits"]),
        ({"pointInTimeRecovery": "yes"}, ["lexstream:pointInTimeRecovery", "true or false"]),
        ({"quotaLimit": "lots"}, ["lexstream:quotaLimit", "whole number"]),
        (
            {"authMode": "none", "webUiRoleNames": ["WebUiRole"]},
            ["lexstream:webUiRoleNames", "only applies with lexstream:authMode 'iam'"],
        ),
        (
            {"fulfillmentRoleNames": ["arn:aws:iam::123456789012:role/Bot"]},
            ["lexstream:fulfillmentRoleNames", "role names (not ARNs)"],
        ),
        ({"exampleModelId": "Claude"}, ["lexstream:exampleModelId", "amazon.nova-lite-v1:0"]),
        ({"exampleSystemPrompt": "x" * 4000}, ["lexstream:exampleSystemPrompt", "4 KB"]),
        ({"exampleBotAliasArn": "MyBot"}, ["lexstream:exampleBotAliasArn", "bot-alias"]),
        ({"quotaLimt": 5}, ["lexstream:quotaLimt", "not a config key", "quotaLimit"]),
    ],
)
def test_invalid_config_fails_the_program_naming_the_key_and_what_is_allowed(
    overrides: dict[str, object], expected: list[str]
) -> None:
    # dev deploys the example, so its keys are checked too.
    with pytest.raises(StackProgramError) as failure:
        record_stack("dev", overrides)
    assert failure.value.error_type == "StackConfigError"
    for fragment in expected:
        assert fragment in str(failure.value)


def test_example_settings_are_ignored_while_the_example_is_off() -> None:
    args = stack_args_from_values({"exampleFulfillment": "false", "exampleModelId": "??"})
    assert args.example_fulfillment is None


def test_an_empty_alias_arn_means_no_bot_yet() -> None:
    args = stack_args_from_values({"exampleFulfillment": "true", "exampleBotAliasArn": ""})
    assert args.example_fulfillment is not None
    assert args.example_fulfillment.bot_alias_arn is None


def test_array_config_must_be_a_list_of_names() -> None:
    with pytest.raises(StackConfigError, match=r"lexstream:webUiRoleNames must be a list"):
        stack_args_from_values({"webUiRoleNames": '{"role": "x"}'})


@pytest.mark.parametrize(
    "entry", [e for e in CONFIG_KEYS if e.type == "integer"], ids=lambda e: e.key
)
def test_every_integer_key_is_refused_one_past_its_bound_naming_the_key(entry) -> None:
    values = {"exampleFulfillment": "true", entry.key: "2147483648"}
    if entry.key == "logRetentionDays":
        values[entry.key] = "3654"
    with pytest.raises(StackConfigError, match=rf"^lexstream:{entry.key} must be .*\(got "):
        stack_args_from_values(values)


def test_a_stack_name_too_long_for_aws_names_is_a_config_error_naming_the_stack() -> None:
    # dev deploys the example, whose role name leaves 31 characters for `lexstream-<stack>`.
    stack = "customer-support-eu"  # 19 + 10: fits
    assert run_program(PROGRAM, stack, stack_config("dev")).exports["websocket_url"]
    with pytest.raises(StackProgramError) as failure:
        run_program(PROGRAM, stack + "-west", stack_config("dev"))
    assert failure.value.error_type == "StackConfigError"
    assert str(failure.value).startswith(f"the stack name '{stack}-west' is too long: ")
    assert "at most 31 characters" in str(failure.value)


OTHER_REGION_CERTIFICATE = (
    "arn:aws:acm:us-east-1:123456789012:certificate/0b5e2f7c-3d41-4a8e-9c6b-2f1d8e7a5c30"
)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"customDomainCertificateArn": ""},
            ["lexstream:customDomainCertificateArn", "must be set when lexstream:customDomainName"],
        ),
        (
            {"customDomainName": ""},
            ["lexstream:customDomainName", "must be set when lexstream:customDomainCertificateArn"],
        ),
        (
            {"customDomainName": "", "customDomainCertificateArn": ""},
            ["lexstream:customDomainHostedZoneId", "only applies with lexstream:customDomainName"],
        ),
        (
            {"customDomainCertificateArn": OTHER_REGION_CERTIFICATE},
            ["lexstream:customDomainCertificateArn", "in its region eu-west-1", "us-east-1"],
        ),
        (
            {
                "customDomainCertificateArn": OTHER_REGION_CERTIFICATE.replace(
                    "123456789012", "210987654321"
                ).replace("us-east-1", "eu-west-1")
            },
            ["lexstream:customDomainCertificateArn", "account 123456789012"],
        ),
        (
            {
                "aws:region": "cn-north-1",
                "alarmTopicArn": "",
                "customDomainCertificateArn": OTHER_REGION_CERTIFICATE.replace(
                    "us-east-1", "cn-north-1"
                ),
            },
            ["lexstream:customDomainCertificateArn", "(partition aws-cn)"],
        ),
        (
            {"customDomainCertificateArn": "arn:aws:iam::123456789012:server-certificate/chat"},
            ["lexstream:customDomainCertificateArn", "must be an ACM certificate ARN"],
        ),
        (
            {"customDomainName": "https://chat.example.com"},
            ["lexstream:customDomainName", "lower-case domain name"],
        ),
        ({"customDomainName": "Chat.Example.com"}, ["lexstream:customDomainName", "lower-case"]),
        ({"customDomainName": "*.example.com"}, ["lexstream:customDomainName", "no wildcard"]),
        ({"customDomainName": "localhost"}, ["lexstream:customDomainName", "chat.example.com"]),
        (
            {"customDomainHostedZoneId": "/hostedzone/Z0123456789"},
            ["lexstream:customDomainHostedZoneId", "without /hostedzone/"],
        ),
        (
            {"alarmTopicArn": "arn:aws:sns:us-east-1:123456789012:ops-alerts"},
            ["lexstream:alarmTopicArn", "region eu-west-1", "us-east-1"],
        ),
        (
            {"alarmTopicArn": "arn:aws:sqs:eu-west-1:123456789012:ops-alerts"},
            ["lexstream:alarmTopicArn", "must be an SNS topic ARN"],
        ),
        ({"alarms": False}, ["lexstream:alarmTopicArn", "only applies with lexstream:alarms on"]),
        ({"dashboard": "yes"}, ["lexstream:dashboard", "true or false"]),
    ],
)
def test_bad_monitoring_and_domain_config_fails_naming_the_keys(
    overrides: dict[str, object], expected: list[str]
) -> None:
    # staging sets a topic, a domain, its certificate and a zone, in eu-west-1.
    with pytest.raises(StackProgramError) as failure:
        record_stack("staging", overrides)
    assert failure.value.error_type == "StackConfigError"
    for fragment in expected:
        assert fragment in str(failure.value)


def test_a_topic_in_another_account_of_the_region_is_accepted() -> None:
    topic = "arn:aws:sns:eu-west-1:210987654321:central-alerts"
    record = record_stack("staging", {"alarmTopicArn": topic})
    alarms = record.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarms and all(a.inputs["alarmActions"] == [topic] for a in alarms)


def test_staging_sets_every_monitoring_and_domain_key() -> None:
    config = stack_config("staging")
    for key in ("customDomainName", "customDomainCertificateArn", "customDomainHostedZoneId"):
        assert config[f"lexstream:{key}"], key
    assert config["lexstream:alarmTopicArn"].startswith("arn:aws:sns:eu-west-1:")
    assert config["lexstream:alarms"] == config["lexstream:dashboard"] == "true"
    assert config["lexstream:authMode"] == "iam"
