"""Fixtures for the function tests: the route functions wired to fresh tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lexstream_runtime import contract
from lexstream_runtime.quota import is_period_key

from local_stack.lambda_runtime import FunctionError, LambdaFunction
from tests.conftest import _ended_after_the_test
from tests.functions.stream_helpers import NodeHelper, PythonHelper

# Port 9 on loopback: nothing listens. A test whose connects must ask the management API
# whether a connection is live passes a gateway's own callback URL instead.
UNREACHABLE_CALLBACK_URL = "http://127.0.0.1:9/local"
# Every test socket comes from 127.0.0.1: only the tests of the per-source counter set a
# per-source limit that they reach.
UNREACHED_SOURCE_LIMIT = 1_000_000


@pytest.fixture
def route_environment(connection_table: str, quota_table: str) -> Callable[..., dict[str, str]]:
    """`route_environment(limit=100, period="DAY", auth=contract.AUTH_NONE,
    callback_url=UNREACHABLE_CALLBACK_URL, per_identity_limit=50,
    per_source_limit=UNREACHED_SOURCE_LIMIT)` → the environment the component sets on the
    route functions, for this test's tables."""

    def environment(
        limit: int = 100,
        period: str = "DAY",
        auth: str = contract.AUTH_NONE,
        callback_url: str = UNREACHABLE_CALLBACK_URL,
        per_identity_limit: int = 50,
        per_source_limit: int = UNREACHED_SOURCE_LIMIT,
    ) -> dict[str, str]:
        return {
            contract.ENV_CONNECTION_TABLE: connection_table,
            contract.ENV_QUOTA_TABLE: quota_table,
            contract.ENV_QUOTA_LIMIT: str(limit),
            contract.ENV_QUOTA_PERIOD: period,
            contract.ENV_QUOTA_PER_IDENTITY_LIMIT: str(per_identity_limit),
            contract.ENV_QUOTA_PER_SOURCE_LIMIT: str(per_source_limit),
            contract.ENV_AUTH_MODE: auth,
            contract.ENV_CALLBACK_URL: callback_url,
        }

    return environment


@pytest.fixture
def routes(
    make_function: Callable[..., LambdaFunction], route_environment: Callable[..., dict[str, str]]
) -> Callable[..., dict[str, LambdaFunction]]:
    """`routes(limit=..., auth=...)` → {"$connect": fn, "$disconnect": fn, "$default": fn}."""

    def make(**settings: Any) -> dict[str, LambdaFunction]:
        env = route_environment(**settings)
        return {
            contract.ROUTE_CONNECT: make_function("connect", env),
            contract.ROUTE_DISCONNECT: make_function("disconnect", env),
            contract.ROUTE_DEFAULT: make_function("default", env),
        }

    return make


@pytest.fixture
def serve_routes(
    make_gateway: Callable[..., Any], routes: Callable[..., dict[str, LambdaFunction]]
) -> Callable[..., tuple[Any, dict[str, LambdaFunction]]]:
    """`serve_routes(auth=..., limit=..., with_disconnect=True, per_identity_limit=50,
    **gateway_options)` →
    (gateway, functions): a started LocalGateway serving the route functions, which know
    its callback URL as the component's own API's (so $connect can ask it whether a
    connection is live). Without $disconnect, a closed socket leaves its row behind, as
    when API Gateway's best-effort $disconnect never runs."""

    def serve(
        auth: str = contract.AUTH_NONE,
        limit: int = 100,
        with_disconnect: bool = True,
        per_identity_limit: int = 50,
        per_source_limit: int = UNREACHED_SOURCE_LIMIT,
        **gateway_options: Any,
    ) -> tuple[Any, dict[str, LambdaFunction]]:
        gateway = make_gateway({}, auth_mode=auth, **gateway_options)
        functions = routes(
            auth=auth,
            limit=limit,
            callback_url=gateway.callback_url,
            per_identity_limit=per_identity_limit,
            per_source_limit=per_source_limit,
        )
        if not with_disconnect:
            del functions[contract.ROUTE_DISCONNECT]
        gateway.serve_routes(functions)
        return gateway, functions

    return serve


@pytest.fixture
def connection_item(dynamodb: Any, connection_table: str) -> Callable[[str], dict | None]:
    """`connection_item(session_id)` → that session's row, read consistently, or None."""

    def read(session_id: str) -> dict[str, Any] | None:
        return dynamodb.get_item(
            TableName=connection_table,
            Key={contract.SESSION_ID: {"S": session_id}},
            ConsistentRead=True,
        ).get("Item")

    return read


@pytest.fixture
def connection_items(dynamodb: Any, connection_table: str) -> Callable[[], list[dict]]:
    """`connection_items()` → every row of this test's connection table."""
    return lambda: dynamodb.scan(TableName=connection_table, ConsistentRead=True)["Items"]


@pytest.fixture
def quota_count(dynamodb: Any, quota_table: str) -> Callable[[], int]:
    """`quota_count()` → requests counted by the shared quota so far, over all periods, in
    this test's table (a connection's or an identity's own counter left out)."""

    def count() -> int:
        items = dynamodb.scan(TableName=quota_table, ConsistentRead=True)["Items"]
        return sum(
            int(item[contract.QUOTA_REQUESTS]["N"])
            for item in items
            if is_period_key(item[contract.QUOTA_PERIOD_KEY]["S"])
        )

    return count


@pytest.fixture
def init_error(make_function: Callable[..., LambdaFunction]) -> Callable[..., str]:
    """`init_error(name, environment, variable, value)` → the message of the
    ConfigurationError that the function's cold init raises once `variable` is set to
    `value` (None: removed) in `environment`."""

    def error(name: str, environment: dict[str, str], variable: str, value: str | None) -> str:
        changed = {key: val for key, val in environment.items() if key != variable}
        if value is not None:
            changed[variable] = value
        with pytest.raises(FunctionError) as raised:
            make_function(name, changed).invoke({})
        # Lambda reports an init's exception by its class name.
        assert raised.value.error_type == "ConfigurationError"
        return raised.value.message

    return error


# --- The streaming helper under test: Python's, or Node.js's in its own process ---------


@pytest.fixture
def helper_language() -> str:
    """Which streaming helper `helper` is: "python" unless a test parametrizes it over
    `stream_helpers.both_helpers`."""
    return "python"


@pytest.fixture
def make_helper(
    helper_language: str, dynamodb: Any, dynamodb_local: str
) -> Iterator[Callable[..., PythonHelper | NodeHelper]]:
    """`make_helper(**environment)` → the helper of `helper_language`; a Node.js one runs
    in a process of its own with `environment` added (read at its cold init, as on Lambda),
    ended when the test ends."""

    def make(**environment: str) -> PythonHelper | NodeHelper:
        if helper_language == "python":
            if environment:
                raise ValueError("the Python helper reads its environment at import")
            return PythonHelper(dynamodb, dynamodb_local)
        return NodeHelper({"AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local, **environment})

    yield from _ended_after_the_test(make, end="close")


@pytest.fixture
def helper(make_helper: Callable[..., PythonHelper | NodeHelper]) -> PythonHelper | NodeHelper:
    """The streaming helper of `helper_language`, with DynamoDB Local for its lookups."""
    return make_helper()
