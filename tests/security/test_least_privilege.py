"""The least-privilege contract: each function's role grants what it calls, and no more.

The roles come from the real program run under mocks (tests/program/harness.py): every
statement of every policy the component attaches to a function's role. The calls come
from the AWS call recorder, which runs for the whole test session, plus a scenario run
here that drives every function through every path that touches AWS (connect, a client
message, a streamed turn, a plain turn, a turn whose browser is gone, disconnect), with
exactly the environment the component gives each function, against DynamoDB Local, the
local gateway and the local Bedrock.

Two ways to fail, each compared as (action, resource) pairs: a function calls an action
on a resource its role does not grant, or a role grants an action or a resource its
function never needs, a wider resource or another method included. What a call needs is
its own resource, with only the parts that are unknown until run time left open (the
connection id, and the Region a cross-Region inference profile routes to). Logs
permissions are used by the Lambda service to ship the function's output, not by the
code, so they are expected without a call.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from lexstream_runtime import contract
from lexstream_runtime.quota import CONNECTION_MESSAGE_BUDGET

from components.bedrock_example import INFERENCE_PROFILE_PREFIXES
from local_stack.bedrock import LocalBedrock
from local_stack.gateway import LocalGateway
from local_stack.lambda_runtime import LambdaFunction
from policy.lexstream_policies import statements as policy_statements
from tests.conftest import WebSocketClient, load_event
from tests.functions.waiting import eventually
from tests.program.conftest import VARIANTS
from tests.program.harness import ACCOUNT_ID, StackRecord, record_stack, stack_names
from tests.security.action_recorder import RECORDER, RecordedCall

FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED_POLICY = "aws:iam/policy:Policy"
TABLE = "aws:dynamodb/table:Table"
API = "aws:apigatewayv2/api:Api"
STAGE = "aws:apigatewayv2/stage:Stage"

# Used by the Lambda service on the function's behalf (its log output), not by the code.
LAMBDA_SERVICE_ACTIONS = frozenset(
    {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
)
FUNCTION_OF_HANDLER = {handler: name for name, handler in contract.HANDLERS.items()}
_MANAGEMENT_METHODS = {
    "PostToConnection": "POST",
    "GetConnection": "GET",
    "DeleteConnection": "DELETE",
}

SESSION_ID = "us-east-1:6f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
STOCK_SESSION_ID = "lex-web-ui-0a1b"
# A connection id the gateway never issued: posting to it answers 410 Gone.
GONE_CONNECTION_ID = "GoneGoneGoneGo0="


@dataclass(frozen=True)
class Grant:
    action: str
    resource: str


@dataclass(frozen=True)
class DeployedFunction:
    """One function as the stack declares it: its environment and its role's grants."""

    name: str
    environment: dict[str, str]
    grants: frozenset[Grant]

    def granted_actions(self) -> set[str]:
        return {grant.action for grant in self.grants}

    def allows(self, action: str, resources: list[str]) -> bool:
        return any(
            fnmatch.fnmatchcase(action, grant.action)
            and any(fnmatch.fnmatchcase(resource, grant.resource) for resource in resources)
            for grant in self.grants
        )


def deployed_functions(record: StackRecord) -> dict[str, DeployedFunction]:
    """Every function of the stack with the Allow statements of every policy on its role."""
    roles = {r.outputs["arn"]: r for r in record.of_type(ROLE)}
    managed = {r.outputs["arn"]: r for r in record.of_type(MANAGED_POLICY)}
    result = {}
    for function in record.of_type(FUNCTION):
        role = roles[function.inputs["role"]]
        role_names = {role.id, role.outputs["name"]}
        documents = [
            p.inputs["policy"]
            for p in record.of_type(ROLE_POLICY)
            if p.inputs["role"] in role_names
        ]
        documents += [inline["policy"] for inline in role.inputs.get("inlinePolicies", [])]
        documents += [
            managed[a.inputs["policyArn"]].inputs["policy"]
            for a in record.of_type(ATTACHMENT)
            if a.inputs["role"] in role_names
        ]
        grants = set()
        for document in documents:
            for statement in policy_statements(document):
                assert statement["Effect"] == "Allow", statement
                for action in _as_list(statement["Action"]):
                    grants |= {Grant(action, arn) for arn in _as_list(statement["Resource"])}
        name = FUNCTION_OF_HANDLER[function.inputs["handler"]]
        variables = function.inputs.get("environment", {}).get("variables", {})
        result[name] = DeployedFunction(name, dict(variables), frozenset(grants))
    return result


