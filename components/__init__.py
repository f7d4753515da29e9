"""lexstream's Pulumi components: the streaming backend of the Lex Web UI as one resource.

from lexstream.components import StreamingBackend, StreamingBackendArgs

backend = StreamingBackend("chat", StreamingBackendArgs(auth_mode="iam", quota_limit=5000))
pulumi.export("websocket_url", backend.websocket_url)
"""

from .args import (
    CLOUDWATCH_RETENTION_DAYS,
    TRANSFORM_TARGETS,
    ExampleFulfillmentArgs,
    InvalidArgumentError,
    ResourceDraft,
    StreamingBackendArgs,
    Transform,
)
from .stack_config import StackConfigError, read_stack_args
from .streaming_backend import TYPE_TOKEN, StreamingBackend, web_ui_config

__all__ = [
    "CLOUDWATCH_RETENTION_DAYS",
    "TRANSFORM_TARGETS",
    "TYPE_TOKEN",
    "ExampleFulfillmentArgs",
    "InvalidArgumentError",
    "ResourceDraft",
    "StackConfigError",
    "StreamingBackend",
    "StreamingBackendArgs",
    "Transform",
    "read_stack_args",
    "web_ui_config",
]
