/**
 * Where the helper may post: the callback URL a turn names, checked as the Python helper
 * checks it (`lexstream_runtime.callback_url`). The browser names it (the
 * `streamingEndpoint` session attribute), so it is client input, and the posts carry the
 * function's signed headers. `CallbackPolicy` decides:
 *
 * - pinned (LEXSTREAM_CALLBACK_URL set): exactly that URL, or the custom-domain URL
 *   LEXSTREAM_CALLBACK_ALIAS names, which stands for it;
 * - unpinned: only an API Gateway stage URL (`https://{api-id}.execute-api.{region}.
 *   amazonaws.com[.cn]/{stage}`);
 * - plain http to loopback (127.0.0.1, localhost, [::1]) only with
 *   LEXSTREAM_LOCAL_LOOPBACK_CALLBACKS=1, which the local stack sets: on Lambda, loopback
 *   is where the Runtime API listens.
 *
 * An unpinned function logs `callback_url_unpinned` once per cold start, on its first turn.
 *
 * URLs are split by the rules of Python's `urllib.parse.urlsplit`, not WHATWG's URL
 * (which would quietly normalise paths and percent-encode), so both helpers accept and
 * match exactly the same URLs.
 */

import { contract } from "./contract.js";
import { logJson } from "./logs.js";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1"]);
const DEFAULT_PORTS: Record<string, number> = { https: 443, http: 80 };

// What Python's str.isspace() calls whitespace (re's \s).
const SPACE_CLASS = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
// Both patterns from the Python helper's one declaration of them (contract.json).
const EXECUTE_API_HOST = new RegExp(`^(?:${contract.CALLBACK_EXECUTE_API_HOST.pattern})$`);
const STAGE_NAME = new RegExp(`^(?:${contract.STAGE_NAME_PATTERN.pattern})$`);
// A host (a name, an IPv4 address or a bracketed IPv6 address) and an optional port.
const NETLOC = new RegExp(`^(?:\\[[0-9A-Fa-f:.]+\\]|[^\\[\\]:@/?#${SPACE_CLASS}]+)(?::[0-9]*)?$`, "u");

export interface SplitUrl {
  scheme: string;
  netloc: string;
  path: string;
  query: string;
  fragment: string;
  username: string | null;
  password: string | null;
  hostname: string | null;
  port: number | null;
}

const IPV6 = /^[0-9a-f:.]+(%.+)?$/i;

