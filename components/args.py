"""The typed, validated arguments of the StreamingBackend component.

A program that embeds the component passes these directly; the stack program builds them
from config (see `stack_config`), and the provider from another language's inputs. Either
way every rule is checked here, once, and a bad value fails with an `InvalidArgumentError`
that names the argument, the value and what is allowed. Each argument's annotation is its
declared type: `argument_rules.check_declared_types` holds every value to it (and numbers
to their range) before the rules below read it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Annotated, Any

import pulumi
from lexstream_runtime import contract

from .argument_rules import (
    BOT_ALIAS_ARN_PATTERN,
    CERTIFICATE_ARN_PATTERN,
    CLOUDWATCH_RETENTION_DAYS,
    DOMAIN_NAME_PATTERN,
    HOSTED_ZONE_ID_PATTERN,
    INT32_MAX,
    MAX_SYSTEM_PROMPT_BYTES,
    MODEL_ID_PATTERN,
    ROLE_NAME_PATTERN,
    SNS_TOPIC_ARN_PATTERN,
    STAGE_NAME_PATTERN,
    Choices,
    InvalidArgumentError,
    check_declared_types,
)

# Log retention in days: an integer argument that takes only CloudWatch's values.
RetentionDays = Annotated[
    int, Choices(CLOUDWATCH_RETENTION_DAYS, "periods CloudWatch Logs accepts")
]

# The parts a transform can adjust (see `ResourceDraft`).
TRANSFORM_TARGETS = (
    "connection_table",
    "quota_table",
    "function",
    "function_role",
    "function_policy",
    "function_log_group",
    "api",
    "integration",
    "route",
    "permission",
    "deployment",
    "stage",
    "access_log_group",
    "usage_plan",
    "api_key",
    "fulfillment_policy",
    "web_ui_policy",
    "helper_layer",
    "node_helper_layer",
    "api_gateway_account",
    "dashboard",
    "alarm",
    "domain_name",
    "api_mapping",
    "dns_record",
)


@dataclass
class ResourceDraft:
    """One child resource just before it is created, as a transform sees it.

    A transform may change `args` (the resource's keyword arguments, e.g. `memory_size`)
    and `opts` in place; renaming via `name` changes the logical name, hence the URN.
    `resource_type` tells parts with several kinds of child apart (e.g. `function_policy`
    covers the inline policy and the managed-policy attachments).
    """

    name: str
    resource_type: type
    args: dict[str, Any]
    opts: pulumi.ResourceOptions


Transform = Callable[[ResourceDraft], None]


@dataclass(frozen=True)
class ExampleFulfillmentArgs:
    """The optional Bedrock example fulfillment function."""

    model_id: str = "amazon.nova-lite-v1:0"
    """Bedrock model id, or a cross-Region inference profile id (`us.`, `us-gov.`, `eu.`,
    `apac.`, `jp.`, `au.`, `ca.` or `global.` prefix). Default `amazon.nova-lite-v1:0`."""

    system_prompt: str = "You are a helpful assistant. Answer briefly and plainly."
    """System prompt sent with every turn; at most 3 KB (Lambda's 4 KB environment cap)."""

    max_tokens: int = 1024
    """Upper bound on the answer's length in tokens. Default 1024."""

    bot_alias_arn: str | None = None
    """Lex V2 bot alias ARN allowed to invoke the function, e.g.
    `arn:aws:lex:us-east-1:123456789012:bot-alias/ABCDEFGHIJ/TSTALIASID`. Default: none
    (grant the permission yourself)."""

    def __post_init__(self) -> None:
        prefix = "example_fulfillment."
        check_declared_types(self, prefix)
        if not isinstance(self.model_id, str) or not MODEL_ID_PATTERN.fullmatch(self.model_id):
            raise InvalidArgumentError(
                prefix + "model_id",
                "must be a Bedrock model id such as amazon.nova-lite-v1:0 or an inference "
                f"profile id such as us.amazon.nova-lite-v1:0 (got {self.model_id!r})",
            )
        prompt = self.system_prompt
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidArgumentError(prefix + "system_prompt", "must be non-empty text")
        if len(prompt.encode()) > MAX_SYSTEM_PROMPT_BYTES:
            raise InvalidArgumentError(
                prefix + "system_prompt",
                f"must be at most {MAX_SYSTEM_PROMPT_BYTES} bytes, because Lambda limits a "
                f"function's environment to 4 KB (got {len(prompt.encode())} bytes)",
            )
        _require_positive_int(prefix + "max_tokens", self.max_tokens)
        arn = self.bot_alias_arn
        if arn is not None and not (isinstance(arn, str) and BOT_ALIAS_ARN_PATTERN.fullmatch(arn)):
            raise InvalidArgumentError(
                prefix + "bot_alias_arn",
                "must be a Lex V2 bot alias ARN like arn:aws:lex:us-east-1:123456789012:"
                f"bot-alias/BOTID12345/TSTALIASID, or None (got {arn!r})",
            )


@dataclass(frozen=True)
class StreamingBackendArgs:
    """Everything a StreamingBackend can be told. Every argument has a working default."""

    auth_mode: str = contract.AUTH_IAM
    """How `$connect` is authorized: `iam` (AWS_IAM; current Lex Web UI releases presign
    the URL with their Cognito credentials) or `none` (older, unsigned clients).
    Default `iam`."""

    stage_name: str = "Prod"
    """API Gateway stage; it is part of both URLs. Default `Prod`, as the Lex Web UI's
    own templates use."""

    throttle_burst_limit: int = 100
    """Stage-wide burst (token bucket size) for every route. Default 100."""

    throttle_rate_limit: float = 50
    """Stage-wide steady requests per second for every route. Default 50."""

    quota_limit: int = 1000
    """Requests (connects plus client messages) admitted per quota period. Default 1000."""

    quota_period: str = "DAY"
    """Quota period: `DAY`, `WEEK` or `MONTH`. Default `DAY`."""

    quota_per_identity_limit: int = 50
    """Connects one Cognito identity may make per quota period (`iam` auth only), counted
    before the shared quota, so that one identity cannot spend all of it. Default 50."""

    quota_per_source_limit: int = 100
    """Connects one source address may make per quota period (both auth modes; an IPv6
    address counts per /64), counted before the identity's and the shared quota, so that
    identities minted from one machine cannot spend all of it. Users behind one NAT share
    it: raise it for an office that loads the page more often. Default 100."""

    quota_burst_limit: int = 20
    """Usage plan burst; at most the stage burst. Default 20."""

    quota_rate_limit: float = 10
    """Usage plan requests per second; at most the stage rate. Default 10."""

    log_retention_days: RetentionDays = 30
    """Retention of every log group (functions and access logs); a value CloudWatch
    accepts, e.g. 7, 30, 365. Default 30."""

    point_in_time_recovery: bool = False
    """Point-in-time recovery on both tables. Default off."""

    deletion_protection: bool = False
    """Deletion protection on both tables. Default off."""

    web_ui_role_names: Sequence[str] = ()
    """IAM role names (the Lex Web UI's Cognito identity-pool roles) that may open the
    socket; granted `execute-api:Invoke` on exactly this API's `{stage}/$connect`. Only
    with `auth_mode="iam"`. Default none."""

    fulfillment_role_names: Sequence[str] = ()
    """IAM role names of bot fulfillment functions to attach the fulfillment policy to.
    Default none (attach `fulfillment_policy_arn` yourself)."""

    example_fulfillment: ExampleFulfillmentArgs | None = None
    """Deploy the Bedrock example fulfillment function. Default: not deployed."""

    manage_api_gateway_account: bool = False
    """Also set the region's account-level API Gateway CloudWatch role, which access logs
    need. It is one setting per account and region, shared by every stack there, so it is
    off by default and, when on, is never reset on destroy. Default off."""

    dashboard: bool = True
    """One CloudWatch dashboard for the stack: the API's, the functions' and the tables'
    metrics and the streaming metrics the functions emit. Default on."""

    alarms: bool = True
    """CloudWatch alarms on route function errors, API execution errors, table throttling,
    quota use at 80% and the helper's post-failure rate. Default on."""

    alarm_topic_arn: str | None = None
    """ARN of an SNS topic in the stack's region that every alarm notifies on alarm and on
    recovery, e.g. `arn:aws:sns:us-east-1:123456789012:ops-alerts`. Default none (the
    alarms only change state)."""

    custom_domain_name: str | None = None
    """A domain name for the socket, e.g. `chat.example.com`: `websocket_url` becomes
    `wss://chat.example.com` (the stage is mapped at the root). Needs
    `custom_domain_certificate_arn`. Default none."""

    custom_domain_certificate_arn: str | None = None
    """ARN of the ACM certificate for `custom_domain_name`, in the stack's account and
    region. Default none."""

    custom_domain_hosted_zone_id: str | None = None
    """Route 53 hosted zone id (e.g. `Z0123456789ABCDEFGHIJ`) in which to create the alias
    records (A and AAAA) of `custom_domain_name`. Default none (create the DNS record
    yourself)."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags added to every taggable child, after the component's own. Default none."""

    transforms: Mapping[str, Transform] = field(default_factory=dict)
    """Per-part hooks to adjust a child before it is created, keyed by part name (see
    `TRANSFORM_TARGETS`), e.g. `{"function": lambda d: d.args.update(memory_size=512)}`.
    Default none."""

    def __post_init__(self) -> None:
        check_declared_types(self)
        # Sequences and mappings are frozen into tuples and dicts of their own so that a
        # caller mutating its list afterwards cannot bypass validation.
        object.__setattr__(self, "web_ui_role_names", tuple(self.web_ui_role_names))
        object.__setattr__(self, "fulfillment_role_names", tuple(self.fulfillment_role_names))
        object.__setattr__(self, "tags", dict(self.tags))
        object.__setattr__(self, "transforms", dict(self.transforms))
        self._validate()

    def _validate(self) -> None:
        _require_choice("auth_mode", self.auth_mode, contract.AUTH_MODES)
        if not isinstance(self.stage_name, str) or not STAGE_NAME_PATTERN.fullmatch(
            self.stage_name
        ):
            raise InvalidArgumentError(
                "stage_name",
                f"must be 1-128 letters, digits, hyphens or underscores (got {self.stage_name!r})",
            )
        _require_throttle("throttle_burst_limit", "throttle_rate_limit", self)
        _require_positive_int("quota_limit", self.quota_limit)
        _require_choice("quota_period", self.quota_period, contract.QUOTA_PERIODS)
        _require_positive_int("quota_per_identity_limit", self.quota_per_identity_limit)
        _require_positive_int("quota_per_source_limit", self.quota_per_source_limit)
        _require_throttle("quota_burst_limit", "quota_rate_limit", self)
        # All traffic passes the stage first, so a per-client limit above the stage's could
        # never take effect: that is a misconfiguration, not a harmless surplus.
        for quota, stage in (
            ("quota_burst_limit", "throttle_burst_limit"),
            ("quota_rate_limit", "throttle_rate_limit"),
        ):
            if getattr(self, quota) > getattr(self, stage):
                raise InvalidArgumentError(
                    quota,
                    f"must not exceed {{{stage}}} ({getattr(self, stage)}), got "
                    f"{getattr(self, quota)}: every request passes the stage limit first",
                    related=[stage],
                )
        _require_role_names("web_ui_role_names", self.web_ui_role_names)
        _require_role_names("fulfillment_role_names", self.fulfillment_role_names)
        if self.web_ui_role_names and self.auth_mode != contract.AUTH_IAM:
            raise InvalidArgumentError(
                "web_ui_role_names",
                f"only applies with {{auth_mode}} {contract.AUTH_IAM!r}; with "
                f"{self.auth_mode!r} nobody signs the connect request, so leave it empty",
                related=["auth_mode"],
            )
        self._validate_monitoring()
        self._validate_custom_domain()
        _require_tags(self.tags)
        for part, transform in self.transforms.items():
            if part not in TRANSFORM_TARGETS:
                raise InvalidArgumentError(
                    "transforms",
                    f"has an unknown part {part!r}; valid parts: {', '.join(TRANSFORM_TARGETS)}",
                )
            if not callable(transform):
                raise InvalidArgumentError(f"transforms[{part!r}]", "must be callable")

    def _validate_monitoring(self) -> None:
        _require_optional_match(
            "alarm_topic_arn",
            self.alarm_topic_arn,
            SNS_TOPIC_ARN_PATTERN,
            "an SNS topic ARN like arn:aws:sns:us-east-1:123456789012:ops-alerts",
        )
        if self.alarm_topic_arn is not None and not self.alarms:
            raise InvalidArgumentError(
                "alarm_topic_arn",
                "only applies with {alarms} on; with alarms off nothing would notify it",
                related=["alarms"],
            )

    def _validate_custom_domain(self) -> None:
        name = self.custom_domain_name
        certificate = self.custom_domain_certificate_arn
        zone = self.custom_domain_hosted_zone_id
        _require_optional_match(
            "custom_domain_name",
            name,
            DOMAIN_NAME_PATTERN,
            "a lower-case domain name such as chat.example.com (letters, digits, hyphens; "
            "no wildcard, no scheme, no path)",
        )
        _require_optional_match(
            "custom_domain_certificate_arn",
            certificate,
            CERTIFICATE_ARN_PATTERN,
            "an ACM certificate ARN like arn:aws:acm:us-east-1:123456789012:certificate/<uuid>",
        )
        _require_optional_match(
            "custom_domain_hosted_zone_id",
            zone,
            HOSTED_ZONE_ID_PATTERN,
            "a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ (upper-case letters and "
            "digits, without /hostedzone/)",
        )
        if name is not None and certificate is None:
            raise InvalidArgumentError(
                "custom_domain_certificate_arn",
                "must be set when {custom_domain_name} is: API Gateway serves a custom domain "
                "only with its ACM certificate",
                related=["custom_domain_name"],
            )
        if certificate is not None and name is None:
            raise InvalidArgumentError(
                "custom_domain_name",
                "must be set when {custom_domain_certificate_arn} is: the certificate is only "
                "used for a custom domain",
                related=["custom_domain_certificate_arn"],
            )
        if zone is not None and name is None:
            raise InvalidArgumentError(
                "custom_domain_hosted_zone_id",
                "only applies with {custom_domain_name}: it holds that name's alias records",
                related=["custom_domain_name"],
            )

    def require_deployable_to(self, partition: str, region: str, account_id: str) -> None:
        """Check the arguments that name resources of a region against the stack's own
        partition, region and account (known only once the provider is asked)."""
        certificate = self.custom_domain_certificate_arn
        if certificate is not None:
            match = CERTIFICATE_ARN_PATTERN.fullmatch(certificate)
            assert match is not None  # checked on construction
            if match.groups() != (partition, region, account_id):
                raise InvalidArgumentError(
                    "custom_domain_certificate_arn",
                    f"must be an ACM certificate of this stack's account {account_id} in its "
                    f"region {region} (partition {partition}), because a regional API Gateway "
                    f"domain name uses only certificates from there (got {certificate!r})",
                )
        topic = self.alarm_topic_arn
        if topic is not None:
            match = SNS_TOPIC_ARN_PATTERN.fullmatch(topic)
            assert match is not None  # checked on construction
            if match.groups()[:2] != (partition, region):
                raise InvalidArgumentError(
                    "alarm_topic_arn",
                    f"must be an SNS topic in this stack's region {region} (partition "
                    f"{partition}), because CloudWatch alarms notify only topics in their own "
                    f"region (got {topic!r})",
                )

    @classmethod
    def argument_names(cls) -> tuple[str, ...]:
        """The names of all arguments, in declaration order."""
        return tuple(f.name for f in fields(cls))


def _require_positive_int(argument: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT32_MAX:
        raise InvalidArgumentError(
            argument,
            f"must be a whole number of at least 1 and at most {INT32_MAX} (got {value!r})",
        )


def _require_choice(argument: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidArgumentError(argument, f"must be one of {', '.join(allowed)} (got {value!r})")


def _require_throttle(burst_argument: str, rate_argument: str, arguments: Any) -> None:
    """The pair's own rule; each value's type and range are already checked."""
    burst = getattr(arguments, burst_argument)
    rate = getattr(arguments, rate_argument)
    # API Gateway throttles with a token bucket: `burst` is its size and `rate` its refill
    # per second. A bucket smaller than one second of refill means the configured rate can
    # never be reached by a client that sends in bursts, so the pair contradicts itself.
    if burst < rate:
        raise InvalidArgumentError(
            burst_argument,
            f"must be at least {{{rate_argument}}} ({rate}), got {burst}: the burst is the "
            "token bucket that the rate refills",
            related=[rate_argument],
        )


def _require_optional_match(
    argument: str, value: object, pattern: re.Pattern[str], expected: str
) -> None:
    if value is not None and not (isinstance(value, str) and pattern.fullmatch(value)):
        raise InvalidArgumentError(argument, f"must be {expected}, or None (got {value!r})")


def _require_role_names(argument: str, names: Sequence[str]) -> None:
    for name in names:
        if not isinstance(name, str) or not ROLE_NAME_PATTERN.fullmatch(name):
            raise InvalidArgumentError(
                argument,
                "must list IAM role names (not ARNs): 1-64 letters, digits or +=,.@_- "
                f"(got {name!r})",
            )
    if len(set(names)) != len(names):
        raise InvalidArgumentError(argument, f"lists a role twice: {list(names)}")


def _require_tags(tags: Mapping[str, str]) -> None:
    # AWS tag limits: keys up to 128 characters, values up to 256, `aws:` is reserved.
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            raise InvalidArgumentError(
                "tags", f"has an invalid key {key!r}: 1-128 characters, not starting with aws:"
            )
        if len(value) > 256:
            raise InvalidArgumentError(
                "tags", f"has an invalid value for {key!r}: text of at most 256 characters"
            )
