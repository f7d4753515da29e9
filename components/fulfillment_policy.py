"""What a bot's fulfillment function needs in order to stream: one managed policy.

It may look up a session's connection, delete a stale row (after GoneException), and
post to connections on this API's stage; nothing else. The helper never reads or closes
a connection, so GET and DELETE on `@connections` are not granted: DELETE would let any
role holding the policy disconnect any client.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi_aws as aws

from .children import Children
from .iam import AttachedPolicy, statement
from .websocket_api import WebSocketApi


def fulfillment_statements(table: aws.dynamodb.Table, api: WebSocketApi) -> list[dict[str, object]]:
    """The statements of the fulfillment policy, for reuse by the example function."""
    return [
        statement(["dynamodb:GetItem", "dynamodb:DeleteItem"], [table.arn]),
        statement(["execute-api:ManageConnections"], [api.execute_api_arn("POST/@connections/*")]),
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
