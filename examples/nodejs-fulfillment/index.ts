// Example Lex V2 fulfillment in TypeScript: answer with a Bedrock model and stream the
// answer to the Lex Web UI while it is generated (the Node.js twin of the Python example,
// functions/bedrock_fulfillment).
//
// Streaming turns read ConverseStream and post the text as it arrives, as plain text (the
// model's Markdown rendered by the helper's stripMarkdown); other turns use Converse and
// return the whole answer. Either way the turn ends with a Lex `Close` carrying the full
// text, in Markdown.
//
// Lex's RecognizeText gives up after about 30 s, so the answer is cut off in time: at the
// turn budget (25 s, or the function's remaining time less a margin, whichever is
// shorter) the model call is aborted and the turn returns what it has with a short note,
// also when the model has stalled mid-read. A model error keeps the partial text and ends
// with a polite sentence.
//
// Configuration: LEXSTREAM_MODEL_ID (a model or inference profile id),
// LEXSTREAM_SYSTEM_PROMPT (optional), LEXSTREAM_MAX_TOKENS (a whole number >= 1). The
// role needs the stack's fulfillment_policy_arn and bedrock:InvokeModelWithResponseStream
// and bedrock:InvokeModel on the model.
//
// Build: `npm run build` bundles it with esbuild into dist/index.mjs (handler
// `index.handler`), the helper included; the AWS SDK (@aws-sdk/*, @smithy/*) stays out,
// as the runtime has it.
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  type ConverseStreamCommandInput,
} from "@aws-sdk/client-bedrock-runtime";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { closeResponse, logJson, openStream, type LexEvent, type StreamingTurn } from "lexstream-streaming";

interface LambdaContext {
  getRemainingTimeInMillis?: () => number;
}

function required(name: string): string {
  const value = (process.env[name] ?? "").trim();
  if (!value) throw new Error(`environment variable ${name} is required (set by the deployment)`);
  return value;
}

function positiveInt(name: string): number {
  const text = required(name);
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new Error(`environment variable ${name} must be a whole number >= 1, got ${JSON.stringify(text)}`);
  }
  return value;
}

// Read once, at cold init: a missing or invalid variable fails the init, naming it.
const MODEL_ID = required("LEXSTREAM_MODEL_ID");
const SYSTEM_PROMPT = (process.env.LEXSTREAM_SYSTEM_PROMPT ?? "").trim();
const MAX_TOKENS = positiveInt("LEXSTREAM_MAX_TOKENS");

// Lex waits ~30 s for the whole turn; 25 s leaves room for the final posts and Lex itself.
const TURN_BUDGET_MS = 25_000;
// Kept back from the Lambda's own remaining time for closing the stream and returning.
const RETURN_MARGIN_MS = 1_000;
// Throttling is retried once at most: a Lex turn has no time for a long backoff.
// ConverseStream streams the answer only one way, which HTTP/1.1 carries as well; the
// client's default HTTP/2 handler is for Bedrock's bidirectional streams.
const BEDROCK = new BedrockRuntimeClient({
  maxAttempts: 2,
  requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000 }),
});

const CUT_SHORT_NOTE = "\n\n_(The answer was cut short to fit the time limit.)_";
const PARTIAL_APOLOGY = "\n\nSorry, something went wrong and I could not finish this answer.";
const FULL_APOLOGY = "Sorry, I cannot answer right now. Please try again in a moment.";
const EMPTY_QUESTION = "Please type a question.";

export const handler = async (event: LexEvent, context?: LambdaContext) => {
  const budgetMs = budget(context);
  const deadline = Date.now() + budgetMs;
  const question = event?.inputTranscript;
  // Models answer in Markdown, which the stock Web UI would stream as raw `**` and `##`:
  // stream its plain-text rendering; the final message keeps the Markdown.
  const stream = await openStream(event, { stripMarkdown: true });
  if (typeof question !== "string" || !question.trim()) {
    stream.write(EMPTY_QUESTION);
  } else {
    const cut = new AbortController();
    const timer = setTimeout(() => cut.abort(), Math.max(0, deadline - Date.now()));
    try {
      if (stream.streaming) await streamAnswer(stream, question, cut.signal);
      else await wholeAnswer(stream, question, cut.signal);
    } catch (error) {
      if (!cut.signal.aborted) apologise(stream, error);
    } finally {
      clearTimeout(timer);
    }
    if (cut.signal.aborted) {
      logJson("answer_cut_short", { model: MODEL_ID, characters: stream.stats.characters });
      stream.write(CUT_SHORT_NOTE);
    }
  }
  await stream.close(Math.max(200, deadline + RETURN_MARGIN_MS / 2 - Date.now()));
  return closeResponse(event, stream.text);
};

function budget(context?: LambdaContext): number {
  const remaining = context?.getRemainingTimeInMillis?.();
  if (remaining === undefined) return TURN_BUDGET_MS;
  return Math.max(500, Math.min(TURN_BUDGET_MS, remaining - RETURN_MARGIN_MS));
}

function request(question: string): ConverseStreamCommandInput {
  return {
    modelId: MODEL_ID,
    messages: [{ role: "user", content: [{ text: question }] }],
    inferenceConfig: { maxTokens: MAX_TOKENS },
    ...(SYSTEM_PROMPT ? { system: [{ text: SYSTEM_PROMPT }] } : {}),
  };
}

async function streamAnswer(stream: StreamingTurn, question: string, signal: AbortSignal): Promise<void> {
  const reply = await BEDROCK.send(new ConverseStreamCommand(request(question)), { abortSignal: signal });
  for await (const item of reply.stream ?? []) {
    if (signal.aborted) return; // nothing read after the cut reaches the answer
    const text = item.contentBlockDelta?.delta?.text;
    if (text) stream.write(text);
  }
}

async function wholeAnswer(stream: StreamingTurn, question: string, signal: AbortSignal): Promise<void> {
  const reply = await BEDROCK.send(new ConverseCommand(request(question)), { abortSignal: signal });
  if (signal.aborted) return;
  const content = reply.output?.message?.content ?? [];
  stream.write(content.map((block) => block.text ?? "").join(""));
}

function apologise(stream: StreamingTurn, error: unknown): void {
  logJson("model_error", {
    model: MODEL_ID,
    error: (error as { name?: string })?.name ?? typeof error,
    partialCharacters: stream.stats.characters,
  });
  stream.write(stream.stats.characters ? PARTIAL_APOLOGY : FULL_APOLOGY);
}
