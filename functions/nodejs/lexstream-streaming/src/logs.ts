/**
 * One structured JSON line per decision, on stdout, where Lambda ships it to CloudWatch:
 * the same lines as the Python helper's (`lexstream_runtime.logs`). Every Cognito identity
 * id in a line becomes `identity#` and the first 12 hex digits of its SHA-256, so lines
 * still correlate and the id, which is enough to obtain that identity's credentials, is
 * never logged in clear.
 */

import { createHash } from "node:crypto";
import { contract } from "./contract.js";

export const IDENTITY_TAG_PREFIX = "identity#";
const IDENTITY_TAG_HEX_DIGITS = 12;
const IDENTITY_ID = new RegExp(
  contract.COGNITO_IDENTITY_ID_PATTERN.pattern,
  contract.COGNITO_IDENTITY_ID_PATTERN.ignoreCase ? "gi" : "g",
);

/** The tag that stands for `identityId` in logs: `identity#` + 12 hex digits. */
export function identityTag(identityId: string): string {
  const digest = createHash("sha256").update(identityId, "utf8").digest("hex");
  return IDENTITY_TAG_PREFIX + digest.slice(0, IDENTITY_TAG_HEX_DIGITS);
}

function plain(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return String(value);
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return value;
}

/** Write `{"event": event, ...fields}` as one line, identity ids tagged. */
export function logJson(event: string, fields: Record<string, unknown>): void {
  const line = JSON.stringify({ event, ...fields }, plain);
  // Identity ids hold only letters, digits, ':' and '-', which JSON never escapes.
  process.stdout.write(line.replace(IDENTITY_ID, (id) => identityTag(id)) + "\n");
}
