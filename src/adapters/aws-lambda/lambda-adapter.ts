import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AliasConfiguration, FunctionConfiguration } from '@aws-sdk/client-lambda';
import type { Adapter, AdapterPlan, Observed, ObservedDifference, Outputs, StepContext } from '../../core/adapter.js';
import { parseDuration } from '../../core/duration.js';
import { StepFailure } from '../../core/errors.js';
import { holdsUnknown } from '../../core/plan.js';
import { pause as pauseStep, throwIfAborted as throwIfCancelled } from '../aws-common/step-wait.js';
import { defaultLambdaClient, loadLambdaSdk } from './lambda-client.js';
import type { CallOptions, LambdaClientLike, LambdaCommands } from './lambda-client.js';
import { configChanges, configurationRequest, describeChange, summarizeChanges } from './lambda-config.js';
import { awsFailure, errorName, withoutSecrets } from './lambda-failure.js';
import { lambdaSpec } from './lambda-spec.js';
import type { LambdaCode, LambdaSpec } from './lambda-spec.js';

export interface LambdaAdapterOptions {
  /** Makes the client for a spec; the default is the SDK's LambdaClient with the default credential chain. */
  client?: (spec: LambdaSpec) => LambdaClientLike | Promise<LambdaClientLike>;
  /** How often to poll while Lambda applies an update. */
  pollMs?: number;
  /** Give up waiting for one update after this long. */
  updateTimeoutMs?: number;
}

const DEFAULT_POLL_MS = 2_000;
const DEFAULT_UPDATE_TIMEOUT_MS = 15 * 60_000;
/** How many times a call refused with ResourceConflictException (an update in progress) is tried again. */
const CONFLICT_RETRIES = 5;

/**
 * Deploys a Lambda function's configuration and code, publishes an immutable version and moves an alias
 * to it, directly or through canary steps.
 *
 * Each published version's Description records which component and release version it holds
 * (`lockstep worker@1.4.2 code 9f2c…`), and the alias's Description the version it ran before. That is
 * how apply recognises work already done (and converges after a crash) and how rollback finds the
 * previous version without any state of its own.
 */
export function createLambdaAdapter(options: LambdaAdapterOptions = {}): Adapter<LambdaSpec> {
  const makeClient = options.client ?? defaultLambdaClient;
  const timing: Timing = {
    pollMs: options.pollMs ?? DEFAULT_POLL_MS,
    updateTimeoutMs: options.updateTimeoutMs ?? DEFAULT_UPDATE_TIMEOUT_MS,
  };
  // The SDK is loaded here, by the first call that talks to Lambda, never when the adapter is registered.
  const session = async (spec: LambdaSpec, ctx: StepContext): Promise<Session> => ({
    spec,
    ctx,
    client: await makeClient(spec),
    sdk: await loadLambdaSdk(),
    timing,
  });

  return {
    type: 'aws-lambda',
    description:
      'Deploys an AWS Lambda function: updates its configuration and code (creating it when asked), publishes a version, moves an alias (optionally through canary steps).',
    spec: lambdaSpec,

    capabilities() {
      return { reversible: true, idempotentApply: true, observe: true };
    },

    async plan(spec, ctx): Promise<AdapterPlan> {
      throwIfAborted(ctx.signal);
      // Which function (or which endpoint) is known only once its producer has applied: nothing can
      // be asked of Lambda before then, and no request may go to a URL holding the stand-in.
      if (unseen(spec)) return planUnseen(spec, ctx);
      return planDeploy(await session(spec, ctx));
    },

    async apply(spec, _plan, ctx): Promise<Outputs> {
      throwIfAborted(ctx.signal);
      return deploy(await session(spec, ctx));
    },

    async rollback(spec, ctx): Promise<void> {
      throwIfAborted(ctx.signal);
      await rollBack(await session(spec, ctx));
    },

    async observe(spec, ctx): Promise<Observed> {
      throwIfAborted(ctx.signal);
      return observeAlias(await session(spec, ctx));
    },
  };
}

export const lambdaAdapter: Adapter<LambdaSpec> = createLambdaAdapter();

interface Timing {
  pollMs: number;
  updateTimeoutMs: number;
}

interface Session {
  spec: LambdaSpec;
  ctx: StepContext;
  client: LambdaClientLike;
  sdk: LambdaCommands;
  timing: Timing;
}

