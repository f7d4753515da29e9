"""A Node.js fulfillment runs in the local stack as Lambda runs it (aws-lambda-ric, its
own process) and streams a Lex turn to a client that behaves like the stock Lex Web UI.

The handler uses nothing but Node itself: it finds the session's connection in the
connection table and posts to the management API with requests it signs with SigV4,
as the AWS SDK would, so the stack verifies them as it verifies every function's posts.
"""

from __future__ import annotations

import asyncio
import shutil
import textwrap
from pathlib import Path

import pytest
from local_stack_helpers import StockChatSession

from local_stack.stack import LocalStack, StackSettings
from local_stack.stack_functions import handler_function

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed"),
]
CHUNKS = ["Streaming ", "from ", "Node.js, ", "as Lambda runs it."]

HANDLER = textwrap.dedent(
    """
    import { createHash, createHmac } from "node:crypto";

    const CHUNKS = __CHUNKS__;
    const sha256 = (data) => createHash("sha256").update(data).digest("hex");
    const hmac = (key, data) => createHmac("sha256", key).update(data).digest();
    const hex = (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase();
    // SigV4 encodes the path as sent once more (non-S3 services): "%3D" signs as "%253D".
    const encode = (segment) => encodeURIComponent(segment).replace(/[!'()*]/g, hex);

    // A request signed with SigV4, as the AWS SDK signs it, with the function's credentials.
    async function signed(url, service, body, extraHeaders = {}) {
      const target = new URL(url);
      const stamp = new Date().toISOString().replace(/[:-]|\\.\\d{3}/g, "");
      const day = stamp.slice(0, 8);
      const region = process.env.AWS_REGION;
      const headers = {
        host: target.host,
        "x-amz-date": stamp,
        "x-amz-security-token": process.env.AWS_SESSION_TOKEN,
        ...extraHeaders,
      };
      const names = Object.keys(headers).filter((name) => headers[name]).sort();
      const path = target.pathname.split("/").map(encode).join("/");
      const canonical = [
        "POST",
        path,
        "",
        names.map((name) => `${name}:${headers[name]}\\n`).join(""),
        names.join(";"),
        sha256(body),
      ].join("\\n");
      const scope = `${day}/${region}/${service}/aws4_request`;
      const toSign = ["AWS4-HMAC-SHA256", stamp, scope, sha256(canonical)].join("\\n");
      let key = hmac("AWS4" + process.env.AWS_SECRET_ACCESS_KEY, day);
      for (const part of [region, service, "aws4_request"]) key = hmac(key, part);
      const signature = createHmac("sha256", key).update(toSign).digest("hex");
      const authorization =
        `AWS4-HMAC-SHA256 Credential=${process.env.AWS_ACCESS_KEY_ID}/${scope}, ` +
        `SignedHeaders=${names.join(";")}, Signature=${signature}`;
      const response = await fetch(url, {
        method: "POST",
        headers: { ...headers, authorization },
        body,
      });
      if (!response.ok) {
        throw new Error(`${service} answered ${response.status}: ${await response.text()}`);
      }
      return response;
    }

    export const handler = async (event) => {
      const attributes = event.sessionState.sessionAttributes;
      const table = attributes.streamingDynamoDbTable;
      const lookup = await signed(
        process.env.AWS_ENDPOINT_URL_DYNAMODB + "/",
        "dynamodb",
        JSON.stringify({
          TableName: table,
          Key: { sessionId: { S: event.sessionId } },
          ConsistentRead: true,
        }),
        {
          "content-type": "application/x-amz-json-1.0",
          "x-amz-target": "DynamoDB_20120810.GetItem",
        },
      );
      const connection = (await lookup.json()).Item.connectionId.S;
      for (const chunk of CHUNKS) {
        await signed(
          `${process.env.LEXSTREAM_CALLBACK_URL}/@connections/${encodeURIComponent(connection)}`,
          "execute-api",
          chunk,
        );
      }
      console.log(JSON.stringify({ event: "node_streamed", posts: CHUNKS.length }));
      return {
        sessionState: {
          dialogAction: { type: "Close" },
          intent: { name: event.sessionState.intent.name, state: "Fulfilled" },
        },
        messages: [{ contentType: "PlainText", content: CHUNKS.join("") }],
      };
    };
    """
)


@pytest.mark.parametrize("auth", ["none", "iam"])
def test_a_node_handler_answers_a_lex_turn_and_streams_to_a_stock_web_ui_client(
    tmp_path: Path, auth: str
) -> None:
    handler = tmp_path / "bot" / "index.mjs"
    handler.parent.mkdir()
    handler.write_text(HANDLER.replace("__CHUNKS__", repr(CHUNKS).replace("'", '"')))
    printed = []
    stack = LocalStack(StackSettings(port=0, auth_mode=auth, handler=f"{handler}:handler"))
    stack.activity.subscribe(printed.append)
    with stack:

        async def scenario() -> tuple[str, str]:
            chat = StockChatSession(stack)
            await chat.connect()
            final = await chat.ask("Which runtime answers?")
            streamed = await chat.wait_for_text(len("".join(CHUNKS)))
            await chat.close()
            return final, streamed

        final, streamed = asyncio.run(scenario())
        fulfillment = stack.functions["fulfillment"]

    assert final == "".join(CHUNKS)
    assert streamed == "".join(CHUNKS)
    assert fulfillment.language == "node"
    # Its log line, as Node's runtime writes it, reached the activity channel.
    lines = [event.line for event in printed if getattr(event, "function", None) == "fulfillment"]
    assert any("node_streamed" in line for line in lines)
    assert any(line.startswith("REPORT RequestId: ") for line in lines)


LAYER_PROBE = """
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const handler = async () => {
  const base = join(process.env.NODE_PATH.split(":")[0], "lexstream-streaming");
  const entry = JSON.parse(readFileSync(join(base, "package.json"), "utf8")).exports["."].default;
  const helper = await import(join(base, entry));
  return { nodePath: process.env.NODE_PATH, openStream: typeof helper.openStream };
};
"""


def test_a_users_nodejs_handler_gets_the_nodejs_helper_layer_on_its_node_path(tmp_path: Path):
    (tmp_path / "index.mjs").write_text(LAYER_PROBE)
    function = handler_function(tmp_path / "index.mjs", "handler", {}, timeout_s=30.0)
    try:
        result = function.invoke({})
    finally:
        function.close()

    # As Lambda unpacks a layer's nodejs/node_modules, which its runtime puts first on
    # NODE_PATH.
    assert Path(result["nodePath"].split(":")[0]).parts[-2:] == ("nodejs", "node_modules")
    assert result["openStream"] == "function"
