/** Lex V2 fulfillment events in, Lex V2 `Close` responses out (as `lexstream_runtime.lex`). */

/** Message types that carry their text in `content`. */
export const CONTENT_TYPES = ["CustomPayload", "PlainText", "SSML"] as const;
export const FULFILLMENT_STATES = ["Fulfilled", "Failed"] as const;

export type ContentType = (typeof CONTENT_TYPES)[number];
export type FulfillmentState = (typeof FULFILLMENT_STATES)[number];

/** The part of a Lex V2 fulfillment event the helper reads. */
export interface LexEvent {
  sessionId?: string;
  inputTranscript?: string;
  sessionState?: {
    sessionAttributes?: Record<string, string> | null;
    intent?: Record<string, unknown> & { name?: string };
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface CloseResponse {
  sessionState: {
    sessionAttributes: Record<string, string>;
    dialogAction: { type: "Close" };
    intent?: Record<string, unknown>;
  };
  messages?: { contentType: ContentType; content: string }[];
}

export interface CloseOptions {
  /** "CustomPayload" (default, as the Lex Web UI's reference fulfillment), "PlainText" or "SSML". */
  contentType?: ContentType;
  /** The intent's final state: "Fulfilled" (default) or "Failed". */
  fulfillmentState?: FulfillmentState;
  /** The attributes to keep, strings to strings. Default: the event's own, unchanged. */
  sessionAttributes?: Record<string, string>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The turn's session attributes, copied ({} when Lex sent none, or null). */
export function attributesOf(event: unknown): Record<string, unknown> {
  const state = isObject(event) ? event.sessionState : undefined;
  const attributes = isObject(state) ? state.sessionAttributes : undefined;
  return isObject(attributes) ? { ...attributes } : {};
}

/**
 * The Lex V2 response that ends the turn with `text` as its one message. The Lex Web UI
 * replaces the streamed text with this final message, so it must carry the full text; an
 * empty text sends no message (Lex falls back to the bot's own closing response).
 */
export function closeResponse(event: LexEvent, text: string, options: CloseOptions = {}): CloseResponse {
  const contentType = options.contentType ?? "CustomPayload";
  const fulfillmentState = options.fulfillmentState ?? "Fulfilled";
  if (!(CONTENT_TYPES as readonly string[]).includes(contentType)) {
    throw new RangeError(`contentType ${JSON.stringify(contentType)} is not one of ${CONTENT_TYPES.join(", ")}`);
  }
  if (!(FULFILLMENT_STATES as readonly string[]).includes(fulfillmentState)) {
    throw new RangeError(
      `fulfillmentState ${JSON.stringify(fulfillmentState)} is not one of ${FULFILLMENT_STATES.join(", ")}`,
    );
  }
  if (typeof text !== "string") throw new TypeError(`text must be a string, got ${typeof text}`);
  let kept: Record<string, string>;
  if (options.sessionAttributes === undefined) {
    kept = attributesOf(event) as Record<string, string>;
  } else {
    kept = { ...options.sessionAttributes };
    // Lex V2 rejects the whole response for any value that is not a string.
    for (const [key, value] of Object.entries(kept)) {
      if (typeof value !== "string") {
        throw new TypeError(
          `session attribute ${JSON.stringify(key)} must be a string (Lex V2 accepts only strings), ` +
            `got ${value === null ? "null" : typeof value}; convert it, e.g. with JSON.stringify`,
        );
      }
    }
  }
  const response: CloseResponse = {
    sessionState: { sessionAttributes: kept, dialogAction: { type: "Close" } },
  };
  const state = isObject(event) ? event.sessionState : undefined;
  const intent = isObject(state) ? state.intent : undefined;
  if (isObject(intent) && Object.keys(intent).length > 0) {
    response.sessionState.intent = { ...intent, state: fulfillmentState };
  }
  if (text) response.messages = [{ contentType, content: text }];
  return response;
}