/** What the target version must be: built once per call from the spec and the step. */
interface Target {
  /** `lockstep <component>@<version>`: the start of the Description of versions we publish. */
  marker: string;
  /** The full Description: the marker and a digest of where the code comes from. */
  description: string;
  /** The zip's CodeSha256 (base64, as Lambda reports it) when the code is a local zip file. */
  zipSha256?: string;
  zipBytes?: Uint8Array;
}

// ------------------------------------------------------------------ plan

async function planDeploy(s: Session): Promise<AdapterPlan> {
  const { spec } = s;
  const target = await loadTarget(s);
  const latest = await findFunction(s);
  if (latest === undefined) return planCreate(s);
  const alias = await getAlias(s);
  const current = alias?.FunctionVersion === undefined ? undefined : await getConfiguration(s, alias.FunctionVersion);
  if (alias !== undefined && current !== undefined && !hasRouting(alias) && matches(current, target, s)) {
    return {
      action: 'unchanged',
      summary: `alias ${spec.alias} of ${spec.function} already runs ${target.marker.slice('lockstep '.length)} (version ${current.Version ?? '?'})`,
      risk: 'low',
    };
  }
  const published = await findPublished(s, target);
  const changes: string[] = [];
  let details: string[] = [];
  if (published === undefined) {
    // Compared with what runs now (the alias's version), which is what approvers care about; apply
    // sends what $LATEST lacks, which is the same unless someone changed $LATEST by hand.
    const config = configChanges(current ?? latest, spec, s.ctx.isSensitive);
    if (config.length > 0) changes.push(summarizeChanges(config));
    details = config.map(describeChange);
    changes.push(`code from ${describeCode(spec.code)}`, 'publish a version');
  } else {
    changes.push(`reuse published version ${published.Version ?? '?'}`);
  }
  const from = alias === undefined ? `create alias ${spec.alias}` : `move alias ${spec.alias} from version ${alias.FunctionVersion ?? '?'}`;
  const how =
    alias !== undefined && spec.traffic !== undefined && spec.traffic.length > 1
      ? ` through ${spec.traffic.map((p) => `${p} %`).join(', ')} every ${spec.interval}`
      : '';
  changes.push(`${from} ${alias === undefined ? 'on' : 'to'} the new version${how}`);
  return {
    action: 'apply',
    summary: `${spec.function}: ${changes.join('; ')}`,
    ...(details.length === 0 ? {} : { details: details.join('\n') }),
    risk: how === '' ? 'medium' : 'low',
  };
}

/** Whether the function is named by a value known only after its producer applies: see planUnseen. */
function unseen(spec: LambdaSpec): boolean {
  return [spec.function, spec.region, spec.endpoint].some((value) => value !== undefined && holdsUnknown(value));
}

/**
 * The plan for a function that cannot be read yet: what the spec sets (values as the plan of a known
 * function shows them, a secret by name only), the code, the version and the alias. What the function
 * runs now, and so what actually changes, is read by the plan made again in the step.
 */
function planUnseen(spec: LambdaSpec, ctx: StepContext): AdapterPlan {
  const config = configChanges({}, spec, ctx.isSensitive);
  const plain = config.filter((c) => !c.field.startsWith('environment.')).map((c) => c.field);
  const env = config.filter((c) => c.field.startsWith('environment.')).map((c) => c.field.slice('environment.'.length));
  const sets = [...plain, ...(env.length === 0 ? [] : [`environment (${env.join(', ')})`])];
  const how = spec.traffic !== undefined && spec.traffic.length > 1 ? ` through ${spec.traffic.map((p) => `${p} %`).join(', ')} every ${spec.interval}` : '';
  const steps = [
    ...(sets.length === 0 ? [] : [`set ${sets.join(', ')}`]),
    `code from ${describeCode(spec.code)}`,
    ...(spec.create === undefined ? [] : ['create the function if it does not exist']),
    'publish a version',
    `move alias ${spec.alias} to the new version${how} (what the function runs now is read once it is known)`,
  ];
  return {
    action: 'apply',
    summary: `${spec.function}: ${steps.join('; ')}`,
    ...(config.length === 0 ? {} : { details: config.map((c) => `${c.field}: ${c.sensitive ? '(sensitive)' : (c.to ?? '')}`).join('\n') }),
    risk: how === '' ? 'medium' : 'low',
  };
}