def _as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value)


def resource_arns(call: RecordedCall, record: StackRecord, gateway: LocalGateway) -> list[str]:
    """The ARNs IAM evaluates for a call made in the scenario (in the stack's account)."""
    region = record.config["aws:region"]
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    params = dict(call.resource)
    if call.service == "dynamodb":
        arn = f"arn:{partition}:dynamodb:{region}:{ACCOUNT_ID}:table/{params['TableName']}"
        return [arn + (f"/index/{params['IndexName']}" if "IndexName" in params else "")]
    if call.service == "apigatewaymanagementapi":
        stage = call.endpoint.rstrip("/").rsplit("/", 1)[1]
        method = _MANAGEMENT_METHODS[call.operation]
        return [
            f"arn:{partition}:execute-api:{region}:{ACCOUNT_ID}:{gateway.api_id}/{stage}/"
            f"{method}/@connections/{params['ConnectionId']}"
        ]
    if call.service == "bedrock-runtime":
        model = params["modelId"]
        # An id is either a foundation model's or a (cross-Region) inference profile's.
        return [
            f"arn:{partition}:bedrock:{region}:{ACCOUNT_ID}:inference-profile/{model}",
            f"arn:{partition}:bedrock:{region}::foundation-model/{model}",
        ]
    raise AssertionError(f"no resource mapping for {call.service}:{call.operation}")


def needed_grants(call: RecordedCall, record: StackRecord, gateway: LocalGateway) -> set[Grant]:
    """The narrowest grants that allow `call`: its resource, with only what is unknown
    until run time left open."""
    if call.service == "apigatewaymanagementapi":
        # Connection ids are issued at run time: the method and stage are not.
        [arn] = resource_arns(call, record, gateway)
        return {Grant(call.action, arn.rsplit("/", 1)[0] + "/*")}
    if call.service == "bedrock-runtime":
        return {Grant(call.action, arn) for arn in _bedrock_needs(call, record)}
    return {Grant(call.action, arn) for arn in resource_arns(call, record, gateway)}


def _bedrock_needs(call: RecordedCall, record: StackRecord) -> list[str]:
    region = record.config["aws:region"]
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    model = dict(call.resource)["modelId"]
    prefix, _, base_model = model.partition(".")
    if prefix not in INFERENCE_PROFILE_PREFIXES:
        return [f"arn:{partition}:bedrock:{region}::foundation-model/{model}"]
    # AWS routes a profile's request to a Region of its geography that it chooses, and
    # checks the model there (and, for a global profile, Region-less too).
    needs = [
        f"arn:{partition}:bedrock:{region}:{ACCOUNT_ID}:inference-profile/{model}",
        f"arn:{partition}:bedrock:*::foundation-model/{base_model}",
    ]
    if prefix == "global":
        needs.append(f"arn:{partition}:bedrock:::foundation-model/{base_model}")
    return needs


# --- the scenario -------------------------------------------------------------------------


@dataclass
class Scenario:
    record: StackRecord
    functions: dict[str, DeployedFunction]
    calls: list[RecordedCall]
    gateway: LocalGateway


STACKS = [*stack_names(), *VARIANTS]


