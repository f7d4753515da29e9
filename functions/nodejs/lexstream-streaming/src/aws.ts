/**
 * AWS SDK v3 clients with timeouts and retries sized for API Gateway's and Lex's limits,
 * as the Python helper's (`lexstream_runtime.aws`). Endpoints are never set here except
 * the callback URL: the SDK reads the standard `AWS_ENDPOINT_URL_<SERVICE>` variables.
 *
 * The SDK is not part of this package (the Lambda Node.js runtimes include it), and it is
 * loaded with `require`: an ES module import from a layer (/opt/nodejs/node_modules/...)
 * looks for packages only in the folders above it, while CommonJS resolution also follows
 * NODE_PATH, where the runtime puts its own SDK.
 */

import { createRequire } from "node:module";
import type * as ManagementApi from "@aws-sdk/client-apigatewaymanagementapi";
import type * as DynamoDB from "@aws-sdk/client-dynamodb";

const require = createRequire(import.meta.url);

let managementApi: typeof ManagementApi | undefined;
let dynamodbApi: typeof DynamoDB | undefined;

export function managementModule(): typeof ManagementApi {
  managementApi ??= require("@aws-sdk/client-apigatewaymanagementapi") as typeof ManagementApi;
  return managementApi;
}

export function dynamodbModule(): typeof DynamoDB {
  dynamodbApi ??= require("@aws-sdk/client-dynamodb") as typeof DynamoDB;
  return dynamodbApi;
}

// A stuck DynamoDB call must fail well inside a Lex turn: two attempts of at most 1 s to
// connect and 2 s to answer each.
const LOOKUP_CONFIG = {
  maxAttempts: 2,
  requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000 },
};
// Posts are retried by the helper itself (bounded, with its own counters), so the SDK must
// not add hidden retries on top; a post normally takes milliseconds.
const POST_CONFIG = {
  maxAttempts: 1,
  requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000 },
};

/** The callback URL comes from the browser, so a client could name a new one every turn:
 * only the most recently used few clients are kept. A deployment has one. */
export const MAX_MANAGEMENT_CLIENTS = 8;
const managementClients = new Map<string, ManagementApi.ApiGatewayManagementApiClient>();
let sharedDynamodb: DynamoDB.DynamoDBClient | undefined;

/** The API Gateway management API client for one callback URL, reused across turns. */
export function managementClient(endpointUrl: string): ManagementApi.ApiGatewayManagementApiClient {
  let client = managementClients.get(endpointUrl);
  if (client === undefined) {
    const { ApiGatewayManagementApiClient } = managementModule();
    client = new ApiGatewayManagementApiClient({ ...POST_CONFIG, endpoint: endpointUrl });
    while (managementClients.size >= MAX_MANAGEMENT_CLIENTS) {
      const oldest = managementClients.keys().next().value as string;
      managementClients.get(oldest)?.destroy();
      managementClients.delete(oldest);
    }
  } else {
    managementClients.delete(endpointUrl);
  }
  managementClients.set(endpointUrl, client);
  return client;
}

/** The number of management API clients kept now (at most MAX_MANAGEMENT_CLIENTS). */
export function managementClientCount(): number {
  return managementClients.size;
}

/** One DynamoDB client per process, created on first use and reused by every turn. */
export function sharedDynamodbClient(): DynamoDB.DynamoDBClient {
  if (sharedDynamodb === undefined) {
    const { DynamoDBClient } = dynamodbModule();
    sharedDynamodb = new DynamoDBClient(LOOKUP_CONFIG);
  }
  return sharedDynamodb;
}

interface SdkError {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: unknown;
}

/** The AWS error code of a failed call ("GoneException"); for a call that got no answer,
 * the system error ("ECONNREFUSED") or the error's name. */
export function errorCode(error: unknown): string {
  const failure = (error ?? {}) as SdkError;
  if (failure.$metadata?.httpStatusCode !== undefined && failure.name) return failure.name;
  if (typeof failure.code === "string" && failure.code) return failure.code;
  if (failure.name && failure.name !== "Error") return failure.name;
  return error instanceof Error ? error.constructor.name : typeof error;
}

/** The HTTP status of a failed call, when the service answered at all. */
export function httpStatus(error: unknown): number | undefined {
  return ((error ?? {}) as SdkError).$metadata?.httpStatusCode;
}

/** Whether `error` is a failed AWS call (an answer with an error, or none at all), as
 * opposed to a fault of the code that made it. */
export function isAwsError(error: unknown): boolean {
  const failure = (error ?? {}) as SdkError;
  if (failure.$metadata !== undefined) return true;
  return typeof failure.code === "string" && /^E[A-Z]+$/.test(failure.code);
}