/** The function does not exist: with `create`, the plan creates it; without, that is an error. */
function planCreate(s: Session): AdapterPlan {
  const { spec } = s;
  const creation = requireCreation(s);
  const config = configChanges({}, creation, s.ctx.isSensitive);
  const what = spec.code.imageUri === undefined ? `${creation.runtime ?? '?'}, handler ${creation.handler ?? '?'}` : 'container image';
  return {
    action: 'apply',
    summary: `${spec.function}: create function ${spec.function} (${what}) from ${describeCode(spec.code)}; publish a version; create alias ${spec.alias} on it`,
    details: config.map(describeChange).join('\n'),
    risk: 'medium',
  };
}

/**
 * The spec with what `create` adds (the fields of the spec win), for a function that does not exist;
 * without `create` a missing function is a StepFailure that changed nothing.
 */
function requireCreation(s: Session): LambdaSpec {
  const { spec } = s;
  if (spec.create === undefined) {
    throw new StepFailure(
      `function ${spec.function} does not exist${spec.region === undefined ? '' : ` in ${spec.region}`}; ` +
        'create it first, or add create: { role, runtime, handler } to the component so that Lockstep creates it',
      false,
      { untouched: true },
    );
  }
  return {
    ...spec,
    ...(spec.role ?? spec.create.role ? { role: spec.role ?? spec.create.role } : {}),
    ...(spec.runtime ?? spec.create.runtime ? { runtime: spec.runtime ?? spec.create.runtime } : {}),
    ...(spec.handler ?? spec.create.handler ? { handler: spec.handler ?? spec.create.handler } : {}),
  };
}

// ------------------------------------------------------------------ apply

async function deploy(s: Session): Promise<Outputs> {
  const { spec, ctx } = s;
  const target = await loadTarget(s);
  if ((await findFunction(s)) === undefined) {
    const created = await createFunction(s, target);
    const version = await publish(s, target, created.CodeSha256);
    return outputs(await moveAlias(s, undefined, version), version);
  }
  const alias = await getAlias(s);
  const current = alias?.FunctionVersion === undefined ? undefined : await getConfiguration(s, alias.FunctionVersion);
  if (alias !== undefined && current !== undefined && !hasRouting(alias) && matches(current, target, s)) {
    ctx.log(`alias ${spec.alias} already runs version ${current.Version ?? '?'} with this code and configuration; nothing to do`);
    return outputs(alias, current);
  }

  let version = await findPublished(s, target);
  if (version === undefined) {
    version = await publishNewVersion(s, target);
  } else {
    ctx.log(`version ${version.Version ?? '?'} already holds this code and configuration; reusing it`);
  }
  const moved = await moveAlias(s, alias, version);
  return outputs(moved, version);
}

async function publishNewVersion(s: Session, target: Target): Promise<FunctionConfiguration> {
  const { spec, ctx, client } = s;
  const name = spec.function;
  let latest = await waitUntilUpdated(s, 'before updating');

  // Configuration first, then code: Lambda refuses a second update while one is in progress, so each
  // waits for LastUpdateStatus Successful. The version published after both carries both.
  const changes = configChanges(latest, spec, ctx.isSensitive);
  if (changes.length > 0) {
    ctx.log(`updating the configuration of ${name}: ${summarizeChanges(changes)}`);
    for (const change of changes) ctx.log(`  ${describeChange(change)}`);
    await withConflictRetry(s, 'UpdateFunctionConfiguration', (o) =>
      client.send(new s.sdk.UpdateFunctionConfigurationCommand({ FunctionName: name, ...configurationRequest(spec) }), o),
    );
    latest = await waitUntilUpdated(s, 'after the configuration update');
  }

  ctx.log(`updating the code of ${name} from ${describeCode(spec.code)}`);
  const updated = await withConflictRetry(s, 'UpdateFunctionCode', (o) =>
    client.send(new s.sdk.UpdateFunctionCodeCommand({ FunctionName: name, ...codeRequest(spec.code, target) }), o),
  );
  latest = await waitUntilUpdated(s, 'after the code update');
  return publish(s, target, updated.CodeSha256 ?? latest.CodeSha256);
}

