"""The two DynamoDB tables: session → connection, and the quota counters.

Both are declared from the contract's CreateTable-shaped schemas, the same ones the local
stack and the tests create, so what deploys and what is tested cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi_aws as aws
from lexstream_runtime import contract

from .children import Children


def create_connection_table(
    children: Children, *, point_in_time_recovery: bool, deletion_protection: bool
) -> aws.dynamodb.Table:
    """`sessionId` → `connectionId`, with the `byConnectionId` index `$disconnect` needs."""
    return _table_from_schema(
        children,
        "connection_table",
        "connections",
        contract.CONNECTION_TABLE_SCHEMA,
        point_in_time_recovery=point_in_time_recovery,
        deletion_protection=deletion_protection,
    )


def create_quota_table(
    children: Children, *, point_in_time_recovery: bool, deletion_protection: bool
) -> aws.dynamodb.Table:
    """One atomic counter item per quota period; old periods expire by TTL."""
    return _table_from_schema(
        children,
        "quota_table",
        "quota",
        contract.QUOTA_TABLE_SCHEMA,
        point_in_time_recovery=point_in_time_recovery,
        deletion_protection=deletion_protection,
    )


def _table_from_schema(
    children: Children,
    part: str,
    suffix: str,
    schema: Mapping[str, Any],
    *,
    point_in_time_recovery: bool,
    deletion_protection: bool,
) -> aws.dynamodb.Table:
    (hash_key,) = [k["AttributeName"] for k in schema["KeySchema"] if k["KeyType"] == "HASH"]
    return children.create(
        part,
        aws.dynamodb.Table,
        suffix,
        attributes=[
            aws.dynamodb.TableAttributeArgs(name=a["AttributeName"], type=a["AttributeType"])
            for a in schema["AttributeDefinitions"]
        ],
        hash_key=hash_key,
        global_secondary_indexes=[
            aws.dynamodb.TableGlobalSecondaryIndexArgs(
                name=index["IndexName"],
                projection_type=index["Projection"]["ProjectionType"],
                key_schemas=[
                    aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                        attribute_name=k["AttributeName"], key_type=k["KeyType"]
                    )
                    for k in index["KeySchema"]
                ],
            )
            for index in schema.get("GlobalSecondaryIndexes", [])
        ],
        billing_mode=schema["BillingMode"],
        ttl=aws.dynamodb.TableTtlArgs(attribute_name=schema["TimeToLiveAttribute"], enabled=True),
        # Enabled means a KMS key (AWS managed) rather than the default owned key, so key
        # use shows up in CloudTrail.
        server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
        point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(
            enabled=point_in_time_recovery
        ),
        deletion_protection_enabled=deletion_protection,
    )
