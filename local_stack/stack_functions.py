"""The stack's Lambda functions, each created as the component deploys it.

The route functions and the example fulfillment get their declaration's handler,
timeout, memory and environment (`functions.declarations`), filled from the stack's
tables, gateway and model. A user's own fulfillment (`--handler`) runs from its own
folder as the task root, with the helpers as its layers (`handler_function`).
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from functions import declarations, layout, node_package

from .lambda_runtime import FunctionError, LambdaFunction, sandbox
from .settings import StackError, StackSettings, handler_parts

log = logging.getLogger("lexstream.local")
LineOutput = Callable[[str, "str | None"], None]


def function_settings(settings: StackSettings, callback_url: str) -> dict[str, str]:
    """The values the functions' environments are built from, as the component fills
    them (`declarations.SETTINGS`), for this stack's tables, gateway and model."""
    return {
        "connection_table": settings.connection_table,
        "quota_table": settings.quota_table,
        "quota_limit": str(settings.quota_limit),
        "quota_period": str(settings.quota_period),
        "quota_per_identity_limit": str(settings.quota_per_identity_limit),
        "quota_per_source_limit": str(settings.quota_per_source_limit),
        "auth_mode": str(settings.auth_mode),
        "callback_url": callback_url,
        "model_id": str(settings.model_id),
        "system_prompt": str(settings.system_prompt),
        "max_tokens": str(settings.max_tokens),
        "metrics_namespace": "Lexstream/local",
        "callback_alias": "",
    }


def create_functions(
    settings: StackSettings,
    service: Mapping[str, str],
    values: Mapping[str, str],
    credentials: Mapping[str, str],
    output: Callable[[str], LineOutput],
) -> dict[str, LambdaFunction]:
    """Every function, by the name the stack calls it: connect, disconnect, default,
    fulfillment. `output(name)` receives that function's log lines."""
    functions: dict[str, LambdaFunction] = {}
    for declaration in declarations.ROUTE_FUNCTIONS.values():
        functions[declaration.name] = LambdaFunction.lexstream(
            declaration.name,
            {**service, **declaration.environment_from(values)},
            timeout_s=declaration.timeout_seconds,
            memory_mb=declaration.memory_mb,
            region=settings.region,
            output=output(declaration.name),
            credentials=credentials,
        )
    example = declarations.BEDROCK_FULFILLMENT
    common = {
        "timeout_s": example.timeout_seconds,
        "memory_mb": example.memory_mb,
        "region": settings.region,
        "output": output("fulfillment"),
        "credentials": credentials,
    }
    environment = {**service, **example.environment_from(values)}
    if settings.handler is None:
        functions["fulfillment"] = LambdaFunction.lexstream(example.name, environment, **common)
        return functions
    path, function = handler_parts(settings.handler)
    missing = sandbox.node_runtime_missing() if path.suffix in sandbox.NODE_SUFFIXES else None
    if missing is not None:
        raise StackError(
            f"names a Node.js handler, and {missing} (got {settings.handler!r}); "
            "scripts/local installs it",
            setting="handler",
        )
    try:
        functions["fulfillment"] = handler_function(path, function, environment, **common)
    except node_package.NodePackageBuildError as error:
        raise StackError(
            f"names a Node.js handler, whose helper layer could not be built "
            f"(got {settings.handler!r}): {error}",
            setting="handler",
        ) from None
    log.info("fulfillment: %s", settings.handler)
    return functions


def handler_function(
    path: Path, function: str, environment: Mapping[str, str], **options: Any
) -> LambdaFunction:
    """A user's handler (`path`, its export or function `function`) as a Lambda function:
    its folder is the task root, as it would be zipped, so its own vendored packages or
    node_modules load; the helper comes as a layer under the instance's /opt (Python's
    under `python/`, and for a Node.js handler the Node.js helper under
    `nodejs/node_modules/lexstream-streaming`, as the component publishes them).
    `options` are LambdaFunction's (timeout_s, memory_mb, output, ...)."""
    layers = layout.layer_files()
    if sandbox.language_of(path.name) == "node":
        layers = {**layers, **node_package.layer_files()}
    return LambdaFunction(
        path.stem,
        f"{path.stem}.{function}",
        {},
        environment,
        task_root=path.parent,
        layers=layers,
        **options,
    )


def initialize(functions: Mapping[str, LambdaFunction], settings: StackSettings) -> None:
    """Every cold init now, side by side (each function is its own process), so that a
    broken handler fails the start, not the first turn."""
    with concurrent.futures.ThreadPoolExecutor(len(functions)) as starting:
        inits = {name: starting.submit(function.initialize) for name, function in functions.items()}
    for name, init in inits.items():
        try:
            init.result()
        except FunctionError as error:
            if name != "fulfillment" or settings.handler is None:
                raise
            raise StackError(
                f"must load as a fulfillment (got {settings.handler!r}, whose cold init "
                f"failed with {error.error_type}: {' '.join(error.message.split())})",
                setting="handler",
            ) from None
