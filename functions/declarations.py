"""Each Lambda function, declared once: handler, timeout, memory, environment and access.

The component deploys each function from its declaration, and the local stack runs each
one from the same declaration, so what runs locally is configured as what deploys.

- The environment is declared as variable → setting: the component fills the settings
  with its resources' outputs, the local stack with its own names and URLs, and both get
  exactly the declared variables.
- Access is declared as (actions, resource) pairs, on named resources that the component
  turns into ARNs (`RESOURCES`).

Pure standard library, like the layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from lexstream_runtime import contract

T = TypeVar("T")

# The route functions do one or two DynamoDB calls; API Gateway itself gives up at 29 s.
ROUTE_TIMEOUT_SECONDS = 10
# Lex gives a whole turn about 30 seconds; a fulfillment must finish (and close the turn
# with whatever it has) inside that.
FULFILLMENT_TIMEOUT_SECONDS = 29
MEMORY_MB = 256
# How every function logs: JSON lines, the application's from INFO, Lambda's own from
# WARN. The component configures Lambda so; the local runtime sets the same variables.
LOG_FORMAT = "JSON"
APPLICATION_LOG_LEVEL = "INFO"
SYSTEM_LOG_LEVEL = "WARN"

# The settings an environment is built from, and what each holds.
SETTINGS = {
    "connection_table": "the connection table's name",
    "quota_table": "the quota table's name",
    "quota_limit": "requests admitted per quota period",
    "quota_period": "the quota period (DAY, WEEK or MONTH)",
    "quota_per_identity_limit": "connects one identity may make per period",
    "quota_per_source_limit": "connects one source address (IPv6: /64) may make per period",
    "auth_mode": "how $connect is authorized (iam or none)",
    "callback_url": "the API stage's own https callback URL",
    "model_id": "the Bedrock model or inference profile the example invokes",
    "system_prompt": "the example's system prompt",
    "max_tokens": "the example's answer length limit",
    "metrics_namespace": "the CloudWatch namespace of the functions' metrics",
    "callback_alias": "the stage's custom-domain URL, which stands for the callback URL",
}

# The resources access is granted on; the component maps each to its ARN(s).
RESOURCES = {
    "connection_table": "the connection table",
    "connection_index": "the connection table's byConnectionId index",
    "quota_table": "the quota table",
    "connections/GET": "GET on this stage's @connections/*",
    "connections/POST": "POST on this stage's @connections/*",
    "connections/DELETE": "DELETE on this stage's @connections/*",
    "model": "exactly the configured model (through exactly its inference profile)",
}


@dataclass(frozen=True)
class Grant:
    """Some actions on one named resource, and why the code needs them."""

    actions: tuple[str, ...]
    resource: str
    reason: str

    def __post_init__(self) -> None:
        if self.resource not in RESOURCES:
            raise ValueError(
                f"unknown resource {self.resource!r}; expected one of {', '.join(RESOURCES)}"
            )


MANAGE_CONNECTIONS = ("execute-api:ManageConnections",)
BEDROCK_INVOKE = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")

# What a bot's fulfillment function needs in order to stream: the managed fulfillment
# policy. The helper never reads or closes a connection, so it may only post.
FULFILLMENT_GRANTS = (
    Grant(("dynamodb:GetItem",), "connection_table", "look up the session's connection"),
    Grant(("dynamodb:DeleteItem",), "connection_table", "remove a gone connection's row"),
    Grant(MANAGE_CONNECTIONS, "connections/POST", "post the text"),
)


@dataclass(frozen=True)
class FunctionDeclaration:
    """One function: `functions/<name>/`, run with these settings and this access.

    `grants` are its own; with `fulfillment_policy` it also gets FULFILLMENT_GRANTS, as
    the managed policy that bots' own fulfillment functions attach.
    """

    name: str
    timeout_seconds: int
    environment: Mapping[str, str]  # variable → setting (a key of SETTINGS)
    grants: tuple[Grant, ...]
    memory_mb: int = MEMORY_MB
    fulfillment_policy: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.environment.values()) - set(SETTINGS))
        if unknown:
            raise ValueError(
                f"function {self.name!r} reads unknown settings {unknown}; "
                f"expected some of {', '.join(SETTINGS)}"
            )

    @property
    def handler(self) -> str:
        """`module.function` inside the archive (contract.HANDLERS)."""
        return contract.HANDLERS[self.name]

    def environment_from(self, settings: Mapping[str, T]) -> dict[str, T]:
        """The function's environment, each variable set from its setting in `settings`.

        Raises KeyError naming every setting the function needs that `settings` lacks.
        """
        missing = sorted({s for s in self.environment.values() if s not in settings})
        if missing:
            raise KeyError(f"function {self.name!r} needs settings {missing}")
        return {variable: settings[setting] for variable, setting in self.environment.items()}

    def all_grants(self) -> tuple[Grant, ...]:
        """Its own grants, plus the fulfillment policy's when it attaches it."""
        return (*self.grants, *(FULFILLMENT_GRANTS if self.fulfillment_policy else ()))


