"""Small readers over a StackRecord, so that the tests read as statements about the stack."""

from __future__ import annotations

import json
from typing import Any

from lexstream_runtime import contract

from .harness import ACCOUNT_ID, ResourceRecord, StackRecord

API = "aws:apigatewayv2/api:Api"
ROUTE = "aws:apigatewayv2/route:Route"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
DEPLOYMENT = "aws:apigatewayv2/deployment:Deployment"
STAGE = "aws:apigatewayv2/stage:Stage"
TABLE = "aws:dynamodb/table:Table"
FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
LAYER = "aws:lambda/layerVersion:LayerVersion"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
USAGE_PLAN = "aws:apigateway/usagePlan:UsagePlan"
API_KEY = "aws:apigateway/apiKey:ApiKey"
USAGE_PLAN_KEY = "aws:apigateway/usagePlanKey:UsagePlanKey"
ACCOUNT = "aws:apigateway/account:Account"
COMPONENT = "lexstream:index:StreamingBackend"

ROUTE_SUFFIX = {
    contract.ROUTE_CONNECT: "connect",
    contract.ROUTE_DISCONNECT: "disconnect",
    contract.ROUTE_DEFAULT: "default",
    contract.ROUTE_PING: "ping",
}


def setting(record: StackRecord, key: str) -> Any:
    """A `lexstream:` config value as the stack sets it (JSON-decoded when possible)."""
    raw = record.config[f"lexstream:{key}"]
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def region(record: StackRecord) -> str:
    return record.config["aws:region"]


def partition(record: StackRecord) -> str:
    if region(record).startswith("cn-"):
        return "aws-cn"
    if region(record).startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def dns_suffix(record: StackRecord) -> str:
    return "amazonaws.com.cn" if partition(record) == "aws-cn" else "amazonaws.com"


def api(record: StackRecord) -> ResourceRecord:
    return record.one(API)


def stage_name(record: StackRecord) -> str:
    return record.one(STAGE).inputs["name"]


def execute_api_arn(record: StackRecord, tail: str) -> str:
    """The ARN this stack's own API and stage give `tail` (a route key or a method path)."""
    return (
        f"arn:{partition(record)}:execute-api:{region(record)}:{ACCOUNT_ID}:"
        f"{api(record).id}/{stage_name(record)}/{tail}"
    )


def table(record: StackRecord, suffix: str) -> ResourceRecord:
    """`connections` or `quota`."""
    return record.one(TABLE, f"-{suffix}")


def function(record: StackRecord, name: str) -> ResourceRecord:
    """A function by its folder name in functions/ (e.g. `bedrock_fulfillment`)."""
    return record.one(FUNCTION, "-" + name.replace("_", "-"))


def role_policy(record: StackRecord, name: str) -> ResourceRecord:
    return record.one(ROLE_POLICY, "-" + name.replace("_", "-") + "-policy")


def statements(resource: ResourceRecord) -> list[dict[str, Any]]:
    """The statements of a policy document input, with Action/Resource always lists."""
    document = json.loads(resource.inputs["policy"])
    assert document["Version"] == "2012-10-17"
    result = []
    for stmt in document["Statement"]:
        stmt = dict(stmt)
        for key in ("Action", "Resource"):
            if isinstance(stmt[key], str):
                stmt[key] = [stmt[key]]
        result.append(stmt)
    return result


def grants(resource: ResourceRecord) -> set[tuple[str, str]]:
    """Every (action, resource) pair a policy allows, ignoring conditions."""
    pairs = set()
    for stmt in statements(resource):
        assert stmt["Effect"] == "Allow"
        for action in stmt["Action"]:
            for arn in stmt["Resource"]:
                pairs.add((action, arn))
    return pairs


def all_policy_documents(record: StackRecord) -> list[ResourceRecord]:
    return record.of_type(ROLE_POLICY) + record.of_type(POLICY)
