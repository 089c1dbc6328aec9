import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Change, DescribeChangeSetCommandOutput, Stack } from '@aws-sdk/client-cloudformation';
import { sensitiveOutputNames, withSensitive } from '../../core/adapter.js';
import type { Adapter, AdapterPlan, Observed, ObservedDifference, Outputs, PlannedOutputs, StepContext } from '../../core/adapter.js';
import type { Risk } from '../../core/model.js';
import { parseDuration } from '../../core/duration.js';
import { holdsUnknown } from '../../core/plan.js';
import { errorMessage, StepFailure } from '../../core/errors.js';
import { redactSensitiveOutputs } from '../../core/outputs.js';
import { MIN_SECRET_LENGTH } from '../../core/redact.js';
import { pause, throwIfAborted } from '../aws-common/step-wait.js';
import { defaultCloudFormationClient, loadCloudFormationSdk } from './cfn-client.js';
import type { CallOptions, CloudFormationClientLike, CloudFormationCommands } from './cfn-client.js';
import { MASKED, planOutputs } from './cfn-outputs.js';
import type { DeployedStack } from './cfn-outputs.js';
import { cfnSpec } from './cfn-spec.js';
import type { CfnSpec } from './cfn-spec.js';
import { parseTemplate } from './cfn-template.js';

export interface CloudFormationAdapterOptions {
  /** Makes the client for a spec; the default is the SDK's client with the default credential chain. */
  client?: (spec: CfnSpec) => CloudFormationClientLike | Promise<CloudFormationClientLike>;
  /** How often to poll a change set or a stack that is still working. */
  pollMs?: number;
}

const DEFAULT_POLL_MS = 5_000;
const WHAT = 'cloudformation';

/** What plan hands to apply (stored with the promotion's plan: names only, no parameter values). */
export interface CfnPlanData {
  changeSetName: string;
  changeSetId: string;
  stackId: string;
}

/**
 * CloudFormation's own plan and apply: plan creates a change set and describes it; apply executes
 * exactly that change set and waits for the stack to settle. A failed update is rolled back by
 * CloudFormation itself, and reported with the reasons from the stack's events.
 *
 * Forward-only: rolling a stack back to an earlier template is a new change, planned and shown like
 * any other, so it is left to a promotion of the previous release.
 */
