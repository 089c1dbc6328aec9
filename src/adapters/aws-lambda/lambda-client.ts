import type * as LambdaSdk from '@aws-sdk/client-lambda';
import type {
  AliasConfiguration,
  CreateAliasCommand,
  CreateFunctionCommand,
  FunctionConfiguration,
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  InvokeCommandOutput,
  ListVersionsByFunctionCommand,
  ListVersionsByFunctionCommandOutput,
  PublishVersionCommand,
  UpdateAliasCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { AWS_DEADLINES, awsRequestHandler, withCallDeadline, type AwsDeadlines } from '../aws-common/call-deadline.js';
import { buildQuietly } from '../aws-common/quiet-client.js';
import type { LambdaSpec } from './lambda-spec.js';

/** Per-call options: every call can be cancelled. */
export interface CallOptions {
  abortSignal?: AbortSignal;
}

/**
 * The part of the AWS SDK's LambdaClient the adapter uses, so that what we depend on is visible and a
 * test can pass any object with these calls. The real `LambdaClient` satisfies it.
 */
export interface LambdaClientLike {
  send(command: GetAliasCommand, options?: CallOptions): Promise<AliasConfiguration>;
  send(command: CreateAliasCommand, options?: CallOptions): Promise<AliasConfiguration>;
  send(command: CreateFunctionCommand, options?: CallOptions): Promise<FunctionConfiguration>;
  send(command: UpdateAliasCommand, options?: CallOptions): Promise<AliasConfiguration>;
  send(command: GetFunctionConfigurationCommand, options?: CallOptions): Promise<FunctionConfiguration>;
  send(command: UpdateFunctionConfigurationCommand, options?: CallOptions): Promise<FunctionConfiguration>;
  send(command: UpdateFunctionCodeCommand, options?: CallOptions): Promise<FunctionConfiguration>;
  send(command: PublishVersionCommand, options?: CallOptions): Promise<FunctionConfiguration>;
  send(command: ListVersionsByFunctionCommand, options?: CallOptions): Promise<ListVersionsByFunctionCommandOutput>;
  send(command: InvokeCommand, options?: CallOptions): Promise<InvokeCommandOutput>;
}

/** The SDK's command classes the adapter builds its requests with. */
export type LambdaCommands = Pick<
  typeof LambdaSdk,
  | 'CreateAliasCommand'
  | 'CreateFunctionCommand'
  | 'GetAliasCommand'
  | 'GetFunctionConfigurationCommand'
  | 'InvokeCommand'
  | 'ListVersionsByFunctionCommand'
  | 'PublishVersionCommand'
  | 'UpdateAliasCommand'
  | 'UpdateFunctionCodeCommand'
  | 'UpdateFunctionConfigurationCommand'
>;

/**
 * The SDK, loaded when a step first talks to Lambda: loading it takes about 0.1 s, which every other
 * command (`validate`, `schema`, a promotion without Lambda components) must not pay. Node keeps the
 * module once loaded, so later calls cost nothing.
 */
export function loadLambdaSdk(): Promise<typeof LambdaSdk> {
  return import('@aws-sdk/client-lambda');
}

/**
 * Makes the client for one spec. Credentials come from the SDK's default chain (environment, shared
 * config and profiles, web identity, container and instance roles): Lockstep never holds AWS keys.
 * `maxAttempts` covers throttling (429) with the SDK's own backoff. Every call has deadlines (see
 * call-deadline.ts): an endpoint that never answers fails the step in time, naming it.
 */
export async function defaultLambdaClient(spec: LambdaSpec, deadlines: AwsDeadlines = AWS_DEADLINES): Promise<LambdaClientLike> {
  const { LambdaClient } = await loadLambdaSdk();
  const client = buildQuietly(
    () =>
      new LambdaClient({
        ...(spec.region === undefined ? {} : { region: spec.region }),
        ...(spec.endpoint === undefined ? {} : { endpoint: spec.endpoint }),
        maxAttempts: 5,
        requestHandler: awsRequestHandler(deadlines),
      }),
  );
  return withCallDeadline<LambdaClientLike>(client, deadlines, spec.endpoint ?? `Lambda in ${spec.region ?? 'the default region'}`);
}
