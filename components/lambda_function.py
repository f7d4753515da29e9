"""One of lexstream's Lambda functions: its log group, its own role, and the function."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from .children import Children
from .functions_package import FunctionDeclaration, declarations, layout
from .iam import document, grant_statements, service_trust_policy, statement

# The runtime is named once, in the layout, which the benchmarks read too.
RUNTIME = aws.lambda_.Runtime(layout.LAMBDA_RUNTIME)
# Graviton: cheaper per millisecond, and nothing here is architecture-specific.
ARCHITECTURE = "arm64"
LAMBDA_SERVICE = "lambda.amazonaws.com"


def code_archive(files: Mapping[str, Any]) -> pulumi.AssetArchive:
    """An archive of exactly the files `functions.layout` lists (absolute source paths,
    so it does not matter which directory the program runs from)."""
    return pulumi.AssetArchive(
        {arcname: pulumi.FileAsset(str(path)) for arcname, path in sorted(files.items())}
    )


class LexstreamFunction:
    """A function from `functions/<name>/`, as its declaration (`functions.declarations`)
    says: handler, timeout, memory, the environment built from `settings`, and its grants
    on the ARNs `arns` gives (`special`: see `iam.grant_statements`). Logging to its own
    log group is always added; `managed_policy_arns` are attached to its role before it is
    created.
    """

    def __init__(
        self,
        children: Children,
        declaration: FunctionDeclaration,
        *,
        settings: Mapping[str, pulumi.Input[str]],
        arns: Mapping[str, Sequence[pulumi.Input[str]]],
        log_retention_days: int,
        managed_policy_arns: Sequence[pulumi.Input[str]] = (),
        special: Mapping[str, Sequence[dict[str, Any]]] | None = None,
    ) -> None:
        name = declaration.name
        statements = grant_statements(declaration.grants, arns, **(special or {}))
        suffix = name.replace("_", "-")
        # Created before the function and named through logging_config, so Lambda never
        # creates /aws/lambda/<fn> itself (which would then collide and never expire).
        self.log_group = children.create(
            "function_log_group",
            aws.cloudwatch.LogGroup,
            f"{suffix}-logs",
            name_prefix=f"/aws/lambda/{children.prefix}-{suffix}-",
            retention_in_days=log_retention_days,
        )
        self.role = children.create(
            "function_role",
            aws.iam.Role,
            f"{suffix}-role",
            assume_role_policy=service_trust_policy(LAMBDA_SERVICE),
        )
        # The provider strips the `:*` suffix from log group ARNs; streams are below it.
        log_streams = self.log_group.arn.apply(lambda arn: f"{arn}:*")
        permissions: list[pulumi.Resource] = [
            children.create(
                "function_policy",
                aws.iam.RolePolicy,
                f"{suffix}-policy",
                role=self.role.id,
                policy=document(
                    [
                        statement(["logs:CreateLogStream", "logs:PutLogEvents"], [log_streams]),
                        *statements,
                    ]
                ),
            )
        ]
        permissions += [
            children.create(
                "function_policy",
                aws.iam.RolePolicyAttachment,
                f"{suffix}-managed-{index}",
                role=self.role.name,
                policy_arn=policy_arn,
            )
            for index, policy_arn in enumerate(managed_policy_arns)
        ]
        self.function = children.create(
            "function",
            aws.lambda_.Function,
            suffix,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=declaration.handler,
            code=code_archive(layout.function_files(name)),
            role=self.role.arn,
            memory_size=declaration.memory_mb,
            timeout=declaration.timeout_seconds,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables=declaration.environment_from(settings)
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format=declarations.LOG_FORMAT,
                log_group=self.log_group.name,
                application_log_level=declarations.APPLICATION_LOG_LEVEL,
                system_log_level=declarations.SYSTEM_LOG_LEVEL,
            ),
            # The first invocation must find its log group and its permissions in place.
            depends_on=[self.log_group, *permissions],
        )