export function createCloudFormationAdapter(options: CloudFormationAdapterOptions = {}): Adapter<CfnSpec> {
  const makeClient = options.client ?? defaultCloudFormationClient;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  // The SDK is loaded here, by the first call that talks to CloudFormation, never when the adapter is registered.
  const session = async (spec: CfnSpec, ctx: StepContext): Promise<Session> => ({
    spec,
    ctx,
    client: await makeClient(spec),
    sdk: await loadCloudFormationSdk(),
    pollMs,
  });

  return {
    type: 'cloudformation',
    description: 'Deploys an AWS CloudFormation stack through a change set: the plan shown is the change set executed.',
    spec: cfnSpec,

    capabilities() {
      // sensitiveOutputs: an output that echoes a NoEcho parameter is a secret lockstep.yaml may not name.
      return { reversible: false, idempotentApply: true, observe: true, sensitiveOutputs: true };
    },

    async plan(spec, ctx) {
      throwIfAborted(ctx.signal, WHAT);
      const waiting = Object.entries({ ...spec.parameters, ...spec.tags }).filter(([, v]) => holdsUnknown(v));
      if (waiting.length > 0) {
        // A change set made with the stand-in would be a change set nobody will execute (and could
        // fail a parameter's AllowedPattern): it is made when the promotion runs, with the values.
        const shown = Object.entries(spec.parameters).map(([k, v]) => `parameter ${k}: ${ctx.isSensitive(v) ? '(sensitive)' : v}`);
        return {
          summary: `stack ${spec.stack}: change set made at run time (${waiting.map(([k]) => k).join(', ')} known only after their producers apply)`,
          details: shown.join('\n'),
        };
      }
      const s = await session(spec, ctx);
      const planned = await planChangeSet(s);
      const outputs = await plannedOutputs(s, planned);
      return outputs === undefined ? planned.plan : { ...planned.plan, outputs };
    },

    async apply(spec, plan, ctx) {
      throwIfAborted(ctx.signal, WHAT);
      const s = await session(spec, ctx);
      const shown = planData(plan.data);
      const planned = shown === undefined ? (await planChangeSet(s)).plan : plan;
      const data = planData(planned.data);
      if (data === undefined) {
        ctx.log(`stack ${spec.stack}: no changes`);
        return stackOutputs(await requireStack(s), spec);
      }
      return execute(s, data);
    },

    async readOutputs(spec, ctx): Promise<Outputs> {
      throwIfAborted(ctx.signal, WHAT);
      return stackOutputs(await requireStack(await session(spec, ctx)), spec);
    },

    async observe(spec, ctx): Promise<Observed> {
      throwIfAborted(ctx.signal, WHAT);
      const s = await session(spec, ctx);
      const stack = await describeStack(s);
      if (stack === undefined) return { drift: [`stack ${spec.stack} does not exist`] };
      const release = stack.Tags?.find((t) => t.Key === VERSION_TAG)?.Value;
      const outputs = stackOutputs(stack, spec);
      const sensitive = new Set(sensitiveOutputNames(outputs));
      const drift = await detectStackDrift(s, spec.stack);
      return {
        ...(release === undefined ? {} : { version: release }),
        differences: drift.differences,
        // Compared with the recorded outputs by a drift check; those the stack marks sensitive are left out.
        outputs: Object.fromEntries(Object.entries(outputs).filter(([k]) => !sensitive.has(k))),
        details: { status: stack.StackStatus, outputs: redactSensitiveOutputs(outputs, sensitiveOutputNames(outputs)), ...drift.details },
      };
    },
  };
}

export const cloudFormationAdapter: Adapter<CfnSpec> = createCloudFormationAdapter();

/** The tag Lockstep puts on the stack: the component's version in the release that was applied. */
const VERSION_TAG = 'lockstep:version';

interface Session {
  spec: CfnSpec;
  ctx: StepContext;
  client: CloudFormationClientLike;
  sdk: CloudFormationCommands;
  pollMs: number;
}

// ------------------------------------------------------------------ plan

/** A plan, with what its outputs are worked out from. */
interface Planned {
  plan: AdapterPlan;
  /** The stack as it was before the change set; undefined when the change set creates it. */
  stack: Stack | undefined;
  /** The change set and every change in it; undefined when nothing changes. */
  changeSet?: { data: CfnPlanData; changes: Change[] };
}

async function planChangeSet(s: Session): Promise<Planned> {
  const { spec, ctx, client } = s;
  const stack = await describeStack(s);
  if (stack?.StackStatus?.endsWith('_IN_PROGRESS')) {
    throw new StepFailure(`stack ${spec.stack} is ${stack.StackStatus}; wait for it to finish and try again`, true, { untouched: true });
  }
  if (stack?.StackStatus === 'ROLLBACK_COMPLETE' || stack?.StackStatus === 'ROLLBACK_FAILED') {
    throw new StepFailure(
      `stack ${spec.stack} is ${stack.StackStatus} (its creation failed) and cannot be updated; delete it, then promote again`,
      false,
      { untouched: true },
    );
  }
  const exists = stack !== undefined && stack.StackStatus !== 'REVIEW_IN_PROGRESS';
  const template = await templateSource(s);
  const changeSetName = `lockstep-${createHash('sha256').update(`${ctx.idempotencyKey} ${Date.now()} ${Math.random()}`).digest('hex').slice(0, 16)}`;
  const created = await call(s, `CreateChangeSet for stack ${spec.stack}`, (o) =>
    client.send(
      new s.sdk.CreateChangeSetCommand({
        StackName: spec.stack,
        ChangeSetName: changeSetName,
        ChangeSetType: exists ? 'UPDATE' : 'CREATE',
        ...template,
        Parameters: Object.entries(spec.parameters).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue })),
        Capabilities: spec.capabilities,
        Tags: [...Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value })), { Key: VERSION_TAG, Value: ctx.version }],
        Description: `lockstep ${ctx.component}@${ctx.version}`.slice(0, 1024),
      }),
      o,
    ),
  );
  const data: CfnPlanData = { changeSetName, changeSetId: created.Id ?? changeSetName, stackId: created.StackId ?? spec.stack };
  const described = await waitForChangeSet(s, data);
  const before = exists ? stack : undefined;
  if (described === 'no-changes') {
    await deleteChangeSet(s, data);
    return { plan: { action: 'unchanged', summary: `stack ${spec.stack}: no changes`, risk: 'low' }, stack: before };
  }
  const changes = await allChanges(s, data, described);
  return { plan: describeChanges(spec.stack, exists, changes, data), stack: before, changeSet: { data, changes } };
}

