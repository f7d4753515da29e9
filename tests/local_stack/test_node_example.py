"""The TypeScript Bedrock example, bundled as its package.json says, runs in the local
stack as `scripts/local --handler examples/nodejs-fulfillment/dist/index.mjs:handler` runs
it (aws-lambda-ric, its own process) and streams the local model's answer to a client
that behaves like the stock Lex Web UI."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from lexstream_runtime.plain_text import markdown_to_plain_text
from local_stack_helpers import StockChatSession

from local_stack.stack import LocalStack, StackSettings
from tests.functions.stream_helpers import build_node_example

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed"),
]


def test_the_typescript_example_streams_the_local_models_answer_to_a_stock_web_ui_client():
    bundle = build_node_example()
    stack = LocalStack(StackSettings(port=0, handler=f"{bundle}:handler"))
    with stack:

        async def scenario() -> tuple[str, str]:
            chat = StockChatSession(stack)
            await chat.connect()
            final = await chat.ask("What can you tell me about streaming responses?")
            streamed = await chat.wait_for_text(len(markdown_to_plain_text(final)))
            await chat.close()
            return final, streamed

        final, streamed = asyncio.run(scenario())
        fulfillment = stack.functions["fulfillment"]

    assert fulfillment.language == "node"
    assert final
    # The frames are the plain rendering of the Markdown the final message keeps.
    assert streamed == markdown_to_plain_text(final)
