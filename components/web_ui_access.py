"""Who may open the socket when `$connect` is AWS_IAM: the Lex Web UI's Cognito roles."""

from __future__ import annotations

from collections.abc import Sequence

from lexstream_runtime import contract

from .children import Children
from .iam import AttachedPolicy, statement
from .websocket_api import WebSocketApi


class WebUiConnectPolicy(AttachedPolicy):
    """`execute-api:Invoke` on exactly this API's `{stage}/$connect`, never a wildcard
    API, attached to the given role names (the identity pool's auth/unauth roles)."""

    def __init__(self, children: Children, *, api: WebSocketApi, role_names: Sequence[str]) -> None:
        super().__init__(
            children,
            part="web_ui_policy",
            policy_name="web-ui-connect-policy",
            attachment_prefix="web-ui",
            description="Open the Lex Web UI streaming WebSocket",
            statements=[
                statement(["execute-api:Invoke"], [api.execute_api_arn(contract.ROUTE_CONNECT)])
            ],
            role_names=role_names,
        )