/** The change set's changes, every page of them: a large change set is described in several. */
async function allChanges(s: Session, data: CfnPlanData, first: DescribeChangeSetCommandOutput): Promise<Change[]> {
  const changes = [...(first.Changes ?? [])];
  for (let next = first.NextToken; next !== undefined && next !== ''; ) {
    const page = await describeChangeSet(s, data, next);
    changes.push(...(page.Changes ?? []));
    next = page.NextToken;
  }
  return changes;
}

/**
 * What the stack's outputs will be once the change set runs (see planOutputs). Reading the templates
 * (GetTemplate) is the only cost; when that fails (a role without cloudformation:GetTemplate, a
 * template this reader does not follow), the plan still stands and its outputs are left unknown.
 */
async function plannedOutputs(s: Session, planned: Planned): Promise<PlannedOutputs | undefined> {
  const { spec, ctx } = s;
  const current = planned.stack === undefined ? undefined : stackOutputs(planned.stack, spec);
  const sensitive = current === undefined ? [] : [...sensitiveOutputNames(current)];
  if (planned.changeSet === undefined) {
    // Nothing changes, so every output keeps the value it has.
    if (current === undefined) return undefined;
    const known = Object.fromEntries(Object.entries(current).filter(([, v]) => v !== undefined));
    return { known, unknown: [], ...(sensitive.length > 0 ? { sensitive } : {}) };
  }
  const { data, changes } = planned.changeSet;
  try {
    const template = parseTemplate(await getTemplate(s, data, true));
    let deployed: DeployedStack | undefined;
    const resourceChanges = changes.flatMap((c) => (c.ResourceChange === undefined ? [] : [c.ResourceChange]));
    const changed = resourceChanges.flatMap((r) => (r.LogicalResourceId === undefined ? [] : [r.LogicalResourceId]));
    // A change that does not name its resource could be any of them: then none is known to be left alone.
    if (planned.stack !== undefined && current !== undefined && changed.length === resourceChanges.length) {
      deployed = {
        template: parseTemplate(await getTemplate(s, data, false)),
        parameters: Object.fromEntries((planned.stack.Parameters ?? []).map((p) => [p.ParameterKey ?? '', p.ParameterValue])),
        outputs: Object.fromEntries(Object.entries(current).map(([k, v]) => [k, typeof v === 'string' ? v : undefined])),
        changed: new Set(changed),
      };
    }
    return planOutputs({ stackName: spec.stack, region: spec.region, template, parameters: spec.parameters, ...(deployed === undefined ? {} : { deployed }) }, sensitive);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    ctx.log(`stack ${spec.stack}: its outputs are left unknown in the plan: ${errorMessage(error)}`);
    return undefined;
  }
}