@pytest.fixture(scope="module", params=STACKS)
def scenario(request: pytest.FixtureRequest, dynamodb: Any) -> Iterator[Scenario]:
    """One run of the scenario per stack file and program variant, shared by its tests."""
    stack, overrides = VARIANTS.get(request.param, (request.param, {}))
    record = record_stack(stack, overrides)
    functions = deployed_functions(record)
    tables = _create_stack_tables(dynamodb, record)
    stage, api_id = record.one(STAGE).inputs["name"], record.one(API).id
    made: list[LambdaFunction] = []
    try:
        with (
            LocalBedrock(tokens_per_second=2000.0) as bedrock,
            LocalGateway({}, stage=stage, api_id=api_id) as gateway,
        ):

            def run(name: str) -> LambdaFunction:
                environment = {
                    **functions[name].environment,
                    "AWS_ENDPOINT_URL_DYNAMODB": dynamodb.meta.endpoint_url,
                    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.endpoint_url,
                }
                if contract.ENV_CALLBACK_URL in environment:
                    # The local gateway stands in for the stack's API, at its own URL.
                    assert environment[contract.ENV_CALLBACK_URL] == record.exports["callback_url"]
                    environment[contract.ENV_CALLBACK_URL] = gateway.callback_url
                made.append(LambdaFunction.lexstream(name, environment))
                return made[-1]

            with RECORDER.recording() as calls:
                _drive(functions, run, gateway, dynamodb)
            yield Scenario(record, functions, calls, gateway)
    finally:
        for function in made:
            function.close()
        for name in tables:
            dynamodb.delete_table(TableName=name)


def _create_stack_tables(dynamodb: Any, record: StackRecord) -> list[str]:
    """The stack's tables, under the names the stack gives them, from the shared schemas."""
    created = []
    for table in record.of_type(TABLE):
        schema = (
            contract.CONNECTION_TABLE_SCHEMA
            if table.inputs["hashKey"] == contract.SESSION_ID
            else contract.QUOTA_TABLE_SCHEMA
        )
        definition = {k: v for k, v in schema.items() if k != "TimeToLiveAttribute"}
        dynamodb.create_table(TableName=table.outputs["name"], **definition)
        created.append(table.outputs["name"])
    return created


def _drive(
    functions: dict[str, DeployedFunction],
    run: Callable[[str], LambdaFunction],
    gateway: LocalGateway,
    dynamodb: Any,
) -> None:
    connection_table = functions["connect"].environment[contract.ENV_CONNECTION_TABLE]
    connect = run("connect")
    # The iam fixture's caller owns SESSION_ID, so this connect is valid in both modes.
    assert connect.invoke(load_event("websocket-connect-iam"))["statusCode"] == 200
    # A stock client's session whose row outlived its connection: $connect asks the
    # management API (410) before it takes the session over.
    stale = load_event("websocket-connect-iam")
    stale["queryStringParameters"][contract.CONNECT_QUERY_PARAMETER] = STOCK_SESSION_ID
    _map_session(
        dynamodb, connection_table, GONE_CONNECTION_ID, STOCK_SESSION_ID, registered_ago_s=600
    )
    assert connect.invoke(stale)["statusCode"] == 200
    # Junk up to the connection's budget, then one more, which closes the connection.
    default = run("default")
    statuses = [
        default.invoke(load_event("websocket-message-default"))["statusCode"]
        for _ in range(CONNECTION_MESSAGE_BUDGET + 1)
    ]
    assert statuses == [400] * CONNECTION_MESSAGE_BUDGET + [429]
    if "bedrock_fulfillment" in functions:
        fulfillment = run("bedrock_fulfillment")
        browser = WebSocketClient(gateway.websocket_url)
        try:
            # The handshake can finish a moment before the gateway records the socket.
            assert eventually(lambda: len(gateway.open_connection_ids()) == 1)
            [live] = gateway.open_connection_ids()
            # A live browser, then one that is gone (410): the second turn removes the row.
            for connection_id in (live, GONE_CONNECTION_ID):
                _map_session(dynamodb, connection_table, connection_id)
                turn = load_event("lexv2-fulfillment-streaming")
                turn["sessionState"]["sessionAttributes"] = {
                    contract.SESSION_ATTR_ENDPOINT: gateway.callback_url,
                    contract.SESSION_ATTR_TABLE: connection_table,
                }
                assert fulfillment.invoke(turn)["messages"][0]["content"]
            assert browser.text, "the streamed turn posted nothing"
        finally:
            browser.close()
        plain = fulfillment.invoke(load_event("lexv2-fulfillment-plain"))
        assert plain["messages"][0]["content"]
    disconnect = load_event("websocket-disconnect")
    _map_session(dynamodb, connection_table, disconnect["requestContext"]["connectionId"])
    assert run("disconnect").invoke(disconnect)["statusCode"] == 200


