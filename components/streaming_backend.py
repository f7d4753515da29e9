"""StreamingBackend: everything the Lex Web UI's streaming side channel needs, as one component."""

from __future__ import annotations

from typing import Any

import pulumi
from lexstream_runtime import contract

from .api_gateway_account import create_api_gateway_account
from .args import StreamingBackendArgs
from .argument_rules import require_component_name
from .aws_context import AwsContext
from .bedrock_example import BedrockExample
from .children import Children
from .custom_domain import CustomDomain, https_alias
from .fulfillment_policy import FulfillmentPolicy
from .functions_package import declarations
from .helper_layer import create_helper_layer, create_node_helper_layer
from .lambda_function import LexstreamFunction
from .monitoring import Monitoring
from .quota import UsagePlanQuota
from .tables import create_connection_table, create_quota_table
from .web_ui_access import WebUiConnectPolicy
from .websocket_api import WebSocketApi

TYPE_TOKEN = "lexstream:index:StreamingBackend"
# CloudWatch namespaces are free-form up to 255 characters, except the reserved `AWS/`.
METRICS_NAMESPACE_PREFIX = "Lexstream/"


class StreamingBackend(pulumi.ComponentResource):
    """The WebSocket API, connection and quota tables, route functions, quota, fulfillment
    policy and helper layers that stream Lex fulfillment text to Lex Web UI clients.

    Its outputs are the attributes annotated below, each documented where it is declared;
    the component registers exactly these, and the package schema lists exactly these.
    """

    websocket_url: pulumi.Output[str]
    """The `wss://` URL of the stage: the Web UI's `lex.streamingWebSocketEndpoint`;
    `wss://{custom_domain_name}` when a custom domain is set."""

    callback_url: pulumi.Output[str]
    """The `https://` execute-api URL of the stage, which fulfillment functions post to
    (also with a custom domain): the `streamingEndpoint` session attribute."""

    table_name: pulumi.Output[str]
    """The connection table's name: the Web UI's `lex.streamingDynamoDbTable`."""

    fulfillment_policy_arn: pulumi.Output[str]
    """ARN of the managed policy that lets a bot's fulfillment function stream (read the
    connection table, post to connections)."""

    api_id: pulumi.Output[str]
    """The WebSocket API's id."""

    usage_plan_id: pulumi.Output[str]
    """The id of the usage plan that carries the quota."""

    helper_layer_arn: pulumi.Output[str]
    """ARN of the Lambda layer with the fulfillment helper (`lexstream_runtime`)."""

    node_helper_layer_arn: pulumi.Output[str]
    """ARN of the Lambda layer with the Node.js fulfillment helper (`lexstream-streaming`,
    under `/opt/nodejs/node_modules`) for Node.js 20 and later."""

    web_ui_config: pulumi.Output[dict[str, Any]]
    """A ready-to-paste Lex Web UI config fragment that turns streaming on against this
    backend."""

    web_ui_policy_arn: pulumi.Output[str] | None
    """ARN of the policy that lets the Web UI's roles open the socket; None unless
    `auth_mode` is `iam`."""

    example_function_arn: pulumi.Output[str] | None
    """ARN of the Bedrock example fulfillment function; None unless `example_fulfillment`
    is set."""

    metrics_namespace: pulumi.Output[str]
    """The CloudWatch namespace of the streaming metrics, `Lexstream/{name}`: set it as
    `LEXSTREAM_METRICS_NAMESPACE` on a bot's own fulfillment function so that the helper's
    metrics reach the dashboard and the post-failure alarm."""

    dashboard_url: pulumi.Output[str] | None
    """The CloudWatch console URL of the stack's dashboard; None when `dashboard` is off."""

    fulfillment_environment: pulumi.Output[dict[str, str]]
    """The environment variables to set on a bot's own fulfillment function, by name: the
    callback URL it streams to (`LEXSTREAM_CALLBACK_URL`) and the namespace its helper
    metrics go to (`LEXSTREAM_METRICS_NAMESPACE`), without which the dashboard's turn and
    post widgets and the post-failure alarm never see its turns."""

    def __init__(
        self,
        name: str,
        args: StreamingBackendArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`name` (a letter, then letters, digits, hyphens or underscores: at most 40, 31 with
        `example_fulfillment`, 29 with `manage_api_gateway_account`, so that every IAM role
        and function name fits AWS's 64 characters) prefixes every child's name; `args`
        defaults to `StreamingBackendArgs()`."""
        args = args if args is not None else StreamingBackendArgs()
        if not isinstance(args, StreamingBackendArgs):
            raise TypeError(f"args must be a StreamingBackendArgs, got {type(args).__name__}")
        require_component_name(name, args)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self.args = args
        # Where the functions' metrics go: one namespace per component, so stacks in one
        # account and region never mix their numbers.
        self._metrics_namespace = METRICS_NAMESPACE_PREFIX + name

        children = Children(
            self,
            name,
            tags={"lexstream:component": name, **args.tags},
            transforms=args.transforms,
        )
        ctx = AwsContext.lookup(self)
        args.require_deployable_to(ctx.partition, ctx.region, ctx.account_id)

        tables = {
            "point_in_time_recovery": args.point_in_time_recovery,
            "deletion_protection": args.deletion_protection,
        }
        self.connection_table = create_connection_table(children, **tables)
        self.quota_table = create_quota_table(children, **tables)

        self.api = WebSocketApi(children, ctx, stage_name=args.stage_name)
        functions = self._create_route_functions(children)
        account = (
            create_api_gateway_account(children, ctx) if args.manage_api_gateway_account else []
        )
        self.api.serve(
            children,
            functions={route: fn.function for route, fn in functions.items()},
            auth_mode=args.auth_mode,
            throttle_burst_limit=args.throttle_burst_limit,
            throttle_rate_limit=args.throttle_rate_limit,
            log_retention_days=args.log_retention_days,
            stage_depends_on=account,
        )
        self.custom_domain = (
            CustomDomain(
                children,
                api=self.api.api,
                stage=self.api.stage,
                domain_name=args.custom_domain_name,
                certificate_arn=args.custom_domain_certificate_arn,  # type: ignore[arg-type]
                hosted_zone_id=args.custom_domain_hosted_zone_id,
            )
            if args.custom_domain_name is not None
            else None
        )
        self.quota = UsagePlanQuota(
            children,
            api=self.api.api,
            stage=self.api.stage,
            limit=args.quota_limit,
            period=args.quota_period,
            burst_limit=args.quota_burst_limit,
            rate_limit=args.quota_rate_limit,
        )
        self.fulfillment = FulfillmentPolicy(
            children, arns=self._arns(), role_names=args.fulfillment_role_names
        )
        self.web_ui_access = (
            WebUiConnectPolicy(children, api=self.api, role_names=args.web_ui_role_names)
            if args.auth_mode == contract.AUTH_IAM
            else None
        )
        self.helper_layer = create_helper_layer(children)
        self.node_helper_layer = create_node_helper_layer(children)
        self.example = (
            BedrockExample(
                children,
                ctx,
                args.example_fulfillment,
                fulfillment=self.fulfillment,
                settings={**self._settings(), "callback_url": self.api.callback_url},
                arns=self._arns(),
                log_retention_days=args.log_retention_days,
            )
            if args.example_fulfillment is not None
            else None
        )
        self.monitoring = Monitoring(
            children,
            ctx,
            api_id=self.api.api.id,
            stage_name=args.stage_name,
            route_functions={
                declarations.ROUTE_FUNCTIONS[route].name: fn.function
                for route, fn in functions.items()
            },
            other_functions={"example": self.example.function} if self.example else {},
            tables={"connections": self.connection_table, "quota": self.quota_table},
            namespace=self._metrics_namespace,
            quota_limit=args.quota_limit,
            quota_period=args.quota_period,
            dashboard=args.dashboard,
            alarms=args.alarms,
            alarm_topic_arn=args.alarm_topic_arn,
        )

        self.websocket_url = (
            self.custom_domain.websocket_url if self.custom_domain else self.api.websocket_url
        )
        self.callback_url = self.api.callback_url
        self.table_name = self.connection_table.name
        self.fulfillment_policy_arn = self.fulfillment.arn
        self.api_id = self.api.api.id
        self.usage_plan_id = self.quota.plan.id
        self.helper_layer_arn = self.helper_layer.arn
        self.node_helper_layer_arn = self.node_helper_layer.arn
        self.web_ui_config = pulumi.Output.all(self.websocket_url, self.table_name).apply(
            lambda values: web_ui_config(websocket_url=values[0], table_name=values[1])
        )
        self.web_ui_policy_arn = self.web_ui_access.arn if self.web_ui_access else None
        self.example_function_arn = self.example.arn if self.example else None
        self.metrics_namespace = pulumi.Output.from_input(self._metrics_namespace)
        self.dashboard_url = self.monitoring.dashboard_url
        self.fulfillment_environment = pulumi.Output.all(
            self.callback_url, self.metrics_namespace
        ).apply(
            lambda values: {
                contract.ENV_CALLBACK_URL: values[0],
                contract.ENV_METRICS_NAMESPACE: values[1],
            }
        )
        self.register_outputs(self.output_values())

    def output_values(self) -> dict[str, pulumi.Output[Any]]:
        """Every output that is set, by attribute name (the annotations above)."""
        names = StreamingBackend.__annotations__
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def _settings(self) -> dict[str, pulumi.Input[str]]:
        """The values the functions' environments are built from (`declarations.SETTINGS`)."""
        args = self.args
        return {
            "connection_table": self.connection_table.name,
            "quota_table": self.quota_table.name,
            "quota_limit": str(args.quota_limit),
            "quota_period": args.quota_period,
            "quota_per_identity_limit": str(args.quota_per_identity_limit),
            "quota_per_source_limit": str(args.quota_per_source_limit),
            "auth_mode": args.auth_mode,
            "callback_url": self.api.stage_callback_url,
            "metrics_namespace": self._metrics_namespace,
            # What the browser names as its callback URL when the socket is on the custom
            # domain ("" without one); the helper takes it for the callback URL.
            "callback_alias": https_alias(args.custom_domain_name),
        }

    def _arns(self) -> dict[str, list[pulumi.Input[str]]]:
        """The ARNs of the resources access is granted on (`declarations.RESOURCES`)."""
        table_arn = self.connection_table.arn
        return {
            "connection_table": [table_arn],
            "connection_index": [
                table_arn.apply(lambda arn: f"{arn}/index/{contract.CONNECTION_INDEX}")
            ],
            "quota_table": [self.quota_table.arn],
            **{
                f"connections/{method}": [self.api.execute_api_arn(f"{method}/@connections/*")]
                for method in ("GET", "POST", "DELETE")
            },
        }

    def _create_route_functions(self, children: Children) -> dict[str, LexstreamFunction]:
        return {
            route: LexstreamFunction(
                children,
                declaration,
                settings=self._settings(),
                arns=self._arns(),
                log_retention_days=self.args.log_retention_days,
            )
            for route, declaration in declarations.ROUTE_FUNCTIONS.items()
        }


def web_ui_config(*, websocket_url: str, table_name: str) -> dict[str, Any]:
    """The Lex Web UI configuration fragment that turns streaming on against this backend."""
    return {
        "lex": {
            contract.WEB_UI_ALLOW_STREAMING: True,
            contract.WEB_UI_WEBSOCKET_ENDPOINT: websocket_url,
            contract.WEB_UI_TABLE: table_name,
        }
    }
