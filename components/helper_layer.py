"""The fulfillment streaming helpers, published as Lambda layers for bot developers: the
Python one (`lexstream_runtime`) and the Node.js one (`lexstream-streaming`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pulumi_aws as aws

from .children import Children
from .functions_package import layout, node_package
from .lambda_function import RUNTIME, code_archive

# The helper is plain Python (3.11 and later) with boto3 from the runtime. Lambda does not
# enforce a layer's compatible runtimes, but the console and ListLayers offer a layer only
# to functions whose runtime it lists, and bot fulfillment functions are often older than
# ours. python3.11 and older run on Amazon Linux 2, which Lambda deprecated on 2026-06-30.
COMPATIBLE_RUNTIMES = (aws.lambda_.Runtime.PYTHON3D12, RUNTIME)

# The Node.js helper is ES2022 JavaScript using only Node's own modules and the AWS SDK v3
# that these runtimes include; Node.js 18 is deprecated on Lambda.
NODE_COMPATIBLE_RUNTIMES = (
    aws.lambda_.Runtime.NODE_JS20D_X,
    aws.lambda_.Runtime.NODE_JS22D_X,
    aws.lambda_.Runtime.NODE_JS24D_X,
)


def _layer(
    children: Children,
    part: str,
    suffix: str,
    description: str,
    files: Mapping[str, Path],
    runtimes: Sequence[str],
) -> aws.lambda_.LayerVersion:
    return children.create(
        part,
        aws.lambda_.LayerVersion,
        suffix,
        layer_name=f"{children.prefix}-{suffix}",
        description=description,
        code=code_archive(files),
        compatible_runtimes=list(runtimes),
        # Source code only, no native code: it runs on either architecture.
        compatible_architectures=["arm64", "x86_64"],
    )


def create_helper_layer(children: Children) -> aws.lambda_.LayerVersion:
    """`lexstream_runtime` under `python/`, importable by any fulfillment function."""
    return _layer(
        children,
        "helper_layer",
        "streaming-helper",
        "lexstream_runtime: stream Lex fulfillment text to Lex Web UI clients",
        layout.layer_files(),
        COMPATIBLE_RUNTIMES,
    )


def create_node_helper_layer(children: Children) -> aws.lambda_.LayerVersion:
    """`lexstream-streaming` under `nodejs/node_modules/`, importable by any Node.js
    fulfillment function. Its JavaScript is compiled from the TypeScript sources when the
    program runs (`node_package.build`, which says what to install when it cannot)."""
    return _layer(
        children,
        "node_helper_layer",
        "node-streaming-helper",
        "lexstream-streaming: stream Lex fulfillment text to Lex Web UI clients",
        node_package.layer_files(),
        NODE_COMPATIBLE_RUNTIMES,
    )
