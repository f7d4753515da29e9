"""The real stack program, run under mocks for every Pulumi.<stack>.yaml: what it deploys."""

from __future__ import annotations

import importlib
import inspect
import json
import warnings
from pathlib import Path

from lexstream_runtime import contract

from functions import layout, node_package

from . import views as v
from .harness import ACCOUNT_ID, StackRecord


def test_every_child_is_parented_to_one_streaming_backend(record: StackRecord) -> None:
    components = record.of_type(v.COMPONENT)
    assert len(components) == 1
    component = components[0]
    assert component.parent.endswith("::pulumi:pulumi:Stack::lexstream-" + record.stack)
    children = [r for r in record.resources if r is not component]
    assert children
    assert {child.parent for child in children} == {component.urn}


def test_every_taggable_child_carries_the_component_tag(record: StackRecord) -> None:
    tagged = 0
    for resource in record.resources:
        if resource.custom and _accepts_tags(resource.type_):
            tags = resource.inputs.get("tags")
            assert tags and tags.get("lexstream:component") == f"lexstream-{record.stack}", (
                resource.name
            )
            tagged += 1
    assert tagged >= 15


def _accepts_tags(type_token: str) -> bool:
    # "aws:apigatewayv2/api:Api" → pulumi_aws.apigatewayv2.ApiArgs has a `tags` argument?
    _, module_path, class_name = type_token.split(":")
    module_name = module_path.split("/")[0]
    with warnings.catch_warnings():
        # Importing a provider module announces unrelated deprecations.
        warnings.simplefilter("ignore", DeprecationWarning)
        module = importlib.import_module(
            "pulumi_aws." + ("lambda_" if module_name == "lambda" else module_name)
        )
        args_class = getattr(module, class_name + "Args")
    return "tags" in inspect.signature(args_class.__init__).parameters


def test_websocket_api_selects_routes_by_the_action_field(record: StackRecord) -> None:
    api = v.api(record)
    assert api.inputs["protocolType"] == "WEBSOCKET"
    assert api.inputs["routeSelectionExpression"] == "$request.body.action"


def test_connect_disconnect_and_default_are_lambda_routes_and_ping_is_mocked(
    record: StackRecord,
) -> None:
    routes = {r.inputs["routeKey"]: r for r in record.of_type(v.ROUTE)}
    assert set(routes) == {"$connect", "$disconnect", "$default", "ping"}
    integrations = {i.id: i for i in record.of_type(v.INTEGRATION)}
    for route_key, route in routes.items():
        assert route.inputs["apiId"] == v.api(record).id
        target = route.inputs["target"]
        assert target.startswith("integrations/")
        integration = integrations[target.removeprefix("integrations/")]
        if route_key == "ping":
            assert integration.inputs["integrationType"] == "MOCK"
            assert json.loads(integration.inputs["requestTemplates"]["$default"]) == {
                "statusCode": 200
            }
            continue
        function = v.function(record, v.ROUTE_SUFFIX[route_key])
        assert integration.inputs["integrationType"] == "AWS_PROXY"
        assert integration.inputs["integrationUri"] == function.outputs["invokeArn"]


def test_ping_gets_no_reply_frame_because_the_web_ui_would_show_it(record: StackRecord) -> None:
    assert not record.of_type("aws:apigatewayv2/routeResponse:RouteResponse")
    assert not record.of_type("aws:apigatewayv2/integrationResponse:IntegrationResponse")
    ping = record.one(v.ROUTE, "-ping-route")
    assert "routeResponseSelectionExpression" not in ping.inputs


def test_connect_authorization_follows_the_stack_auth_mode(record: StackRecord) -> None:
    expected = {"iam": "AWS_IAM", "none": "NONE"}[v.setting(record, "authMode")]
    for route in record.of_type(v.ROUTE):
        if route.inputs["routeKey"] == "$connect":
            assert route.inputs["authorizationType"] == expected
        else:
            assert route.inputs["authorizationType"] == "NONE"


def test_lambda_permissions_are_scoped_to_this_api_stage_and_route(record: StackRecord) -> None:
    permissions = {p.inputs["sourceArn"]: p for p in record.of_type(v.PERMISSION)}
    for route_key in ("$connect", "$disconnect", "$default"):
        arn = v.execute_api_arn(record, route_key)
        permission = permissions[arn]
        assert "/*/" not in arn
        assert permission.inputs["principal"] == "apigateway.amazonaws.com"
        assert permission.inputs["action"] == "lambda:InvokeFunction"
        function = v.function(record, v.ROUTE_SUFFIX[route_key])
        assert permission.inputs["function"] == function.outputs["name"]


