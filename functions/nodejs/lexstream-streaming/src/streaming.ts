/**
 * Stream a Lex turn's text to the Lex Web UI while the fulfillment is still working: the
 * Node.js twin of the Python helper (`lexstream_runtime.streaming`), with the same rules.
 *
 *     import { openStream, closeResponse } from "lexstream-streaming";
 *
 *     export const handler = async (event) => {
 *       const stream = await openStream(event);
 *       for await (const piece of generateAnswer(event.inputTranscript)) {
 *         stream.write(piece); // never waits on the network
 *       }
 *       await stream.close();
 *       return closeResponse(event, stream.text);
 *     };
 *
 * `openStream` turns streaming on only when the turn carries both session attributes the
 * Web UI sets (`streamingEndpoint`, `streamingDynamoDbTable`) and the connection table has
 * a row for the Lex session, found with one strongly consistent lookup. Otherwise the turn
 * is a quiet no-op that still collects the text.
 *
 * While streaming, one sender posts the text in order: the first text at once, the second
 * as soon as there is any (the stock Web UI shows a frame only once the next arrives), then
 * whatever accumulated, at most every `flushIntervalMs` or sooner when a frame's worth is
 * waiting. Frames stay below API Gateway's 32 KB limit, cut on character boundaries.
 *
 * Faults never fail the turn: GoneException stops posting and removes the row if it still
 * names this connection (a first post that gets it is tried once more after a pause,
 * because API Gateway also answers it while $connect is still running);
 * LimitExceededException is retried a bounded number of times with exponential backoff;
 * any other error stops posting, with its reason and a log line. The text is collected in
 * every case, so the final Lex response is always complete.
 */

import type { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import * as aws from "./aws.js";
import { callbackUrlProblem, currentPolicy } from "./callbackUrl.js";
import { contract } from "./contract.js";
import { attributesOf, type LexEvent } from "./lex.js";
import { logJson } from "./logs.js";
import { metricFields, turnMetrics, turnOutcome } from "./metrics.js";
import { MarkdownToPlainText } from "./plainText.js";

/** Flushing every ~120 ms looks continuous and cuts billed messages 5-10x. */
export const DEFAULT_FLUSH_INTERVAL_MS = 120;
/** Clearly below API Gateway's 32 KB frame limit. */
export const DEFAULT_MAX_FRAME_BYTES = contract.MAX_FRAME_BYTES - 1024;
export const DEFAULT_MAX_RETRIES = 3;
export const DEFAULT_RETRY_BACKOFF_MS = 50;
/** The pause before the one retry of a first post that got 410 (see above). */
export const DEFAULT_GONE_RECHECK_MS = 250;
/** How long close() waits for the last posts by default; a Lex turn has ~30 s in all. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;

const GONE = "GoneException";
const THROTTLED = "LimitExceededException";
const encoder = new TextEncoder();

/** Where a turn streams to: the browser's connection, as the connection table maps it. */
export interface StreamTarget {
  sessionId: string;
  connectionId: string;
  endpointUrl: string;
  tableName: string;
}

/** Counters for one turn (read them after close()). Times are performance.now() values. */
export interface StreamStats {
  chunks: number;
  characters: number;
  postAttempts: number;
  messagesPosted: number;
  bytesPosted: number;
  retries: number;
  failedPosts: number;
  firstWriteAt: number | null;
  firstPostAt: number | null;
  lastPostAt: number | null;
}

export interface StreamOptions {
  /** The API Gateway management API client to post with. Default: a shared client for
   * the target's callback URL. */
  managementClient?: ApiGatewayManagementApiClient;
  /** The DynamoDB client for the lookup and for removing a stale row. Default: a shared
   * client (its endpoint follows AWS_ENDPOINT_URL_DYNAMODB when set). */
  dynamodb?: DynamoDBClient;
  /** Least time between the starts of two posts. Default 120. */
  flushIntervalMs?: number;
  /** Largest frame posted, in UTF-8 bytes, from 4 to 32767. Default 31 KB. */
  maxFrameBytes?: number;
  /** Retries of one post after LimitExceededException. Default 3. */
  maxRetries?: number;
  /** First retry delay, doubled for each further retry. Default 50. */
  retryBackoffMs?: number;
  /** Pause before the one retry of a first post that got 410; 0 gives up at once. Default 250. */
  goneRecheckMs?: number;
  /** Post a plain-text rendering of the Markdown written; `text` stays the Markdown.
   * The stock Web UI shows streamed frames as escaped text. Default false. */
  stripMarkdown?: boolean;
  /** The CloudWatch namespace of the turn's metrics. Default: LEXSTREAM_METRICS_NAMESPACE. */
  metricsNamespace?: string;
}

interface TurnSettings extends StreamOptions {
  reason?: string;
  sessionId?: string | null;
}

const HIGH_SURROGATE_AT_END = /[\uD800-\uDBFF]$/;
// A surrogate without its partner: UTF-8 cannot carry it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** `text` with every lone surrogate replaced by "?", as the Python helper sends it. */
function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, "?");
}

