// SigV4 query-string presigning of a WebSocket URL with WebCrypto, as the Lex Web UI
// does before it opens an AWS_IAM-protected socket: service execute-api, only the host
// header signed, as the host name without a port (which API Gateway's own endpoints
// never have), the empty body's hash as the payload hash.

const encoder = new TextEncoder();

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(text) {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

async function hmac(key, text) {
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    key,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(text));
}

// RFC 3986 encoding: encodeURIComponent leaves !'()* alone, SigV4 does not.
function uriEncode(text) {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function compare(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Presign `url` (ws:// or wss://, query string included) with temporary credentials.
 * @param {string} url the socket URL, e.g. ws://127.0.0.1:8080/local?sessionId=...
 * @param {{accessKeyId: string, secretAccessKey: string, sessionToken: string}} credentials
 * @param {string} region the API's region, e.g. us-east-1
 * @param {number} expiresSeconds how long the URL stays valid (default 300)
 * @param {Date} now the signing time (default: now)
 */
export async function presignUrl(url, credentials, region, expiresSeconds = 300, now = new Date()) {
  const target = new URL(url);
  const amzDate = now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/execute-api/aws4_request`;
  const parameters = [...target.searchParams.entries()];
  parameters.push(
    ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
    ["X-Amz-Credential", `${credentials.accessKeyId}/${scope}`],
    ["X-Amz-Date", amzDate],
    ["X-Amz-Expires", String(expiresSeconds)],
    ["X-Amz-Security-Token", credentials.sessionToken],
    ["X-Amz-SignedHeaders", "host"],
  );
  const query = parameters
    .map(([name, value]) => [uriEncode(name), uriEncode(value)])
    .sort((a, b) => compare(a[0], b[0]) || compare(a[1], b[1]))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
  const canonicalRequest = [
    "GET",
    target.pathname,
    query,
    `host:${target.hostname}\n`,
    "host",
    await sha256Hex(""),
  ].join("\n");
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    scope,
    await sha256Hex(canonicalRequest),
  ].join("\n");
  let key = encoder.encode(`AWS4${credentials.secretAccessKey}`);
  for (const part of [day, region, "execute-api", "aws4_request"]) {
    key = await hmac(key, part);
  }
  const signature = hex(await hmac(key, stringToSign));
  return `${target.protocol}//${target.host}${target.pathname}?${query}&X-Amz-Signature=${signature}`;
}