def test_each_integration_waits_for_its_permission(record: StackRecord) -> None:
    for route_key in ("connect", "disconnect", "default"):
        integration = record.one(v.INTEGRATION, f"-{route_key}-integration")
        permission = record.one(v.PERMISSION, f"-{route_key}-invoke")
        assert permission.urn in integration.dependencies


def test_deployment_follows_every_route_and_integration(record: StackRecord) -> None:
    deployment = record.one(v.DEPLOYMENT)
    assert deployment.inputs["apiId"] == v.api(record).id
    for resource in record.of_type(v.ROUTE) + record.of_type(v.INTEGRATION):
        assert resource.urn in deployment.dependencies
    assert len(deployment.inputs["triggers"]["redeployment"]) == 64  # a sha256 digest
    stage = record.one(v.STAGE)
    assert stage.inputs["deploymentId"] == deployment.id


def test_stage_is_named_throttled_and_access_logged_as_json(record: StackRecord) -> None:
    stage = record.one(v.STAGE)
    assert stage.inputs["name"] == v.setting(record, "stageName")
    throttling = stage.inputs["defaultRouteSettings"]
    assert throttling["throttlingBurstLimit"] == v.setting(record, "throttleBurstLimit")
    assert throttling["throttlingRateLimit"] == v.setting(record, "throttleRateLimit")
    access_logs = stage.inputs["accessLogSettings"]
    log_group = record.one(v.LOG_GROUP, "-access-logs")
    assert access_logs["destinationArn"] == log_group.outputs["arn"]
    fields = json.loads(access_logs["format"])
    assert {"requestId", "routeKey", "eventType", "connectionId", "status"} <= set(fields)
    # CreateStage refuses a format with a variable the API type does not support ("The
    # following context variables are not supported"), so every one must be a WebSocket one.
    unsupported = set(fields.values()) - WEBSOCKET_ACCESS_LOG_VARIABLES
    assert not unsupported, f"not WebSocket access-log variables: {sorted(unsupported)}"
    # API Gateway requires a request id in every access-log format.
    assert "$context.requestId" in fields.values()


# Context variables that name a Cognito identity: an unauthenticated identity's id is all
# it takes to get its credentials, and a log reader must not be able to.
IDENTITY_VARIABLES = {
    "$context.identity.cognitoIdentityId",
    "$context.identity.cognitoAuthenticationProvider",
}


def test_the_stage_access_log_never_records_a_cognito_identity_id(record: StackRecord) -> None:
    stage = record.one(v.STAGE)
    access_format = stage.inputs["accessLogSettings"]["format"]
    assert "cognitoIdentityId" not in access_format
    assert "cognitoAuthenticationProvider" not in access_format
    assert not IDENTITY_VARIABLES & set(json.loads(access_format).values())


# The access-log variables API Gateway supports for WebSocket APIs ("Configure logging for
# WebSocket APIs", API Gateway developer guide), plus $context.identity.cognitoIdentityId,
# which WebSocket stages accept although that table leaves it out. HTTP-only variables
# such as $context.httpMethod or $context.path are not among them.
WEBSOCKET_ACCESS_LOG_VARIABLES = {
    f"$context.{name}"
    for name in [
        "apiId",
        "authorize.error",
        "authorize.latency",
        "authorize.status",
        "authorizer.error",
        "authorizer.integrationLatency",
        "authorizer.integrationStatus",
        "authorizer.latency",
        "authorizer.requestId",
        "authorizer.status",
        "authorizer.principalId",
        "authenticate.error",
        "authenticate.latency",
        "authenticate.status",
        "connectedAt",
        "connectionId",
        "domainName",
        "error.message",
        "error.messageString",
        "error.responseType",
        "error.validationErrorString",
        "eventType",
        "extendedRequestId",
        "identity.accountId",
        "identity.apiKey",
        "identity.apiKeyId",
        "identity.caller",
        "identity.cognitoAuthenticationProvider",
        "identity.cognitoIdentityId",
        "identity.sourceIp",
        "identity.user",
        "identity.userAgent",
        "identity.userArn",
        "integration.error",
        "integration.integrationStatus",
        "integration.latency",
        "integration.requestId",
        "integration.status",
        "integrationLatency",
        "messageId",
        "requestId",
        "requestTime",
        "requestTimeEpoch",
        "routeKey",
        "stage",
        "status",
        "waf.error",
        "waf.latency",
        "waf.status",
    ]
}


