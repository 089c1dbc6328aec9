import { sealUnsealed } from './evidence.js';
import { randomBytes } from 'node:crypto';
import type { AuditEventInput, AuditKind } from '../core/audit.js';
import { expandPeople, listsPerson } from '../core/config/gate-rules.js';
import { ConflictError, GateBlocked, InputError, NotAllowedError, NotFoundError } from '../core/errors.js';
import type { PromotionKind, PromotionOwner, PromotionRecord, ReleaseRecord, StepRecord } from '../core/model.js';
import { planChanges } from '../core/plan.js';
import { checkLabels, formatLabels, sameLabels } from '../core/labels.js';
import { parseVersionAssignments, releaseId } from '../core/release.js';
import { closestName } from '../core/suggest.js';
import type { EngineDeps } from './deps.js';
import { actorProof, evaluatePromotionGates, gateDecisionEvents } from './gates.js';
import { newOwner, ownerIsGone } from './lease.js';
import { planPromotion, type PlannedPromotion } from './planner.js';
import { PromotionRunner } from './runner.js';
import { replannedSteps, stepRecords } from './step-records.js';
import { own } from '../core/own.js';
import { printable } from '../core/printable.js';

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
  /** Fixed when the release is created (see `createRelease`); checked by `checkLabels`. */
  labels?: Record<string, string>;
}

/**
 * Creates (or finds: a release is its versions) the release pinning a version for every component.
 * Versions not given with --set come from what `from` runs; any still missing is an error naming them.
 *
 * Labels describe the content (`risk=high`) and policies decide on them, so they are fixed with the
 * release: finding the existing release with other labels is a ConflictError, never a silent no-op
 * (whoever added `--label risk=high` would believe the policies see it). Without labels given, the
 * existing release is returned as it is.
 */