/** Creates the function from the spec and `create`, and waits until it is Active. */
async function createFunction(s: Session, target: Target): Promise<FunctionConfiguration> {
  const { spec, ctx, client } = s;
  const creation = requireCreation(s);
  const name = spec.function;
  const role = creation.role;
  if (role === undefined) throw new StepFailure(`CreateFunction ${name}: no execution role (create.role or role)`, false, { untouched: true });
  ctx.log(`creating function ${name} from ${describeCode(spec.code)}`);
  for (const change of configChanges({}, creation, ctx.isSensitive)) ctx.log(`  ${describeChange(change)}`);
  const created = await call(s, `CreateFunction ${name}`, (o) =>
    client.send(
      new s.sdk.CreateFunctionCommand({
        FunctionName: name,
        ...configurationRequest(creation),
        Role: role,
        Code: codeRequest(spec.code, target),
        PackageType: spec.code.imageUri === undefined ? 'Zip' : 'Image',
        // Published by publish(), with the Description that marks it as this release's.
        Publish: false,
      }),
      o,
    ),
  );
  await waitUntilUpdated(s, 'after creating it');
  return created;
}

/** Publishes $LATEST as a version marked with the target, guarded by the code it must hold. */
async function publish(s: Session, target: Target, codeSha256: string | undefined): Promise<FunctionConfiguration> {
  const { spec, ctx, client } = s;
  const name = spec.function;
  if (target.zipSha256 !== undefined && codeSha256 !== target.zipSha256) {
    throw new StepFailure(
      `UpdateFunctionCode ${name}: Lambda reports code ${codeSha256 ?? '(none)'}, but ${spec.code.zipFile ?? ''} has ${target.zipSha256}`,
      false,
    );
  }

  // The CodeSha256 guard makes Lambda refuse to publish if someone else changed the code meanwhile.
  const published = await withConflictRetry(s, 'PublishVersion', (o) =>
    client.send(new s.sdk.PublishVersionCommand({ FunctionName: name, CodeSha256: codeSha256, Description: target.description }), o),
  );
  if (published.Description !== target.description) {
    // Lambda publishes nothing when code and configuration equal the latest version, and returns that
    // version with its own description: this release then runs on it, and observe reports the other.
    ctx.log(
      `version ${published.Version ?? '?'} already had this exact code and configuration (${published.Description ?? 'no description'}); Lambda returned it instead of publishing a new one`,
    );
  } else {
    ctx.log(`published version ${published.Version ?? '?'} (code ${published.CodeSha256 ?? '?'})`);
  }
  return published;
}

/**
 * Points the alias at `version`: directly, or (when the alias exists and `traffic` has steps below 100)
 * by shifting weight to it step by step. Any failure during the canary puts the alias fully back on the
 * version it ran before, with no routing, before the error is thrown.
 */
async function moveAlias(s: Session, alias: AliasConfiguration | undefined, version: FunctionConfiguration): Promise<AliasConfiguration> {
  const { spec, ctx, client } = s;
  const target = requireVersion(version);
  const name = spec.function;
  const description = (before: string | undefined): string =>
    `lockstep ${ctx.component}@${ctx.version}${before === undefined ? '' : `; before: version ${before}`}`;

  if (alias === undefined) {
    ctx.log(`creating alias ${spec.alias} on version ${target}`);
    return call(s, `CreateAlias ${spec.alias} of ${name}`, (o) =>
      client.send(new s.sdk.CreateAliasCommand({ FunctionName: name, Name: spec.alias, FunctionVersion: target, Description: description(undefined) }), o),
    );
  }
  const old = alias.FunctionVersion;
  if (old === target && !hasRouting(alias)) return alias;
  const before = old === target ? previousFromDescription(alias.Description) : old;

  const canary = (spec.traffic ?? [100]).filter((p) => p < 100);
  if (old !== undefined && old !== target && canary.length > 0) {
    try {
      for (const percent of canary) {
        const weight = percent / 100;
        ctx.log(`alias ${spec.alias}: ${percent} % to version ${target}, ${100 - percent} % on version ${old}`);
        await call(s, `UpdateAlias ${spec.alias} of ${name}`, (o) =>
          client.send(
            new s.sdk.UpdateAliasCommand({
              FunctionName: name,
              Name: spec.alias,
              FunctionVersion: old,
              RoutingConfig: { AdditionalVersionWeights: { [target]: weight } },
              Description: description(before),
            }),
            o,
          ),
        );
        await pause(s, parseDuration(spec.interval) ?? 0);
        await checkCanary(s, old, target, weight, percent);
      }
    } catch (error) {
      // The alias description it had: the canary never took the alias over.
      await restoreAlias(s, old, alias.Description ?? '');
      throw error;
    }
  }

  ctx.log(`alias ${spec.alias}: all traffic to version ${target}`);
  return call(s, `UpdateAlias ${spec.alias} of ${name}`, (o) =>
    client.send(
      new s.sdk.UpdateAliasCommand({
        FunctionName: name,
        Name: spec.alias,
        FunctionVersion: target,
        RoutingConfig: { AdditionalVersionWeights: {} },
        Description: description(before),
      }),
      o,
    ),
  );
}