def test_connection_table_matches_the_web_ui_contract(record: StackRecord) -> None:
    table = v.table(record, "connections").inputs
    # The Lex Web UI's documented fulfillment reads exactly this shape.
    assert table["hashKey"] == "sessionId"
    assert "rangeKey" not in table
    assert {a["name"]: a["type"] for a in table["attributes"]} == {
        "sessionId": "S",
        "connectionId": "S",
    }
    assert table["ttl"] == {"attributeName": "ttl", "enabled": True}
    (index,) = table["globalSecondaryIndexes"]
    assert index["name"] == contract.CONNECTION_INDEX
    assert index["projectionType"] == "KEYS_ONLY"
    assert index["keySchemas"] == [{"attributeName": "connectionId", "keyType": "HASH"}]


def test_quota_table_keys_one_counter_per_period(record: StackRecord) -> None:
    table = v.table(record, "quota").inputs
    assert table["hashKey"] == contract.QUOTA_PERIOD_KEY
    assert table["attributes"] == [{"name": contract.QUOTA_PERIOD_KEY, "type": "S"}]
    assert table["ttl"] == {"attributeName": contract.TTL, "enabled": True}
    assert not table.get("globalSecondaryIndexes")


def test_tables_are_on_demand_encrypted_and_protected_per_stack(record: StackRecord) -> None:
    for suffix in ("connections", "quota"):
        table = v.table(record, suffix).inputs
        assert table["billingMode"] == "PAY_PER_REQUEST"
        assert table["serverSideEncryption"] == {"enabled": True}
        assert table["pointInTimeRecovery"] == {"enabled": v.setting(record, "pointInTimeRecovery")}
        assert table["deletionProtectionEnabled"] == v.setting(record, "deletionProtection")


def test_usage_plan_keeps_the_quota_and_a_key_on_this_stage(record: StackRecord) -> None:
    plan = record.one(v.USAGE_PLAN)
    assert plan.inputs["apiStages"] == [
        {"apiId": v.api(record).id, "stage": v.setting(record, "stageName")}
    ]
    assert plan.inputs["quotaSettings"] == {
        "limit": v.setting(record, "quotaLimit"),
        "period": v.setting(record, "quotaPeriod"),
    }
    assert plan.inputs["throttleSettings"] == {
        "burstLimit": v.setting(record, "quotaBurstLimit"),
        "rateLimit": v.setting(record, "quotaRateLimit"),
    }
    key = record.one(v.API_KEY)
    assert key.inputs["enabled"] is True
    plan_key = record.one(v.USAGE_PLAN_KEY)
    assert plan_key.inputs == {"keyId": key.id, "keyType": "API_KEY", "usagePlanId": plan.id}


def test_route_functions_enforce_the_quota_from_their_environment(record: StackRecord) -> None:
    quota = {
        contract.ENV_QUOTA_TABLE: v.table(record, "quota").outputs["name"],
        contract.ENV_QUOTA_LIMIT: str(v.setting(record, "quotaLimit")),
        contract.ENV_QUOTA_PERIOD: v.setting(record, "quotaPeriod"),
    }
    connections = v.table(record, "connections").outputs["name"]
    metrics = {contract.ENV_METRICS_NAMESPACE: f"Lexstream/lexstream-{record.stack}"}
    environments = {
        name: v.function(record, name).inputs["environment"]["variables"]
        for name in ("connect", "disconnect", "default")
    }
    assert environments["connect"] == {
        contract.ENV_CONNECTION_TABLE: connections,
        contract.ENV_AUTH_MODE: v.setting(record, "authMode"),
        contract.ENV_CALLBACK_URL: record.exports["callback_url"],
        contract.ENV_QUOTA_PER_IDENTITY_LIMIT: str(v.setting(record, "quotaPerIdentityLimit")),
        contract.ENV_QUOTA_PER_SOURCE_LIMIT: str(v.setting(record, "quotaPerSourceLimit")),
        **quota,
        **metrics,
    }
    assert environments["disconnect"] == {contract.ENV_CONNECTION_TABLE: connections, **metrics}
    assert environments["default"] == {
        contract.ENV_CALLBACK_URL: record.exports["callback_url"],
        **quota,
        **metrics,
    }


