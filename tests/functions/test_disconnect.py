"""$disconnect, run as Lambda runs it, against DynamoDB Local and the local gateway."""

from __future__ import annotations

from lexstream_runtime import contract

from tests.conftest import WebSocketClient
from tests.faults.dynamodb_faults import FaultyDynamoDB
from tests.functions.waiting import Completions, eventually
from tests.stock_web_ui import stock_connect_url

SESSION = "lex-web-ui-3f9a"
IAM_SESSION = "us-east-1:6f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"  # the iam fixture's caller


def test_disconnect_removes_the_mapping_of_its_own_connection(routes, event, connection_item):
    functions = routes()
    functions[contract.ROUTE_CONNECT].invoke(event("websocket-connect-none"))

    response = functions[contract.ROUTE_DISCONNECT].invoke(event("websocket-disconnect"))

    assert response["statusCode"] == 200
    assert connection_item(SESSION) is None


def test_an_old_tabs_disconnect_leaves_the_new_tabs_mapping_in_place(
    routes, event, connection_item
):
    functions = routes(auth=contract.AUTH_IAM)
    old_tab = event("websocket-connect-iam")
    new_tab = event("websocket-connect-iam")
    new_tab["requestContext"]["connectionId"] = "NewTabConnId0="
    functions[contract.ROUTE_CONNECT].invoke(old_tab)
    functions[contract.ROUTE_CONNECT].invoke(new_tab)

    # The fixture's disconnect is the old tab's connection id.
    response = functions[contract.ROUTE_DISCONNECT].invoke(event("websocket-disconnect"))

    assert response["statusCode"] == 200
    assert connection_item(IAM_SESSION)[contract.CONNECTION_ID] == {"S": "NewTabConnId0="}


def test_a_new_tab_that_connects_between_lookup_and_delete_keeps_its_mapping(
    make_function, route_environment, dynamodb_local, event, connection_item
):
    environment = route_environment(auth=contract.AUTH_IAM)
    connect = make_function("connect", environment)
    connect.invoke(event("websocket-connect-iam"))
    new_tab = event("websocket-connect-iam")
    new_tab["requestContext"]["connectionId"] = "NewTabConnId0="

    # The race, made certain: the new tab's $connect lands right after the disconnect's
    # index lookup found the old row, before its delete (both against DynamoDB Local; the
    # disconnect's calls pass a proxy that holds the lookup's answer meanwhile).
    with FaultyDynamoDB(dynamodb_local) as proxy:
        proxy.before_answering["Query"] = lambda: connect.invoke(new_tab)
        disconnect = make_function(
            "disconnect", {**environment, "AWS_ENDPOINT_URL_DYNAMODB": proxy.endpoint_url}
        )
        response = disconnect.invoke(event("websocket-disconnect"))

    assert response["statusCode"] == 200
    assert connection_item(IAM_SESSION)[contract.CONNECTION_ID] == {"S": "NewTabConnId0="}


def test_a_duplicate_or_late_disconnect_is_harmless(routes, event, connection_items):
    functions = routes()
    functions[contract.ROUTE_CONNECT].invoke(event("websocket-connect-none"))
    disconnect = functions[contract.ROUTE_DISCONNECT]

    statuses = [disconnect.invoke(event("websocket-disconnect"))["statusCode"] for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert connection_items() == []


def test_disconnect_answers_a_malformed_event_with_400(routes):
    disconnect = routes()[contract.ROUTE_DISCONNECT]

    assert disconnect.invoke({"requestContext": {"connectionId": ""}})["statusCode"] == 400
    assert disconnect.invoke("not an event")["statusCode"] == 400


def test_closing_the_old_tab_through_the_gateway_keeps_the_new_tabs_mapping(
    serve_routes, connection_item
):
    # Only the identity whose id the session id is may replace its live row: a new tab.
    gateway, functions = serve_routes(auth=contract.AUTH_IAM)
    disconnects = Completions(functions[contract.ROUTE_DISCONNECT])
    gateway.serve_routes({contract.ROUTE_DISCONNECT: disconnects})
    credentials = gateway.identity_pool.issue()
    session = credentials.identity_id
    url = stock_connect_url(gateway.websocket_url, session, credentials, "us-east-1")
    old_tab = WebSocketClient(url)
    old_id = connection_item(session)[contract.CONNECTION_ID]["S"]
    new_tab = WebSocketClient(url)
    new_id = connection_item(session)[contract.CONNECTION_ID]["S"]
    assert new_id != old_id

    old_tab.close()
    # The gateway runs $disconnect after the socket is gone; wait for it to finish.
    assert eventually(lambda: disconnects.finished == 1)
    assert disconnects.responses[0]["statusCode"] == 200
    assert connection_item(session)[contract.CONNECTION_ID] == {"S": new_id}

    new_tab.close()
    assert eventually(lambda: disconnects.finished == 2)
    assert connection_item(session) is None