export async function createRelease(deps: EngineDeps, input: CreateReleaseInput): Promise<{ release: ReleaseRecord; created: boolean }> {
  const { config } = deps.loaded;
  const given = parseVersionAssignments(input.set);
  const labels = input.labels ?? {};
  checkLabels(labels);
  const unknown = Object.keys(given).filter((c) => !(c in config.components));
  if (unknown.length > 0) {
    const known = Object.keys(config.components);
    const named = unknown.map((c) => {
      const closest = closestName(c, known);
      return closest === undefined ? printable(c) : `${printable(c)} (did you mean ${closest}?)`;
    });
    throw new InputError(`--set names unknown components: ${named.join(', ')} (known: ${known.join(', ')})`, '--set');
  }
  const versions: Record<string, string> = {};
  let fromState = new Map<string, string>();
  if (input.from !== undefined) {
    if (!(input.from in config.environments)) throw new InputError(`--from names an unknown environment: ${printable(input.from)}`, '--from');
    fromState = new Map((await deps.store.environmentState(input.from)).map((s) => [s.component, s.version]));
  }
  const missing: string[] = [];
  for (const name of Object.keys(config.components).sort()) {
    const v = own(given, name) ?? fromState.get(name);
    if (v === undefined) missing.push(name);
    else versions[name] = v;
  }
  if (missing.length > 0) {
    const hint = input.from !== undefined ? ` (${input.from} runs none of them)` : ' (give them with --set, or take them from an environment with --from ENV)';
    throw new InputError(`no version for ${missing.join(', ')}${hint}`, '--set');
  }
  const id = releaseId(config.project, versions);
  let existing: ReleaseRecord | undefined;
  try {
    existing = await deps.store.getRelease(id);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
  if (existing !== undefined) {
    if (input.labels !== undefined && Object.keys(labels).length > 0 && !sameLabels(labels, existing.labels)) {
      const had = Object.keys(existing.labels).length === 0 ? 'no labels' : `labels ${formatLabels(existing.labels)}`;
      throw new ConflictError(
        `release ${id.slice(0, 12)} exists already with ${had}: labels are fixed when a release is created (a release with other versions gets its own)`,
      );
    }
    return { release: existing, created: false };
  }
  const now = deps.clock.now().toISOString();
  const release: ReleaseRecord = {
    id,
    project: config.project,
    versions,
    message: input.message,
    labels,
    createdAt: now,
    createdBy: deps.actor,
    from: input.from,
  };
  await deps.store.commit({
    release,
    audit: [
      configLoaded(deps, now),
      { kind: 'release.created', time: now, actor: deps.actor, project: config.project, releaseId: id, data: { versions, labels, message: input.message, from: input.from, ...actorProof(deps) } },
    ],
  });
  return { release, created: true };
}

export interface PromoteOptions {
  concurrency?: number;
  kind?: PromotionKind;
  rollbackOf?: string;
  /** An emergency promotion outside the change windows; only people in `gates.overrideBy` may. */
  overrideWindow?: { reason: string };
  /** Components to apply again at the version they run, to correct drift (see reapplyComponents). */
  reapply?: readonly string[];
  /** Called once the promotion is recorded, before any step runs (the CLI prints the plan and id). */
  onCreated?(promotion: PromotionRecord, planned: PlannedPromotion): void;
  /** Called with the runner so the caller can cancel it (Ctrl-C). */
  onRunner?(runner: PromotionRunner): void;
  /**
   * An automatic promotion: made only if this release was never promoted to the environment, checked
   * in the same commit that records it (StoreChange.createPromotion.once), with `audit` (why it was
   * made) appended there too; so of several servers making it at once, one does and the others
   * record nothing.
   */
  automatic?: { audit: AuditEventInput[] };
}

/**
 * Promotes a release into an environment: checks the promotion path (GateBlocked, exit 3), evaluates
 * the environment's gates against the plan and records the promotion. When every gate passes it takes
 * the environment's lock (ConflictError naming the holder, exit 4) and runs the DAG; when a person or
 * time can still satisfy a gate it is recorded `pending`; when nothing can, `rejected`. The record
 * returned says which. Promoting a release that is already pending for the environment re-evaluates
 * that promotion; a pending promotion of another release is superseded (cancelled).
 */
export async function promote(deps: EngineDeps, releaseRef: string, environment: string, options: PromoteOptions = {}): Promise<PromotionRecord> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InputError('--concurrency must be a whole number ≥ 1', '--concurrency');
  const release = await deps.store.getRelease(releaseRef);
  const kind = options.kind ?? 'promotion';
  const env = deps.loaded.config.environments[environment];
  if (options.overrideWindow && env) checkOverride(deps, environment, options.overrideWindow.reason);

  const reapply = options.reapply !== undefined && options.reapply.length > 0 ? [...new Set(options.reapply)].sort() : undefined;
  const pending = await deps.store.listPromotions({ environment, states: ['pending'] });
  const same = pending.find((p) => p.releaseId === release.id && p.kind === kind && sameList(p.reapply, reapply));
  if (same) return advancePending(deps, same.id, options);

  const planned = await planPromotion(deps, release, environment, { skipPathCheck: kind === 'rollback', reapply });
  if (planned.missingPath.length > 0) {
    const reason = `release ${release.id.slice(0, 12)} has not succeeded in ${planned.missingPath.join(', ')} yet; ${environment} comes after ${env?.after.join(', ') ?? ''}`;
    // Nothing is recorded as a promotion, but the refusal is: who asked for what, and why not.
    const time = deps.clock.now().toISOString();
    await deps.store.commit({
      audit: [{ kind: 'gate.blocked', time, actor: deps.actor, project: deps.loaded.config.project, environment, releaseId: release.id, data: { gate: 'promotion-path', reason, refused: kind } }],
    });
    throw new GateBlocked(reason, false);
  }
  const now = deps.clock.now();
  const id = randomBytes(16).toString('hex');
  const windowOverride = options.overrideWindow ? { by: deps.actor, reason: options.overrideWindow.reason, at: now.toISOString() } : undefined;
  const evaluation = await evaluatePromotionGates(deps, { environment, kind, plan: planned.plan, requestedBy: deps.actor, windowOverride }, release);
  const state = evaluation.verdict === 'passed' ? 'running' : evaluation.verdict === 'waiting' ? 'pending' : 'rejected';
  // Only a promotion about to run needs the environment; a pending one waits beside a running one.
  const active = state === 'running' ? await deps.store.activePromotion(environment) : undefined;
  if (active) throw busy(environment, active, deps.clock.now());
  const owner = state === 'running' ? newOwner(now, deps.lease) : undefined;
  const requestedAt = now.toISOString();
  const base: PromotionRecord = {
    id,
    project: deps.loaded.config.project,
    releaseId: release.id,
    environment,
    kind,
    state,
    requestedBy: deps.actor,
    requestedAt,
    configDigest: deps.loaded.digest,
    plan: { ...planned.plan, gates: evaluation.gates },
    concurrency,
    onFailure: env?.onFailure ?? 'rollback',
    owner,
    rollbackOf: options.rollbackOf,
    ...(reapply !== undefined ? { reapply } : {}),
    windowOverride,
    reason: state === 'running' ? undefined : evaluation.summary,
    finishedAt: state === 'rejected' ? requestedAt : undefined,
  };
  const decisions = gateDecisionEvents(deps, base, [], evaluation);
  const record: PromotionRecord = { ...base, gateEvents: decisions.gateEvents };
  const event = { actor: deps.actor, project: record.project, environment, releaseId: release.id, promotionId: id, time: requestedAt };
  try {
    await deps.store.commit({
      createPromotion: { record, lock: state === 'running', ...(options.automatic ? { once: true } : {}) },
      steps: stepRecords(id, environment, planned),
      audit: [
        configLoaded(deps, requestedAt),
        ...(options.automatic?.audit ?? []),
        {
          ...event,
          kind: 'promotion.requested',
          data: {
            kind,
            planDigest: planned.plan.digest,
            concurrency,
            onFailure: record.onFailure,
            rollbackOf: options.rollbackOf,
            ...(reapply !== undefined ? { reapply } : {}),
            steps: planned.plan.steps.map((s) => ({ component: s.component, from: s.fromVersion, to: s.toVersion, action: s.action, reversible: s.reversible })),
            gates: evaluation.verdict,
            ...actorProof(deps),
          },
        },
        ...(windowOverride ? [overrideEvent(deps, event, windowOverride)] : []),
        ...decisions.events,
        ...(state === 'rejected' ? [{ ...event, kind: 'promotion.finished' as const, data: { state, reason: record.reason } }] : []),
      ],
    });
  } catch (error) {
    if (error instanceof ConflictError) {
      const holder = await deps.store.activePromotion(environment);
      if (holder) throw busy(environment, holder, deps.clock.now());
    }
    throw error;
  }
  // One that ran in part (it waits for a new approval) keeps the environment: it is decided, not superseded.
  for (const older of pending) if (older.startedAt === undefined) await supersede(deps, older, record);
  // The plan as evaluated: with every gate's state, not only the promotion path the planner knows.
  options.onCreated?.(record, { ...planned, plan: record.plan });
  if (state !== 'running') return record;
  const runner = await PromotionRunner.load(deps, id, owner);
  options.onRunner?.(runner);
  return runner.run();
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return JSON.stringify(a ?? []) === JSON.stringify(b ?? []);
}