/** The template body of the change set, or of the stack as deployed; as written (before any transform). */
async function getTemplate(s: Session, data: CfnPlanData, ofChangeSet: boolean): Promise<string> {
  const what = ofChangeSet ? `change set ${data.changeSetName} of stack ${s.spec.stack}` : `stack ${s.spec.stack}`;
  const out = await call(s, `GetTemplate of ${what}`, (o) =>
    s.client.send(
      new s.sdk.GetTemplateCommand({
        StackName: data.stackId,
        ...(ofChangeSet ? { ChangeSetName: data.changeSetName } : {}),
        TemplateStage: 'Original',
      }),
      o,
    ),
  );
  if (out.TemplateBody === undefined) throw new Error(`GetTemplate of ${what} returned no template`);
  return out.TemplateBody;
}

/** The change set as a plan: counts in the summary, one line per resource in the details. */
function describeChanges(stack: string, exists: boolean, changes: Change[], data: CfnPlanData): AdapterPlan {
  const counts = { Add: 0, Modify: 0, Remove: 0, Import: 0, Dynamic: 0 };
  let replaced = 0;
  let conditional = 0;
  const lines: string[] = [];
  for (const change of changes) {
    const r = change.ResourceChange;
    if (r === undefined) continue;
    const action = r.Action ?? 'Modify';
    if (action in counts) counts[action as keyof typeof counts] += 1;
    if (r.Replacement === 'True') replaced += 1;
    if (r.Replacement === 'Conditional') conditional += 1;
    const replacement = action === 'Modify' && r.Replacement !== undefined && r.Replacement !== 'False' ? ` (replacement: ${r.Replacement})` : '';
    lines.push(`${action} ${r.LogicalResourceId ?? '?'} (${r.ResourceType ?? '?'})${replacement}`);
  }
  const parts = [`${counts.Add} to add`, `${counts.Modify} to modify`, `${counts.Remove} to remove`];
  if (counts.Import > 0) parts.push(`${counts.Import} to import`);
  if (replaced > 0) parts.push(`${replaced} replaced`);
  if (conditional > 0) parts.push(`${conditional} maybe replaced`);
  const destructive = counts.Remove > 0 || replaced > 0;
  const risk: Risk = destructive || conditional > 0 ? 'high' : counts.Modify > 0 ? 'medium' : 'low';
  return {
    action: 'apply',
    summary: `${exists ? 'update' : 'create'} stack ${stack}: ${parts.join(', ')}${destructive ? ' (destroys resources)' : ''}`,
    details: lines.join('\n'),
    irreversible: destructive,
    risk,
    data,
  };
}

async function waitForChangeSet(s: Session, data: CfnPlanData): Promise<DescribeChangeSetCommandOutput | 'no-changes'> {
  const deadline = Date.now() + timeoutMs(s.spec);
  for (;;) {
    const described = await describeChangeSet(s, data);
    if (described.Status === 'CREATE_COMPLETE') return described;
    if (described.Status === 'FAILED') {
      const reason = described.StatusReason ?? '';
      // CloudFormation's two wordings of "this change set would change nothing".
      if (/didn't contain changes|No updates are to be performed/i.test(reason)) return 'no-changes';
      await deleteChangeSet(s, data).catch(() => undefined);
      throw new StepFailure(`change set for stack ${s.spec.stack} failed: ${reason || 'no reason given'}`, false, { untouched: true });
    }
    if (Date.now() > deadline) throw new StepFailure(`change set for stack ${s.spec.stack} still ${described.Status ?? '?'} after ${s.spec.timeout}`, true, { untouched: true });
    await pause(s.ctx, s.pollMs, WHAT);
  }
}

// ------------------------------------------------------------------ apply

/**
 * Executes the change set plan made, unless it ran already (a re-run after a crash), and waits for the
 * stack to settle.
 */
async function execute(s: Session, data: CfnPlanData): Promise<Outputs> {
  const { spec, ctx, client } = s;
  const changeSet = await describeChangeSet(s, data);
  const started = new Date();
  switch (changeSet.ExecutionStatus) {
    case 'AVAILABLE':
      ctx.log(`stack ${spec.stack}: executing change set ${data.changeSetName}`);
      await call(s, `ExecuteChangeSet ${data.changeSetName} of stack ${spec.stack}`, (o) =>
        client.send(
          new s.sdk.ExecuteChangeSetCommand({ StackName: data.stackId, ChangeSetName: data.changeSetName, ClientRequestToken: clientToken(ctx, data) }),
          o,
        ),
      );
      break;
    case 'EXECUTE_IN_PROGRESS':
    case 'EXECUTE_COMPLETE':
    case 'EXECUTE_FAILED':
      ctx.log(`stack ${spec.stack}: change set ${data.changeSetName} was executed already; waiting for the stack`);
      break;
    default:
      throw new StepFailure(
        `change set ${data.changeSetName} of stack ${spec.stack} can no longer be executed (${changeSet.ExecutionStatus ?? '?'}: ${changeSet.StatusReason ?? 'the stack changed since the plan'}); plan again`,
        true,
        { untouched: true },
      );
  }
  const stack = await waitForStack(s, data, started);
  return stackOutputs(stack, spec);
}

const SUCCEEDED = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'IMPORT_COMPLETE']);