/** `url` split as urlsplit splits it; throws an Error where urlsplit raises ValueError. */
export function splitUrl(url: string): SplitUrl {
  // urlsplit drops leading C0 controls and spaces, and every tab and newline.
  let rest = url.replace(/^[\x00-\x20]+/, "").replace(/[\t\r\n]/g, "");
  let scheme = "";
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(rest);
  if (schemeMatch) {
    scheme = schemeMatch[1].toLowerCase();
    rest = rest.slice(schemeMatch[0].length);
  }
  let netloc = "";
  if (rest.startsWith("//")) {
    const end = rest.slice(2).search(/[/?#]/);
    netloc = end === -1 ? rest.slice(2) : rest.slice(2, 2 + end);
    rest = end === -1 ? "" : rest.slice(2 + end);
    if (netloc.includes("[") !== netloc.includes("]")) throw new Error("Invalid IPv6 URL");
  }
  let fragment = "";
  const hash = rest.indexOf("#");
  if (hash !== -1) {
    fragment = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
  }
  let query = "";
  const question = rest.indexOf("?");
  if (question !== -1) {
    query = rest.slice(question + 1);
    rest = rest.slice(0, question);
  }
  const at = netloc.lastIndexOf("@");
  let username: string | null = null;
  let password: string | null = null;
  if (at !== -1) {
    const userinfo = netloc.slice(0, at);
    const colon = userinfo.indexOf(":");
    username = colon === -1 ? userinfo : userinfo.slice(0, colon);
    password = colon === -1 ? null : userinfo.slice(colon + 1);
  }
  const hostinfo = netloc.slice(at + 1);
  let hostname: string;
  let portText: string;
  const open = hostinfo.indexOf("[");
  if (open !== -1) {
    const bracketed = hostinfo.slice(open + 1);
    const close = bracketed.indexOf("]");
    hostname = close === -1 ? bracketed : bracketed.slice(0, close);
    const after = close === -1 ? "" : bracketed.slice(close + 1);
    const colon = after.indexOf(":");
    portText = colon === -1 ? "" : after.slice(colon + 1);
    if (!IPV6.test(hostname)) throw new Error(`'${hostname}' does not appear to be an IPv6 address`);
  } else {
    const colon = hostinfo.indexOf(":");
    hostname = colon === -1 ? hostinfo : hostinfo.slice(0, colon);
    portText = colon === -1 ? "" : hostinfo.slice(colon + 1);
  }
  let port: number | null = null;
  if (portText) {
    if (!/^[0-9]+$/.test(portText)) throw new Error(`Port could not be cast to integer value as '${portText}'`);
    port = Number.parseInt(portText, 10);
    if (port > 65535) throw new Error("Port out of range 0-65535");
  }
  return {
    scheme,
    netloc,
    path: rest,
    query,
    fragment,
    username,
    password,
    hostname: hostname ? hostname.toLowerCase() : null,
    port,
  };
}

/** What is wrong with `endpoint` as a callback URL, or "" when nothing is. */
export function callbackUrlProblem(endpoint: string): string {
  let url: SplitUrl;
  try {
    url = splitUrl(endpoint);
  } catch (error) {
    return `is not a valid URL (${(error as Error).message})`;
  }
  if (url.scheme !== "https" && url.scheme !== "http") return "must be an https URL";
  if (!url.hostname) return "has no host";
  if (!NETLOC.test(url.netloc.slice(url.netloc.lastIndexOf("@") + 1))) {
    // urlsplit reads `[::1].evil.example` as the host ::1; an HTTP client may not.
    return "has a malformed host";
  }
  if (url.scheme === "http" && !LOOPBACK_HOSTS.has(url.hostname)) {
    return "must be https (plain http only to this machine)";
  }
  if (url.port === 0) return "has port 0; a port must be 1-65535";
  if (url.username !== null || url.password !== null) return "must not carry a user name or password";
  const trimmed = endpoint.trimEnd();
  if (url.query || url.fragment || trimmed.endsWith("?") || trimmed.endsWith("#")) {
    return "must not carry a query or fragment";
  }
  return "";
}

function endpointKey(endpoint: string): string | null {
  let url: SplitUrl;
  try {
    url = splitUrl(endpoint);
  } catch {
    return null;
  }
  return JSON.stringify([
    url.scheme,
    url.hostname ?? "",
    url.port ?? DEFAULT_PORTS[url.scheme] ?? null,
    url.path.replace(/\/+$/, ""),
    url.query,
    url.fragment,
    url.username,
    url.password,
  ]);
}

/** Whether two callback URLs name the same API stage: scheme and host ignore case, a
 * default port or a trailing slash make no difference, and nothing else may differ. */
export function sameEndpoint(endpoint: string, allowed: string): boolean {
  const key = endpointKey(endpoint);
  return key !== null && key === endpointKey(allowed);
}

/** The callback URL a `streamingEndpoint` names: the Lex Web UI derives it from its socket
 * URL (`wss://` becomes `https://`; a local `ws://` URL is left as it is). */
export function callbackUrlOf(endpoint: string): string {
  const separator = endpoint.indexOf("://");
  if (separator !== -1) {
    const scheme = endpoint.slice(0, separator).toLowerCase();
    if (scheme === "ws") return "http" + endpoint.slice(separator);
    if (scheme === "wss") return "https" + endpoint.slice(separator);
  }
  return endpoint;
}

/** Whether `endpoint` is an API Gateway stage's own https URL: default port, and the stage
 * as the one path segment. */
export function isExecuteApiStageUrl(endpoint: string): boolean {
  let url: SplitUrl;
  try {
    url = splitUrl(endpoint);
  } catch {
    return false;
  }
  const stage = url.path.replace(/^\/+|\/+$/g, "");
  return (
    url.scheme === "https" &&
    EXECUTE_API_HOST.test(url.hostname ?? "") &&
    (url.port === null || url.port === 443) &&
    url.path.replace(/\/+$/, "") === `/${stage}` &&
    STAGE_NAME.test(stage) &&
    !(url.username || url.password || url.query || url.fragment)
  );
}

function isLoopback(endpoint: string): boolean {
  try {
    // The exact names only: `localhost.evil.example` or `127.0.0.1.nip.io` are anywhere.
    return LOOPBACK_HOSTS.has(splitUrl(endpoint).hostname ?? "");
  } catch {
    return false;
  }
}

/** Which callback URLs a turn may post to (see the module comment). */
export class CallbackPolicy {
  constructor(
    readonly pinned = "",
    readonly alias = "",
    readonly loopback = false,
  ) {}

  /** The policy LEXSTREAM_CALLBACK_URL, LEXSTREAM_CALLBACK_ALIAS and
   * LEXSTREAM_LOCAL_LOOPBACK_CALLBACKS (only "1" turns it on) describe. */
  static fromEnvironment(environ: NodeJS.ProcessEnv = process.env): CallbackPolicy {
    return new CallbackPolicy(
      (environ[contract.ENV_CALLBACK_URL] ?? "").trim(),
      (environ[contract.ENV_CALLBACK_ALIAS] ?? "").trim(),
      (environ[contract.ENV_LOCAL_LOOPBACK_CALLBACKS] ?? "").trim() === "1",
    );
  }

  /** [the URL to post to, ""] for a `streamingEndpoint` this policy allows, else
   * ["", reason]: "endpoint_invalid" (no usable URL) or "endpoint_not_allowed". */
  resolve(named: string): [string, string] {
    const endpoint = callbackUrlOf(named);
    if (callbackUrlProblem(endpoint)) return ["", "endpoint_invalid"];
    if (this.pinned) {
      if (this.alias && sameEndpoint(endpoint, this.alias)) return [this.pinned, ""];
      if (sameEndpoint(endpoint, this.pinned)) return [endpoint, ""];
      return ["", "endpoint_not_allowed"];
    }
    if (isLoopback(endpoint)) return this.loopback ? [endpoint, ""] : ["", "endpoint_not_allowed"];
    if (isExecuteApiStageUrl(endpoint)) return [endpoint, ""];
    return ["", "endpoint_not_allowed"];
  }
}

/** Read once at cold init, like the rest of a function's configuration. */
export const POLICY = CallbackPolicy.fromEnvironment();
let warned = false;

/** This function's policy. An unpinned function's first call logs `callback_url_unpinned`,
 * so the warning lands in its first turn's log. */
export function currentPolicy(): CallbackPolicy {
  if (!POLICY.pinned && !warned) {
    warned = true;
    logJson("callback_url_unpinned", {
      level: "WARNING",
      message:
        `${contract.ENV_CALLBACK_URL} is not set: this function streams to any API Gateway ` +
        "stage a client names. Set it to your StreamingBackend's callback_url output to stream " +
        "only to yours.",
    });
  }
  return POLICY;
}