def _map_session(
    dynamodb: Any,
    table: str,
    connection_id: str,
    session_id: str = SESSION_ID,
    registered_ago_s: float | None = None,
) -> None:
    item = {contract.SESSION_ID: {"S": session_id}, contract.CONNECTION_ID: {"S": connection_id}}
    if registered_ago_s is not None:
        ttl = contract.connection_ttl(time.time() - registered_ago_s)
        item[contract.TTL] = {"N": str(ttl)}
    dynamodb.put_item(TableName=table, Item=item)


# --- the contract ---------------------------------------------------------------------------


def test_every_call_is_granted_by_the_role_the_component_declares(scenario: Scenario) -> None:
    denied = []
    for call in scenario.calls:
        arns = resource_arns(call, scenario.record, scenario.gateway)
        if not scenario.functions[call.function].allows(call.action, arns):
            denied.append(f"{call.function}: {call.action} on {arns}")
    assert denied == []
    # Calls recorded anywhere else in the session use other tables: compare actions only.
    for function, actions in RECORDER.actions_by_function().items():
        if function in scenario.functions:
            granted = scenario.functions[function].granted_actions()
            assert actions <= granted, f"{function} calls {sorted(actions - granted)}"


def test_every_grant_is_used_by_its_function(scenario: Scenario) -> None:
    called = RECORDER.actions_by_function()
    unused = {
        name: sorted(function.granted_actions() - LAMBDA_SERVICE_ACTIONS - called.get(name, set()))
        for name, function in scenario.functions.items()
    }
    assert {name: actions for name, actions in unused.items() if actions} == {}


def granted_beyond_need(scenario: Scenario, function: DeployedFunction) -> set[Grant]:
    """The grants of `function` that no call of its needs: extra actions, wider resources
    and other methods alike (log permissions aside)."""
    needed = {
        grant
        for call in scenario.calls
        if call.function == function.name
        for grant in needed_grants(call, scenario.record, scenario.gateway)
    }
    return {g for g in function.grants if g.action not in LAMBDA_SERVICE_ACTIONS} - needed


def test_every_grant_is_a_resource_its_function_needs_and_no_wider(scenario: Scenario) -> None:
    excess = {
        name: sorted((g.action, g.resource) for g in granted_beyond_need(scenario, function))
        for name, function in scenario.functions.items()
    }
    assert {name: grants for name, grants in excess.items() if grants} == {}


def test_every_needed_resource_is_granted_exactly(scenario: Scenario) -> None:
    for name, function in scenario.functions.items():
        calls = [call for call in scenario.calls if call.function == name]
        needed = set().union(
            *(needed_grants(call, scenario.record, scenario.gateway) for call in calls)
        )
        assert needed - function.grants == set(), name


@pytest.mark.parametrize(
    "widen",
    [
        lambda arn: arn.replace("/DELETE/", "/*/"),  # any method
        lambda arn: arn.replace("/DELETE/", "/POST/"),  # another method
        lambda arn: arn.rsplit("/", 3)[0] + "/*",  # any route of the stage
    ],
)
def test_a_grant_on_a_wider_resource_or_method_is_caught(scenario: Scenario, widen) -> None:
    default = scenario.functions["default"]
    [close] = [g for g in default.grants if g.resource.endswith("/DELETE/@connections/*")]
    wider = Grant(close.action, widen(close.resource))
    padded = DeployedFunction(default.name, default.environment, default.grants | {wider})

    assert granted_beyond_need(scenario, padded) == {wider}
