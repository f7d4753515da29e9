"""In `iam` mode a session id shaped like a Cognito identity id is only ever registered by
that identity: another identity is refused even when the session is free, whichever way
the two ids sort."""

from __future__ import annotations

import pytest
from lexstream_runtime import contract

SESSION = "us-east-1:6f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"  # the iam fixture's identity


@pytest.mark.parametrize(
    "caller",
    [
        "us-east-1:00000000-1111-2222-3333-444444444444",  # sorts before the session id
        "us-east-1:99999999-8888-7777-6666-555555555555",  # sorts after it
    ],
)
def test_a_free_session_named_by_another_identity_is_refused_and_nothing_is_written(
    routes, event, connection_items, caller
):
    connect = routes(auth=contract.AUTH_IAM)[contract.ROUTE_CONNECT]
    request = event("websocket-connect-iam")
    request["requestContext"]["identity"]["cognitoIdentityId"] = caller
    assert request["queryStringParameters"][contract.CONNECT_QUERY_PARAMETER] == SESSION

    response = connect.invoke(request)

    assert response["statusCode"] == 403
    assert connection_items() == []


def test_the_identity_itself_registers_its_session(routes, event, connection_items):
    connect = routes(auth=contract.AUTH_IAM)[contract.ROUTE_CONNECT]

    assert connect.invoke(event("websocket-connect-iam"))["statusCode"] == 200
    assert [item[contract.SESSION_ID]["S"] for item in connection_items()] == [SESSION]