/**
 * The adapter's own health check between canary steps: the new version is still Active and its last
 * update did not fail, the alias is still as we left it (nobody else moved it), and, when the spec has
 * a `check`, an invocation of the new version returns without a function error. Checks of the whole
 * application belong in the component's verify, which the engine runs after apply: the Adapter port
 * has no way to run it between steps.
 */
async function checkCanary(s: Session, old: string, target: string, weight: number, percent: number): Promise<void> {
  const { spec } = s;
  const where = `canary at ${percent} %`;
  const config = await getConfiguration(s, target);
  if (config.State === 'Failed' || config.State === 'Inactive' || config.LastUpdateStatus === 'Failed') {
    const reason = config.StateReason ?? config.LastUpdateStatusReason ?? 'no reason given';
    throw new StepFailure(`${where}: version ${target} of ${spec.function} is ${config.State ?? '?'} (${reason})`, false);
  }
  const alias = await getAlias(s);
  const now = alias?.RoutingConfig?.AdditionalVersionWeights?.[target];
  if (alias?.FunctionVersion !== old || now !== weight) {
    throw new StepFailure(
      `${where}: alias ${spec.alias} was changed by someone else (now on version ${alias?.FunctionVersion ?? 'none'}); stopping`,
      false,
    );
  }
  if (spec.check !== undefined) await invokeCheck(s, target, where);
}

/** Invokes `version` itself (not the alias, which would reach it only for its share of calls). */
async function invokeCheck(s: Session, version: string, where: string): Promise<void> {
  const { spec, ctx } = s;
  const payload = new TextEncoder().encode(JSON.stringify(spec.check?.payload ?? {}));
  const result = await call(s, `${where}: Invoke ${spec.function}:${version}`, (o) =>
    s.client.send(new s.sdk.InvokeCommand({ FunctionName: spec.function, Qualifier: version, InvocationType: 'RequestResponse', Payload: payload }), o),
  );
  if (result.FunctionError === undefined) {
    ctx.log(`${where}: version ${version} answered the check invocation`);
    return;
  }
  // The function's own error report: its type and message, cut short. The payload is never logged.
  const body = new TextDecoder().decode(result.Payload ?? new Uint8Array());
  let detail = '';
  try {
    const parsed = JSON.parse(body) as { errorType?: unknown; errorMessage?: unknown };
    detail = [parsed.errorType, parsed.errorMessage].filter((x): x is string => typeof x === 'string').join(': ');
  } catch {
    detail = '';
  }
  // An error message may quote the configuration ("cannot connect to postgres://user:password@…").
  const clean = withoutSecrets(detail, secretsOf(s));
  const short = clean.length > 200 ? `${clean.slice(0, 199)}…` : clean;
  throw new StepFailure(`${where}: version ${version} failed the check invocation (${result.FunctionError}${short === '' ? '' : `: ${short}`})`, false);
}

/** Puts the alias fully back on `old`. Not cancellable: a cancelled canary must still be undone. */
async function restoreAlias(s: Session, old: string, description: string): Promise<void> {
  const { spec, ctx, client } = s;
  ctx.log(`alias ${spec.alias}: back to version ${old} with no routing`);
  try {
    await client.send(
      new s.sdk.UpdateAliasCommand({
        FunctionName: spec.function,
        Name: spec.alias,
        FunctionVersion: old,
        RoutingConfig: { AdditionalVersionWeights: {} },
        Description: description,
      }),
    );
  } catch (error) {
    throw awsFailure(`canary abort: could not put alias ${spec.alias} back on version ${old}`, error, new AbortController().signal, {
      secrets: secretsOf(s),
    });
  }
}

