import type * as CloudFormationSdk from '@aws-sdk/client-cloudformation';
import type {
  CreateChangeSetCommand,
  CreateChangeSetCommandOutput,
  DeleteChangeSetCommand,
  DeleteChangeSetCommandOutput,
  DescribeChangeSetCommand,
  DescribeChangeSetCommandOutput,
  DescribeStackDriftDetectionStatusCommand,
  DescribeStackDriftDetectionStatusCommandOutput,
  DescribeStackEventsCommand,
  DescribeStackEventsCommandOutput,
  DescribeStackResourceDriftsCommand,
  DescribeStackResourceDriftsCommandOutput,
  DetectStackDriftCommand,
  DetectStackDriftCommandOutput,
  DescribeStacksCommand,
  DescribeStacksCommandOutput,
  ExecuteChangeSetCommand,
  ExecuteChangeSetCommandOutput,
  GetTemplateCommand,
  GetTemplateCommandOutput,
} from '@aws-sdk/client-cloudformation';
import { AWS_DEADLINES, awsRequestHandler, withCallDeadline, type AwsDeadlines } from '../aws-common/call-deadline.js';
import { buildQuietly } from '../aws-common/quiet-client.js';
import type { CfnSpec } from './cfn-spec.js';

/** Per-call options: every call can be cancelled. */
export interface CallOptions {
  abortSignal?: AbortSignal;
}

/**
 * The part of the AWS SDK's CloudFormationClient the adapter uses; the real client satisfies it, and
 * a test may pass any object with these calls.
 */
export interface CloudFormationClientLike {
  send(command: DescribeStacksCommand, options?: CallOptions): Promise<DescribeStacksCommandOutput>;
  send(command: CreateChangeSetCommand, options?: CallOptions): Promise<CreateChangeSetCommandOutput>;
  send(command: DescribeChangeSetCommand, options?: CallOptions): Promise<DescribeChangeSetCommandOutput>;
  send(command: DeleteChangeSetCommand, options?: CallOptions): Promise<DeleteChangeSetCommandOutput>;
  send(command: ExecuteChangeSetCommand, options?: CallOptions): Promise<ExecuteChangeSetCommandOutput>;
  send(command: DescribeStackEventsCommand, options?: CallOptions): Promise<DescribeStackEventsCommandOutput>;
  send(command: GetTemplateCommand, options?: CallOptions): Promise<GetTemplateCommandOutput>;
  send(command: DetectStackDriftCommand, options?: CallOptions): Promise<DetectStackDriftCommandOutput>;
  send(command: DescribeStackDriftDetectionStatusCommand, options?: CallOptions): Promise<DescribeStackDriftDetectionStatusCommandOutput>;
  send(command: DescribeStackResourceDriftsCommand, options?: CallOptions): Promise<DescribeStackResourceDriftsCommandOutput>;
}

/** The SDK's command classes the adapter builds its requests with. */
export type CloudFormationCommands = Pick<
  typeof CloudFormationSdk,
  | 'CreateChangeSetCommand'
  | 'DeleteChangeSetCommand'
  | 'DescribeChangeSetCommand'
  | 'DescribeStackEventsCommand'
  | 'DetectStackDriftCommand'
  | 'DescribeStackDriftDetectionStatusCommand'
  | 'DescribeStackResourceDriftsCommand'
  | 'DescribeStacksCommand'
  | 'ExecuteChangeSetCommand'
  | 'GetTemplateCommand'
>;

/**
 * The SDK, loaded when a step first talks to CloudFormation: loading it takes about 0.1 s, which every
 * other command (`validate`, `schema`, a promotion without stacks) must not pay. Node keeps the module
 * once loaded, so later calls cost nothing.
 */
export function loadCloudFormationSdk(): Promise<typeof CloudFormationSdk> {
  return import('@aws-sdk/client-cloudformation');
}

/**
 * The client for one spec. Credentials come from the SDK's default chain (environment, profiles, web
 * identity, container and instance roles). `maxAttempts` covers throttling with the SDK's backoff.
 * Every call has deadlines (see call-deadline.ts): an endpoint that never answers fails in time.
 */
export async function defaultCloudFormationClient(spec: CfnSpec, deadlines: AwsDeadlines = AWS_DEADLINES): Promise<CloudFormationClientLike> {
  const { CloudFormationClient } = await loadCloudFormationSdk();
  const client = buildQuietly(
    () =>
      new CloudFormationClient({
        ...(spec.region === undefined ? {} : { region: spec.region }),
        ...(spec.endpoint === undefined ? {} : { endpoint: spec.endpoint }),
        maxAttempts: 5,
        requestHandler: awsRequestHandler(deadlines),
      }),
  );
  return withCallDeadline<CloudFormationClientLike>(client, deadlines, spec.endpoint ?? `CloudFormation in ${spec.region ?? 'the default region'}`);
}
