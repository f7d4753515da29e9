"""The Pulumi engine's side of the provider protocol, served by the tests over gRPC.

`start_plugin()` launches this repository as a Pulumi language host launches a Python
plugin (`python <plugin folder> <engine address>`) and reads the port it prints.
`FakeEngine` serves the Engine service (where the plugin logs) and a ResourceMonitor that
answers registrations and lookups like AWS would (the same answers as the program's mocks,
see `tests/program/harness.AwsAnswers`) and records what was registered, in the same form
as a mocked program run, so that the two can be compared.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import (
    engine_pb2,
    engine_pb2_grpc,
    provider_pb2,
    provider_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
)

from tests.processes import stop
from tests.program.harness import ROOT, AwsAnswers, _jsonable, isolated_environment

STARTUP_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Registration:
    """One resource the plugin registered: as the program's mocked runs record it."""

    type_: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]


class FakeEngine(resource_pb2_grpc.ResourceMonitorServicer, engine_pb2_grpc.EngineServicer):
    """A resource monitor and engine for one deployment of `project`/`stack`."""

    def __init__(self, project: str, stack: str, region: str) -> None:
        self.project = project
        self.stack = stack
        self.answers = AwsAnswers(region)
        self.registrations: list[Registration] = []
        self.outputs: dict[str, dict[str, Any]] = {}
        self.logs: list[str] = []
        self._lock = threading.Lock()

    def urn(self, parent: str, type_: str, name: str) -> str:
        if parent:
            type_ = parent.split("::")[2].split("$")[-1] + "$" + type_
        return f"urn:pulumi:{self.stack}::{self.project}::{type_}::{name}"

    # ResourceMonitor ------------------------------------------------------------------

    def SupportsFeature(self, request, context):
        # Everything an engine supports, except output values: without them the SDK
        # resolves inputs before sending, so the recorded inputs are plain values.
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id != "outputValues")

    def GetDeploymentInfo(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "ask per feature")

    def RegisterResource(self, request, context):
        urn = self.urn(request.parent, request.type, request.name)
        wire_inputs = json_format.MessageToDict(request.object)
        resource_id, outputs = self.answers.resource(
            request.type, request.name, wire_inputs, request.provider, request.custom
        )
        with self._lock:
            self.registrations.append(
                Registration(
                    type_=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=request.custom,
                    inputs=_jsonable(rpc.deserialize_properties(request.object)),
                )
            )
        state = struct_pb2.Struct()
        state.update(outputs)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=state)

    def RegisterResourceOutputs(self, request, context):
        with self._lock:
            self.outputs[request.urn] = json_format.MessageToDict(request.outputs)
        return empty_pb2.Empty()

    def Invoke(self, request, context):
        answer = struct_pb2.Struct()
        answer.update(self.answers.call(request.tok, request.provider))
        return resource_pb2.ResourceInvokeResponse(**{"return": answer})

    def SignalAndWaitForShutdown(self, request, context):
        return empty_pb2.Empty()

    # Engine ---------------------------------------------------------------------------

    def Log(self, request, context):
        with self._lock:
            self.logs.append(request.message)
        return empty_pb2.Empty()

    def GetRootResource(self, request, context):
        return engine_pb2.GetRootResourceResponse(urn="")

    def SetRootResource(self, request, context):
        return engine_pb2.SetRootResourceResponse()


@dataclass
class RunningPlugin:
    """The plugin's gRPC client, the engine it talks to, and that engine's address."""

    provider: provider_pb2_grpc.ResourceProviderStub
    engine: FakeEngine
    address: str

    def schema(self) -> dict[str, Any]:
        response = self.provider.GetSchema(provider_pb2.GetSchemaRequest(version=0))
        return json.loads(response.schema)


@contextmanager
def serve_engine(engine: FakeEngine) -> Iterator[str]:
    """Serve `engine` on a loopback port; yields its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(engine, server)
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


@contextmanager
def start_plugin(
    engine_address: str, workdir: Path
) -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """Run the plugin as the Python language host does and connect to the port it prints."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT), engine_address],
        cwd=workdir,
        # It talks to the fake engine only, with no credentials of the host.
        env=isolated_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = _read_port(process)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        try:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
        finally:
            channel.close()
    finally:
        stop(process)


def _read_port(process: subprocess.Popen) -> int:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()))
    reader.start()
    reader.join(STARTUP_TIMEOUT_SECONDS)
    line = result[0].strip() if result else ""
    if not line.isdigit():
        process.kill()
        raise RuntimeError(
            f"the plugin printed no port (got {line!r}):\n{process.stderr.read()[-4000:]}"
        )
    return int(line)
