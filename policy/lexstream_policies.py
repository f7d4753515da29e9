"""The rules every lexstream stack must pass before it deploys.

Each policy is a plain function over a resource's properties, wrapped in a
`pulumi_policy` policy object, so the tests can call the same functions on resources
recorded from the real program under mocks, and `pulumi preview --policy-pack policy`
runs them against a real plan.

A stack is *production* when its name (taken from the resources' URNs) matches one of
the patterns in the pack's `productionStacks` config, by default `prod`, `prod-*`,
`production` and `production-*`.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

try:
    # The shared names, from the package that also ships in every Lambda archive: the
    # pack runs in the project's own environment (PulumiPolicy.yaml), where it is installed.
    from lexstream_runtime import contract
except ModuleNotFoundError as missing:  # pragma: no cover - a set-up error, said plainly
    raise SystemExit(
        "the lexstream policy pack runs in the project's .venv: run "
        "`uv sync --group policy` in the project folder first"
    ) from missing

PACK_NAME = "lexstream-guardrails"
DEFAULT_PRODUCTION_STACKS = ["prod", "prod-*", "production", "production-*"]

# Resource type tokens, as pulumi-aws declares them.
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
DYNAMODB_TABLE = "aws:dynamodb/table:Table"
WEBSOCKET_STAGE = "aws:apigatewayv2/stage:Stage"
WEBSOCKET_ROUTE = "aws:apigatewayv2/route:Route"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"
USAGE_PLAN_KEY = "aws:apigateway/usagePlanKey:UsagePlanKey"

# Actions that AWS authorizes only against Resource "*": they have no resource-level
# permissions, so a "*" there is required, not lax. (Service Authorization Reference.)
ACTIONS_WITHOUT_RESOURCE_SCOPE = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
        "cloudwatch:PutMetricData",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    }
)

# The functions that count requests against the quota: every connect and every client
# message that reaches a function.
QUOTA_COUNTING_HANDLERS = frozenset({contract.HANDLERS["connect"], contract.HANDLERS["default"]})

# ---------------------------------------------------------------------------------------
# IAM: no wildcard resource beyond what AWS requires
# ---------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | Mapping):
        return [value]
    return list(value)


def policy_documents(resource_type: str, props: Mapping[str, Any]) -> list[Any]:
    """The IAM policy documents (JSON text or dicts) a resource carries, trust policies aside."""
    if resource_type in (IAM_POLICY, IAM_ROLE_POLICY, IAM_USER_POLICY, IAM_GROUP_POLICY):
        return _as_list(props.get("policy"))
    if resource_type == IAM_ROLE:
        return [inline.get("policy") for inline in _as_list(props.get("inlinePolicies"))]
    return []


def statements(document: Any) -> list[Mapping[str, Any]]:
    """The statements of one policy document; raises ValueError when it is not a policy."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as error:
            raise ValueError(f"policy document is not JSON: {error}") from error
    if not isinstance(document, Mapping) or "Statement" not in document:
        raise ValueError("policy document has no Statement list")
    return _as_list(document["Statement"])


def needless_wildcard(resource: str, actions: Sequence[str]) -> str | None:
    """Why `resource` grants more than AWS requires for `actions`, or None when it is exact.

    Allowed: "*" for actions that have no resource-level permissions; a final `/*` or
    `:*` after a named resource (connection ids, log streams, index names are only known
    at run time); any region for Bedrock foundation models, because cross-region
    inference profiles route a request to any region of their geography.
    """
    if "*" not in resource and "?" not in resource:
        return None
    if resource == "*":
        unscoped = [action for action in actions if action not in ACTIONS_WITHOUT_RESOURCE_SCOPE]
        if unscoped:
            return f'Resource "*" for {", ".join(sorted(unscoped))}, which can be scoped to an ARN'
        return None
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return f"{resource!r} is a wildcard that is not an ARN"
    _, partition, service, region, account, name = parts
    for label, value in (("partition", partition), ("service", service), ("account", account)):
        if "*" in value or "?" in value:
            return f"{resource!r} has a wildcard {label}"
    if ("*" in region or "?" in region) and not (
        service == "bedrock" and name.startswith("foundation-model/")
    ):
        return f"{resource!r} has a wildcard region"
    if "*" not in name and "?" not in name:
        return None
    return _needless_name_wildcard(resource, service, name)