// ------------------------------------------------------------------ rollback and observe

/**
 * The alias back to the version that ran `ctx.previousVersion`: the version the alias records it ran
 * before this step moved it, else the newest version we published for the previous release.
 */
async function rollBack(s: Session): Promise<void> {
  const { spec, ctx, client } = s;
  const previous = ctx.previousVersion;
  if (previous === undefined) throw new StepFailure('rollback: there is no previous version to go back to', false);
  const alias = await getAlias(s);
  if (alias === undefined) throw new StepFailure(`rollback: alias ${spec.alias} of ${spec.function} does not exist`, false);

  const movedByThisStep = alias.Description?.startsWith(`lockstep ${ctx.component}@${ctx.version};`) ?? false;
  let version = movedByThisStep ? previousFromDescription(alias.Description) : undefined;
  if (version === undefined) version = (await newestVersion(s, (c) => c.Description?.startsWith(`lockstep ${ctx.component}@${previous} `) ?? false))?.Version;
  if (version === undefined) {
    throw new StepFailure(
      `rollback: no version of ${spec.function} is recorded as ${ctx.component}@${previous}, and alias ${spec.alias} does not record the version it ran before`,
      false,
    );
  }
  if (alias.FunctionVersion === version && !hasRouting(alias)) {
    ctx.log(`alias ${spec.alias} is on version ${version} already`);
    return;
  }
  const target = version;
  ctx.log(`alias ${spec.alias}: back to version ${target} (${ctx.component}@${previous})`);
  await call(s, `UpdateAlias ${spec.alias} of ${spec.function}`, (o) =>
    client.send(
      new s.sdk.UpdateAliasCommand({
        FunctionName: spec.function,
        Name: spec.alias,
        FunctionVersion: target,
        RoutingConfig: { AdditionalVersionWeights: {} },
        Description: `lockstep ${ctx.component}@${previous}; rolled back from ${ctx.version}`,
      }),
      o,
    ),
  );
}

async function observeAlias(s: Session): Promise<Observed> {
  const { spec } = s;
  const alias = await getAlias(s);
  if (alias?.FunctionVersion === undefined) return { drift: [`alias ${spec.alias} of ${spec.function} does not exist`] };
  const config = await getConfiguration(s, alias.FunctionVersion);
  const weights = alias.RoutingConfig?.AdditionalVersionWeights ?? {};
  const drift = Object.entries(weights).map(
    ([version, weight]) => `alias ${spec.alias} sends ${Math.round(weight * 100)} % to version ${version} (a canary that did not finish?)`,
  );
  const recorded = parseDescription(config.Description);
  const version = recorded?.component === s.ctx.component ? recorded.version : undefined;
  const differences: ObservedDifference[] = Object.entries(weights).map(([v, weight]) => ({
    field: `alias ${spec.alias}.weights`,
    expected: 'all traffic on one version',
    found: `${Math.round(weight * 100)} % to version ${v}`,
  }));
  if (s.ctx.version !== '' && version !== s.ctx.version) {
    // The alias runs another version than the one recorded: name the one Lockstep published for it.
    const wanted = await newestVersion(s, (c) => {
      const d = parseDescription(c.Description);
      return d?.component === s.ctx.component && d.version === s.ctx.version;
    });
    differences.push({
      field: `alias ${spec.alias}.functionVersion`,
      expected: wanted?.Version ?? `(a version published for ${s.ctx.version}; none found)`,
      found: alias.FunctionVersion,
    });
    if (wanted?.CodeSha256 !== config.CodeSha256) {
      differences.push({ field: `alias ${spec.alias}.codeSha256`, expected: wanted?.CodeSha256 ?? '(unknown)', found: config.CodeSha256 ?? '(none)' });
    }
  }
  return {
    ...(version === undefined ? {} : { version }),
    ...(drift.length === 0 ? {} : { drift }),
    differences,
    // Compared with the recorded outputs (where declared) by a drift check: the alias's version and its code hash.
    outputs: { functionVersion: alias.FunctionVersion, codeSha256: config.CodeSha256 },
    details: { functionVersion: alias.FunctionVersion, weights, codeSha256: config.CodeSha256 },
  };
}

// ------------------------------------------------------------------ helpers

