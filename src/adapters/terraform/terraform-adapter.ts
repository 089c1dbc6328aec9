import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { withSensitive } from '../../core/adapter.js';
import type { Adapter, AdapterPlan, Observed, Outputs, StepContext } from '../../core/adapter.js';
import { errorMessage, StepFailure } from '../../core/errors.js';
import { checkoutModule, projectModule } from './module-source.js';
import type { ModuleSource } from './module-source.js';
import { describeState, prepareState } from './state-location.js';
import type { StateLocation } from './state-location.js';
import type { ProcessOutput } from '../command/run-process.js';
import { peekRecordDir, recordState } from '../command/run-journal.js';
import { runTerraform } from './terraform-cli.js';
import {
  describePlan,
  destroys,
  effectiveChanges,
  parseOutputs,
  parsePlan,
  summarizePlan,
  TerraformFormatError,
} from './terraform-plan.js';
import type { TerraformPlan } from './terraform-plan.js';
import { terraformSpec } from './terraform-spec.js';
import { withWorkLock } from './work-lock.js';
import type { TerraformSpec } from './terraform-spec.js';

/**
 * The `terraform` component type (OpenTofu too: `binary: tofu`). Plan runs `init`, selects the
 * workspace, saves a plan file under the cache and reads it with `show -json`; apply applies exactly
 * that file, never a fresh plan; outputs come from `output -json`, with the ones Terraform marks
 * sensitive named as such (the engine never stores their values, and reads them back with readOutputs
 * when a dependent needs one later).
 *
 * Not idempotent for crash recovery: re-running an interrupted apply means applying a plan nobody was
 * shown, so the engine asks a person (observe tells it whether the apply finished).
 */
export const terraformAdapter: Adapter<TerraformSpec> = {
  type: 'terraform',
  description:
    'Plans and applies a Terraform or OpenTofu root module: applies exactly the saved plan that was shown, refuses destructive plans unless allowed, and passes outputs on with their types.',
  spec: terraformSpec,

  capabilities(spec) {
    // sensitiveOutputs: a module may mark any output sensitive without lockstep.yaml saying so.
    return { reversible: spec.rollback === 'reapply-previous', idempotentApply: false, observe: true, sensitiveOutputs: true };
  },

  async plan(spec, ctx) {
    return locked(ctx, async () => {
      const { plan, shown } = await planVersion(spec, ctx, ctx.version, 'plan');
      const reason = rollbackRefusal(spec, ctx, shown);
      return reason === undefined ? plan : { ...plan, notReversible: reason };
    });
  },

  async apply(spec, plan: AdapterPlan, ctx): Promise<Outputs> {
    throwIfAborted(ctx.signal, 'apply');
    // Without plan data (the engine had none to hand back) plan now; the plan is logged.
    return locked(ctx, async () => {
      const data = planData(plan.data) ?? (await planVersion(spec, ctx, ctx.version, 'apply')).data;
      return applyPlan(spec, data, ctx);
    });
  },

  async rollback(spec, ctx) {
    if (spec.rollback !== 'reapply-previous') {
      throw new StepFailure(
        'rollback: this terraform component is forward-only (set rollback: reapply-previous)',
        false,
      );
    }
    if (ctx.previousVersion === undefined) {
      throw new StepFailure('rollback: there is no previous version to re-apply', false, { untouched: true });
    }
    const previous = ctx.previousVersion;
    await locked(ctx, async () => {
      ctx.log(`rollback: planning the previous version ${previous}`);
      const { plan, data } = await planVersion(spec, ctx, previous, 'rollback');
      ctx.log(`rollback plan: ${plan.summary}`);
      for (const line of (plan.details ?? '').split('\n')) ctx.log(`  ${line}`);
      await applyPlan(spec, data, ctx);
    });
  },

  async readOutputs(spec, ctx): Promise<Outputs> {
    throwIfAborted(ctx.signal, 'outputs');
    return locked(ctx, async () => {
      const source = await moduleFor(spec, ctx, ctx.version);
      // Reading changes nothing: a missing workspace is reported, not created.
      if (!(await prepare(spec, source, ctx, 'outputs', { create: false }))) {
        throw new StepFailure(`outputs: workspace ${spec.workspace ?? ''} does not exist, so there are no outputs to read`, false);
      }
      return outputsOf(spec, source, ctx);
    });
  },

  async observe(spec, ctx): Promise<Observed> {
    throwIfAborted(ctx.signal, 'observe');
    return locked(ctx, () => observeVersion(spec, ctx));
  },
};

