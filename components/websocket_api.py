"""The WebSocket API: routes, integrations, invoke permissions, deployment and stage."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import pulumi
import pulumi_aws as aws
from lexstream_runtime import contract

from .aws_context import AwsContext
from .children import Children

# Access log fields for WebSocket APIs: who connected, which route, what came back.
# JSON so that CloudWatch Logs Insights can query the fields directly. No Cognito identity
# id (`$context.identity.cognitoIdentityId`): an unauthenticated identity's id is all it
# takes to get its credentials from the pool, and access logs cannot hash a field. The
# connect function's own log line carries a tag of the identity instead.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "requestTimeEpoch": "$context.requestTimeEpoch",
        "eventType": "$context.eventType",
        "routeKey": "$context.routeKey",
        "connectionId": "$context.connectionId",
        "messageId": "$context.messageId",
        "status": "$context.status",
        "sourceIp": "$context.identity.sourceIp",
        "error": "$context.error.message",
        "integrationError": "$context.integration.error",
        "integrationStatus": "$context.integration.status",
        "integrationLatency": "$context.integration.latency",
    },
    separators=(",", ":"),
)

# A MOCK integration answers the Lex Web UI's heartbeat without running code. It has no
# route response on purpose: the Web UI appends every frame it receives to the streamed
# text, so a "pong" would show up in the chat.
PING_REQUEST_TEMPLATES = {"$default": '{"statusCode": 200}'}
PING_TEMPLATE_SELECTION = "\\$default"

AUTHORIZATION = {contract.AUTH_IAM: "AWS_IAM", contract.AUTH_NONE: "NONE"}


class WebSocketApi:
    """The API that browsers connect to and that fulfillment functions post back through.

    Built in two steps, because the $connect function needs the API's callback URL (it
    asks the management API whether a session's connection is live) while the routes
    need the functions: the constructor creates the API, `serve` its routes and stage.
    """

    def __init__(self, children: Children, ctx: AwsContext, *, stage_name: str) -> None:
        self.ctx = ctx
        self.stage_name = stage_name
        self.api = children.create(
            "api",
            aws.apigatewayv2.Api,
            "api",
            protocol_type="WEBSOCKET",
            route_selection_expression=contract.ROUTE_SELECTION_EXPRESSION,
            description="Lex Web UI streaming responses",
        )
        # For the functions: known as soon as the API exists, before its stage.
        self.stage_callback_url = self.api.api_endpoint.apply(
            lambda endpoint: _https_callback_url(endpoint, stage_name)
        )
        self.routes: dict[str, aws.apigatewayv2.Route] = {}
        self.integrations: dict[str, aws.apigatewayv2.Integration] = {}
        self._settings: list[dict[str, pulumi.Input[object]]] = []

    def serve(
        self,
        children: Children,
        *,
        functions: Mapping[str, aws.lambda_.Function],
        auth_mode: str,
        throttle_burst_limit: int,
        throttle_rate_limit: float,
        log_retention_days: int,
        stage_depends_on: list[pulumi.Resource],
    ) -> None:
        """Route each Lambda-backed route key ($connect, $disconnect, $default) in
        `functions` to its function, add the ping route, and deploy the stage."""
        stage_name = self.stage_name
        for route_key, function in functions.items():
            self._add_lambda_route(children, route_key, function, auth_mode)
        self._add_ping_route(children)
        self.deployment = children.create(
            "deployment",
            aws.apigatewayv2.Deployment,
            "deployment",
            api_id=self.api.id,
            description="Routes and integrations of the lexstream streaming API",
            triggers={"redeployment": self._fingerprint()},
            depends_on=[*self.routes.values(), *self.integrations.values()],
        )
        self.access_log_group = children.create(
            "access_log_group",
            aws.cloudwatch.LogGroup,
            "access-logs",
            name_prefix=f"/aws/apigateway/{children.prefix}-{stage_name}-access-",
            retention_in_days=log_retention_days,
        )
        self.stage = children.create(
            "stage",
            aws.apigatewayv2.Stage,
            "stage",
            api_id=self.api.id,
            name=stage_name,
            deployment_id=self.deployment.id,
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_burst_limit=throttle_burst_limit,
                throttling_rate_limit=throttle_rate_limit,
            ),
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=self.access_log_group.arn,
                format=ACCESS_LOG_FORMAT,
            ),
            depends_on=stage_depends_on,
        )
        # The Lex Web UI wants both URLs with the stage: wss for the browser, https for
        # the fulfillment function's management API client.
        self.websocket_url = pulumi.Output.concat(self.api.api_endpoint, "/", self.stage.name)
        self.callback_url = pulumi.Output.all(self.api.api_endpoint, self.stage.name).apply(
            lambda parts: _https_callback_url(parts[0], parts[1])
        )

    def execute_api_arn(self, tail: str) -> pulumi.Output[str]:
        """`arn:{partition}:execute-api:{region}:{account}:{apiId}/{stage}/{tail}`.

        For a route, `tail` is the route key alone: WebSocket ARNs have no HTTP method
        segment, and an extra `*/` makes the permission match nothing.
        """
        return pulumi.Output.concat(
            self.ctx.arn("execute-api", ""), self.api.id, f"/{self.stage_name}/{tail}"
        )

    def _add_lambda_route(
        self,
        children: Children,
        route_key: str,
        function: aws.lambda_.Function,
        auth_mode: str,
    ) -> None:
        suffix = _route_suffix(route_key)
        permission = children.create(
            "permission",
            aws.lambda_.Permission,
            f"{suffix}-invoke",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="apigateway.amazonaws.com",
            source_arn=self.execute_api_arn(route_key),
        )
        integration = children.create(
            "integration",
            aws.apigatewayv2.Integration,
            f"{suffix}-integration",
            api_id=self.api.id,
            integration_type="AWS_PROXY",
            integration_method="POST",
            integration_uri=function.invoke_arn,
            # The first request through the integration must not race the permission.
            depends_on=[permission],
        )
        # Only $connect can carry authorization on a WebSocket API.
        authorization = AUTHORIZATION[auth_mode] if route_key == contract.ROUTE_CONNECT else "NONE"
        self._remember(route_key, integration, authorization=authorization, uri=function.invoke_arn)
        self.routes[route_key] = children.create(
            "route",
            aws.apigatewayv2.Route,
            f"{suffix}-route",
            api_id=self.api.id,
            route_key=route_key,
            authorization_type=authorization,
            target=pulumi.Output.concat("integrations/", integration.id),
        )

    def _add_ping_route(self, children: Children) -> None:
        integration = children.create(
            "integration",
            aws.apigatewayv2.Integration,
            "ping-integration",
            api_id=self.api.id,
            integration_type="MOCK",
            request_templates=PING_REQUEST_TEMPLATES,
            template_selection_expression=PING_TEMPLATE_SELECTION,
        )
        self._remember(
            contract.ROUTE_PING,
            integration,
            authorization="NONE",
            uri=None,
            templates=PING_REQUEST_TEMPLATES,
        )
        self.routes[contract.ROUTE_PING] = children.create(
            "route",
            aws.apigatewayv2.Route,
            "ping-route",
            api_id=self.api.id,
            route_key=contract.ROUTE_PING,
            authorization_type="NONE",
            target=pulumi.Output.concat("integrations/", integration.id),
        )

    def _remember(
        self,
        route_key: str,
        integration: aws.apigatewayv2.Integration,
        *,
        authorization: str,
        uri: pulumi.Input[str] | None,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        self.integrations[route_key] = integration
        self._settings.append(
            {
                "route": route_key,
                "authorization": authorization,
                "integration": integration.id,
                "uri": uri,
                "templates": dict(templates or {}),
            }
        )

    def _fingerprint(self) -> pulumi.Output[str]:
        """A digest of every route's and integration's settings.

        A WebSocket stage serves a frozen deployment. The stage's `auto_deploy` would let
        API Gateway redeploy on its own, outside the plan; instead a new deployment is
        forced (through `triggers`) whenever any route or integration changes, including
        when an integration is replaced and gets a new id, so `pulumi preview` shows it
        and the stage moves in the same update.
        """
        return pulumi.Output.json_dumps(sorted(self._settings, key=lambda s: s["route"])).apply(
            lambda text: hashlib.sha256(text.encode()).hexdigest()
        )


def _route_suffix(route_key: str) -> str:
    return route_key.lstrip("$")


def _https_callback_url(api_endpoint: str, stage: str) -> str:
    scheme, separator, host = api_endpoint.partition("://")
    if scheme != "wss" or not separator or not host:
        raise ValueError(f"expected the WebSocket API endpoint to be wss://…, got {api_endpoint!r}")
    return f"https://{host}/{stage}"