def test_functions_are_arm64_on_a_current_python_with_json_logs(record: StackRecord) -> None:
    functions = record.of_type(v.FUNCTION)
    assert len(functions) >= 3
    for function in functions:
        inputs = function.inputs
        runtime = inputs["runtime"]
        assert runtime.startswith("python3.") and int(runtime.split(".")[1]) >= 13
        # The one runtime name the benchmarks measure against is the one deployed.
        assert runtime == layout.LAMBDA_RUNTIME
        assert inputs["architectures"] == ["arm64"]
        assert inputs["memorySize"] <= 256
        assert 1 <= inputs["timeout"] <= 29
        logging = inputs["loggingConfig"]
        assert logging["logFormat"] == "JSON"
        log_group = next(
            g for g in record.of_type(v.LOG_GROUP) if g.outputs["name"] == logging["logGroup"]
        )
        assert log_group.urn in function.dependencies
    for name in ("connect", "disconnect", "default"):
        assert v.function(record, name).inputs["timeout"] == 10


def test_each_function_ships_its_handler_and_the_shared_runtime(record: StackRecord) -> None:
    for function in record.of_type(v.FUNCTION):
        name = next(
            n for n in layout.FUNCTION_NAMES if function.name.endswith("-" + n.replace("_", "-"))
        )
        archive = function.inputs["code"]["archive"]
        assert function.inputs["handler"] == contract.HANDLERS[name]
        handler_module = contract.HANDLERS[name].split(".")[0] + ".py"
        assert handler_module in archive
        assert "lexstream_runtime/contract.py" in archive
        assert archive == {k: str(p) for k, p in layout.function_files(name).items()}
        assert all(Path(path).is_absolute() and Path(path).is_file() for path in archive.values())


def test_log_groups_expire_after_the_configured_retention(record: StackRecord) -> None:
    log_groups = record.of_type(v.LOG_GROUP)
    # One per function plus the access log.
    assert len(log_groups) == len(record.of_type(v.FUNCTION)) + 1
    for group in log_groups:
        assert group.inputs["retentionInDays"] == v.setting(record, "logRetentionDays")


def test_route_function_roles_are_least_privilege(record: StackRecord) -> None:
    connections = v.table(record, "connections").outputs["arn"]
    quota = v.table(record, "quota").outputs["arn"]
    expected = {
        "connect": {
            ("dynamodb:PutItem", connections),
            ("dynamodb:UpdateItem", quota),
            # Only to ask whether a session's connection is live.
            ("execute-api:ManageConnections", v.execute_api_arn(record, "GET/@connections/*")),
        },
        "disconnect": {
            ("dynamodb:Query", f"{connections}/index/{contract.CONNECTION_INDEX}"),
            ("dynamodb:DeleteItem", connections),
        },
        "default": {
            ("dynamodb:UpdateItem", quota),
            # Only to close a connection that has spent its message budget.
            ("execute-api:ManageConnections", v.execute_api_arn(record, "DELETE/@connections/*")),
        },
    }
    for name, data_access in expected.items():
        function = v.function(record, name)
        log_group = next(
            g
            for g in record.of_type(v.LOG_GROUP)
            if g.outputs["name"] == function.inputs["loggingConfig"]["logGroup"]
        )
        own_logs = f"{log_group.outputs['arn']}:*"
        assert v.grants(v.role_policy(record, name)) == data_access | {
            ("logs:CreateLogStream", own_logs),
            ("logs:PutLogEvents", own_logs),
        }
        role = record.one(v.ROLE, f"-{name}-role")
        assert function.inputs["role"] == role.outputs["arn"]
        trust = json.loads(role.inputs["assumeRolePolicy"])
        assert trust["Statement"] == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]


def test_fulfillment_policy_reaches_only_this_table_and_this_stage(record: StackRecord) -> None:
    policy = record.one(v.POLICY, "-fulfillment-policy")
    connections = v.table(record, "connections").outputs["arn"]
    assert v.grants(policy) == {
        ("dynamodb:GetItem", connections),
        ("dynamodb:DeleteItem", connections),
        # Posting only: the helper never reads or closes a connection.
        ("execute-api:ManageConnections", v.execute_api_arn(record, "POST/@connections/*")),
    }
    assert record.exports["fulfillment_policy_arn"] == policy.outputs["arn"]


def test_no_policy_grants_a_bare_wildcard_and_every_arn_is_this_partition(
    record: StackRecord,
) -> None:
    for resource in v.all_policy_documents(record):
        for action, arn in v.grants(resource):
            assert arn != "*" and "*" not in action.split(":")[0], (resource.name, action)
            assert arn.startswith(f"arn:{v.partition(record)}:"), arn
            if ":bedrock:" not in arn:
                assert f":{ACCOUNT_ID}:" in arn, arn


