"""Who may open the socket when `$connect` is AWS_IAM: the Lex Web UI's Cognito roles."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from .children import Children
from .functions_package import contract
from .iam import document, statement
from .websocket_api import WebSocketApi


class WebUiConnectPolicy:
    """`execute-api:Invoke` on exactly this API's `{stage}/$connect`, never a wildcard
    API, attached to the given role names (the identity pool's auth/unauth roles)."""

    def __init__(self, children: Children, *, api: WebSocketApi, role_names: Sequence[str]) -> None:
        self.policy = children.create(
            "web_ui_policy",
            aws.iam.Policy,
            "web-ui-connect-policy",
            description="Open the Lex Web UI streaming WebSocket",
            policy=document(
                [statement(["execute-api:Invoke"], [api.execute_api_arn(contract.ROUTE_CONNECT)])]
            ),
            tags=children.tags,
        )
        self.attachments = [
            children.create(
                "web_ui_policy",
                aws.iam.RolePolicyAttachment,
                f"web-ui-{role_name}",
                role=role_name,
                policy_arn=self.policy.arn,
            )
            for role_name in role_names
        ]
        self.arn: pulumi.Output[str] = self.policy.arn