async function waitForStack(s: Session, data: CfnPlanData, started: Date): Promise<Stack> {
  const { spec } = s;
  const deadline = Date.now() + timeoutMs(spec);
  for (;;) {
    const stack = await requireStack(s, data.stackId);
    const status = stack.StackStatus ?? '';
    if (!status.endsWith('_IN_PROGRESS')) {
      if (SUCCEEDED.has(status)) {
        s.ctx.log(`stack ${spec.stack}: ${status}`);
        return stack;
      }
      const reasons = await failureReasons(s, data.stackId, started);
      const rolledBack = status === 'UPDATE_ROLLBACK_COMPLETE' || status === 'ROLLBACK_COMPLETE';
      throw new StepFailure(
        `stack ${spec.stack} ${rolledBack ? 'failed and CloudFormation rolled it back' : 'failed'} (${status})` +
          (reasons.length > 0 ? `: ${reasons.join('; ')}` : `: ${stack.StackStatusReason ?? 'no reason given'}`),
        false,
      );
    }
    if (Date.now() > deadline) {
      throw new StepFailure(`stack ${spec.stack} still ${status} after ${spec.timeout}; it keeps going in CloudFormation`, false);
    }
    s.ctx.heartbeat();
    await pause(s.ctx, s.pollMs, WHAT);
  }
}

/** The reasons of the resources that failed since `since`, oldest first: the first is usually the cause. */
async function failureReasons(s: Session, stackId: string, since: Date): Promise<string[]> {
  try {
    const events = await call(s, `DescribeStackEvents of stack ${s.spec.stack}`, (o) =>
      s.client.send(new s.sdk.DescribeStackEventsCommand({ StackName: stackId }), o),
    );
    return (events.StackEvents ?? [])
      .filter((e) => (e.Timestamp === undefined || e.Timestamp >= new Date(since.getTime() - 1000)) && (e.ResourceStatus ?? '').endsWith('_FAILED'))
      .reverse()
      .map((e) => `${e.LogicalResourceId ?? '?'} (${e.ResourceType ?? '?'}) ${e.ResourceStatus ?? ''}: ${e.ResourceStatusReason ?? 'no reason given'}`)
      .slice(0, 5);
  } catch (error) {
    return [`the stack events could not be read: ${errorMessage(error)}`];
  }
}

// ------------------------------------------------------------------ helpers

/**
 * The stack's outputs, with those CloudFormation's own flag makes secret named sensitive: an output
 * whose value holds the value of a NoEcho parameter. CloudFormation masks NoEcho parameters (as
 * asterisks) wherever it describes the stack, but not in Outputs, where a template can echo them; the
 * masked ones are known from DescribeStacks, their values from the spec that passed them.
 */