/**
 * `promote --reapply C`: applies C again at the version it runs in the environment, to correct drift,
 * through the same promotion machinery and gates as any promotion (approvals bind to its plan, which
 * says "re-applied on request"). The release is the one given, or the one the environment runs now
 * (its last successful promotion's). Only the named components are forced; the others are planned as
 * always (a dependent whose inputs change is applied too). InputError when nothing runs there yet.
 */
export async function reapplyComponents(
  deps: EngineDeps,
  environment: string,
  components: readonly string[],
  options: Omit<PromoteOptions, 'reapply' | 'kind' | 'rollbackOf'> & { release?: string } = {},
): Promise<PromotionRecord> {
  if (!(environment in deps.loaded.config.environments)) {
    const known = Object.keys(deps.loaded.config.environments);
    throw new InputError(`unknown environment ${printable(environment)} (known: ${known.join(', ')})`, '--to');
  }
  if (components.length === 0) throw new InputError('--reapply needs a component', '--reapply');
  let release = options.release;
  if (release === undefined) {
    const [current] = await deps.store.listPromotions({ environment, states: ['succeeded'], limit: 1 });
    if (!current) throw new InputError(`nothing has been promoted to ${environment} yet: there is nothing to re-apply`, '--reapply');
    release = current.releaseId;
  }
  return promote(deps, release, environment, { ...options, reapply: components });
}

