"""The pack as `pulumi preview --policy-pack policy` starts it: an analyzer over gRPC.

The CLI's `pulumi-analyzer-policy-python` shim runs `python -u -m pulumi.policy <engine>
<pack folder>` in the pack's virtualenv, which runs the folder's `__main__.py`; that serves
Pulumi's analyzer protocol on a loopback port it prints. This starts it the same way in its
own process (from an unrelated directory, so nothing but the pack's own path handling makes
its imports work), asks it what it enforces, and has it judge resources recorded from the
real program, one intact and one broken, through the same requests the engine sends. The
process is stopped after.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from policy import lexstream_policies as rules
from tests.processes import stop
from tests.program.harness import record_stack

PACK_DIR = Path(__file__).resolve().parents[2] / "policy"


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.pop("PYTHONPATH", None)
    process = subprocess.Popen(
        # The engine address is unused by a policy pack; the shim passes it first.
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PACK_DIR)],
        cwd=tmp_path_factory.mktemp("pack-cwd"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = process.stdout.readline().strip() if process.stdout else ""
        if not port.isdigit():
            process.kill()
            raise RuntimeError(f"the pack did not start: {port!r} {process.stderr.read()}")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        stop(process)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(props, struct_pb2.Struct())


def test_the_pack_serves_every_policy_as_mandatory(analyzer: Any) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == rules.PACK_NAME
    assert {policy.name for policy in info.policies} == {p.name for p in rules.ALL_POLICIES}
    mandatory = analyzer_pb2.EnforcementLevel.Value("MANDATORY")
    assert {policy.enforcementLevel for policy in info.policies} == {mandatory}


def test_the_running_pack_passes_a_recorded_table_and_fails_a_broken_one(analyzer: Any) -> None:
    table = record_stack("prod").one(rules.DYNAMODB_TABLE, "-connections")
    intact = analyzer.Analyze(
        analyzer_pb2.AnalyzeRequest(
            type=table.type_, properties=_struct(table.inputs), urn=table.urn, name=table.name
        )
    )
    assert list(intact.diagnostics) == []
    broken_inputs = copy.deepcopy(table.inputs)
    broken_inputs.pop("serverSideEncryption")
    broken = analyzer.Analyze(
        analyzer_pb2.AnalyzeRequest(
            type=table.type_, properties=_struct(broken_inputs), urn=table.urn, name=table.name
        )
    )
    [diagnostic] = broken.diagnostics
    assert diagnostic.policyName == "table-encrypted-with-ttl"
    assert "serverSideEncryption" in diagnostic.message


def test_the_running_pack_judges_a_whole_recorded_stack(analyzer: Any) -> None:
    def stack_request(skip_type: str = "") -> analyzer_pb2.AnalyzeStackRequest:
        return analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=r.type_,
                    properties=_struct({**r.outputs, **r.inputs}),
                    urn=r.urn,
                    name=r.name,
                )
                for r in record_stack("prod").resources
                if r.type_ != skip_type
            ]
        )

    assert list(analyzer.AnalyzeStack(stack_request()).diagnostics) == []
    without_key = analyzer.AnalyzeStack(stack_request(skip_type=rules.USAGE_PLAN_KEY))
    [diagnostic] = without_key.diagnostics
    assert diagnostic.policyName == "quota-in-force" and "no API key" in diagnostic.message


# What the engine sends for a value it cannot know before the update (pulumi_policy's
# UNKNOWN_STRING_VALUE): every id, ARN and generated name of another resource.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def _as_in_a_first_preview(resources: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
    """Each resource with the inputs a first `pulumi preview` sends: every string that
    carries another resource's id or computed output is unknown."""
    computed = set()
    for r in resources:
        computed.add(r.id)
        computed |= {
            value
            for key, value in r.outputs.items()
            if isinstance(value, str) and r.inputs.get(key) != value
        }
    computed = {token for token in computed if len(token) >= 6}

    def blank(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: blank(v) for k, v in value.items()}
        if isinstance(value, list):
            return [blank(v) for v in value]
        if isinstance(value, str) and any(token in value for token in computed):
            return UNKNOWN
        return value

    return [(r, blank(r.inputs)) for r in resources]


def test_a_first_preview_with_unknown_values_passes_and_still_catches_an_open_connect(
    analyzer: Any,
) -> None:
    # Pull requests run the pack with `pulumi preview`, before any resource exists: it must
    # neither fail nor report what it cannot see (the framework only notes, as advisory,
    # which policies could not run), and must still enforce what it can see.
    mandatory = analyzer_pb2.EnforcementLevel.Value("MANDATORY")

    def diagnostics(record: Any) -> list[Any]:
        previewed = _as_in_a_first_preview(record.resources)
        found = []
        for r, props in previewed:
            request = analyzer_pb2.AnalyzeRequest(
                type=r.type_, properties=_struct(props), urn=r.urn, name=r.name
            )
            found += analyzer.Analyze(request).diagnostics
        stack = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=r.type_, properties=_struct(props), urn=r.urn, name=r.name
                )
                for r, props in previewed
            ]
        )
        found += analyzer.AnalyzeStack(stack).diagnostics
        unseen = [d for d in found if d.enforcementLevel != mandatory]
        assert all("during preview" in d.message for d in unseen), unseen
        return [d for d in found if d.enforcementLevel == mandatory]

    intact = record_stack("prod")
    previewed = {r.name: props for r, props in _as_in_a_first_preview(intact.resources)}
    assert (
        previewed[intact.one(rules.WEBSOCKET_STAGE).name]["accessLogSettings"]["destinationArn"]
        == UNKNOWN
    )
    assert diagnostics(intact) == []
    open_connect = record_stack("prod", {"authMode": "none", "webUiRoleNames": []})
    assert [d.policyName for d in diagnostics(open_connect)] == ["connect-authorized-in-production"]
