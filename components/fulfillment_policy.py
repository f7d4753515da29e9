"""What a bot's fulfillment function needs in order to stream: one managed policy.

It may look up a session's connection, delete a stale one (after GoneException), and
post to, get and delete connections on this API's stage only.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi_aws as aws

from .children import Children
from .iam import AttachedPolicy, statement
from .websocket_api import WebSocketApi

MANAGE_CONNECTIONS_METHODS = ("POST", "GET", "DELETE")


def fulfillment_statements(table: aws.dynamodb.Table, api: WebSocketApi) -> list[dict[str, object]]:
    """The statements of the fulfillment policy, for reuse by the example function."""
    return [
        statement(["dynamodb:GetItem", "dynamodb:DeleteItem"], [table.arn]),
        statement(
            ["execute-api:ManageConnections"],
            [
                api.execute_api_arn(f"{method}/@connections/*")
                for method in MANAGE_CONNECTIONS_METHODS
            ],
        ),
    ]


class FulfillmentPolicy(AttachedPolicy):
    """The managed policy, attached to the given role names."""

    def __init__(
        self,
        children: Children,
        *,
        table: aws.dynamodb.Table,
        api: WebSocketApi,
        role_names: Sequence[str],
    ) -> None:
        super().__init__(
            children,
            part="fulfillment_policy",
            policy_name="fulfillment-policy",
            attachment_prefix="fulfillment",
            description="Stream Lex fulfillment responses to Lex Web UI clients",
            statements=fulfillment_statements(table, api),
            role_names=role_names,
        )