/** `text` as UTF-8 pieces of at most `maxBytes`, never cutting a character in two. Lone
 * surrogates, which UTF-8 cannot carry, become "?". */
export function* utf8Frames(text: string, maxBytes: number): Generator<Uint8Array> {
  if (!Number.isInteger(maxBytes) || maxBytes < 4) {
    throw new RangeError(`maxBytes must be an integer >= 4 (one UTF-8 character), got ${maxBytes}`);
  }
  const data = encoder.encode(wellFormed(text));
  let start = 0;
  while (start < data.length) {
    let end = Math.min(start + maxBytes, data.length);
    // Continuation bytes look like 0b10xxxxxx: back up to the start of the character.
    while (end < data.length && (data[end] & 0xc0) === 0x80) end -= 1;
    yield data.subarray(start, end);
    start = end;
  }
}

function nonNegative(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a number >= 0, got ${String(value)}`);
  }
  return value;
}

/**
 * One Lex turn's text: collected always, posted to the browser while `target` is set.
 * Usually made by `openStream(event)`; with no target it only collects.
 */
export class StreamingTurn {
  readonly target: StreamTarget | null;
  readonly sessionId: string | null;
  readonly stats: StreamStats = {
    chunks: 0,
    characters: 0,
    postAttempts: 0,
    messagesPosted: 0,
    bytesPosted: 0,
    retries: 0,
    failedPosts: 0,
    firstWriteAt: null,
    firstPostAt: null,
    lastPostAt: null,
  };
  /** Why posting stopped (null while it goes on), or why there was none. */
  stopReason: string | null;

  private readonly flushIntervalMs: number;
  private readonly maxFrameBytes: number;
  private readonly maxRetries: number;
  private readonly retryBackoffMs: number;
  private readonly goneRecheckMs: number;
  private readonly metricsNamespace: string | undefined;
  private readonly management: ApiGatewayManagementApiClient | undefined;
  private readonly dynamodb: DynamoDBClient | undefined;
  private readonly renderer: MarkdownToPlainText | null;
  private readonly parts: string[] = [];
  private pending: string[] = [];
  // A high surrogate that ended the last write: the first half of a character whose other
  // half the next write brings (a producer that cut a string between them).
  private carry = "";
  private pendingBytes = 0;
  private isPosting: boolean;
  private closed = false;
  private posts = 0;
  private nextPostAt = 0;
  private sender: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly abandon = new AbortController();

  constructor(target: StreamTarget | null = null, settings: TurnSettings = {}) {
    this.flushIntervalMs = nonNegative("flushIntervalMs", settings.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS);
    const maxFrameBytes = settings.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 4 || maxFrameBytes >= contract.MAX_FRAME_BYTES) {
      throw new RangeError(`maxFrameBytes must be an integer from 4 to ${contract.MAX_FRAME_BYTES - 1}, got ${maxFrameBytes}`);
    }
    this.maxFrameBytes = maxFrameBytes;
    this.maxRetries = nonNegative("maxRetries", settings.maxRetries ?? DEFAULT_MAX_RETRIES);
    this.retryBackoffMs = nonNegative("retryBackoffMs", settings.retryBackoffMs ?? DEFAULT_RETRY_BACKOFF_MS);
    this.goneRecheckMs = nonNegative("goneRecheckMs", settings.goneRecheckMs ?? DEFAULT_GONE_RECHECK_MS);
    if (target !== null) {
      const problem = callbackUrlProblem(target.endpointUrl);
      if (problem) throw new RangeError(`target endpointUrl ${JSON.stringify(target.endpointUrl)} ${problem}`);
    }
    this.target = target;
    this.sessionId = target !== null ? target.sessionId : (settings.sessionId ?? null);
    this.metricsNamespace = settings.metricsNamespace;
    this.stopReason = target !== null ? null : settings.reason || "off";
    this.dynamodb = settings.dynamodb;
    this.management = target !== null ? (settings.managementClient ?? aws.managementClient(target.endpointUrl)) : undefined;
    this.renderer = settings.stripMarkdown ? new MarkdownToPlainText() : null;
    this.isPosting = target !== null;
  }

  // --- what producers use ---

  /** Whether this turn was turned on for streaming when it opened. */
  get streaming(): boolean {
    return this.target !== null;
  }

  /** Whether text is still being posted (false after Gone, a failure, or when off). */
  get posting(): boolean {
    return this.isPosting;
  }

  /** Everything written so far, in order: the content of the final Lex message. */
  get text(): string {
    return this.parts.join("");
  }

  /** Add `text` to the answer and queue it for the browser; returns at once. Text written
   * after close() is collected but no longer posted. */
  write(text: string): void {
    if (typeof text !== "string") {
      throw new TypeError(`write() takes a string, got ${text === null ? "null" : typeof text}`);
    }
    if (!text) return;
    this.parts.push(text);
    this.stats.chunks += 1;
    this.stats.characters += [...text].length;
    this.stats.firstWriteAt ??= performance.now();
    if (!this.isPosting || this.closed) return;
    let whole = this.carry + text;
    this.carry = "";
    if (HIGH_SURROGATE_AT_END.test(whole)) {
      this.carry = whole.slice(-1);
      whole = whole.slice(0, -1);
    }
    this.queue(this.renderer !== null ? this.renderer.feed(whole) : whole);
  }

  private queue(text: string): void {
    if (!text) return;
    this.pending.push(text);
    this.pendingBytes += Buffer.byteLength(wellFormed(text), "utf8");
    this.sender ??= this.send();
    this.notify();
  }

  /** Post what is still queued, at once, and wait up to `timeoutMs` for it (Infinity: no
   * limit). Posts still running after that are abandoned. Safe to call twice. */
  async close(timeoutMs: number = DEFAULT_CLOSE_TIMEOUT_MS): Promise<void> {
    if (this.closed) return;
    if (this.isPosting) {
      const rest = this.carry;
      this.carry = "";
      if (this.renderer !== null) this.queue(this.renderer.feed(rest) + this.renderer.finish());
      else this.queue(rest);
    }
    this.closed = true;
    this.notify();
    const sender = this.sender;
    if (sender !== null) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        sender.then(() => false),
        new Promise<boolean>((resolve) => {
          if (Number.isFinite(timeoutMs)) timer = setTimeout(() => resolve(true), Math.max(0, timeoutMs));
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.abandon.abort();
        this.stop("close_timeout");
      }
    }
    this.log("stream_closed");
  }

  /** How the stream ended, or why there was none (one of the contract's TURN_OUTCOMES). */
  get outcome(): string {
    return turnOutcome(this.streaming, this.stopReason);
  }

  /** Milliseconds from the first write to the first delivered post, if there was one. */
  get firstPostDelayMs(): number | null {
    const { firstWriteAt, firstPostAt } = this.stats;
    if (firstWriteAt === null || firstPostAt === null) return null;
    return Math.round((firstPostAt - firstWriteAt) * 10) / 10;
  }

  // --- the sender ---

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Resolves on notify(), or after `ms` when given. */
  private waitForChange(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => done(), ms);
      const done = () => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = null;
        resolve();
      };
      this.wake = done;
    });
  }

  private async send(): Promise<void> {
    try {
      await this.sendPending();
    } catch (error) {
      // Any failure at all must stop posting, visibly.
      if (this.isPosting) this.stats.failedPosts += 1;
      this.stop("sender_failed");
      logJson("stream_sender_failed", {
        sessionId: this.sessionId,
        connectionId: this.target?.connectionId ?? null,
        error: error instanceof Error ? error.name : typeof error,
        detail: String(error instanceof Error ? error.message : error).slice(0, 200),
      });
    } finally {
      this.sender = null;
    }
  }

  private async sendPending(): Promise<void> {
    for (;;) {
      if (!this.isPosting) return;
      if (this.pending.length === 0) {
        // Nothing to post: this sender ends (a later write starts another), so a turn that
        // is never closed leaves no timer or promise behind.
        return;
      }
      const urgent = this.closed || this.pendingBytes >= this.maxFrameBytes;
      const wait = this.nextPostAt - performance.now();
      if (!urgent && wait > 0) {
        await this.waitForChange(wait);
        continue;
      }
      const text = this.pending.join("");
      this.pending = [];
      this.pendingBytes = 0;
      this.posts += 1;
      // The second text goes out as soon as there is any (see the module comment).
      this.nextPostAt = this.posts === 1 ? 0 : performance.now() + this.flushIntervalMs;
      for (const frame of utf8Frames(text, this.maxFrameBytes)) {
        if (!(await this.post(frame))) break;
      }
    }
  }

  /** Resolves after `ms`, or at once when the turn is abandoned; true when abandoned. */
  private pause(ms: number): Promise<boolean> {
    const signal = this.abandon.signal;
    if (signal.aborted) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve(false);
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private async post(frame: Uint8Array): Promise<boolean> {
    const target = this.target as StreamTarget;
    const { PostToConnectionCommand } = aws.managementModule();
    let attempt = 0; // throttled retries so far
    let rechecked = false;
    for (;;) {
      if (this.abandon.signal.aborted) return false;
      this.stats.postAttempts += 1;
      try {
        await (this.management as ApiGatewayManagementApiClient).send(
          new PostToConnectionCommand({ ConnectionId: target.connectionId, Data: frame }),
          { abortSignal: this.abandon.signal },
        );
      } catch (error) {
        if (this.abandon.signal.aborted) return false;
        if (!aws.isAwsError(error)) throw error;
        const code = aws.errorCode(error);
        const status = aws.httpStatus(error);
        const gone = code === GONE || status === 410;
        if (gone && !rechecked && this.goneRecheckMs > 0 && this.stats.messagesPosted === 0) {
          rechecked = true;
          if (await this.pause(this.goneRecheckMs)) return false;
          continue;
        }
        if (gone) {
          this.stop("gone");
          await this.forgetConnection();
          return false;
        }
        if ((code === THROTTLED || status === 429) && attempt < this.maxRetries) {
          this.stats.retries += 1;
          if (await this.pause(this.retryBackoffMs * 2 ** attempt)) return false;
          attempt += 1;
          continue;
        }
        this.stats.failedPosts += 1;
        this.stop(code);
        return false;
      }
      const now = performance.now();
      this.stats.messagesPosted += 1;
      this.stats.bytesPosted += frame.length;
      this.stats.lastPostAt = now;
      this.stats.firstPostAt ??= now;
      return true;
    }
  }

  private stop(reason: string): void {
    if (!this.isPosting) return;
    this.isPosting = false;
    this.stopReason = reason;
    this.pending = [];
    this.pendingBytes = 0;
    this.notify();
  }

  /** Delete the row of a connection that is gone, unless a newer tab already owns it. */
  private async forgetConnection(): Promise<void> {
    const target = this.target as StreamTarget;
    const { DeleteItemCommand } = aws.dynamodbModule();
    let outcome = "removed";
    try {
      await (this.dynamodb ?? aws.sharedDynamodbClient()).send(
        new DeleteItemCommand({
          TableName: target.tableName,
          Key: { [contract.SESSION_ID]: { S: target.sessionId } },
          ConditionExpression: "#connection = :connection",
          ExpressionAttributeNames: { "#connection": contract.CONNECTION_ID },
          ExpressionAttributeValues: { ":connection": { S: target.connectionId } },
        }),
      );
    } catch (error) {
      if (!aws.isAwsError(error)) throw error;
      outcome = aws.errorCode(error); // ConditionalCheckFailedException: a newer tab
    }
    logJson("stale_connection", {
      sessionId: target.sessionId,
      connectionId: target.connectionId,
      outcome,
    });
  }

  /** Write the turn's `stream_opened` or `stream_closed` line (the latter with metrics). */
  log(event: "stream_opened" | "stream_closed"): void {
    const stats = this.stats;
    const closing = event === "stream_closed";
    const counts = {
      messages: stats.messagesPosted,
      bytes: stats.bytesPosted,
      retries: stats.retries,
      failed: stats.failedPosts,
    };
    logJson(event, {
      streaming: this.streaming,
      sessionId: this.sessionId,
      connectionId: this.target?.connectionId ?? null,
      stopReason: this.stopReason,
      chunks: stats.chunks,
      characters: stats.characters,
      messagesPosted: stats.messagesPosted,
      bytesPosted: stats.bytesPosted,
      retries: stats.retries,
      failedPosts: stats.failedPosts,
      ...(closing ? { outcome: this.outcome, firstPostDelayMs: this.firstPostDelayMs } : {}),
      // One turn, one set of values: only the closing line records metrics.
      ...(closing
        ? metricFields(turnMetrics(this.outcome, counts, this.firstPostDelayMs), this.metricsNamespace)
        : {}),
    });
  }
}

/** Where this turn streams to, or why not: both session attributes (non-empty strings), a
 * callback URL the function's policy allows (`CallbackPolicy`), the event's sessionId and
 * a row for it in the named table, read with one consistent GetItem. */
export async function findTarget(
  event: LexEvent,
  dynamodb?: DynamoDBClient,
): Promise<{ target: StreamTarget | null; reason: string }> {
  const attributes = attributesOf(event);
  const named = attributes[contract.SESSION_ATTR_ENDPOINT];
  const table = attributes[contract.SESSION_ATTR_TABLE];
  if (!(typeof named === "string" && named && typeof table === "string" && table)) {
    return { target: null, reason: "attributes_missing" };
  }
  const [endpoint, refusal] = currentPolicy().resolve(named);
  if (refusal) return { target: null, reason: refusal };
  const sessionId = event.sessionId;
  if (typeof sessionId !== "string" || !sessionId) return { target: null, reason: "session_id_missing" };
  const { GetItemCommand } = aws.dynamodbModule();
  let connectionId: string | undefined;
  try {
    const answer = await (dynamodb ?? aws.sharedDynamodbClient()).send(
      new GetItemCommand({
        TableName: table,
        Key: { [contract.SESSION_ID]: { S: sessionId } },
        // A browser that connected a moment ago must be found.
        ConsistentRead: true,
        ProjectionExpression: "#connection",
        ExpressionAttributeNames: { "#connection": contract.CONNECTION_ID },
      }),
    );
    connectionId = answer.Item?.[contract.CONNECTION_ID]?.S;
  } catch (error) {
    // What the SDK refuses before sending (a table name it cannot use, for one).
    if (!aws.isAwsError(error)) return { target: null, reason: "table_invalid" };
    return { target: null, reason: `lookup_failed:${aws.errorCode(error)}` };
  }
  if (!connectionId) return { target: null, reason: "connection_not_found" };
  return { target: { sessionId, connectionId, endpointUrl: endpoint, tableName: table }, reason: "" };
}

/** A StreamingTurn for this Lex V2 fulfillment event: streaming when it can, else
 * collecting only. Never rejects for missing attributes, rows or AWS errors. */
export async function openStream(event: LexEvent, options: StreamOptions = {}): Promise<StreamingTurn> {
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    throw new TypeError(
      `openStream() takes the Lex V2 event (an object), got ${event === null ? "null" : Array.isArray(event) ? "an array" : typeof event}`,
    );
  }
  let { target, reason } = await findTarget(event, options.dynamodb);
  let managementClient = options.managementClient;
  if (target !== null && managementClient === undefined) {
    try {
      managementClient = aws.managementClient(target.endpointUrl);
    } catch {
      // The SDK rejects an endpoint URL it cannot use.
      target = null;
      reason = "endpoint_invalid";
    }
  }
  const sessionId = typeof event.sessionId === "string" ? event.sessionId : null;
  const turn = new StreamingTurn(target, { ...options, managementClient, reason, sessionId });
  turn.log("stream_opened");
  return turn;
}