def test_web_ui_may_open_exactly_this_apis_connect_only_with_iam(record: StackRecord) -> None:
    policies = [p for p in record.of_type(v.POLICY) if p.name.endswith("-web-ui-connect-policy")]
    if v.setting(record, "authMode") == "none":
        assert not policies
        assert "web_ui_policy_arn" not in record.exports
        return
    (policy,) = policies
    assert v.grants(policy) == {("execute-api:Invoke", v.execute_api_arn(record, "$connect"))}
    attached = {
        a.inputs["role"]
        for a in record.of_type(v.ATTACHMENT)
        if a.inputs["policyArn"] == policy.outputs["arn"]
    }
    assert attached == set(v.setting(record, "webUiRoleNames"))
    assert record.exports["web_ui_policy_arn"] == policy.outputs["arn"]


def layer_for(record: StackRecord, runtime_family: str):
    """The one layer offered to the runtimes of `runtime_family` ("python", "nodejs")."""
    (layer,) = [
        layer
        for layer in record.of_type(v.LAYER)
        if layer.inputs["compatibleRuntimes"][0].startswith(runtime_family)
    ]
    return layer


def test_helper_layer_publishes_the_runtime_package(record: StackRecord) -> None:
    layer = layer_for(record, "python")
    archive = layer.inputs["code"]["archive"]
    assert archive == {k: str(p) for k, p in layout.layer_files().items()}
    assert "python/lexstream_runtime/streaming.py" in archive
    # Offered to fulfillment functions on every Python runtime Lambda still supports (3.12
    # and later; the AL2 ones, 3.11 and older, are deprecated), up to the component's own.
    runtimes = layer.inputs["compatibleRuntimes"]
    assert runtimes[-1] == v.function(record, "connect").inputs["runtime"]
    assert runtimes == [f"python3.{minor}" for minor in range(12, 12 + len(runtimes))]
    assert layer.inputs["compatibleArchitectures"] == ["arm64", "x86_64"]
    assert record.exports["helper_layer_arn"] == layer.outputs["arn"]


def test_node_helper_layer_publishes_the_compiled_package(record: StackRecord) -> None:
    layer = layer_for(record, "nodejs")
    archive = layer.inputs["code"]["archive"]
    assert archive == {k: str(p) for k, p in node_package.layer_files().items()}
    assert "nodejs/node_modules/lexstream-streaming/dist/index.js" in archive
    assert layer.inputs["compatibleRuntimes"] == ["nodejs20.x", "nodejs22.x", "nodejs24.x"]
    assert layer.inputs["compatibleArchitectures"] == ["arm64", "x86_64"]
    assert record.exports["node_helper_layer_arn"] == layer.outputs["arn"]


def test_outputs_are_what_the_lex_web_ui_needs(record: StackRecord) -> None:
    api_id = v.api(record).id
    stage = v.setting(record, "stageName")
    host = f"{api_id}.execute-api.{v.region(record)}.{v.dns_suffix(record)}"
    exports = record.exports
    # On a custom domain the stage is mapped at the root; fulfillment functions still
    # post to the execute-api URL.
    domain = v.setting(record, "customDomainName")
    assert exports["websocket_url"] == (f"wss://{domain}" if domain else f"wss://{host}/{stage}")
    assert exports["callback_url"] == f"https://{host}/{stage}"
    assert exports["table_name"] == v.table(record, "connections").outputs["name"]
    assert exports["api_id"] == api_id
    assert exports["usage_plan_id"] == record.one(v.USAGE_PLAN).id
    assert exports["web_ui_config"] == {
        "lex": {
            "allowStreamingResponses": True,
            "streamingWebSocketEndpoint": exports["websocket_url"],
            "streamingDynamoDbTable": exports["table_name"],
        }
    }


def test_example_fulfillment_exists_exactly_when_the_stack_asks(record: StackRecord) -> None:
    examples = [f for f in record.of_type(v.FUNCTION) if f.name.endswith("-bedrock-fulfillment")]
    assert len(examples) == (1 if v.setting(record, "exampleFulfillment") else 0)
    assert ("example_function_arn" in record.exports) == bool(examples)


def test_the_account_wide_cloudwatch_role_is_left_alone_by_default(record: StackRecord) -> None:
    if not v.setting(record, "manageApiGatewayAccount"):
        assert not record.of_type(v.ACCOUNT)
