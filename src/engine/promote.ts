import { randomBytes } from 'node:crypto';
import type { AuditEventInput } from '../core/audit.js';
import { ConflictError, GateBlocked, InputError, NotFoundError } from '../core/errors.js';
import type { PromotionKind, PromotionRecord, ReleaseRecord, StepRecord } from '../core/model.js';
import { parseVersionAssignments, releaseId } from '../core/release.js';
import type { EngineDeps } from './deps.js';
import { newOwner } from './lease.js';
import { planPromotion, type PlannedPromotion } from './planner.js';
import { PromotionRunner } from './runner.js';

export const DEFAULT_CONCURRENCY = 8;

function configLoaded(deps: EngineDeps, time: string): AuditEventInput {
  return {
    kind: 'config.loaded',
    time,
    actor: deps.actor,
    project: deps.loaded.config.project,
    data: { digest: deps.loaded.digest, file: deps.loaded.file },
  };
}

export interface CreateReleaseInput {
  set: readonly string[];
  from?: string;
  message?: string;
  labels?: Record<string, string>;
}

/**
 * Creates (or finds: a release is its versions) the release pinning a version for every component.
 * Versions not given with --set come from what `from` runs; any still missing is an error naming them.
 */
export async function createRelease(deps: EngineDeps, input: CreateReleaseInput): Promise<{ release: ReleaseRecord; created: boolean }> {
  const { config } = deps.loaded;
  const given = parseVersionAssignments(input.set);
  const unknown = Object.keys(given).filter((c) => !(c in config.components));
  if (unknown.length > 0) {
    throw new InputError(`--set names unknown components: ${unknown.join(', ')} (known: ${Object.keys(config.components).join(', ')})`, '--set');
  }
  const versions: Record<string, string> = {};
  let fromState = new Map<string, string>();
  if (input.from !== undefined) {
    if (!(input.from in config.environments)) throw new InputError(`--from names an unknown environment: ${input.from}`, '--from');
    fromState = new Map((await deps.store.environmentState(input.from)).map((s) => [s.component, s.version]));
  }
  const missing: string[] = [];
  for (const name of Object.keys(config.components).sort()) {
    const v = given[name] ?? fromState.get(name);
    if (v === undefined) missing.push(name);
    else versions[name] = v;
  }
  if (missing.length > 0) {
    const hint = input.from !== undefined ? ` (${input.from} runs none of them)` : ' (give them with --set, or take them from an environment with --from ENV)';
    throw new InputError(`no version for ${missing.join(', ')}${hint}`, '--set');
  }
  const id = releaseId(config.project, versions);
  try {
    return { release: await deps.store.getRelease(id), created: false };
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
  const now = deps.clock.now().toISOString();
  const release: ReleaseRecord = {
    id,
    project: config.project,
    versions,
    message: input.message,
    labels: input.labels ?? {},
    createdAt: now,
    createdBy: deps.actor,
    from: input.from,
  };
  await deps.store.commit({
    release,
    audit: [
      configLoaded(deps, now),
      { kind: 'release.created', time: now, actor: deps.actor, project: config.project, releaseId: id, data: { versions, message: input.message, from: input.from } },
    ],
  });
  return { release, created: true };
}

export interface PromoteOptions {
  concurrency?: number;
  kind?: PromotionKind;
  rollbackOf?: string;
  /** Called once the promotion is recorded, before any step runs (the CLI prints the plan and id). */
  onCreated?(promotion: PromotionRecord, planned: PlannedPromotion): void;
  /** Called with the runner so the caller can cancel it (Ctrl-C). */
  onRunner?(runner: PromotionRunner): void;
}

/**
 * Promotes a release into an environment: checks the promotion path (GateBlocked, exit 3), takes the
 * environment's lock (ConflictError naming the holder, exit 4), records the plan, and runs the DAG.
 */
export async function promote(deps: EngineDeps, releaseRef: string, environment: string, options: PromoteOptions = {}): Promise<PromotionRecord> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InputError('--concurrency must be a whole number ≥ 1', '--concurrency');
  const release = await deps.store.getRelease(releaseRef);
  const kind = options.kind ?? 'promotion';
  const planned = await planPromotion(deps, release, environment, { skipPathCheck: kind === 'rollback' });
  if (planned.missingPath.length > 0) {
    throw new GateBlocked(
      `release ${release.id.slice(0, 12)} has not succeeded in ${planned.missingPath.join(', ')} yet; ${environment} comes after ${deps.loaded.config.environments[environment]?.after.join(', ') ?? ''}`,
      false,
    );
  }
  const active = await deps.store.activePromotion(environment);
  if (active) throw busy(environment, active);

  const now = deps.clock.now();
  const id = randomBytes(16).toString('hex');
  const owner = newOwner(now);
  const env = deps.loaded.config.environments[environment];
  const record: PromotionRecord = {
    id,
    project: deps.loaded.config.project,
    releaseId: release.id,
    environment,
    kind,
    state: 'running',
    requestedBy: deps.actor,
    requestedAt: now.toISOString(),
    configDigest: deps.loaded.digest,
    plan: planned.plan,
    concurrency,
    onFailure: env?.onFailure ?? 'rollback',
    owner,
    rollbackOf: options.rollbackOf,
  };
  const currentBy = new Map(planned.current.map((s) => [s.component, s]));
  const steps: StepRecord[] = planned.plan.steps.map((p) => {
    const cur = currentBy.get(p.component);
    return {
      promotionId: id,
      component: p.component,
      environment,
      state: 'pending',
      action: p.action,
      fromVersion: p.fromVersion,
      toVersion: p.toVersion,
      reversible: p.reversible,
      applyStarted: false,
      attempts: 0,
      idempotencyKey: `${id}:${p.component}`,
      previous: cur ? { version: cur.version, releaseId: cur.releaseId, configDigest: cur.configDigest, outputs: cur.outputs } : undefined,
    };
  });
  const base = { actor: deps.actor, project: record.project, environment, releaseId: release.id, promotionId: id, time: record.requestedAt };
  try {
    await deps.store.commit({
      createPromotion: { record, lock: true },
      steps,
      audit: [
        configLoaded(deps, record.requestedAt),
        {
          ...base,
          kind: 'promotion.requested',
          data: {
            kind,
            planDigest: planned.plan.digest,
            concurrency,
            onFailure: record.onFailure,
            rollbackOf: options.rollbackOf,
            steps: planned.plan.steps.map((s) => ({ component: s.component, from: s.fromVersion, to: s.toVersion, action: s.action, reversible: s.reversible })),
          },
        },
      ],
    });
  } catch (error) {
    if (error instanceof ConflictError) {
      const holder = await deps.store.activePromotion(environment);
      if (holder) throw busy(environment, holder);
    }
    throw error;
  }
  options.onCreated?.(record, planned);
  const runner = await PromotionRunner.load(deps, id, owner);
  options.onRunner?.(runner);
  return runner.run();
}