function stackOutputs(stack: Stack, spec: CfnSpec): Outputs {
  const outputs: Record<string, unknown> = {};
  for (const o of stack.Outputs ?? []) if (o.OutputKey !== undefined) outputs[o.OutputKey] = o.OutputValue;
  const hidden: string[] = [];
  for (const p of stack.Parameters ?? []) {
    if (p.ParameterKey === undefined || !MASKED.test(p.ParameterValue ?? '')) continue;
    const passed = spec.parameters[p.ParameterKey];
    if (passed !== undefined && passed !== '' && !MASKED.test(passed)) hidden.push(passed);
  }
  const sensitive = Object.keys(outputs).filter((k) => {
    const value = outputs[k];
    // A short value is matched whole only: "1" inside a URL says nothing.
    return typeof value === 'string' && hidden.some((h) => value === h || (h.length >= MIN_SECRET_LENGTH && value.includes(h)));
  });
  return withSensitive(outputs, sensitive);
}

async function templateSource(s: Session): Promise<{ TemplateBody: string } | { TemplateURL: string }> {
  const { spec, ctx } = s;
  if (spec.templateUrl !== undefined) return { TemplateURL: spec.templateUrl };
  const file = path.resolve(ctx.projectDir, spec.template ?? '');
  try {
    return { TemplateBody: await readFile(file, 'utf8') };
  } catch (error) {
    throw new StepFailure(
      `template: cannot read ${spec.template ?? ''} (relative to the project directory): ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`,
      false,
      { cause: error, untouched: true },
    );
  }
}

function planData(data: unknown): CfnPlanData | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Partial<CfnPlanData>;
  if (typeof d.changeSetName !== 'string' || typeof d.stackId !== 'string') return undefined;
  return { changeSetName: d.changeSetName, changeSetId: d.changeSetId ?? d.changeSetName, stackId: d.stackId };
}

/**
 * The same for the same step and change set, so CloudFormation ignores a repeated ExecuteChangeSet of
 * it; a retry that planned a new change set gets a new token, or its execution could be taken for the
 * earlier one.
 */
function clientToken(ctx: StepContext, data: CfnPlanData): string {
  return `lockstep-${createHash('sha256').update(`${ctx.idempotencyKey} ${data.changeSetId}`).digest('hex').slice(0, 40)}`;
}

function timeoutMs(spec: CfnSpec): number {
  return parseDuration(spec.timeout) ?? 30 * 60_000;
}

/**
 * CloudFormation's own drift detection (DetectStackDrift, then DescribeStackDriftDetectionStatus until
 * it is done): each resource it finds MODIFIED or DELETED is a difference. A detection that fails
 * (resources it cannot check) is reported in the details, not as drift.
 */
async function detectStackDrift(s: Session, stackName: string): Promise<{ differences: ObservedDifference[]; details: Record<string, unknown> }> {
  const started = await call(s, `DetectStackDrift ${stackName}`, (o) => s.client.send(new s.sdk.DetectStackDriftCommand({ StackName: stackName }), o));
  const id = started.StackDriftDetectionId ?? '';
  for (;;) {
    const status = await call(s, `DescribeStackDriftDetectionStatus ${stackName}`, (o) =>
      s.client.send(new s.sdk.DescribeStackDriftDetectionStatusCommand({ StackDriftDetectionId: id }), o),
    );
    if (status.DetectionStatus === 'DETECTION_FAILED') {
      return { differences: [], details: { driftDetection: `failed: ${status.DetectionStatusReason ?? 'no reason given'}` } };
    }
    if (status.DetectionStatus !== 'DETECTION_IN_PROGRESS') {
      if (status.StackDriftStatus !== 'DRIFTED') return { differences: [], details: { stackDriftStatus: status.StackDriftStatus } };
      const drifts = await call(s, `DescribeStackResourceDrifts ${stackName}`, (o) =>
        s.client.send(new s.sdk.DescribeStackResourceDriftsCommand({ StackName: stackName, StackResourceDriftStatusFilters: ['MODIFIED', 'DELETED'] }), o),
      );
      const differences = (drifts.StackResourceDrifts ?? []).map((d) => ({
        field: `resources.${d.LogicalResourceId ?? '?'}`,
        expected: 'IN_SYNC',
        found: `${d.StackResourceDriftStatus ?? 'DRIFTED'}${(d.PropertyDifferences ?? []).length > 0 ? ` (${(d.PropertyDifferences ?? []).map((p) => p.PropertyPath ?? '').join(', ')})` : ''}`,
      }));
      return { differences, details: { stackDriftStatus: status.StackDriftStatus } };
    }
    await pause(s.ctx, s.pollMs, WHAT);
  }
}