/** Only people in the environment's `gates.overrideBy` may promote outside its change windows, and they must say why. */
export function checkOverride(deps: EngineDeps, environment: string, reason: string): void {
  const gates = deps.loaded.config.environments[environment]?.gates;
  if (reason.trim() === '') throw new InputError('--override-window needs --reason: say why this cannot wait for the window', '--reason');
  const overrideBy = gates?.overrideBy ?? [];
  if (!listsPerson(overrideBy, deps.loaded.config.groups, deps.actor, deps.actorGroups)) {
    throw new NotAllowedError(
      expandPeople(overrideBy, deps.loaded.config.groups).size === 0
        ? `nobody may override the change windows of ${environment}: its gates name no overrideBy`
        : `${deps.actor} may not override the change windows of ${environment} (overrideBy: ${overrideBy.join(', ')})`,
    );
  }
}

function overrideEvent(deps: EngineDeps, base: Omit<AuditEventInput, 'kind' | 'data'>, override: NonNullable<PromotionRecord['windowOverride']>): AuditEventInput {
  return { ...base, kind: 'gate.overridden', data: { gate: 'windows', by: override.by, reason: override.reason, ...actorProof(deps), emergency: true } };
}

async function supersede(deps: EngineDeps, older: PromotionRecord, newer: PromotionRecord): Promise<void> {
  await withPendingClaim(deps, older, async (claimed, owner) => {
    const reason = `superseded by promotion ${newer.id.slice(0, 12)} of release ${newer.releaseId.slice(0, 12)}, requested by ${newer.requestedBy}`;
    await deps.store.commit({
      fence: { promotionId: claimed.id, ownerToken: owner.token },
      promotion: { record: { ...claimed, state: 'cancelled', reason, finishedAt: deps.clock.now().toISOString(), owner: undefined } },
      audit: [promotionEvent(deps, claimed, 'promotion.finished', { state: 'cancelled', reason })],
    });
  });
}

function promotionEvent(deps: EngineDeps, p: PromotionRecord, kind: AuditKind, data: Record<string, unknown>): AuditEventInput {
  return { kind, time: deps.clock.now().toISOString(), actor: deps.actor, project: p.project, environment: p.environment, releaseId: p.releaseId, promotionId: p.id, data };
}

/**
 * Runs `work` while holding the claim on a pending promotion, so two processes (two approvers, a tick)
 * never decide on it at once. Returns undefined when another live process holds it. The claim is
 * released afterwards unless `work` handed the promotion to a runner (it then owns the claim).
 */
export async function withPendingClaim<T>(
  deps: EngineDeps,
  promotion: PromotionRecord,
  work: (claimed: PromotionRecord, owner: PromotionOwner) => Promise<T>,
): Promise<T | undefined> {
  const now = deps.clock.now();
  if (promotion.owner && !ownerIsGone(promotion, now)) return undefined;
  const owner = newOwner(now, deps.lease);
  if (!(await deps.store.claimPromotion(promotion.id, owner, promotion.owner?.token))) return undefined;
  try {
    return await work({ ...promotion, owner }, owner);
  } finally {
    const after = await deps.store.getPromotion(promotion.id);
    if (after.owner?.token === owner.token && after.state === 'pending') await deps.store.claimPromotion(promotion.id, undefined, owner.token);
  }
}