async function observeVersion(spec: TerraformSpec, ctx: StepContext): Promise<Observed> {
  const source = await moduleFor(spec, ctx, ctx.version);
  const scratch = await privateDir(ctx, 'observe');
  try {
    // Observing changes nothing: a missing workspace is reported, not created.
    if (!(await prepare(spec, source, ctx, 'observe', { create: false }))) {
      return { drift: [`workspace ${spec.workspace ?? ''} does not exist`], details: detailsOf(source) };
    }
    const planFile = path.join(scratch, 'observe.tfplan');
    const varFile = await writeVarFile(spec, scratch, ctx.version);
    // -lock=false: observing must never hold up (or be held up by) a running apply.
    const { code } = await runTerraform(
      spec,
      {
        args: [
          'plan',
          '-input=false',
          '-no-color',
          '-lock=false',
          '-detailed-exitcode',
          `-out=${planFile}`,
          ...varArgs(spec, varFile),
        ],
        cwd: source.dir,
        okCodes: [0, 2],
        log: true,
        phase: 'observe',
      },
      ctx,
    );
    if (code === 0) return { version: ctx.version, differences: [], details: detailsOf(source) };
    const shown = await showPlan(spec, source, planFile, ctx, 'observe');
    const changes = effectiveChanges(shown);
    const drift = changes.map((c) => `${c.address} would ${c.kind}${c.reason === undefined ? '' : ` (${c.reason})`}`);
    // A plan that shows changes at the applied version means the resources differ from it: drift.
    const differences = changes.map((c) => ({ field: c.address, expected: 'as applied (no change)', found: `plan would ${c.kind}${c.reason === undefined ? '' : ` (${c.reason})`}` }));
    if (differences.length === 0) differences.push({ field: 'plan', expected: 'no changes', found: summarizePlan(shown) });
    return { drift: drift.length > 0 ? drift : [summarizePlan(shown)], differences, details: detailsOf(source) };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Runs `fn` holding this component's lock for this environment (its work and data directories). */
function locked<T>(ctx: StepContext, fn: () => Promise<T>): Promise<T> {
  const lockDir = path.join(
    ctx.cacheDir,
    'terraform',
    'locks',
    safeName(ctx.project),
    safeName(ctx.component),
    `${safeName(ctx.environment.name)}.lock`,
  );
  return withWorkLock(lockDir, ctx, fn);
}

/**
 * Why rollback() would refuse to undo this plan although the component is reversible: there is no
 * previous version to re-apply (a first install), or re-applying it would destroy what this plan
 * creates and allowDestroy is false (planVersion refuses such a rollback plan). Undefined for a
 * forward-only component: it is not reversible in the first place, and the plan says so already.
 */
function rollbackRefusal(spec: TerraformSpec, ctx: StepContext, shown: TerraformPlan): string | undefined {
  if (spec.rollback !== 'reapply-previous') return undefined;
  if (ctx.previousVersion === undefined) {
    return 'this is the first version applied here, so there is no previous version for a rollback to re-apply';
  }
  if (spec.allowDestroy) return undefined;
  // Creates and replacements (["create"], ["delete","create"], ["create","delete"]): the previous version
  // has no such resource, so re-applying it deletes them. A replacement with allowDestroy false never
  // gets this far, but naming it keeps the rule whole.
  const created = shown.changes.filter((c) => c.actions.includes('create')).map((c) => c.address);
  if (created.length === 0) return undefined;
  return `a rollback would destroy ${created.join(', ')} (created by this plan), and allowDestroy is false`;
}

/** What plan hands to apply through the stored promotion plan. Paths and a commit: no secrets. */
interface TerraformPlanData {
  kind: 'terraform-plan';
  /** The saved plan file, under the cache directory. */
  planFile: string;
  /** The version the plan was made for. */
  version: string;
  /** The commit of the module (git mode). */
  commit?: string;
  /** Whether plan exited 2: without changes there is nothing to apply, only outputs to read. */
  changes: boolean;
  /** SHA-256 of the saved plan file: the plan's digest in the promotion's evidence (docs/evidence.md). */
  planSha256?: string;
}

function planData(value: unknown): TerraformPlanData | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const data = value as Partial<TerraformPlanData>;
  if (data.kind !== 'terraform-plan' || typeof data.planFile !== 'string' || typeof data.version !== 'string')
    return undefined;
  return {
    kind: 'terraform-plan',
    planFile: data.planFile,
    version: data.version,
    changes: data.changes !== false,
    ...(typeof data.commit === 'string' ? { commit: data.commit } : {}),
  };
}

/** Saved plans older than this are left-overs of plans never applied (`lockstep plan`, refused gates). */
const STALE_PLAN_MS = 7 * 24 * 3_600_000;

async function planVersion(
  spec: TerraformSpec,
  ctx: StepContext,
  version: string,
  phase: string,
): Promise<{ plan: AdapterPlan; data: TerraformPlanData; shown: TerraformPlan }> {
  throwIfAborted(ctx.signal, phase);
  const source = await moduleFor(spec, ctx, version);
  const state = describeState(source.state, ctx);
  ctx.log(state);
  await prepare(spec, source, ctx, phase);
  const plansDir = path.join(ctx.cacheDir, 'terraform', 'plans');
  await mkdir(plansDir, { recursive: true, mode: 0o700 });
  // A saved plan holds variable values in clear, as Terraform writes them: only the owner may read it.
  await chmod(plansDir, 0o700);
  await removeStalePlans(plansDir);
  const name = `${safeName(ctx.component)}-${safeName(ctx.environment.name)}-${randomBytes(6).toString('hex')}.tfplan`;
  const planFile = path.join(plansDir, name);
  const scratch = await privateDir(ctx, phase);
  let code: number;
  try {
    const varFile = await writeVarFile(spec, scratch, version);
    ({ code } = await runTerraform(
      spec,
      {
        args: [
          'plan',
          '-input=false',
          '-no-color',
          '-detailed-exitcode',
          `-out=${planFile}`,
          ...varArgs(spec, varFile),
        ],
        cwd: source.dir,
        okCodes: [0, 2],
        log: true,
        phase,
      },
      ctx,
    ));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const shown = await showPlan(spec, source, planFile, ctx, phase).catch(async (error: unknown) => {
    await rm(planFile, { force: true });
    throw error;
  });
  const destroyed = shown.changes.filter(destroys);
  if (destroyed.length > 0 && !spec.allowDestroy) {
    await rm(planFile, { force: true });
    throw new StepFailure(
      `${phase}: the plan destroys ${destroyed.map((c) => `${c.address} (${c.kind}${c.reason === undefined ? '' : `: ${c.reason}`})`).join(', ')}; ` +
        'refused because allowDestroy is false. Change the module so nothing is deleted or replaced, or set allowDestroy: true for this component',
      false,
      { untouched: true },
    );
  }
  const changes = code === 2;
  const data: TerraformPlanData = {
    kind: 'terraform-plan',
    planFile,
    version,
    changes,
    planSha256: createHash('sha256').update(await readFile(planFile)).digest('hex'),
    ...(source.commit === undefined ? {} : { commit: source.commit }),
  };
  const where = source.commit === undefined ? '' : ` at ${source.commit.slice(0, 12)}`;
  const plan: AdapterPlan = {
    summary: `${changes ? summarizePlan(shown) : 'no changes'}${where}`,
    details: `${state}\n${describePlan(shown)}`,
    irreversible: destroyed.length > 0,
    risk: destroyed.length > 0 ? 'high' : effectiveChanges(shown).length > 0 ? 'medium' : 'low',
    data,
    // Also for a plan without changes: Terraform then gives the current values.
    outputs: shown.outputs,
  };
  return { plan, data, shown };
}

async function applyPlan(spec: TerraformSpec, data: TerraformPlanData, ctx: StepContext): Promise<Outputs> {
  // After a crash, an apply of this plan that finished or still runs is read back or waited for by
  // its record; the saved plan may be gone by then (it is removed once applied).
  const recorded = peekRecordDir(ctx, 'terraform-apply');
  const applyRecorded = recorded !== undefined && recordState(recorded) !== undefined;
  if (!existsSync(data.planFile) && !applyRecorded) {
    // Planning afresh here would apply something nobody was shown.
    throw new StepFailure(
      `apply: the saved plan ${data.planFile} is gone (the cache directory was cleared, or this runs on another machine); ` +
        'Lockstep applies only the plan that was shown, so it does not plan again here: promote the release again to plan and show a new one',
      false,
      { untouched: true },
    );
  }
  const source = await moduleFor(spec, ctx, data.commit ?? data.version);
  if (data.changes) {
    // The workspace selected at plan time is still selected: the data directory is this environment's own.
    const applied = await runTerraform(
      spec,
      {
        args: ['apply', '-input=false', '-no-color', data.planFile],
        cwd: source.dir,
        okCodes: [0, 1],
        log: true,
        phase: 'apply',
      },
      ctx,
    );
    if (applied.code !== 0) throw applyFailure(spec, applied.output);
  } else {
    ctx.log('apply: the plan has no changes; reading outputs');
  }
  await rm(data.planFile, { force: true });
  return outputsOf(spec, source, ctx);
}

/**
 * Why apply failed. A stale saved plan is refused by Terraform before it changes anything: say so, and
 * how to go on. Anything else may have changed part of the infrastructure.
 */
function applyFailure(spec: TerraformSpec, output: ProcessOutput): StepFailure {
  const last = output.lastStderrLine ?? output.lastStdoutLine;
  const message = `apply: ${spec.binary} apply exited with code 1${last === undefined ? '' : `: ${last.trim()}`}`;
  if (output.tail.some((line) => /Saved plan is stale/i.test(line))) {
    return new StepFailure(
      `apply: Terraform refused the saved plan: Saved plan is stale (the state changed after the plan was shown); promote the release again to plan again`,
      false,
      { untouched: true },
    );
  }
  return new StepFailure(message, false);
}

/** `output -json`: every output, with those Terraform marks sensitive named so. Never logs a value. */
async function outputsOf(spec: TerraformSpec, source: ModuleSource, ctx: StepContext): Promise<Outputs> {
  const { output } = await runTerraform(
    spec,
    { args: ['output', '-json', '-no-color'], cwd: source.dir, log: false, phase: 'outputs' },
    ctx,
  );
  let parsed;
  try {
    parsed = parseOutputs(output.stdout);
  } catch (error) {
    throw new StepFailure(`outputs: ${errorMessage(error)}`, false, { cause: error });
  }
  const names = Object.keys(parsed);
  const sensitive = names.filter((n) => parsed[n]?.sensitive === true);
  ctx.log(`outputs: ${names.length === 0 ? '(none)' : names.join(', ')}`);
  if (sensitive.length > 0) ctx.log(`outputs marked sensitive by Terraform (never stored): ${sensitive.join(', ')}`);
  return withSensitive(Object.fromEntries(names.map((n) => [n, parsed[n]?.value])), sensitive);
}

async function showPlan(
  spec: TerraformSpec,
  source: ModuleSource,
  planFile: string,
  ctx: StepContext,
  phase: string,
): Promise<TerraformPlan> {
  const { output } = await runTerraform(
    spec,
    { args: ['show', '-json', '-no-color', planFile], cwd: source.dir, log: false, phase },
    ctx,
  );
  try {
    return parsePlan(output.stdout);
  } catch (error) {
    if (error instanceof TerraformFormatError)
      throw new StepFailure(`${phase}: ${error.message}`, false, { cause: error, untouched: true });
    throw error;
  }
}

/**
 * `init` and the workspace: what every plan needs first. With `create: false` a missing workspace is
 * not created, and false is returned.
 */
async function prepare(
  spec: TerraformSpec,
  source: ModuleSource,
  ctx: StepContext,
  phase: string,
  options: { create: boolean } = { create: true },
): Promise<boolean> {
  const backend = Object.entries(spec.backendConfig).map(([k, v]) => `-backend-config=${k}=${String(v)}`);
  await runTerraform(
    spec,
    { args: ['init', '-input=false', '-no-color', ...backend], cwd: source.dir, log: true, phase },
    ctx,
  );
  return selectWorkspace(spec, source, ctx, phase, options.create);
}

/** Selects the workspace, creating it when it does not exist yet (if `create`). False when it is missing. */
async function selectWorkspace(
  spec: TerraformSpec,
  source: ModuleSource,
  ctx: StepContext,
  phase: string,
  create: boolean,
): Promise<boolean> {
  if (spec.workspace === undefined) return true;
  const selected = await runTerraform(
    spec,
    { args: ['workspace', 'select', '-no-color', spec.workspace], cwd: source.dir, okCodes: [0, 1], log: true, phase },
    ctx,
  );
  if (selected.code === 0) return true;
  if (!create) return false;
  await runTerraform(
    spec,
    { args: ['workspace', 'new', '-no-color', spec.workspace], cwd: source.dir, log: true, phase },
    ctx,
  );
  return true;
}

/** The module to run for `version`, and where its state lives (prepared: override written, old state moved). */
async function moduleFor(
  spec: TerraformSpec,
  ctx: StepContext,
  version: string,
): Promise<ModuleSource & { state: StateLocation }> {
  const source = await moduleSource(spec, ctx, version);
  const state = await prepareState(spec, source.dir, source.commit !== undefined, ctx);
  return { ...source, state };
}

async function moduleSource(spec: TerraformSpec, ctx: StepContext, version: string): Promise<ModuleSource> {
  if (spec.versionVariable !== undefined) return projectModule(ctx.projectDir, spec.dir);
  return checkoutModule({
    projectDir: ctx.projectDir,
    dir: spec.dir,
    ref: version,
    workRoot: path.join(ctx.cacheDir, 'terraform'),
    key: path.join(safeName(ctx.project), safeName(ctx.component), safeName(ctx.environment.name)),
    signal: ctx.signal,
    heartbeat: ctx.heartbeat,
  });
}

/** `vars` (and the version variable) go in a private JSON var file, never on the command line: they may be secrets. */
async function writeVarFile(spec: TerraformSpec, dir: string, version: string): Promise<string> {
  const vars: Record<string, unknown> = { ...spec.vars };
  if (spec.versionVariable !== undefined) vars[spec.versionVariable] = version;
  const file = path.join(dir, 'lockstep.auto.tfvars.json');
  await writeFile(file, JSON.stringify(vars), { mode: 0o600 });
  return file;
}

function varArgs(spec: TerraformSpec, varFile: string): string[] {
  // The user's files first, then ours: later files win, and the config's `vars` are the most specific.
  return [...spec.varFiles.map((f) => `-var-file=${f}`), `-var-file=${varFile}`];
}

async function privateDir(ctx: StepContext, phase: string): Promise<string> {
  const root = path.join(ctx.cacheDir, 'terraform', 'tmp');
  await mkdir(root, { recursive: true, mode: 0o700 });
  return mkdtemp(path.join(root, `${phase}-`));
}

async function removeStalePlans(dir: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.tfplan')) continue;
    const file = path.join(dir, name);
    const info = await stat(file).catch(() => undefined);
    if (info && now - info.mtimeMs > STALE_PLAN_MS) await rm(file, { force: true });
  }
}

function detailsOf(source: ModuleSource): Record<string, unknown> {
  return source.commit === undefined ? {} : { commit: source.commit };
}

function safeName(name: string): string {
  return encodeURIComponent(name === '' ? '_' : name);
}

function throwIfAborted(signal: AbortSignal, phase: string): void {
  if (!signal.aborted) return;
  const reason: unknown = signal.reason;
  throw reason instanceof Error ? reason : new StepFailure(`${phase}: cancelled`, false, { cause: reason });
}
