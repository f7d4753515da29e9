/**
 * lexstream-streaming: stream a Lex V2 fulfillment's text to Lex Web UI clients from a
 * Node.js Lambda function. The same behaviour, log lines and metrics as the Python helper
 * `lexstream_runtime`; it needs only the AWS SDK v3 the Lambda Node.js runtimes include.
 */

export {
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_FLUSH_INTERVAL_MS,
  DEFAULT_GONE_RECHECK_MS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_RETRIES,
  DEFAULT_RETRY_BACKOFF_MS,
  findTarget,
  openStream,
  StreamingTurn,
  utf8Frames,
  type StreamOptions,
  type StreamStats,
  type StreamTarget,
} from "./streaming.js";
export { closeResponse, type CloseOptions, type CloseResponse, type LexEvent } from "./lex.js";
export {
  CallbackPolicy,
  callbackUrlOf,
  callbackUrlProblem,
  isExecuteApiStageUrl,
  sameEndpoint,
} from "./callbackUrl.js";
export { MarkdownToPlainText, markdownToPlainText } from "./plainText.js";
export { identityTag, logJson } from "./logs.js";