export interface AdvanceOptions {
  overrideWindow?: { reason: string };
  onCreated?(promotion: PromotionRecord, planned: PlannedPromotion): void;
  onRunner?(runner: PromotionRunner): void;
}

/**
 * Re-evaluates a pending promotion's gates (after an approval, once its soak time or window has come)
 * and runs it when all pass. Before running, the plan is made again: when it differs from the one the
 * approvals were given for, they no longer count, the new plan is recorded and the promotion stays
 * pending (the audit log says what changed). Returns the promotion as it stands afterwards.
 */
export async function advancePending(deps: EngineDeps, promotionId: string, options: AdvanceOptions = {}): Promise<PromotionRecord> {
  const promotion = await deps.store.getPromotion(promotionId);
  if (promotion.state !== 'pending') return promotion;
  if (options.overrideWindow) checkOverride(deps, promotion.environment, options.overrideWindow.reason);
  const ran = await withPendingClaim(deps, promotion, async (claimed, owner) => {
    const release = await deps.store.getRelease(claimed.releaseId);
    const fence = { promotionId: claimed.id, ownerToken: owner.token };
    const audit: AuditEventInput[] = [];
    let record = claimed;
    if (options.overrideWindow) {
      record = { ...record, windowOverride: { by: deps.actor, reason: options.overrideWindow.reason, at: deps.clock.now().toISOString() } };
      audit.push(overrideEvent(deps, { time: deps.clock.now().toISOString(), actor: deps.actor, project: record.project, environment: record.environment, releaseId: record.releaseId, promotionId: record.id }, record.windowOverride as NonNullable<PromotionRecord['windowOverride']>));
    }
    let evaluation = await evaluatePromotionGates(deps, record, release);
    let steps: StepRecord[] | undefined;
    let planned: PlannedPromotion | undefined;
    if (evaluation.verdict === 'passed') {
      // Plan again: what runs must be what was approved.
      planned = await planPromotion(deps, release, record.environment, { skipPathCheck: record.kind === 'rollback' || record.startedAt !== undefined, reapply: record.reapply });
      steps = stepRecords(record.id, record.environment, planned);
      // It ran in part before it stopped for a new approval: the steps that ran keep their records.
      if (record.startedAt !== undefined) steps = replannedSteps(await deps.store.listSteps(record.id), steps);
      const changed = planned.plan.digest !== record.plan.digest;
      const changes = changed ? planChanges(record.plan, planned.plan) : [];
      const previousGates = record.plan.gates;
      record = { ...record, plan: { ...planned.plan, gates: previousGates }, configDigest: deps.loaded.digest };
      if (changed) evaluation = await evaluatePromotionGates(deps, record, release);
      const decisions = gateDecisionEvents(deps, record, previousGates, evaluation, { planChanges: changes });
      audit.push(...decisions.events);
      record = { ...record, gateEvents: decisions.gateEvents };
    } else {
      const decisions = gateDecisionEvents(deps, record, record.plan.gates, evaluation);
      audit.push(...decisions.events);
      record = { ...record, gateEvents: decisions.gateEvents };
    }
    record = { ...record, plan: { ...record.plan, gates: evaluation.gates } };

    if (evaluation.verdict === 'blocked') {
      const finished: PromotionRecord = { ...record, state: 'rejected', reason: evaluation.summary, finishedAt: deps.clock.now().toISOString(), owner: undefined };
      await deps.store.commit({ fence, promotion: { record: finished }, audit: [...audit, promotionEvent(deps, finished, 'promotion.finished', { state: 'rejected', reason: finished.reason })] });
      return finished;
    }
    if (evaluation.verdict === 'waiting') {
      const waiting: PromotionRecord = { ...record, reason: evaluation.summary };
      await deps.store.commit({ fence, promotion: { record: waiting }, replaceSteps: steps ? record.id : undefined, steps, audit });
      return waiting;
    }
    const running: PromotionRecord = { ...record, state: 'running', reason: undefined, owner };
    try {
      await deps.store.commit({ fence, promotion: { record: running, takeLock: true }, replaceSteps: record.id, steps, audit });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const holder = await deps.store.activePromotion(record.environment);
      const waiting: PromotionRecord = { ...record, reason: holder ? `waiting for ${record.environment}: ${busy(record.environment, holder, deps.clock.now()).message}` : evaluation.summary };
      await deps.store.commit({ fence, promotion: { record: waiting }, audit });
      return waiting;
    }
    if (planned) options.onCreated?.(running, { ...planned, plan: running.plan });
    const runner = await PromotionRunner.load(deps, record.id, owner);
    options.onRunner?.(runner);
    return runner.run();
  });
  return ran ?? (await deps.store.getPromotion(promotionId));
}

