"""Runs inside a function's process, ahead of the runtime interface client: logs every
AWS SDK call the function makes as one JSON line to the session's action log.

Started by the exec wrapper the action recorder writes (Lambda's AWS_LAMBDA_EXEC_WRAPPER):
`python -S -m aws_action_log -m awslambdaric module.handler`. It removes its own traces
(its folder on the path and in PYTHONPATH, the log's variable) before the runtime starts,
so the function sees the environment it would see without it.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from typing import Any

import botocore.handlers

_FOLDER = os.path.dirname(os.path.abspath(__file__))
_LOG_FD = os.open(os.environ.pop("LEXSTREAM_ACTION_LOG"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
_FUNCTION = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
_RESOURCE_PARAMETERS = ("TableName", "IndexName", "ConnectionId", "modelId")


def _resource_parameters(params: Any) -> dict[str, Any]:
    kept: dict[str, Any] = {k: str(params[k]) for k in _RESOURCE_PARAMETERS if k in params}
    if "TransactItems" in params:
        kept["TransactItems"] = [
            {kind: {k: str(part[k]) for k in _RESOURCE_PARAMETERS if k in part}}
            for item in params["TransactItems"]
            for kind, part in item.items()
        ]
    return kept


class _RecordingClient:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meta.events.register("before-parameter-build", self._lexstream_record)

    def _lexstream_record(self, model: Any, params: Any, **_: Any) -> None:
        service = model.service_model
        line = json.dumps(
            {
                "function": _FUNCTION,
                "service": service.service_name,
                "signing": service.signing_name,
                "operation": model.name,
                "endpoint": self.meta.endpoint_url,
                "params": _resource_parameters(params),
            }
        )
        os.write(_LOG_FD, line.encode() + b"\n")


def _inject(base_classes: list[type], **_: Any) -> None:
    if _RecordingClient not in base_classes:
        base_classes.insert(0, _RecordingClient)


def main() -> None:
    botocore.handlers.BUILTIN_HANDLERS.append(("creating-client-class", _inject))
    if _FOLDER in sys.path:
        sys.path.remove(_FOLDER)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p != _FOLDER]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)
    # What follows is `-m module args...`, as the runtime's own command had it.
    if sys.argv[1:2] != ["-m"]:
        raise SystemExit(f"aws_action_log: expected -m module, got {sys.argv[1:]}")
    module = sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


main()
