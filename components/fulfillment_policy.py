"""What a bot's fulfillment function needs in order to stream: one managed policy.

Its grants are declared once, as `declarations.FULFILLMENT_GRANTS`: look up a session's
connection, delete a stale row (after GoneException), and post to connections on this
API's stage; nothing else. The helper never reads or closes a connection, so GET and
DELETE on `@connections` are not granted: DELETE would let any role holding the policy
disconnect any client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi

from .children import Children
from .functions_package import declarations
from .iam import AttachedPolicy, grant_statements


class FulfillmentPolicy(AttachedPolicy):
    """The managed policy, attached to the given role names; `arns` maps the declared
    resources to this stack's ARNs."""

    def __init__(
        self,
        children: Children,
        *,
        arns: Mapping[str, Sequence[pulumi.Input[str]]],
        role_names: Sequence[str],
    ) -> None:
        super().__init__(
            children,
            part="fulfillment_policy",
            policy_name="fulfillment-policy",
            attachment_prefix="fulfillment",
            description="Stream Lex fulfillment responses to Lex Web UI clients",
            statements=grant_statements(declarations.FULFILLMENT_GRANTS, arns),
            role_names=role_names,
        )