def _needless_name_wildcard(resource: str, service: str, name: str) -> str | None:
    if service == "execute-api":
        # {apiId}/{stage}/{route} or {apiId}/{stage}/{METHOD}/@connections/{id}: the API
        # and the stage are always known; only the connection id is not.
        segments = name.split("/")
        if any("*" in s or "?" in s for s in segments[:2]):
            return f"{resource!r} is not limited to one API and stage"
        tail = segments[2:]
        if tail[-2:] == ["@connections", "*"]:
            # Any method on @connections is still only POST, GET or DELETE of a connection.
            tail = [method for method in tail[:-2] if method != "*"]
        if any("*" in s or "?" in s for s in tail):
            return f"{resource!r} has a wildcard route or method"
        return None
    segments = [s for chunk in name.split("/") for s in chunk.split(":")]
    if any("*" in s or "?" in s for s in segments[:-1]) or len(segments) < 3:
        return f"{resource!r} is a wildcard over named resources"
    if segments[-1] != "*":
        return f"{resource!r} has a partial wildcard"
    return None


def iam_violations(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Every statement in the resource's policies that grants more than AWS requires."""
    problems: list[str] = []
    for document in policy_documents(resource_type, props):
        try:
            found = statements(document)
        except ValueError as error:
            problems.append(str(error))
            continue
        for index, statement in enumerate(found):
            if statement.get("Effect", "Allow") != "Allow":
                continue
            where = f"statement {statement.get('Sid') or index}"
            if "NotAction" in statement or "NotResource" in statement:
                problems.append(f"{where} uses NotAction/NotResource, which grants by exclusion")
                continue
            actions = [str(a) for a in _as_list(statement.get("Action"))]
            for action in actions:
                if action == "*" or action.endswith(":*"):
                    problems.append(f"{where} grants every action ({action!r})")
            for resource in _as_list(statement.get("Resource")):
                reason = needless_wildcard(str(resource), actions)
                if reason:
                    problems.append(f"{where}: {reason}")
    return problems


def _validate_iam(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for problem in iam_violations(args.resource_type, args.props):
        report_violation(problem, None)


# ---------------------------------------------------------------------------------------
# The connection and quota tables: encrypted, with TTL on
# ---------------------------------------------------------------------------------------


def table_violations(props: Mapping[str, Any]) -> list[str]:
    """Why a DynamoDB table is not encrypted with a KMS key or does not expire items."""
    problems = []
    encryption = props.get("serverSideEncryption") or {}
    if encryption.get("enabled") is not True:
        problems.append("serverSideEncryption.enabled must be true (encryption at rest with KMS)")
    ttl = props.get("ttl") or {}
    if ttl.get("enabled") is not True:
        problems.append("ttl.enabled must be true so abandoned rows expire")
    elif ttl.get("attributeName") != contract.TTL:
        problems.append(
            f"ttl.attributeName is {ttl.get('attributeName')!r}; the functions write "
            f"{contract.TTL!r}"
        )
    return problems


def _validate_table(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == DYNAMODB_TABLE:
        for problem in table_violations(args.props):
            report_violation(problem, None)


# ---------------------------------------------------------------------------------------
# The WebSocket stage: throttled, with access logs
# ---------------------------------------------------------------------------------------


def _positive_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def stage_violations(props: Mapping[str, Any]) -> list[str]:
    """Why a WebSocket stage is unthrottled or unlogged."""
    problems = []
    settings = props.get("defaultRouteSettings") or {}
    for key in ("throttlingBurstLimit", "throttlingRateLimit"):
        if not _positive_number(settings.get(key)):
            problems.append(
                f"defaultRouteSettings.{key} must be a positive number, got {settings.get(key)!r}"
            )
    logs = props.get("accessLogSettings") or {}
    if not logs.get("destinationArn"):
        problems.append("accessLogSettings.destinationArn must name a log group")
    log_format = logs.get("format")
    if not log_format:
        problems.append("accessLogSettings.format must be set")
    elif isinstance(log_format, str):
        try:
            json.loads(log_format)
        except json.JSONDecodeError:
            problems.append("accessLogSettings.format must be JSON, so the log is queryable")
    return problems


def _validate_stage(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == WEBSOCKET_STAGE:
        for problem in stage_violations(args.props):
            report_violation(problem, None)


# ---------------------------------------------------------------------------------------
# Log groups: retention set
# ---------------------------------------------------------------------------------------


def log_group_violations(props: Mapping[str, Any]) -> list[str]:
    """Why a log group keeps logs forever (0 or no retention means never expire)."""
    retention = props.get("retentionInDays")
    if not _positive_number(retention):
        return [f"retentionInDays must be a positive number of days, got {retention!r}"]
    return []


def _validate_log_group(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == LOG_GROUP:
        for problem in log_group_violations(args.props):
            report_violation(problem, None)


# ---------------------------------------------------------------------------------------
# Functions: the local stack's loopback switch never deployed
# ---------------------------------------------------------------------------------------


def loopback_switch_violation(props: Mapping[str, Any]) -> str | None:
    """Why a function's environment carries the local stack's loopback switch, or None."""
    variables = (props.get("environment") or {}).get("variables") or {}
    if contract.ENV_LOCAL_LOOPBACK_CALLBACKS not in variables:
        return None
    return (
        f"{contract.ENV_LOCAL_LOOPBACK_CALLBACKS} is set (to "
        f"{variables[contract.ENV_LOCAL_LOOPBACK_CALLBACKS]!r}); it is the local stack's "
        "switch that lets the streaming helper post a turn's signed requests to loopback, "
        "where Lambda's Runtime API listens: remove it from the function's environment"
    )


def _validate_loopback_switch(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type == LAMBDA_FUNCTION:
        problem = loopback_switch_violation(args.props)
        if problem:
            report_violation(problem, None)


# ---------------------------------------------------------------------------------------
# $connect: never open in production
# ---------------------------------------------------------------------------------------


def stack_name_of(urn: str) -> str:
    """The stack a URN belongs to: urn:pulumi:{stack}::{project}::{type}::{name}."""
    prefix = "urn:pulumi:"
    if not urn.startswith(prefix) or "::" not in urn:
        raise ValueError(f"{urn!r} is not a Pulumi URN (urn:pulumi:<stack>::<project>::...)")
    return urn[len(prefix) :].split("::", 1)[0]


def production_patterns(config: Mapping[str, Any]) -> list[str]:
    """The productionStacks config, validated; the default when it is not set."""
    patterns = config.get("productionStacks", DEFAULT_PRODUCTION_STACKS)
    if isinstance(patterns, str) or not all(isinstance(p, str) for p in patterns):
        raise ValueError(
            f"productionStacks must be a list of stack names or glob patterns, got {patterns!r}"
        )
    return list(patterns)


def is_production(stack: str, patterns: Iterable[str]) -> bool:
    """Whether a stack name matches any production pattern (shell-style globs)."""
    return any(fnmatch.fnmatchcase(stack, pattern) for pattern in patterns)


def open_connect_violation(props: Mapping[str, Any]) -> str | None:
    """Why a route is an unauthenticated $connect, or None."""
    if props.get("routeKey") != contract.ROUTE_CONNECT:
        return None
    authorization = props.get("authorizationType") or "NONE"
    if authorization == "NONE":
        return (
            f"{contract.ROUTE_CONNECT} is open (authorizationType NONE) in a production stack; "
            f"set authMode to {contract.AUTH_IAM!r} so the Lex Web UI presigns the URL"
        )
    return None


def _validate_connect(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != WEBSOCKET_ROUTE:
        return
    if not is_production(stack_name_of(args.urn), production_patterns(args.get_config())):
        return
    problem = open_connect_violation(args.props)
    if problem:
        report_violation(problem, None)


# ---------------------------------------------------------------------------------------
# The quota: counted by the functions, declared by the usage plan
# ---------------------------------------------------------------------------------------


def _positive_integer_text(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    return None


def quota_violations(resources: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Why the stack's quota is not in force.

    `resources` are (type, properties) pairs. API Gateway meters a WebSocket usage plan
    only when $connect requires an API key, which browsers cannot send, so the counting
    functions are what enforces the limit; the usage plan must declare the same limit.
    """
    problems: list[str] = []
    counters = [
        props
        for type_, props in resources
        if type_ == LAMBDA_FUNCTION and props.get("handler") in QUOTA_COUNTING_HANDLERS
    ]
    handlers = {props.get("handler") for props in counters}
    for missing in sorted(QUOTA_COUNTING_HANDLERS - handlers):
        problems.append(f"no function runs {missing}, so its requests are never counted")
    limits = set()
    periods = set()
    for props in counters:
        variables = (props.get("environment") or {}).get("variables") or {}
        names = list(variables)  # keys only: a table name may be unknown during preview
        who = props.get("handler")
        limit = _positive_integer_text(variables.get(contract.ENV_QUOTA_LIMIT))
        if limit is None:
            problems.append(
                f"{who}: {contract.ENV_QUOTA_LIMIT} must be a positive whole number, got "
                f"{variables.get(contract.ENV_QUOTA_LIMIT)!r}"
            )
        limits.add(limit)
        period = variables.get(contract.ENV_QUOTA_PERIOD)
        if period not in contract.QUOTA_PERIODS:
            problems.append(
                f"{who}: {contract.ENV_QUOTA_PERIOD} is {period!r}; expected one of "
                f"{', '.join(contract.QUOTA_PERIODS)}"
            )
        periods.add(period)
        if contract.ENV_QUOTA_TABLE not in names:
            problems.append(f"{who}: {contract.ENV_QUOTA_TABLE} is not set, nothing is counted")
    plans = [props for type_, props in resources if type_ == USAGE_PLAN]
    if not plans:
        problems.append("no usage plan declares the quota")
    for plan in plans:
        quota = plan.get("quotaSettings") or {}
        plan_limit = quota.get("limit")
        if not _positive_number(plan_limit):
            problems.append(f"usage plan quotaSettings.limit must be positive, got {plan_limit!r}")
        elif counters and limits != {int(plan_limit)}:
            problems.append(
                f"usage plan limit {int(plan_limit)} differs from the functions' "
                f"{contract.ENV_QUOTA_LIMIT} {sorted(x for x in limits if x)}"
            )
        if counters and periods != {quota.get("period")}:
            problems.append(
                f"usage plan period {quota.get('period')!r} differs from the functions' "
                f"{contract.ENV_QUOTA_PERIOD} {sorted(p for p in periods if p)}"
            )
        if not plan.get("apiStages"):
            problems.append("usage plan is attached to no stage")
    if plans and not any(type_ == USAGE_PLAN_KEY for type_, _ in resources):
        problems.append("no API key is attached to the usage plan")
    return problems


def _validate_quota(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = [(r.resource_type, r.props) for r in args.resources]
    if not any(
        type_ == LAMBDA_FUNCTION and props.get("handler") == contract.HANDLERS["connect"]
        for type_, props in resources
    ):
        args.not_applicable("the stack deploys no lexstream connect function")
    for problem in quota_violations(resources):
        report_violation(problem, None)


# ---------------------------------------------------------------------------------------
# The pack
# ---------------------------------------------------------------------------------------

_PRODUCTION_SCHEMA = PolicyConfigSchema(
    properties={
        "productionStacks": {
            "type": "array",
            "items": {"type": "string"},
            "default": DEFAULT_PRODUCTION_STACKS,
            "description": "Stack names or glob patterns that count as production.",
        }
    }
)


def _resource_policy(
    name: str,
    description: str,
    validate: Callable[[ResourceValidationArgs, ReportViolation], None],
    config_schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=config_schema,
    )


IAM_NO_NEEDLESS_WILDCARDS = _resource_policy(
    "iam-no-needless-wildcards",
    "IAM statements name their resources; '*' only where AWS has no resource-level scope.",
    _validate_iam,
)
TABLE_ENCRYPTED_WITH_TTL = _resource_policy(
    "table-encrypted-with-ttl",
    "DynamoDB tables are encrypted at rest with KMS and expire rows by TTL.",
    _validate_table,
)
STAGE_THROTTLED_AND_LOGGED = _resource_policy(
    "stage-throttled-and-logged",
    "WebSocket stages throttle the default route and write JSON access logs.",
    _validate_stage,
)
LOG_RETENTION_SET = _resource_policy(
    "log-retention-set",
    "CloudWatch log groups have a retention period.",
    _validate_log_group,
)
CONNECT_AUTHORIZED_IN_PRODUCTION = _resource_policy(
    "connect-authorized-in-production",
    f"{contract.ROUTE_CONNECT} requires AWS_IAM authorization in production stacks.",
    _validate_connect,
    _PRODUCTION_SCHEMA,
)
NO_LOOPBACK_SWITCH = _resource_policy(
    "no-loopback-callbacks-deployed",
    f"No function sets {contract.ENV_LOCAL_LOOPBACK_CALLBACKS}, the local stack's switch.",
    _validate_loopback_switch,
)
QUOTA_IN_FORCE = StackValidationPolicy(
    name="quota-in-force",
    description="Every connect and client message is counted against the declared quota.",
    validate=_validate_quota,
    enforcement_level=EnforcementLevel.MANDATORY,
)

RESOURCE_POLICIES = [
    IAM_NO_NEEDLESS_WILDCARDS,
    TABLE_ENCRYPTED_WITH_TTL,
    STAGE_THROTTLED_AND_LOGGED,
    LOG_RETENTION_SET,
    CONNECT_AUTHORIZED_IN_PRODUCTION,
    NO_LOOPBACK_SWITCH,
]
STACK_POLICIES = [QUOTA_IN_FORCE]
ALL_POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]
