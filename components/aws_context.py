"""Where the component is being deployed: partition, region and account, and ARNs in them.

ARNs are built from the partition the provider reports, never a literal `aws`, so the
same program deploys to China and GovCloud regions.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class AwsContext:
    """The deployment target, looked up once per component."""

    partition: str
    region: str
    account_id: str

    @classmethod
    def lookup(cls, parent: pulumi.Resource) -> AwsContext:
        """Ask the provider that `parent` uses (so an explicit provider's region counts)."""
        opts = pulumi.InvokeOptions(parent=parent)
        return cls(
            partition=aws.get_partition(opts=opts).partition,
            # pulumi-aws v7: `.name` is deprecated in favour of `.region`.
            region=aws.get_region(opts=opts).region,
            account_id=aws.get_caller_identity(opts=opts).account_id,
        )

    def arn(
        self, service: str, resource: str, *, regional: bool = True, in_account: bool = True
    ) -> str:
        """`arn:{partition}:{service}:{region}:{account}:{resource}` (IAM has no region)."""
        region = self.region if regional else ""
        account = self.account_id if in_account else ""
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"
