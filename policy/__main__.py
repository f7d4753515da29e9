"""Entry point the Pulumi CLI runs for `pulumi preview --policy-pack policy`."""

from lexstream_policies import ALL_POLICIES, PACK_NAME
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    policies=ALL_POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
)