function outputs(alias: AliasConfiguration, version: FunctionConfiguration): Outputs {
  return {
    functionVersion: version.Version,
    functionArn: version.FunctionArn,
    aliasArn: alias.AliasArn,
    codeSha256: version.CodeSha256,
  };
}

async function loadTarget(s: Session): Promise<Target> {
  const { spec, ctx } = s;
  const marker = `lockstep ${ctx.component}@${ctx.version}`;
  const codeId = createHash('sha256').update(JSON.stringify(spec.code)).digest('hex').slice(0, 12);
  const target: Target = { marker, description: `${marker} code ${codeId}`.slice(0, 256) };
  if (spec.code.zipFile !== undefined) {
    const file = path.resolve(ctx.projectDir, spec.code.zipFile);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (error) {
      throw new StepFailure(`code.zipFile: cannot read ${spec.code.zipFile} (relative to the project directory): ${(error as NodeJS.ErrnoException).code ?? String(error)}`, false, {
        cause: error,
        untouched: true,
      });
    }
    target.zipBytes = bytes;
    target.zipSha256 = createHash('sha256').update(bytes).digest('base64');
  }
  return target;
}

/**
 * Whether a published version holds the target: our marker and code digest, the zip's hash, and every
 * configuration field the spec gives (a published version carries its configuration).
 */
function matches(config: FunctionConfiguration, target: Target, s: Session): boolean {
  if (config.Description !== target.description) return false;
  if (target.zipSha256 !== undefined && config.CodeSha256 !== target.zipSha256) return false;
  return configChanges(config, s.spec, () => false).length === 0;
}

function describeCode(code: LambdaCode): string {
  if (code.zipFile !== undefined) return code.zipFile;
  if (code.imageUri !== undefined) return code.imageUri;
  return `s3://${code.s3Bucket ?? ''}/${code.s3Key ?? ''}${code.s3ObjectVersion === undefined ? '' : `?versionId=${code.s3ObjectVersion}`}`;
}

function codeRequest(
  code: LambdaCode,
  target: Target,
): { ZipFile?: Uint8Array; ImageUri?: string; S3Bucket?: string; S3Key?: string; S3ObjectVersion?: string } {
  if (target.zipBytes !== undefined) return { ZipFile: target.zipBytes };
  if (code.imageUri !== undefined) return { ImageUri: code.imageUri };
  return { S3Bucket: code.s3Bucket, S3Key: code.s3Key, S3ObjectVersion: code.s3ObjectVersion };
}

function parseDescription(description: string | undefined): { component: string; version: string } | undefined {
  const match = /^lockstep ([^@\s]+)@(\S+?);?(?:\s|$)/.exec(description ?? '');
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  return { component: match[1], version: match[2] };
}

function previousFromDescription(description: string | undefined): string | undefined {
  return /; before: version (\d+)$/.exec(description ?? '')?.[1];
}

function hasRouting(alias: AliasConfiguration): boolean {
  return Object.keys(alias.RoutingConfig?.AdditionalVersionWeights ?? {}).length > 0;
}

function requireVersion(config: FunctionConfiguration): string {
  if (config.Version === undefined || config.Version === '$LATEST') {
    throw new StepFailure('PublishVersion: Lambda returned no version number', false);
  }
  return config.Version;
}

async function getAlias(s: Session): Promise<AliasConfiguration | undefined> {
  try {
    return await s.client.send(new s.sdk.GetAliasCommand({ FunctionName: s.spec.function, Name: s.spec.alias }), { abortSignal: s.ctx.signal });
  } catch (error) {
    // A missing alias is normal before the first deploy; a missing function says so on the next call.
    // Lambda says "Alias not found: arn:…" or "Function not found: arn:…".
    if (errorName(error) === 'ResourceNotFoundException' && !/function not found/i.test((error as Error).message)) return undefined;
    throw awsFailure(`GetAlias ${s.spec.alias} of ${s.spec.function}`, error, s.ctx.signal, { untouched: true, secrets: secretsOf(s) });
  }
}

async function getConfiguration(s: Session, qualifier: string | undefined): Promise<FunctionConfiguration> {
  return call(
    s,
    `GetFunctionConfiguration ${s.spec.function}${qualifier === undefined ? '' : `:${qualifier}`}`,
    (o) =>
      s.client.send(
        new s.sdk.GetFunctionConfigurationCommand({ FunctionName: s.spec.function, ...(qualifier === undefined ? {} : { Qualifier: qualifier }) }),
        o,
      ),
  );
}