function busy(environment: string, holder: PromotionRecord, now: Date): ConflictError {
  const id = holder.id.slice(0, 12);
  const owner = holder.owner;
  let next = '';
  if (holder.state === 'interrupted') next = `; it needs a decision: lockstep resume ${id}`;
  else if (ownerIsGone(holder, now)) {
    // Its process died (a crash, a kill): nobody will finish it unless someone resumes it.
    next = `; the process that ran it${owner ? ` (${owner.pid} on ${owner.host})` : ''} is gone: continue it with lockstep resume ${id}`;
  } else if (owner) next = `; it is being run by process ${owner.pid} on ${owner.host} (lease until ${owner.leaseUntil})`;
  return new ConflictError(
    `environment ${environment} is busy: promotion ${id} (${holder.state}) of release ${holder.releaseId.slice(0, 12)}, started by ${holder.requestedBy} at ${holder.requestedAt}${next}`,
  );
}

export interface ResumeOptions {
  overrideWindow?: { reason: string };
  retryStep?: string[];
  markDone?: string[];
  /** Stop, rather than wait for, step processes that outlived the process that started them (see Decision). */
  stopRunning?: boolean;
  onRunner?(runner: PromotionRunner): void;
}

/**
 * Continues one promotion, or every unfinished one (those a person must decide on are reported, not
 * run). A pending promotion named here has its gates evaluated again and runs when they pass.
 */
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
    const promotion = await deps.store.getPromotion(id);
    if (promotion.state === 'pending') {
      if ((options.retryStep?.length ?? 0) + (options.markDone?.length ?? 0) > 0) {
        throw new ConflictError(`promotion ${id.slice(0, 12)} is pending, not interrupted: --retry-step and --mark-done only apply to an interrupted promotion`);
      }
      results.push(await advancePending(deps, id, { overrideWindow: options.overrideWindow, onRunner: (r) => options.onRunner?.(r) }));
      continue;
    }
    const runner = await PromotionRunner.load(deps, id);
    if (promotionRef === undefined && runner.record.state === 'interrupted') {
      results.push(runner.record);
      continue;
    }
    options.onRunner?.(runner);
    results.push(await runner.run(options));
  }
  // Evidence a crash kept from being written when a promotion ended: `tick` reports what still fails.
  await sealUnsealed({ store: deps.store, signer: deps.signer, clock: deps.clock });
  return results;
}

/** The release that ran in `environment` before the one running now, and the promotion of the current one. */
export async function previousRelease(deps: EngineDeps, environment: string): Promise<{ current: PromotionRecord; previous: PromotionRecord }> {
  if (!(environment in deps.loaded.config.environments)) throw new InputError(`unknown environment ${printable(environment)}`, '--env');
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
