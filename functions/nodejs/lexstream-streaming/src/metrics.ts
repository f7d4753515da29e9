/**
 * CloudWatch metrics as fields of the helper's JSON log lines (Embedded Metric Format),
 * the same as the Python helper's (`lexstream_runtime.metrics`): one turn, one set of
 * values, on its `stream_closed` line, so the component's dashboard and alarms count
 * Node.js fulfillments too. Without a namespace a line carries no metrics.
 */

import { contract } from "./contract.js";

export type Unit = "Count" | "Bytes" | "Milliseconds";

export interface Metric {
  name: string;
  value: number;
  unit: Unit;
  dimensions: [string, string][];
}

/** The namespace the function was given (read once, at cold init). */
export const NAMESPACE = (process.env[contract.ENV_METRICS_NAMESPACE] ?? "").trim();

/** The log-line fields that record `metrics` under `namespace` (default: the function's),
 * or {} when there is no namespace or nothing to record. */
export function metricFields(metrics: Metric[], namespace?: string | null): Record<string, unknown> {
  const name = namespace === undefined || namespace === null ? NAMESPACE : namespace.trim();
  if (!name || metrics.length === 0) return {};
  const groups = new Map<string, { keys: string[]; metrics: Metric[] }>();
  const values: Record<string, unknown> = {};
  for (const metric of metrics) {
    const keys = metric.dimensions.map(([key]) => key);
    const id = JSON.stringify(keys);
    const group = groups.get(id) ?? { keys, metrics: [] };
    group.metrics.push(metric);
    groups.set(id, group);
    values[metric.name] = metric.value;
    for (const [key, value] of metric.dimensions) values[key] = value;
  }
  const directives = [...groups.values()].map((group) => ({
    Namespace: name,
    Dimensions: [group.keys],
    Metrics: group.metrics.map((m) => ({ Name: m.name, Unit: m.unit })),
  }));
  return { _aws: { Timestamp: Date.now(), CloudWatchMetrics: directives }, ...values };
}

/** How a turn's stream ended (one of the contract's TURN_OUTCOMES). */
export function turnOutcome(streaming: boolean, stopReason: string | null): string {
  if (streaming) {
    if (stopReason === null) return "complete";
    if (stopReason === "gone") return "gone";
    if (stopReason === "LimitExceededException") return "throttled";
    return "failed";
  }
  const outcome = "off_" + (stopReason ?? "").split(":", 1)[0];
  return contract.TURN_OUTCOMES.includes(outcome) ? outcome : "off_other";
}

export interface TurnCounts {
  messages: number;
  bytes: number;
  retries: number;
  failed: number;
}

/** One turn as metrics: the turn by its outcome, and what it posted. */
export function turnMetrics(outcome: string, counts: TurnCounts, firstPostDelayMs: number | null): Metric[] {
  const metrics: Metric[] = [
    { name: contract.METRIC_TURNS, value: 1, unit: "Count", dimensions: [[contract.DIMENSION_OUTCOME, outcome]] },
    { name: contract.METRIC_MESSAGES_POSTED, value: counts.messages, unit: "Count", dimensions: [] },
    { name: contract.METRIC_BYTES_POSTED, value: counts.bytes, unit: "Bytes", dimensions: [] },
    { name: contract.METRIC_POST_RETRIES, value: counts.retries, unit: "Count", dimensions: [] },
    { name: contract.METRIC_FAILED_POSTS, value: counts.failed, unit: "Count", dimensions: [] },
  ];
  if (firstPostDelayMs !== null) {
    metrics.push({ name: contract.METRIC_FIRST_POST_DELAY, value: firstPostDelayMs, unit: "Milliseconds", dimensions: [] });
  }
  return metrics;
}
