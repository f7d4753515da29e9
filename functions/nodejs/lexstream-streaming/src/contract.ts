/**
 * The names the component and the function code agree on, read from the one place that
 * declares them: `lexstream_runtime/contract.py`. The package build writes its values to
 * `contract.json` beside this file (they are not kept in git), so a name changed there
 * reaches the Node.js helper at its next build.
 */

import values from "./contract.json" with { type: "json" };

export interface Contract {
  SESSION_ID: string;
  CONNECTION_ID: string;
  ENV_CALLBACK_URL: string;
  ENV_CALLBACK_ALIAS: string;
  ENV_LOCAL_LOOPBACK_CALLBACKS: string;
  ENV_METRICS_NAMESPACE: string;
  SESSION_ATTR_ENDPOINT: string;
  SESSION_ATTR_TABLE: string;
  MAX_FRAME_BYTES: number;
  METRIC_TURNS: string;
  METRIC_MESSAGES_POSTED: string;
  METRIC_BYTES_POSTED: string;
  METRIC_POST_RETRIES: string;
  METRIC_FAILED_POSTS: string;
  METRIC_FIRST_POST_DELAY: string;
  DIMENSION_OUTCOME: string;
  TURN_OUTCOMES: string[];
  COGNITO_IDENTITY_ID_PATTERN: { pattern: string; ignoreCase: boolean };
  STAGE_NAME_PATTERN: { pattern: string; ignoreCase: boolean };
  CALLBACK_EXECUTE_API_HOST: { pattern: string; ignoreCase: boolean };
}

export const contract: Contract = values as Contract;