function busy(environment: string, holder: PromotionRecord): ConflictError {
  return new ConflictError(
    `environment ${environment} is busy: promotion ${holder.id.slice(0, 12)} (${holder.state}) of release ${holder.releaseId.slice(0, 12)}, started by ${holder.requestedBy} at ${holder.requestedAt}` +
      (holder.state === 'interrupted' ? `; it needs a decision: lockstep resume ${holder.id.slice(0, 12)}` : ''),
  );
}

export interface ResumeOptions {
  retryStep?: string[];
  markDone?: string[];
  onRunner?(runner: PromotionRunner): void;
}

/** Continues one promotion, or every unfinished one (those a person must decide on are reported, not run). */
export async function resume(deps: EngineDeps, promotionRef: string | undefined, options: ResumeOptions = {}): Promise<PromotionRecord[]> {
  let ids: string[];
  if (promotionRef !== undefined) {
    ids = [(await deps.store.getPromotion(promotionRef)).id];
  } else {
    if ((options.retryStep?.length ?? 0) + (options.markDone?.length ?? 0) > 0) throw new InputError('--retry-step and --mark-done need a PROMOTION', 'promotion');
    // Interrupted ones are included: they are not run (a person decides), but reported.
    const open = await deps.store.listPromotions({ states: ['running', 'rolling-back', 'interrupted'] });
    ids = open.map((p) => p.id).reverse();
  }
  const results: PromotionRecord[] = [];
  for (const id of ids) {
    const runner = await PromotionRunner.load(deps, id);
    if (promotionRef === undefined && runner.record.state === 'interrupted') {
      results.push(runner.record);
      continue;
    }
    options.onRunner?.(runner);
    results.push(await runner.run(options));
  }
  return results;
}

/** The release that ran in `environment` before the one running now, and the promotion of the current one. */
export async function previousRelease(deps: EngineDeps, environment: string): Promise<{ current: PromotionRecord; previous: PromotionRecord }> {
  if (!(environment in deps.loaded.config.environments)) throw new InputError(`unknown environment ${environment}`, '--env');
  const done = await deps.store.listPromotions({ environment, states: ['succeeded'] });
  const current = done[0];
  if (!current) throw new NotFoundError(`nothing has been promoted to ${environment} yet: there is nothing to roll back`);
  const previous = done.find((p) => p.releaseId !== current.releaseId);
  if (!previous) throw new NotFoundError(`${environment} has only ever run release ${current.releaseId.slice(0, 12)}: there is nothing to roll back to`);
  return { current, previous };
}

/** Promotes the release that ran before the current one, through the same machinery, recorded as a rollback. */
export async function rollbackEnvironment(deps: EngineDeps, environment: string, options: Omit<PromoteOptions, 'kind' | 'rollbackOf'> = {}): Promise<PromotionRecord> {
  const { current, previous } = await previousRelease(deps, environment);
  return promote(deps, previous.releaseId, environment, { ...options, kind: 'rollback', rollbackOf: current.id });
}
