"""The fulfillment streaming helper, published as a Lambda layer for bot developers."""

from __future__ import annotations

import pulumi_aws as aws

from .children import Children
from .functions_package import layout
from .lambda_function import RUNTIME, code_archive

# The helper is plain Python (3.11 and later) with boto3 from the runtime. Lambda does not
# enforce a layer's compatible runtimes, but the console and ListLayers offer a layer only
# to functions whose runtime it lists, and bot fulfillment functions are often older than
# ours. python3.11 and older run on Amazon Linux 2, which Lambda deprecated on 2026-06-30.
COMPATIBLE_RUNTIMES = (aws.lambda_.Runtime.PYTHON3D12, RUNTIME)


def create_helper_layer(children: Children) -> aws.lambda_.LayerVersion:
    """`lexstream_runtime` under `python/`, importable by any fulfillment function."""
    return children.create(
        "helper_layer",
        aws.lambda_.LayerVersion,
        "streaming-helper",
        layer_name=f"{children.prefix}-streaming-helper",
        description="lexstream_runtime: stream Lex fulfillment text to Lex Web UI clients",
        code=code_archive(layout.layer_files()),
        compatible_runtimes=list(COMPATIBLE_RUNTIMES),
        # Pure Python: it runs on either architecture.
        compatible_architectures=["arm64", "x86_64"],
    )
