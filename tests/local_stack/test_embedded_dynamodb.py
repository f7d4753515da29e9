"""The embedded DynamoDB keeps DynamoDB's promise that matters most to the quota: a
conditional write's check and write are one step, so concurrent counters at their limit
admit exactly the limit, never one more.

moto alone breaks that promise when two requests are served at once (it reads, checks
and writes in separate steps). A tiny thread switch interval makes such an interleaving
likely in every round, so a server that let requests overlap fails here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.config
import pytest
from lexstream_runtime import contract
from lexstream_runtime.quota import RequestQuota

from local_stack.dynamodb import EmbeddedDynamoDB, ensure_stack_tables

pytestmark = pytest.mark.timeout(120)

CALLERS = 40
LIMIT = 10
ROUNDS = 12


@pytest.fixture
def switch_threads_often() -> Iterator[None]:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_concurrent_conditional_counters_admit_exactly_their_limit(
    fake_aws_environment: None, switch_threads_often: None
) -> None:
    with EmbeddedDynamoDB() as dynamodb:
        # One pooled connection per caller, so all of them are in flight at once.
        client = boto3.session.Session().client(
            "dynamodb",
            endpoint_url=dynamodb.endpoint_url,
            region_name="us-east-1",
            config=botocore.config.Config(max_pool_connections=CALLERS),
        )
        admitted = []
        for round_ in range(ROUNDS):
            ensure_stack_tables(client, f"connections-{round_}", f"quota-{round_}")
            quota = RequestQuota(client, f"quota-{round_}", LIMIT, "DAY")
            with ThreadPoolExecutor(CALLERS) as callers:
                admitted.append(sum(callers.map(lambda _, q=quota: q.admit(), range(CALLERS))))
            counter = client.scan(TableName=f"quota-{round_}", ConsistentRead=True)["Items"]
            assert [int(item[contract.QUOTA_REQUESTS]["N"]) for item in counter] == [LIMIT]
    assert admitted == [LIMIT] * ROUNDS
