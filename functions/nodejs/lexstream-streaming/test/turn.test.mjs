// Turns that need no server: the quiet no-op turn, its log lines and metrics, the Lex
// response, and a turn that is never closed. Log lines are read from a real child process's
// stdout, where Lambda reads them.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { closeResponse, identityTag, openStream, StreamingTurn } from "../dist/index.js";

const run = promisify(execFile);
const INDEX = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const IDENTITY = "us-east-1:6f0e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";

function lexEvent(attributes) {
  return {
    sessionId: IDENTITY,
    inputTranscript: "hello",
    sessionState: {
      sessionAttributes: attributes,
      intent: { name: "FallbackIntent", state: "InProgress" },
    },
  };
}

/** Runs `body` (module code, with `helper` imported) in a new Node.js process; its JSON lines. */
async function linesOf(body, env = {}) {
  const source = `import * as helper from ${JSON.stringify(INDEX)};\n${body}`;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", source], {
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line));
}

test("a turn without the streaming attributes collects quietly and never posts", async () => {
  const stream = await openStream(lexEvent({}));
  stream.write("Complete ");
  stream.write("answer.");
  await stream.close();

  assert.equal(stream.streaming, false);
  assert.equal(stream.stopReason, "attributes_missing");
  assert.equal(stream.outcome, "off_attributes_missing");
  assert.equal(stream.stats.messagesPosted, 0);
  assert.equal(stream.text, "Complete answer.");
});

test("the no-op turn's lines name its session by tag and its closing line records metrics", async () => {
  const [opened, closed] = await linesOf(
    `const stream = await helper.openStream(${JSON.stringify(lexEvent(null))});
     stream.write("Answered.");
     await stream.close();`,
    { LEXSTREAM_METRICS_NAMESPACE: "Lexstream/test" },
  );

  assert.equal(opened.event, "stream_opened");
  assert.equal(opened._aws, undefined);
  assert.equal(closed.event, "stream_closed");
  // The identity id never appears in clear.
  assert.equal(closed.sessionId, identityTag(IDENTITY));
  assert.doesNotMatch(JSON.stringify([opened, closed]), /6f0e1a2b/);
  const [directive] = closed._aws.CloudWatchMetrics;
  assert.equal(directive.Namespace, "Lexstream/test");
  assert.deepEqual(directive.Dimensions, [["Outcome"]]);
  assert.equal(closed.Turns, 1);
  assert.equal(closed.Outcome, "off_attributes_missing");
  assert.equal(closed.firstPostDelayMs, null);
  assert.ok(!("FirstPostDelay" in closed));
});

test("a turn that is never closed does not keep its process alive", async () => {
  // Streaming to a closed loopback port: the post fails, and nothing else is left waiting.
  const started = Date.now();
  const lines = await linesOf(
    `const target = { sessionId: "s-1", connectionId: "c=", endpointUrl: "http://127.0.0.1:9/local", tableName: "t" };
     const stream = new helper.StreamingTurn(target, { flushIntervalMs: 60000 });
     stream.write("first ");
     stream.write("second ");
     stream.write("third");`,
    { AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing" },
  );
  assert.ok(Date.now() - started < 20_000);
  assert.deepEqual(lines, []);
});

test("write takes text only, and text written after close is kept but not posted", async () => {
  const stream = new StreamingTurn();
  assert.throws(() => stream.write(Buffer.from("bytes")), { name: "TypeError", message: /takes a string/ });
  await stream.close();
  stream.write("After.");
  assert.equal(stream.text, "After.");
  assert.equal(stream.stats.chunks, 1);
});

test("options out of range are refused by name", () => {
  assert.throws(() => new StreamingTurn(null, { maxFrameBytes: 32 * 1024 }), /maxFrameBytes .*32767/);
  assert.throws(() => new StreamingTurn(null, { flushIntervalMs: -1 }), /flushIntervalMs/);
  const target = { sessionId: "s", connectionId: "c", endpointUrl: "http://10.0.0.1/x", tableName: "t" };
  assert.throws(() => new StreamingTurn(target), /endpointUrl .*plain http only to this machine/);
});

test("openStream refuses something that is not a Lex event", async () => {
  for (const bad of [null, "event", ["list"]]) {
    await assert.rejects(openStream(bad), { name: "TypeError", message: /Lex V2 event/ });
  }
});

test("closeResponse keeps the session attributes and closes the intent", () => {
  const event = lexEvent({ streamingEndpoint: "https://x.example/Prod", streamingDynamoDbTable: "t" });
  const response = closeResponse(event, "Done.", { contentType: "PlainText" });

  assert.deepEqual(response, {
    sessionState: {
      sessionAttributes: event.sessionState.sessionAttributes,
      dialogAction: { type: "Close" },
      intent: { name: "FallbackIntent", state: "Fulfilled" },
    },
    messages: [{ contentType: "PlainText", content: "Done." }],
  });
  assert.equal(closeResponse(event, "").messages, undefined);
  assert.equal(closeResponse(event, "x").messages[0].contentType, "CustomPayload");
});

test("closeResponse refuses what Lex would reject, naming it", () => {
  const event = lexEvent({});
  assert.throws(() => closeResponse(event, "x", { contentType: "Markdown" }), /CustomPayload, PlainText, SSML/);
  assert.throws(() => closeResponse(event, "x", { fulfillmentState: "Done" }), /Fulfilled, Failed/);
  assert.throws(() => closeResponse(event, "x", { sessionAttributes: { turns: 3 } }), /"turns" .*got number/);
});