async function describeStack(s: Session, name = s.spec.stack): Promise<Stack | undefined> {
  try {
    const out = await s.client.send(new s.sdk.DescribeStacksCommand({ StackName: name }), {
      abortSignal: s.ctx.signal,
    });
    return out.Stacks?.[0];
  } catch (error) {
    // CloudFormation answers a missing stack with ValidationError "Stack with id X does not exist".
    if (/does not exist/.test(errorMessage(error))) return undefined;
    throw cfnFailure(`DescribeStacks ${s.spec.stack}`, error, s.ctx.signal);
  }
}

async function requireStack(s: Session, name = s.spec.stack): Promise<Stack> {
  const stack = await describeStack(s, name);
  if (stack === undefined) throw new StepFailure(`stack ${s.spec.stack} does not exist`, false);
  return stack;
}

function describeChangeSet(s: Session, data: CfnPlanData, nextToken?: string): Promise<DescribeChangeSetCommandOutput> {
  return call(s, `DescribeChangeSet ${data.changeSetName} of stack ${s.spec.stack}`, (o) =>
    s.client.send(
      new s.sdk.DescribeChangeSetCommand({
        StackName: data.stackId,
        ChangeSetName: data.changeSetName,
        ...(nextToken === undefined ? {} : { NextToken: nextToken }),
      }),
      o,
    ),
  );
}

async function deleteChangeSet(s: Session, data: CfnPlanData): Promise<void> {
  await call(s, `DeleteChangeSet ${data.changeSetName} of stack ${s.spec.stack}`, (o) =>
    s.client.send(new s.sdk.DeleteChangeSetCommand({ StackName: data.stackId, ChangeSetName: data.changeSetName }), o),
  );
}

async function call<T>(s: Session, what: string, run: (o: CallOptions) => Promise<T>): Promise<T> {
  try {
    return await run({ abortSignal: s.ctx.signal });
  } catch (error) {
    throw cfnFailure(what, error, s.ctx.signal);
  }
}

const RETRYABLE = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'ServiceUnavailable', 'InternalFailure']);

/** A failed CloudFormation call as a StepFailure naming the call; cancellation passes the engine's reason. */
function cfnFailure(what: string, error: unknown, signal: AbortSignal): Error {
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    return reason instanceof Error ? reason : new StepFailure(`${what}: cancelled`, false, { cause: reason });
  }
  const name = error instanceof Error ? error.name : 'Error';
  const message = errorMessage(error);
  if (name === 'CredentialsProviderError') {
    return new StepFailure(`${what}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with a role`, false, { cause: error });
  }
  if (name === 'ChangeSetNotFoundException' || name === 'ChangeSetNotFound') {
    return new StepFailure(`${what}: the change set is gone (${message}); plan again`, true, { cause: error, untouched: true });
  }
  if (name === 'InsufficientCapabilitiesException' || /Requires capabilities/.test(message)) {
    return new StepFailure(`${what}: ${message}; add it to capabilities if you accept what the template does`, false, { cause: error });
  }
  return new StepFailure(`${what}: ${name}: ${message}`, RETRYABLE.has(name), { cause: error });
}