/** The newest published version that holds the target, if one exists (a re-run after a crash). */
async function findPublished(s: Session, target: Target): Promise<FunctionConfiguration | undefined> {
  return newestVersion(s, (c) => matches(c, target, s));
}

/** $LATEST's configuration, or undefined when the function does not exist. */
async function findFunction(s: Session): Promise<FunctionConfiguration | undefined> {
  try {
    return await s.client.send(new s.sdk.GetFunctionConfigurationCommand({ FunctionName: s.spec.function }), { abortSignal: s.ctx.signal });
  } catch (error) {
    if (errorName(error) === 'ResourceNotFoundException') return undefined;
    throw awsFailure(`GetFunctionConfiguration ${s.spec.function}`, error, s.ctx.signal, { untouched: true, secrets: secretsOf(s) });
  }
}

async function newestVersion(s: Session, accept: (c: FunctionConfiguration) => boolean): Promise<FunctionConfiguration | undefined> {
  let best: FunctionConfiguration | undefined;
  let marker: string | undefined;
  do {
    const page = await call(s, `ListVersionsByFunction ${s.spec.function}`, (o) =>
      s.client.send(new s.sdk.ListVersionsByFunctionCommand({ FunctionName: s.spec.function, Marker: marker, MaxItems: 50 }), o),
    );
    for (const config of page.Versions ?? []) {
      if (config.Version === undefined || config.Version === '$LATEST' || !accept(config)) continue;
      if (best === undefined || Number(config.Version) > Number(best.Version)) best = config;
    }
    marker = page.NextMarker;
  } while (marker !== undefined);
  return best;
}

/** Polls $LATEST until Lambda has finished applying the last update; a failed update is a StepFailure. */
async function waitUntilUpdated(s: Session, when: string): Promise<FunctionConfiguration> {
  const deadline = Date.now() + s.timing.updateTimeoutMs;
  for (;;) {
    const config = await getConfiguration(s, undefined);
    s.ctx.heartbeat();
    if (config.LastUpdateStatus === 'Failed') {
      throw new StepFailure(
        `${s.spec.function}: the update failed ${when}: ${config.LastUpdateStatusReasonCode ?? ''} ${config.LastUpdateStatusReason ?? ''}`.trim(),
        false,
      );
    }
    if (config.LastUpdateStatus !== 'InProgress' && config.State !== 'Pending') return config;
    if (Date.now() > deadline) {
      throw new StepFailure(`${s.spec.function}: still updating ${when} after ${Math.round(s.timing.updateTimeoutMs / 1000)}s`, true);
    }
    await pause(s, s.timing.pollMs);
  }
}

/**
 * Runs an update call; when Lambda refuses it with ResourceConflictException (another update of the
 * function is in progress), waits for that update and tries again, a few times.
 */
async function withConflictRetry<T>(s: Session, what: string, run: (o: CallOptions) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await run({ abortSignal: s.ctx.signal });
    } catch (error) {
      if (errorName(error) !== 'ResourceConflictException' || attempt > CONFLICT_RETRIES || s.ctx.signal.aborted) {
        throw awsFailure(`${what} ${s.spec.function}`, error, s.ctx.signal, { secrets: secretsOf(s) });
      }
      s.ctx.log(`${what}: another update of ${s.spec.function} is in progress; waiting for it (attempt ${attempt})`);
      await waitUntilUpdated(s, 'while another update ran');
    }
  }
}

async function call<T>(s: Session, what: string, run: (o: CallOptions) => Promise<T>): Promise<T> {
  try {
    return await run({ abortSignal: s.ctx.signal });
  } catch (error) {
    throw awsFailure(what, error, s.ctx.signal, { secrets: secretsOf(s) });
  }
}

function pause(s: Session, ms: number): Promise<void> {
  return pauseStep(s.ctx, ms, 'aws-lambda');
}

function throwIfAborted(signal: AbortSignal): void {
  throwIfCancelled(signal, 'aws-lambda');
}

/** The environment values of the spec: kept out of every error message. */
function secretsOf(s: Session): string[] {
  return Object.values(s.spec.environment ?? {});
}
