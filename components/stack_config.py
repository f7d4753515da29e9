"""Stack config → StreamingBackendArgs, in one place.

The keys, their types and defaults are declared in Pulumi.yaml (the CLI applies the
defaults); this module parses the values the CLI hands over and lets the arguments check
them, so a config error and an argument error come from the same rules. Errors name the
config key, e.g. `lexstream:quotaLimit`, and what it accepts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.runtime
import pulumi.runtime.config

from .args import ExampleFulfillmentArgs, InvalidArgumentError, StreamingBackendArgs

PROJECT_NAMESPACE = "lexstream"
EXAMPLE_PREFIX = "example_fulfillment."


@dataclass(frozen=True)
class ConfigKey:
    """One declared config key, the argument it sets, and its Pulumi.yaml type."""

    key: str
    argument: str
    type: str  # string | integer | boolean | array, as Pulumi.yaml declares it
    # An empty value means "not set": the argument keeps its default, None. Pulumi.yaml
    # declares such keys with the default "" (a stack file cannot write null).
    optional: bool = False


CONFIG_KEYS = (
    ConfigKey("authMode", "auth_mode", "string"),
    ConfigKey("stageName", "stage_name", "string"),
    ConfigKey("throttleBurstLimit", "throttle_burst_limit", "integer"),
    ConfigKey("throttleRateLimit", "throttle_rate_limit", "integer"),
    ConfigKey("quotaLimit", "quota_limit", "integer"),
    ConfigKey("quotaPeriod", "quota_period", "string"),
    ConfigKey("quotaPerIdentityLimit", "quota_per_identity_limit", "integer"),
    ConfigKey("quotaPerSourceLimit", "quota_per_source_limit", "integer"),
    ConfigKey("quotaBurstLimit", "quota_burst_limit", "integer"),
    ConfigKey("quotaRateLimit", "quota_rate_limit", "integer"),
    ConfigKey("logRetentionDays", "log_retention_days", "integer"),
    ConfigKey("pointInTimeRecovery", "point_in_time_recovery", "boolean"),
    ConfigKey("deletionProtection", "deletion_protection", "boolean"),
    ConfigKey("webUiRoleNames", "web_ui_role_names", "array"),
    ConfigKey("fulfillmentRoleNames", "fulfillment_role_names", "array"),
    ConfigKey("manageApiGatewayAccount", "manage_api_gateway_account", "boolean"),
    ConfigKey("exampleFulfillment", "example_fulfillment", "boolean"),
    ConfigKey("exampleModelId", EXAMPLE_PREFIX + "model_id", "string"),
    ConfigKey("exampleSystemPrompt", EXAMPLE_PREFIX + "system_prompt", "string"),
    ConfigKey("exampleMaxTokens", EXAMPLE_PREFIX + "max_tokens", "integer"),
    ConfigKey("exampleBotAliasArn", EXAMPLE_PREFIX + "bot_alias_arn", "string", optional=True),
    ConfigKey("dashboard", "dashboard", "boolean"),
    ConfigKey("alarms", "alarms", "boolean"),
    ConfigKey("alarmTopicArn", "alarm_topic_arn", "string", optional=True),
    ConfigKey("customDomainName", "custom_domain_name", "string", optional=True),
    ConfigKey(
        "customDomainCertificateArn", "custom_domain_certificate_arn", "string", optional=True
    ),
    ConfigKey("customDomainHostedZoneId", "custom_domain_hosted_zone_id", "string", optional=True),
)


class StackConfigError(pulumi.RunError):
    """A stack config value is invalid; the message names the key and what is allowed.

    A RunError, so the CLI prints the message without a Python traceback.
    """


def read_stack_args(config: pulumi.Config | None = None) -> StreamingBackendArgs:
    """The StreamingBackend arguments for the current stack, from its config."""
    config = config if config is not None else pulumi.Config(PROJECT_NAMESPACE)
    known = {entry.key for entry in CONFIG_KEYS}
    # A misspelt key would otherwise be ignored in silence and its default deployed.
    for full_key in sorted(_configured_keys()):
        namespace, _, key = full_key.partition(":")
        if namespace == config.name and key not in known:
            raise StackConfigError(
                f"{full_key} is not a config key of this project; known keys: "
                + ", ".join(sorted(known))
            )
    return stack_args_from_values(
        {entry.key: config.get(entry.key) for entry in CONFIG_KEYS}, namespace=config.name
    )


def stack_args_from_values(
    values: Mapping[str, str | None], *, namespace: str = PROJECT_NAMESPACE
) -> StreamingBackendArgs:
    """Build the arguments from raw config strings (as the CLI passes them); a missing or
    None value keeps the argument's default, which equals the Pulumi.yaml default."""
    parsed: dict[str, Any] = {}
    for entry in CONFIG_KEYS:
        raw = values.get(entry.key)
        if entry.optional and raw is not None and not raw.strip():
            continue
        if raw is not None:
            parsed[entry.argument] = _parse(f"{namespace}:{entry.key}", entry.type, raw)
    try:
        example = _example_args(parsed)
        top_level = {k: v for k, v in parsed.items() if not k.startswith(EXAMPLE_PREFIX)}
        top_level["example_fulfillment"] = example
        return StreamingBackendArgs(**top_level)
    except InvalidArgumentError as error:
        raise config_error(error, namespace=namespace) from error


def config_error(
    error: InvalidArgumentError, *, namespace: str = PROJECT_NAMESPACE
) -> StackConfigError:
    """An argument error (on construction, or from a check against the stack's region) as
    the config error it is, naming every argument by its config key."""
    keys = {entry.argument: f"{namespace}:{entry.key}" for entry in CONFIG_KEYS}
    return StackConfigError(error.describe(lambda arg: keys.get(arg, arg)))


def _example_args(parsed: dict[str, Any]) -> ExampleFulfillmentArgs | None:
    if not parsed.get("example_fulfillment", False):
        return None
    example = {
        k.removeprefix(EXAMPLE_PREFIX): v for k, v in parsed.items() if k.startswith(EXAMPLE_PREFIX)
    }
    return ExampleFulfillmentArgs(**example)


def _parse(name: str, kind: str, raw: str) -> Any:
    text = raw.strip()
    if kind == "string":
        return raw
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise StackConfigError(f"{name} must be a whole number (got {raw!r})") from None
    if kind == "boolean":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise StackConfigError(f"{name} must be true or false (got {raw!r})")
    if kind == "array":
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise StackConfigError(
                f'{name} must be a list of strings, e.g. ["RoleA", "RoleB"] (got {raw!r})'
            )
        return value
    raise AssertionError(f"unknown config type {kind!r} for {name}")


def _configured_keys() -> set[str]:
    # The CLI hands config to the program through PULUMI_CONFIG; tests and the mocks set
    # it in the runtime's own map. Either may be empty.
    keys = set(pulumi.runtime.get_config_env())
    keys |= set(pulumi.runtime.config.CONFIG.get())
    return keys
