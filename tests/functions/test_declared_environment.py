"""Each route function starts and answers with exactly the variables its declaration
gives it, as deployed: none of them reads a variable that only another function gets
(the per-identity limit reaches $connect alone)."""

from __future__ import annotations

import json

import pytest
from lexstream_runtime import contract

from functions.declarations import ROUTE_FUNCTIONS

EVENTS = {
    contract.ROUTE_CONNECT: "websocket-connect-none",
    contract.ROUTE_DEFAULT: "websocket-message-default",
    contract.ROUTE_DISCONNECT: "websocket-disconnect",
}


@pytest.mark.parametrize("route", sorted(EVENTS))
def test_a_route_function_runs_on_only_its_declared_variables(
    make_function, route_environment, event, route
):
    declaration = ROUTE_FUNCTIONS[route]
    every_setting = route_environment()
    environment = {
        name: every_setting[name] for name in declaration.environment if name in every_setting
    }
    assert contract.ENV_QUOTA_PER_IDENTITY_LIMIT not in environment or (
        route == contract.ROUTE_CONNECT
    )
    request = event(EVENTS[route])
    if route == contract.ROUTE_DEFAULT:
        request["body"] = json.dumps({"action": contract.ROUTE_PING})

    response = make_function(declaration.name, environment).invoke(request)

    assert response["statusCode"] == 200
