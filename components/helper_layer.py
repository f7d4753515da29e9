"""The fulfillment streaming helper, published as a Lambda layer for bot developers."""

from __future__ import annotations

import pulumi_aws as aws

from .children import Children
from .functions_package import layout
from .lambda_function import RUNTIME, code_archive


def create_helper_layer(children: Children) -> aws.lambda_.LayerVersion:
    """`lexstream_runtime` under `python/`, importable by any fulfillment function."""
    return children.create(
        "helper_layer",
        aws.lambda_.LayerVersion,
        "streaming-helper",
        layer_name=f"{children.prefix}-streaming-helper",
        description="lexstream_runtime: stream Lex fulfillment text to Lex Web UI clients",
        code=code_archive(layout.layer_files()),
        compatible_runtimes=[RUNTIME],
        # Pure Python: it runs on either architecture.
        compatible_architectures=["arm64", "x86_64"],
    )
