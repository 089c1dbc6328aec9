import {
  CloudFormationClient,
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
} from '@aws-sdk/client-cloudformation';
import type {
  CreateChangeSetCommandOutput,
  DeleteChangeSetCommandOutput,
  DescribeChangeSetCommandOutput,
  DescribeStackEventsCommandOutput,
  DescribeStacksCommandOutput,
  ExecuteChangeSetCommandOutput,
} from '@aws-sdk/client-cloudformation';
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
}

/**
 * The client for one spec. Credentials come from the SDK's default chain (environment, profiles, web
 * identity, container and instance roles). `maxAttempts` covers throttling with the SDK's backoff.
 */
export function defaultCloudFormationClient(spec: CfnSpec): CloudFormationClientLike {
  return new CloudFormationClient({
    ...(spec.region === undefined ? {} : { region: spec.region }),
    ...(spec.endpoint === undefined ? {} : { endpoint: spec.endpoint }),
    maxAttempts: 5,
  });
}

export {
  CreateChangeSetCommand,
  DeleteChangeSetCommand,
  DescribeChangeSetCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  ExecuteChangeSetCommand,
};
