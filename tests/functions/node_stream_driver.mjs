// Drives the Node.js streaming helper for the Python tests, in a real Node.js process.
//
// Commands arrive as JSON lines on stdin: {"id": n, "op": ..., ...}. Each gets one reply
// line on stdout, {"driverReply": n, ...}, after whatever the helper printed while doing
// it (its JSON log lines go to stdout as on Lambda), so the test reads them in order.
// A write is answered as soon as write() returns; the helper's posts go on meanwhile.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const helper = await import(pathToFileURL(process.argv[2]).href);
const { DynamoDBClient } = await import("@aws-sdk/client-dynamodb");
const { ApiGatewayManagementApiClient } = await import("@aws-sdk/client-apigatewaymanagementapi");

const turns = new Map();
const lookups = [];
const commands = [];
let recordingClient;

function recordCommands(client, service) {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      commands.push({ service, operation: context.commandName.replace(/Command$/, "") });
      return next(args);
    },
    { step: "initialize", name: "recordCommands" },
  );
  return client;
}

function recordingDynamodb() {
  // A client of its own on the same endpoint, recording the GetItem requests it sends.
  if (recordingClient === undefined) {
    recordingClient = new DynamoDBClient({});
    recordingClient.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "GetItemCommand") lookups.push(args.input);
        return next(args);
      },
      { step: "initialize", name: "recordLookups" },
    );
  }
  return recordingClient;
}

function state(turn) {
  return {
    text: turn.text,
    streaming: turn.streaming,
    posting: turn.posting,
    stopReason: turn.stopReason,
    outcome: turn.outcome,
    stats: turn.stats,
  };
}

const ops = {
  async open({ event, options }) {
    const settings = { ...options };
    if (settings.recordLookups) settings.dynamodb = recordingDynamodb();
    delete settings.recordLookups;
    if (settings.managementEndpoint) {
      settings.managementClient = new ApiGatewayManagementApiClient({ endpoint: settings.managementEndpoint, maxAttempts: 1 });
    }
    delete settings.managementEndpoint;
    if (settings.recordCommands) {
      // Clients of its own, recording every command the helper sends with them.
      const named = event?.sessionState?.sessionAttributes?.streamingEndpoint ?? "";
      settings.managementClient = recordCommands(
        new ApiGatewayManagementApiClient({ endpoint: helper.callbackUrlOf(named), maxAttempts: 1 }),
        "apigatewaymanagementapi",
      );
      settings.dynamodb = recordCommands(new DynamoDBClient({}), "dynamodb");
    }
    delete settings.recordCommands;
    const turn = await helper.openStream(event, settings);
    const id = turns.size + 1;
    turns.set(id, turn);
    return { turn: id, ...state(turn) };
  },
  write({ turn, text }) {
    turns.get(turn).write(text);
    return {};
  },
  async close({ turn, timeoutMs }) {
    const stream = turns.get(turn);
    await stream.close(timeoutMs ?? undefined);
    return state(stream);
  },
  state({ turn }) {
    return state(turns.get(turn));
  },
  lookups() {
    return { lookups };
  },
  commands() {
    return { commands };
  },
  closeResponse({ event, text, options }) {
    return { response: helper.closeResponse(event, text, options) };
  },
  plainText({ chunks }) {
    const renderer = new helper.MarkdownToPlainText();
    const pieces = chunks.map((chunk) => renderer.feed(chunk));
    return { pieces: [...pieces, renderer.finish()] };
  },
  frames({ text, maxBytes }) {
    return { frames: [...helper.utf8Frames(text, maxBytes)].map((f) => Buffer.from(f).toString("base64")) };
  },
  resolve({ endpoint, policy }) {
    const stageUrl = helper.isExecuteApiStageUrl(endpoint);
    if (policy === null) return { stageUrl };
    const callbacks = new helper.CallbackPolicy(policy.pinned, policy.alias, policy.loopback);
    return { stageUrl, resolved: callbacks.resolve(endpoint) };
  },
  callbackUrl({ endpoint, allowed }) {
    return {
      problem: helper.callbackUrlProblem(endpoint),
      same: allowed == null ? null : helper.sameEndpoint(endpoint, allowed),
    };
  },
};

// Commands run one after another, in arrival order, as the test sends them.
let chain = Promise.resolve();
createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  chain = chain.then(async () => {
    let reply;
    try {
      reply = await ops[command.op](command);
    } catch (error) {
      reply = { error: { name: error?.name ?? typeof error, message: String(error?.message ?? error) } };
    }
    process.stdout.write(JSON.stringify({ driverReply: command.id, ...reply }) + "\n");
  });
}).on("close", () => chain.then(() => process.exit(0)));
