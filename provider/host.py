"""The component provider process: schema and Construct for StreamingBackend.

Pulumi's SDK ships the provider host (`pulumi.provider.main`: the gRPC server, the port it
prints, the engine and monitor connections, turning Construct requests into a Python
call). This module only supplies the schema and builds the component. The schema is
derived here from the Python declarations (see `schema`) rather than by the SDK's
experimental analyzer, which reads TypedDict arguments: `StreamingBackendArgs` is a
validated dataclass and stays the one declaration.
"""

from __future__ import annotations

import json
import sys

import pulumi
import pulumi.runtime.settings
from pulumi.errors import InputPropertiesError
from pulumi.provider import ConstructResult, Provider, main

from components import InvalidArgumentError, StreamingBackend, StreamingBackendArgs
from components.streaming_backend import TYPE_TOKEN

from .schema import (
    args_from_inputs,
    error_message,
    output_names,
    package_schema,
    package_version,
    property_name,
)


class StreamingBackendProvider(Provider):
    """Builds `lexstream:index:StreamingBackend` for programs in any Pulumi language."""

    def __init__(self) -> None:
        super().__init__(package_version(), json.dumps(package_schema()))

    def construct(
        self,
        name: str,
        resource_type: str,
        inputs: pulumi.Inputs,
        options: pulumi.ResourceOptions | None = None,
    ) -> ConstructResult:
        if resource_type != TYPE_TOKEN:
            raise ValueError(
                f"unknown resource type {resource_type}; this package has {TYPE_TOKEN}"
            )
        try:
            args = args_from_inputs(StreamingBackendArgs, inputs)
            backend = StreamingBackend(name, args, options)
        except InvalidArgumentError as error:
            # Reported as an invalid input: the engine shows the message without a Python
            # traceback, and the property path tells it which input was wrong.
            message = error_message(error)
            raise InputPropertiesError(
                message, [{"property_path": property_name(error.argument), "reason": message}]
            ) from None
        values = backend.output_values()
        state = {property_name(output): values.get(output) for output in output_names()}
        return ConstructResult(urn=backend.urn, state=state)


def launched_as_plugin() -> bool:
    """True when a Pulumi language host started this folder as a plugin: it runs
    `python <folder> <engine address>` with no resource monitor configured, whereas a
    program run (by the CLI or under mocks) has its monitor set before the program starts."""
    return pulumi.runtime.settings.get_monitor() is None and len(sys.argv) > 1


def serve() -> None:
    """Serve the provider until the engine stops it (prints the port, as the engine expects)."""
    main(StreamingBackendProvider(), sys.argv[1:])