_METRICS = {contract.ENV_METRICS_NAMESPACE: "metrics_namespace"}
_QUOTA = {
    contract.ENV_QUOTA_TABLE: "quota_table",
    contract.ENV_QUOTA_LIMIT: "quota_limit",
    contract.ENV_QUOTA_PERIOD: "quota_period",
}
_COUNT = Grant(("dynamodb:UpdateItem",), "quota_table", "count requests (atomic counters)")

CONNECT = FunctionDeclaration(
    name="connect",
    timeout_seconds=ROUTE_TIMEOUT_SECONDS,
    environment={
        contract.ENV_CONNECTION_TABLE: "connection_table",
        contract.ENV_AUTH_MODE: "auth_mode",
        contract.ENV_CALLBACK_URL: "callback_url",
        contract.ENV_QUOTA_PER_IDENTITY_LIMIT: "quota_per_identity_limit",
        contract.ENV_QUOTA_PER_SOURCE_LIMIT: "quota_per_source_limit",
        **_QUOTA,
        **_METRICS,
    },
    grants=(
        Grant(("dynamodb:PutItem",), "connection_table", "register the session"),
        _COUNT,
        Grant(MANAGE_CONNECTIONS, "connections/GET", "ask whether a session's connection lives"),
    ),
)
DISCONNECT = FunctionDeclaration(
    name="disconnect",
    timeout_seconds=ROUTE_TIMEOUT_SECONDS,
    environment={contract.ENV_CONNECTION_TABLE: "connection_table", **_METRICS},
    grants=(
        # $disconnect knows only the connection id, hence the index.
        Grant(("dynamodb:Query",), "connection_index", "find the connection's rows"),
        Grant(("dynamodb:DeleteItem",), "connection_table", "remove them"),
    ),
)
DEFAULT = FunctionDeclaration(
    name="default",
    timeout_seconds=ROUTE_TIMEOUT_SECONDS,
    environment={contract.ENV_CALLBACK_URL: "callback_url", **_QUOTA, **_METRICS},
    grants=(
        _COUNT,
        Grant(MANAGE_CONNECTIONS, "connections/DELETE", "close a connection over its budget"),
    ),
)
BEDROCK_FULFILLMENT = FunctionDeclaration(
    name="bedrock_fulfillment",
    timeout_seconds=FULFILLMENT_TIMEOUT_SECONDS,
    environment={
        # The browser names the URL to post to; the example posts only to its own API.
        contract.ENV_CALLBACK_URL: "callback_url",
        contract.ENV_CALLBACK_ALIAS: "callback_alias",
        contract.ENV_MODEL_ID: "model_id",
        contract.ENV_SYSTEM_PROMPT: "system_prompt",
        contract.ENV_MAX_TOKENS: "max_tokens",
        **_METRICS,
    },
    grants=(Grant(BEDROCK_INVOKE, "model", "answer with the configured model"),),
    fulfillment_policy=True,
)

# The route functions, by the route that invokes them.
ROUTE_FUNCTIONS = {
    contract.ROUTE_CONNECT: CONNECT,
    contract.ROUTE_DISCONNECT: DISCONNECT,
    contract.ROUTE_DEFAULT: DEFAULT,
}
FUNCTIONS = {
    declaration.name: declaration
    for declaration in (CONNECT, DISCONNECT, DEFAULT, BEDROCK_FULFILLMENT)
}
