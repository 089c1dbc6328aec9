import { sensitiveOutputNames, type Adapter, type AdapterCapabilities, type AdapterPlan, type Outputs, type StepContext } from '../core/adapter.js';
import type { AuditEventInput, AuditKind } from '../core/audit.js';
import { ConflictError, errorMessage, StepFailure } from '../core/errors.js';
import { parseDuration } from '../core/duration.js';
import { renderTemplates, type EvalScope } from '../core/expression/index.js';
import { compileCel } from '../core/gates/cel.js';
import type { ComponentState, InputChange, PromotionFailure, PromotionOwner, PromotionRecord, ReleaseRecord, StepRecord, VerificationRecord, VerifyConfig } from '../core/model.js';
import { FINAL_PROMOTION_STATES } from '../core/model.js';
import { canonicalJson } from '../core/canonical-json.js';
import { cancelReason, type CancelRequest } from '../core/cancel-request.js';
import { checkOutputs, redactSensitiveOutputs, sensitiveNames } from '../core/outputs.js';
import { inputFingerprint } from '../core/fingerprint.js';
import { referencedOutputs } from '../core/plan.js';
import { recoverStep, type Recovery } from '../core/recovery.js';
import { Redactor } from '../core/redact.js';
import { StoreUnavailable, type StepLogLine, type StoreChange } from '../store/store.js';
import type { EngineDeps } from './deps.js';
import { DEFAULT_LEASE, newOwner, ownerIsGone, renewed } from './lease.js';
import { componentScope, componentsScope, renderEnvironmentVars, renderSpec } from './render.js';
import { fingerprintKey } from './fingerprint-key.js';
import { describeInputChanges, inputChanges, replanPromotion } from './replan.js';
import { neededSensitiveOutputs, readSensitiveOutputs } from './sensitive-outputs.js';
import { runVerification, type VerifyCheck } from './verification.js';
import { recordedRunsState, safeName, stopRecordedRuns } from '../adapters/command/run-journal.js';
import { rmSync } from 'node:fs';
import path from 'node:path';

const MAX_LOG_LINE = 2000;
/** The step-log name of the verification's lines (`lockstep logs PROMOTION --component @verify`); not a valid component name. */
export const VERIFY_LOG = '@verify';
const LOG_FLUSH_MS = 1000;
/** Held log lines kept per step at most (see holdLogs); older ones are dropped and counted. */
const MAX_HELD_LINES = 20_000;

/** A save waiting for its group commit. */
interface QueuedSave {
  change: Omit<StoreChange, 'audit'>;
  audit: AuditEventInput[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** What a person decided for the steps of an interrupted promotion. */
export interface Decision {
  retryStep: string[];
  markDone: string[];
  /**
   * Stop (SIGTERM, then SIGKILL after a grace period) the recorded processes that outlived the
   * previous process, instead of waiting for them; their steps then follow the rules for an
   * interrupted apply (re-applied where idempotent, else a person decides).
   */
  stopRunning?: boolean;
}

/** The phases whose processes keep durable records (see StepContext.runDir). */
type RecordedPhase = 'apply' | 'verify' | 'rollback';

/**
 * Runs one promotion to its end (or until it must stop for a person). Every state change that recovery
 * depends on is committed to the store before the action it guards starts (apply, a dependent step),
 * so a killed process loses nothing: `resume` builds a new runner over the same records and carries on.
 * Read-only phases (plan, verify) are not waited for: losing them only means doing them again.
 */
export class PromotionRunner {
  private promotion: PromotionRecord;
  private readonly steps = new Map<string, StepRecord>();
  /** Clear outputs (sensitive ones included) of steps finished in this process, for dependents. */
  private readonly liveOutputs = new Map<string, Record<string, unknown>>();
  /** Sensitive outputs read back from the systems of components not applied in this process (never stored). */
  private readonly readBack = new Map<string, Record<string, unknown>>();
  /**
   * Log lines of steps that may produce sensitive outputs, held (neither shown nor stored) while the
   * step's system runs, until its outputs are known and can be redacted. See holdLogs.
   */
  private readonly heldLogs = new Map<string, { held: { time: string; raw: string }[]; dropped: number }>();
  private readonly specs = new Map<string, unknown>();
  private readonly redactor = new Redactor();
  private readonly controller = new AbortController();
  /** Rollback has its own signal: cancelling a promotion must not cancel the rollback it triggers. */
  private readonly rollbackController = new AbortController();
  /** Aborted by drain: stops what is read-only and can be run again by the next owner (the verification). */
  private readonly drainController = new AbortController();
  /** Set by drain: no new step starts, and the promotion is handed back once the running ones end. */
  private draining = false;
  /** The promotion was handed back: the store says nobody owns it, so this runner's commits are fenced off. */
  private handedBack: Promise<PromotionRecord> | undefined;
  /** Another process took the promotion over (see lostClaim). */
  private lost = false;
  /** A cancel request read from the store has been acted on (see noticeCancelRequest). */
  private cancelRequestSeen = false;
  private rollingBack = false;
  private vars: Record<string, unknown> = {};
  /** What `components.<name>` reads in this run's specs (outputs looked up live). */
  private components: Record<string, unknown> | undefined;
  private states = new Map<string, ComponentState>();
  private failed = false;
  /**
   * Values that steps about to apply would consume and that differ from their approved plan: no new
   * step starts, and once the running ones end the promotion is planned again (see replan).
   */
  private replanFor: InputChange[] = [];
  /** The fingerprint key, read when first needed (null: not yet). */
  private key: Uint8Array | undefined | null = null;
  /** A first failure is on its way to the store (see firstFailure). */
  private failureNoted = false;
  private leaseTimer: NodeJS.Timeout | undefined;
  private logTimer: NodeJS.Timeout | undefined;
  /** Log lines not yet written; they go out with the next commit, or within LOG_FLUSH_MS. */
  private pendingLogs: StepLogLine[] = [];
  /** Saves waiting for this turn's group commit (see save). */
  private queuedSaves: QueuedSave[] = [];
  private committing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly deps: EngineDeps,
    promotion: PromotionRecord,
    steps: StepRecord[],
    private readonly release: ReleaseRecord,
    private readonly presetOwner: PromotionOwner | undefined,
  ) {
    this.promotion = promotion;
    for (const s of steps) this.steps.set(s.component, s);
  }

  /** `owner`: the claim made when the promotion was created, so its creator runs it without a race. */
  static async load(deps: EngineDeps, promotionId: string, owner?: PromotionOwner): Promise<PromotionRunner> {
    const promotion = await deps.store.getPromotion(promotionId);
    const steps = await deps.store.listSteps(promotion.id);
    const release = await deps.store.getRelease(promotion.releaseId);
    return new PromotionRunner(deps, promotion, steps, release, owner);
  }

  /** A method, not a property read, so TypeScript does not carry a narrowed state across awaits. */
  private state(): PromotionRecord['state'] {
    return this.promotion.state;
  }

  get record(): PromotionRecord {
    return this.promotion;
  }

  /**
   * Cancels running steps (their adapters kill what they started); the failure policy then applies.
   * Cancelling again, or cancelling during the rollback, stops the rollback too.
   */
  cancel(reason: string): void {
    if (!this.controller.signal.aborted) this.controller.abort(new StepFailure(reason, false));
    else if (!this.rollbackController.signal.aborted) this.rollbackController.abort(new StepFailure(reason, false));
  }

  /**
   * Acts on a recorded cancel request (engine/cancel.ts) once: cancels as `cancel` does, with who asked
   * and why as the reason. Only while running: a rollback under way is not stopped by a request.
   */
  cancelRequested(request: CancelRequest): void {
    // Handed back, the promotion is the next owner's: it reads the request itself.
    if (this.cancelRequestSeen || this.state() !== 'running' || this.handedBack !== undefined) return;
    this.cancelRequestSeen = true;
    this.cancel(cancelReason(request));
  }

  /**
   * Stops taking work, for a process that is shutting down: no new step starts (nor the verification,
   * nor the next level of a rollback); steps running now run to their end and their commits land.
   * Then `run` hands the promotion back (see handBack) and returns it. Nothing is cancelled and the
   * failure policy does not apply: the next owner carries on as `resume` would. A verification under
   * way is stopped (it is read-only, and the next owner runs it again).
   */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    this.drainController.abort();
  }

  /**
   * The drain time is up and steps still run: hands the promotion back now, without waiting for them.
   * They are left to crash recovery, as after a kill: their process records let the next owner wait
   * for a command still running or read back one that finished. Whatever this runner does afterwards is
   * never committed (the store's fence refuses a runner that no longer owns its promotion).
   */
  async abandon(): Promise<void> {
    await this.handBack();
  }

  /**
   * Takes ownership (failing with ConflictError when a live process owns it), recovers steps that were
   * in flight, and runs the promotion on from where it stood.
   */
  async run(options: Partial<Decision> = {}): Promise<PromotionRecord> {
    const decision: Decision = { retryStep: options.retryStep ?? [], markDone: options.markDone ?? [], stopRunning: options.stopRunning };
    if (FINAL_PROMOTION_STATES.includes(this.promotion.state)) return this.promotion;
    await this.claim();
    this.deps.running?.add(this);
    try {
      await this.noticeCancelRequest();
      const env = this.promotion.environment;
      this.vars = renderEnvironmentVars(this.deps.loaded.config, env, this.deps.secrets, this.redactor);
      this.states = new Map((await this.deps.store.environmentState(env)).map((s) => [s.component, s]));

      if (this.state() === 'interrupted') await this.decide(decision);
      else if (decision.retryStep.length + decision.markDone.length > 0) {
        throw new ConflictError(`promotion ${short(this.promotion.id)} is ${this.promotion.state}, not interrupted: --retry-step and --mark-done only apply to an interrupted promotion`);
      }
      if (this.state() === 'interrupted') return this.promotion;

      if (this.promotion.startedAt === undefined) {
        await this.save({ promotion: { record: { ...this.promotion, state: 'running', startedAt: this.now() } } }, [
          this.event('promotion.started', { concurrency: this.promotion.concurrency }),
        ]);
      }
      const stopped = await this.recoverInFlight(decision.stopRunning ?? false);
      if (stopped) return this.promotion;

      if (this.state() === 'running') {
        for (;;) {
          await this.execute();
          if (this.state() === 'interrupted') return this.promotion;
          if (this.replanFor.length === 0 || this.failed || this.hasFailures() || this.controller.signal.aborted || this.draining) break;
          if (!(await this.replan())) return this.promotion;
        }
        // Cancelled while no step ran (between two steps, or before the first): no step failed, but
        // the promotion must not carry on as if nothing was asked.
        if (this.controller.signal.aborted && !this.failed && !this.hasFailures()) await this.cancelledBetweenSteps();
        if (this.failed || this.hasFailures()) {
          await this.skipPending();
          if (this.promotion.onFailure === 'rollback') {
            await this.save({ promotion: { record: { ...this.promotion, state: 'rolling-back' } } }, []);
          }
        } else if (this.draining && (names([...this.steps.values()], 'pending').length > 0 || this.verificationDue())) {
          // Work is left: the next owner does it. (Nothing left but recording the end: that is done here.)
          return await this.handBack();
        } else {
          await this.verify();
          // The drain stopped the verification: the next owner runs it again.
          if (this.draining && this.state() === 'running' && !this.failed && this.promotion.verification?.state === 'running') return await this.handBack();
        }
      }
      if (this.state() === 'rolling-back') {
        if (this.draining) return await this.handBack();
        await this.rollBack();
        if (this.state() === 'interrupted') return this.promotion;
        if (this.draining && [...this.steps.values()].some((s) => this.needsRollback(s))) return await this.handBack();
      }
      await this.finish();
      return this.promotion;
    } finally {
      this.stopLease();
      // Left interrupted, it waits for a person: let go of it, so that their decision (from this very
      // process, a server, as from any other) is taken at once rather than after the lease expires.
      // Should that commit fail, the lease expiring still frees it.
      if (this.state() === 'interrupted' && this.handedBack === undefined) await this.letGo().catch(() => undefined);
      this.deps.running?.remove(this);
    }
  }

  /** Releases the lease of a promotion left interrupted, its state as it stands. */
  private async letGo(): Promise<void> {
    await this.committing;
    const token = this.promotion.owner?.token;
    if (token === undefined) return;
    const record: PromotionRecord = { ...this.promotion, owner: undefined };
    // Committed directly, not through save, which keeps the owner on the record (see handBack).
    await this.deps.store.commit({ fence: { promotionId: record.id, ownerToken: token }, promotion: { record }, audit: [] });
    this.promotion = record;
    this.deps.observer?.promotion?.(record);
  }

  // ------------------------------------------------------------------ ownership

  private async claim(): Promise<void> {
    const current = await this.deps.store.getPromotion(this.promotion.id);
    const mine = this.presetOwner !== undefined && current.owner?.token === this.presetOwner.token;
    if (!mine && !ownerIsGone(current, this.deps.clock.now())) {
      throw new ConflictError(
        `promotion ${short(current.id)} is being run by process ${current.owner?.pid ?? '?'} on ${current.owner?.host ?? '?'} (lease until ${current.owner?.leaseUntil ?? '?'})`,
      );
    }
    const lease = this.deps.lease ?? DEFAULT_LEASE;
    const now = this.deps.clock.now();
    const owner = newOwner(now, lease);
    if (!(await this.deps.store.claimPromotion(current.id, owner, current.owner?.token))) {
      throw new ConflictError(`promotion ${short(current.id)} was claimed by another process just now`);
    }
    this.promotion = { ...current, owner };
    this.leaseTimer = setInterval(() => void this.renewLease(), lease.renewMs);
    this.leaseTimer.unref();
    this.logTimer = setInterval(() => void this.flushLogs(), LOG_FLUSH_MS);
    this.logTimer.unref();
    const previous = current.owner;
    if (previous !== undefined && !mine) {
      // The previous owner died (or lost touch with the store) without handing the promotion back:
      // the record says whose it was and how long it waited, so takeover times can be read from it.
      const renewedAt = previous.renewedAt === undefined ? undefined : Date.parse(previous.renewedAt);
      await this.save({}, [
        this.event('promotion.taken-over', {
          previous: { host: previous.host, pid: previous.pid, leaseUntil: previous.leaseUntil, ...(previous.renewedAt === undefined ? {} : { renewedAt: previous.renewedAt }) },
          ...(renewedAt === undefined ? {} : { orphanedMs: Math.max(0, now.getTime() - renewedAt) }),
          afterLeaseMs: now.getTime() - Date.parse(previous.leaseUntil),
          state: current.state,
        }),
      ]);
    }
  }

  private async renewLease(): Promise<void> {
    const owner = this.promotion.owner;
    if (!owner || this.handedBack) return;
    const next = renewed(owner, this.deps.clock.now(), this.deps.lease ?? DEFAULT_LEASE);
    try {
      if (await this.deps.store.claimPromotion(this.promotion.id, next, owner.token)) {
        this.promotion = { ...this.promotion, owner: next };
        await this.noticeCancelRequest();
      } else if (!this.handedBack) {
        this.lostClaim();
      }
    } catch {
      // A failed renewal is retried at the next tick; the lease is three ticks long.
    }
  }

  /**
   * A cancel request recorded in the store by another process (`lockstep cancel`, the API on another
   * server) is read when the run starts and at every lease renewal, and acted on as the requester's
   * own Ctrl-C would be: running steps are stopped, then the failure policy applies. The request and
   * its audit entry name who asked and why.
   */
  private async noticeCancelRequest(): Promise<void> {
    if (this.cancelRequestSeen || this.state() !== 'running') return;
    const request = await this.deps.store.getCancelRequest(this.promotion.id);
    if (request !== undefined) this.cancelRequested(request);
  }

  /**
   * Gives up the promotion without ending it, for a process that is shutting down: the lease is
   * released (no owner, so the next process takes it over at once instead of waiting for the lease to
   * expire), its state is left as it stands (resumable: not failed, not interrupted), and the audit log
   * says it was handed back and which steps were still running. Returns the promotion as recorded.
   */
  private handBack(): Promise<PromotionRecord> {
    this.handedBack ??= (async () => {
      this.stopLease();
      await this.committing;
      const stillRunning = [...this.steps.values()].filter((s) => s.state === 'running' || s.state === 'rolling-back').map((s) => s.component);
      const waiting = names([...this.steps.values()], 'pending');
      const token = this.promotion.owner?.token;
      const record: PromotionRecord = { ...this.promotion, owner: undefined };
      const logs = this.pendingLogs;
      this.pendingLogs = [];
      // Committed directly, not through save: save keeps the owner on the record. In memory the owner
      // stays, so that any later commit of this runner is fenced with a token the store no longer holds.
      await this.deps.store.commit({
        fence: token ? { promotionId: record.id, ownerToken: token } : undefined,
        promotion: { record },
        logs,
        audit: [this.event('promotion.handed-back', { reason: 'the process running it is shutting down', stillRunning, pending: waiting, host: this.promotion.owner?.host, pid: this.promotion.owner?.pid })],
      });
      this.deps.observer?.promotion?.(record);
      this.deps.running?.handedBack(record, stillRunning);
      return record;
    })();
    return this.handedBack;
  }

  /**
   * Another process took the promotion over: this one's lease ran out (it was paused, or cut off from
   * the store, for longer than the lease). The promotion is the new owner's now, and so are the steps
   * still running here: they are not stopped (the new owner's crash recovery waits for them or reads
   * them back), no new step starts, and every commit this runner still tries is refused by the fence,
   * so nothing it does from here on is recorded and nothing more is applied.
   */
  private lostClaim(): void {
    if (this.lost) return;
    this.lost = true;
    this.stopLease();
    this.drain();
  }

  private stopLease(): void {
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    if (this.logTimer) clearInterval(this.logTimer);
  }

  private async flushLogs(): Promise<void> {
    if (this.pendingLogs.length === 0) return;
    try {
      await this.save({}, []);
    } catch {
      // The lines stay buffered for the next commit; a lost lease is handled by renewLease.
    }
  }

  // ------------------------------------------------------------------ recovery

  /**
   * A person's decision on an interrupted promotion: each named step is applied again (retry) or taken
   * as finished (mark done). The promotion carries on only once no step is left interrupted.
   */
  private async decide(decision: Decision): Promise<void> {
    const interrupted = () => [...this.steps.values()].filter((s) => s.state === 'interrupted').map((s) => s.component);
    const named = [...decision.retryStep, ...decision.markDone];
    const id = short(this.promotion.id);
    if (named.length === 0) {
      const first = interrupted()[0] ?? 'COMPONENT';
      throw new ConflictError(
        `promotion ${id} is interrupted at ${interrupted().join(', ')}: ${this.promotion.reason ?? ''}\n` +
          `decide, then run: lockstep resume ${id} --retry-step ${first}   (apply it again)\n` +
          `              or: lockstep resume ${id} --mark-done ${first}    (it finished; carry on)`,
      );
    }
    const phase = this.promotion.interruptedIn ?? 'running';
    const problems: string[] = [];
    for (const name of named) {
      if (this.steps.get(name)?.state !== 'interrupted') problems.push(`step ${name} is not interrupted (interrupted: ${interrupted().join(', ') || 'none'})`);
    }
    for (const name of decision.markDone) {
      const declared = Object.keys(this.deps.loaded.config.components[name]?.outputs ?? {});
      if (phase === 'running' && declared.length > 0) {
        problems.push(`${name} declares outputs (${declared.join(', ')}) that only an apply produces: use --retry-step ${name}`);
      }
    }
    if (problems.length > 0) throw new ConflictError(problems.join('\n'));

    const steps: StepRecord[] = [];
    const componentStates: ComponentState[] = [];
    const audit: AuditEventInput[] = [];
    for (const name of decision.retryStep) {
      const step = this.steps.get(name) as StepRecord;
      steps.push(phase === 'rolling-back' ? { ...step, state: 'rolling-back', phase: 'rollback' } : { ...step, state: 'pending', phase: undefined });
      audit.push(this.event('step.retried', { by: this.deps.actor }, name));
    }
    for (const name of decision.markDone) {
      const step = this.steps.get(name) as StepRecord;
      if (phase === 'rolling-back') {
        steps.push({ ...step, state: 'rolled-back', finishedAt: this.now() });
        componentStates.push(...this.restoredState(step));
      } else {
        const done: StepRecord = { ...step, state: 'succeeded', outputs: {}, finishedAt: this.now() };
        steps.push(done);
        componentStates.push(this.newState(done, {}));
      }
      audit.push(this.event('step.marked-done', { by: this.deps.actor }, name));
    }
    const left = interrupted().filter((n) => !named.includes(n));
    const promotion: PromotionRecord =
      left.length > 0
        ? { ...this.promotion, reason: `still interrupted: ${left.join(', ')}` }
        : { ...this.promotion, state: phase, reason: undefined, interruptedIn: undefined };
    audit.push(this.event('promotion.resumed', { retried: decision.retryStep, markedDone: decision.markDone, stillInterrupted: left }));
    await this.save({ promotion: { record: promotion }, steps, componentStates }, audit);
  }

  /** Steps that were running when the previous process died. Returns true when a person must decide. */
  private async recoverInFlight(stopRunning: boolean): Promise<boolean> {
    const inFlight = [...this.steps.values()].filter((s) => s.state === 'running' || s.state === 'rolling-back');
    if (inFlight.length === 0) return false;
    const decisions: [StepRecord, Recovery][] = [];
    for (const step of inFlight) {
      // What the records of the processes this phase started say. A process still running is waited
      // for (by entering the phase again with the same records), unless the person asked to stop it.
      const recordedPhase = step.state === 'rolling-back' ? 'rollback' : step.phase === 'apply' ? 'apply' : undefined;
      const attemptDir = recordedPhase === undefined ? undefined : this.runDir(step, recordedPhase);
      let runs = attemptDir === undefined ? 'none' : recordedRunsState(attemptDir);
      if (runs === 'running' && stopRunning && attemptDir !== undefined) {
        const count = await stopRecordedRuns(attemptDir, 'stopped on request (resume --stop-running)');
        this.log(step.component, `stopped ${count} process(es) left running before the restart (--stop-running)`);
        runs = recordedRunsState(attemptDir);
      }
      const component = this.deps.loaded.config.components[step.component];
      const adapter = component ? this.deps.adapters.get(component.type) : undefined;
      let caps: AdapterCapabilities = { reversible: false, idempotentApply: false, observe: false };
      let observed;
      if (adapter && component) {
        try {
          await this.readSensitiveInputs(step.component);
          const spec = this.spec(step.component);
          caps = adapter.capabilities(spec);
          if (caps.observe && adapter.observe) {
            observed = await this.holdingLogs(step.component, adapter, spec, step, async () => adapter.observe?.(spec, this.context(step)));
          }
        } catch (error) {
          this.log(step.component, `observe failed: ${errorMessage(error)}`);
        }
      }
      const needsOutputs = Object.keys(component?.outputs ?? {}).length > 0;
      decisions.push([step, recoverStep({ step, capabilities: caps, observed, needsOutputs, runs })]);
    }
    const stops = decisions.filter(([, r]) => r.kind === 'interrupted');
    const steps: StepRecord[] = [];
    const audit: AuditEventInput[] = [this.event('promotion.resumed', {
      recovered: decisions.map(([s, r]) => ({ component: s.component, decision: r.kind, reason: r.reason })),
    })];
    for (const [step, r] of decisions) {
      this.log(step.component, `recovering: ${r.reason}`);
      switch (r.kind) {
        case 'restart':
        case 'reapply':
          steps.push({ ...step, state: 'pending', phase: undefined });
          break;
        case 'resume-apply':
          // Pending in phase apply: runStep enters apply again with the same attempt (and records).
          steps.push({ ...step, state: 'pending', phase: 'apply' });
          break;
        case 'verify':
          steps.push({ ...step, state: 'pending', phase: 'verify' });
          break;
        case 'resume-rollback':
        case 'rerun-rollback':
          break; // stays rolling-back: the rollback pass runs it again (with the same records)
        case 'rolled-back':
          steps.push({ ...step, state: 'rolled-back', finishedAt: this.now() });
          break;
        case 'interrupted':
          steps.push({ ...step, state: 'interrupted', error: r.reason });
          break;
      }
    }
    if (stops.length > 0) {
      const names = stops.map(([s]) => s.component);
      const reason = `${stops.map(([, r]) => r.reason).join('; ')}. Check the system, then: lockstep resume ${short(this.promotion.id)} --retry-step ${names[0] ?? ''} (apply again) or --mark-done ${names[0] ?? ''} (it finished)`;
      const phase = this.state() === 'rolling-back' ? 'rolling-back' : 'running';
      audit.push(this.event('promotion.interrupted', { steps: names, reason }));
      await this.save({ promotion: { record: { ...this.promotion, state: 'interrupted', interruptedIn: phase, reason } }, steps }, audit);
      return true;
    }
    await this.save({ steps }, audit);
    return false;
  }

  // ------------------------------------------------------------------ execution

  private async execute(): Promise<void> {
    // A step that failed before a restart still means: no new steps start.
    if (this.hasFailures()) this.failed = true;
    const order = this.promotion.plan.levels.flat();
    const deps = new Map(this.promotion.plan.steps.map((s) => [s.component, s.dependsOn]));
    const running = new Map<string, Promise<void>>();
    for (;;) {
      // Draining, nothing starts: the next owner enters what is left, recovered steps included.
      if (!this.draining) {
        const halted = this.failed || this.controller.signal.aborted || this.replanFor.length > 0;
        for (const name of order) {
          if (running.size >= this.promotion.concurrency) break;
          const step = this.steps.get(name);
          if (!step || step.state !== 'pending' || running.has(name)) continue;
          // Once halted (a failure, a cancel, a changed value), no new step starts. A step recovered in
          // flight (a phase set: its command may still run, or have finished) is no new step: it is
          // entered again so that what it did is recorded (and, when cancelled, its command stopped),
          // rather than skipped while its command goes on changing the system.
          if (halted && step.phase === undefined) continue;
          const ready = (deps.get(name) ?? []).every((d) => ['succeeded', 'unchanged'].includes(this.steps.get(d)?.state ?? ''));
          if (!ready) continue;
          const task = this.runStep(name).finally(() => running.delete(name));
          running.set(name, task);
        }
      }
      if (running.size === 0) break;
      await Promise.race(running.values());
    }
  }

  private async runStep(name: string): Promise<void> {
    let step = this.steps.get(name);
    if (!step) return;
    const component = this.deps.loaded.config.components[name];
    const adapter = component ? this.deps.adapters.get(component.type) : undefined;
    /** The step.started event while it is not yet committed (during planning). */
    let startEvent: AuditEventInput | undefined;
    /** The commit of the verify phase, while verify runs. */
    let verifying: Promise<void> = Promise.resolve();
    try {
      if (step.phase === undefined) {
        // Not started yet: what it is about to consume must be what its approved plan showed.
        const changes = await this.inputChangesOf(name);
        if (changes.length > 0) {
          this.replanFor.push(...changes);
          this.log(name, `not applied: ${describeInputChanges(changes)}; the promotion is planned again once the running steps end`);
          return;
        }
      }
      // A plan that records the inputs checked them above; older plans re-apply when a consumed value changed.
      const plannedInputs = this.promotion.plan.steps.find((s) => s.component === name)?.inputs;
      const changedInputs = step.action === 'unchanged' && plannedInputs === undefined ? this.changedInputs(name) : [];
      if (changedInputs.length > 0) {
        // Same version and configuration, but an output it consumes changed in this promotion: the
        // component must be applied again, or it would keep running with the old value.
        step = { ...step, action: 'apply' };
        this.log(name, `re-applying: ${changedInputs.join(', ')} changed in this promotion`);
      }
      if (step.action === 'unchanged' && step.phase !== 'verify') {
        const current = this.states.get(name);
        const recorded = current?.outputs ?? {};
        const done: StepRecord = { ...step, state: 'unchanged', outputs: recorded, sensitiveOutputs: current?.sensitiveOutputs, startedAt: this.now(), finishedAt: this.now() };
        // The adapter may have found the system already at the target (the files already hold the
        // values): then what Lockstep records moves to the target too, or status would lag behind.
        const planned = this.promotion.plan.steps.find((s) => s.component === name);
        const moved = current === undefined || current.version !== step.toVersion || current.configDigest !== planned?.configDigest;
        await this.save({ steps: [done], componentStates: moved ? [this.newState(done, recorded, current?.inputs ?? this.appliedInputs(name))] : undefined }, [
          this.event('step.unchanged', { version: step.toVersion }, name),
        ]);
        return;
      }
      if (!component || !adapter) throw new StepFailure(`component ${name} is no longer in the config`, false);
      const resumeAtVerify = step.phase === 'verify';
      // Recovery found this attempt's apply processes recorded (finished, or still running): apply is
      // entered again with the same attempt, so they are read back or waited for, not run again.
      const resumeAtApply = step.phase === 'apply';
      const resuming = resumeAtVerify || resumeAtApply;
      if (resumeAtApply && this.controller.signal.aborted) {
        // Cancelled before its recovered apply was entered again: commands it left running from before
        // the restart are stopped (as a cancel stops a running step), not waited for, before the step
        // fails and the failure policy applies to it.
        const stopped = await stopRecordedRuns(this.runDir(step, 'apply'), 'the promotion was cancelled');
        if (stopped > 0) this.log(name, `stopped ${stopped} process(es) left running before the restart: the promotion was cancelled`);
        throw this.controller.signal.reason;
      }
      const started: StepRecord = {
        ...step,
        state: 'running',
        phase: resumeAtVerify ? 'verify' : resumeAtApply ? 'apply' : 'plan',
        startedAt: step.startedAt ?? this.now(),
        attempts: step.attempts + (resuming ? 0 : 1),
        error: undefined,
      };
      if (resuming) await this.save({ steps: [started] }, []);
      else {
        // Planning is read-only, so it needs no commit of its own: a crash while planning leaves the
        // step pending on disk, and a pending step starts again, which is what recovery does with a
        // step in phase plan. The start is committed with the apply phase below, before apply runs.
        startEvent = this.event('step.started', { from: step.fromVersion, to: step.toVersion, attempt: started.attempts, inputsChanged: changedInputs.length ? changedInputs : undefined }, name);
        this.show(started);
      }
      step = started;
      await this.readSensitiveInputs(name);
      const spec = this.spec(name);
      let outputs: Record<string, unknown>;
      if (!resumeAtVerify) {
        if (this.mayBeSensitive(name, adapter, spec)) this.holdLogs(name);
        const ctx = this.context(step);
        // The first attempt applies the plan shown (and recorded) at promote time when the adapter
        // keeps one (a saved Terraform plan); a retry, an adapter without plan data, or a plan made
        // with values not known then (a stand-in sits where a value goes), plans again.
        const shown = this.promotion.plan.steps.find((s) => s.component === name);
        const madeWithUnknowns = shown?.inputs?.some((i) => i.state === 'unknown') ?? false;
        if (madeWithUnknowns) this.log(name, 'planning again with the values its plan showed as known after their producers apply');
        const plan: AdapterPlan =
          shown?.data !== undefined && step.attempts === 1 && !madeWithUnknowns
            ? { summary: shown.summary, details: shown.details, irreversible: !shown.reversible, risk: shown.risk, data: shown.data }
            : await adapter.plan(spec, ctx);
        if (this.controller.signal.aborted) throw this.controller.signal.reason;
        // Invariant: before apply starts, the store durably says the step is running with applyStarted,
        // so a crash from here on is seen as an apply in flight.
        const applying: StepRecord = { ...step, phase: 'apply', applyStarted: true };
        if (!resumeAtApply) await this.save({ steps: [applying] }, startEvent ? [startEvent] : []);
        startEvent = undefined;
        step = applying;
        const produced: Outputs = await adapter.apply(spec, plan, this.context(step, 'apply'));
        // Sensitive by the config's word or the system's: secrets from here on, before the held log
        // lines are released and before a failed check below can quote them.
        const sensitive = sensitiveNames(component.outputs, sensitiveOutputNames(produced));
        for (const k of sensitive) if (k in produced) this.redactor.add(produced[k]);
        this.releaseLogs(name);
        const checked = checkOutputs(component.outputs, produced, sensitive);
        if (checked.problems.length > 0) throw new StepFailure(`outputs: ${checked.problems.join('; ')}`, false);
        outputs = checked.outputs;
        this.liveOutputs.set(name, outputs);
        step = {
          ...step,
          phase: 'verify',
          outputs: redactSensitiveOutputs(outputs, sensitive),
          sensitiveOutputs: sensitive.length > 0 ? sensitive : undefined,
        };
        // Not awaited before verify: verify is read-only, so the record that apply finished needs no
        // fsync of its own before it. A verify that returns at once (none configured) saves success in
        // the same turn, so both land in one transaction; a longer one finds the record committed a
        // turn after it started.
        verifying = this.save({ steps: [step] }, []);
        verifying.catch(() => undefined); // awaited below; this only stops an early rejection being reported as unhandled
        this.show(step);
      } else {
        outputs = this.liveOutputs.get(name) ?? step.outputs ?? {};
      }
      if (adapter.verify) await adapter.verify(spec, outputs, this.context(step, 'verify'));
      const done: StepRecord = { ...step, state: 'succeeded', phase: undefined, finishedAt: this.now() };
      const succeeded = this.save({ steps: [done], componentStates: [this.newState(done, done.outputs ?? {})] }, [
        this.event('step.succeeded', { version: done.toVersion, outputs: done.outputs ?? {}, durationMs: elapsed(done) }, name),
      ]);
      await Promise.all([verifying, succeeded]);
      // The store now says the step succeeded, so recovery never reads its process records again: remove
      // them at once rather than at the promotion's end, since they hold what its commands printed and
      // their outputs file, sensitive values included.
      rmSync(this.runsDir(name), { recursive: true, force: true });
    } catch (error) {
      // The store is out of reach (or a commit's outcome unknown): nothing about the step is known to
      // have failed, so nothing is recorded; the run ends here and crash recovery carries it on from
      // what the store holds once it answers (its lease runs out meanwhile). Recording a failure
      // instead could roll back a step that succeeded.
      if (error instanceof StoreUnavailable) throw error;
      if (this.heldLogs.has(name) && adapter) {
        // The apply may have produced (and printed) sensitive outputs before it failed: learn what the
        // system holds now, so the held lines and the error are redacted with them.
        await this.learnSensitive(name, adapter, step);
      }
      this.releaseLogs(name);
      this.failed = true;
      const message = this.redactor.redact(errorMessage(error));
      const latest = this.steps.get(name) ?? step;
      // An apply that provably never touched the system needs no rollback and changed nothing.
      const untouched = error instanceof StepFailure && error.untouched && latest.phase === 'apply';
      const failed: StepRecord = { ...latest, state: 'failed', error: message, finishedAt: this.now(), applyStarted: untouched ? false : latest.applyStarted };
      const first = this.firstFailure({ component: name, phase: failed.phase ?? 'plan', error: message });
      await this.save({ steps: [failed], promotion: first }, [...(startEvent ? [startEvent] : []), this.event('step.failed', { phase: failed.phase, error: message, retryable: error instanceof StepFailure && error.retryable, durationMs: elapsed(failed) }, name)]);
    }
  }

  /**
   * The values `name` is about to consume that differ from those its plan was made with. Sensitive
   * ones of producers this process did not apply are read back first, as the apply would.
   */
  private async inputChangesOf(name: string): Promise<InputChange[]> {
    const planned = this.promotion.plan.steps.find((s) => s.component === name);
    const inputs = planned?.inputs ?? [];
    if (!inputs.some((i) => i.state === 'known')) return [];
    if (inputs.some((i) => i.sensitive === true && !this.liveOutputs.has(i.producer))) await this.readSensitiveInputs(name);
    return inputChanges(planned, this.steps, (producer, output) => this.outputsOf(producer)?.[output], this.fingerprintKey());
  }

  private fingerprintKey(): Uint8Array | undefined {
    if (this.key === null) this.key = this.deps.fingerprintKey ?? fingerprintKey(this.deps.stateDir);
    return this.key;
  }

  /**
   * Steps were about to consume values their approved plan did not show. The running steps have
   * ended: the promotion is planned again from what the environment runs now, and its gates are
   * evaluated against the new plan. Passed (no approvals needed, policies still hold): it goes on
   * with the new plan (true). Waiting: it becomes pending for a new approval, keeping the environment
   * and the steps applied so far (false). Blocked, or no plan can be made: it fails as a step that
   * failed before applying would (true; the failure policy applies).
   */
  private async replan(): Promise<boolean> {
    const changes = this.replanFor;
    this.replanFor = [];
    const first = changes[0]?.consumer ?? '';
    const why = describeInputChanges(changes);
    let replanned;
    try {
      const held = new Map([...this.readBack, ...this.liveOutputs].map(([c, values]) => [c, { ...this.readBack.get(c), ...values }]));
      replanned = await replanPromotion(this.deps, this.promotion, this.release, [...this.steps.values()], changes, held);
    } catch (error) {
      await this.failBeforeApply(first, `${why}; planning again failed: ${errorMessage(error)}`);
      return true;
    }
    const { record, steps, evaluation, audit } = replanned;
    if (evaluation.verdict === 'blocked') {
      await this.failBeforeApply(first, `${why}; the new plan is refused: ${evaluation.summary}`);
      return true;
    }
    const id = this.promotion.id;
    if (evaluation.verdict === 'passed') {
      await this.save({ promotion: { record }, replaceSteps: id, steps }, audit);
      // Specs of steps yet to run are rendered again, with the values they will really consume.
      for (const s of steps) if (s.state === 'pending') this.specs.delete(s.component);
      this.steps.clear();
      for (const s of steps) this.steps.set(s.component, s);
      for (const c of new Set(changes.map((c) => c.consumer))) this.log(c, `planned again: ${why}`);
      return true;
    }
    // Waiting for people (or a window): pending again, owned by nobody, the environment still held.
    this.stopLease();
    await this.committing;
    const reason = `waiting for a new approval: ${why}. ${evaluation.summary}`;
    const pending: PromotionRecord = { ...record, state: 'pending', reason, owner: undefined, replanned: { at: this.now(), changes: [...changes] } };
    const logs = this.pendingLogs;
    this.pendingLogs = [];
    const token = this.promotion.owner?.token;
    await this.deps.store.commit({
      fence: token ? { promotionId: id, ownerToken: token } : undefined,
      promotion: { record: pending },
      replaceSteps: id,
      steps,
      logs,
      audit,
    });
    this.promotion = pending;
    this.steps.clear();
    for (const s of steps) this.steps.set(s.component, s);
    this.deps.observer?.promotion?.(pending);
    return false;
  }

  /** Fails a step that has not applied anything: the failure policy then applies to what ran before it. */
  private async failBeforeApply(name: string, error: string): Promise<void> {
    this.failed = true;
    const step = this.steps.get(name);
    if (!step) return;
    const message = this.redactor.redact(error);
    const failed: StepRecord = { ...step, state: 'failed', phase: 'plan', error: message, startedAt: step.startedAt ?? this.now(), finishedAt: this.now() };
    await this.save({ steps: [failed], promotion: this.firstFailure({ component: name, phase: 'plan', error: message }) }, [
      this.event('step.failed', { phase: 'plan', error: message, retryable: false }, name),
    ]);
  }

  /** Outputs this component consumes whose value changed in this promotion (`iam.outputs.role_arn`). */
  private changedInputs(name: string): string[] {
    const changed: string[] = [];
    for (const [producer, outputs] of referencedOutputs(this.deps.loaded.config, name)) {
      const step = this.steps.get(producer);
      if (step?.state !== 'succeeded' || !step.applyStarted) continue;
      const declared = this.deps.loaded.config.components[producer]?.outputs ?? {};
      const before = step.previous?.outputs ?? {};
      const after = this.liveOutputs.get(producer) ?? step.outputs ?? {};
      const names = outputs.has('*') ? Object.keys(declared) : [...outputs];
      const sensitive = sensitiveNames(declared, [...(step.sensitiveOutputs ?? []), ...(step.previous?.sensitiveOutputs ?? [])]);
      for (const o of names) {
        // A sensitive output is stored redacted, so its old value is unknown: count it as changed.
        if (sensitive.includes(o) || canonicalJson(before[o] ?? null) !== canonicalJson(after[o] ?? null)) {
          changed.push(`${producer}.outputs.${o}`);
        }
      }
    }
    return changed;
  }

  /**
   * The promotion record carrying `failure` when this is the first failure of the promotion, else
   * undefined. Marked in memory at once: two steps failing in the same turn must not both count as first.
   */
  private firstFailure(failure: Omit<PromotionFailure, 'at'>): StoreChange['promotion'] {
    if (this.promotion.failure !== undefined || this.failureNoted) return undefined;
    this.failureNoted = true;
    return { record: { ...this.promotion, failure: { ...failure, at: this.now() } } };
  }

  private hasFailures(): boolean {
    return [...this.steps.values()].some((s) => s.state === 'failed');
  }

  /** Records the cancel as the promotion's first failure, so that the failure policy applies to what ran. */
  private async cancelledBetweenSteps(): Promise<void> {
    this.failed = true;
    const reason: unknown = this.controller.signal.reason;
    const error = this.redactor.redact(reason instanceof Error ? reason.message : 'cancelled');
    const first = this.firstFailure({ phase: 'cancel', error });
    if (first) await this.save({ promotion: first }, []);
  }

  private async skipPending(): Promise<void> {
    const pending = [...this.steps.values()].filter((s) => s.state === 'pending');
    if (pending.length === 0) return;
    await this.save(
      { steps: pending.map((s) => ({ ...s, state: 'skipped' as const })) },
      pending.map((s) => this.event('step.skipped', { reason: 'the promotion failed before this step started' }, s.component)),
    );
  }

  // ------------------------------------------------------------------ verification

  /**
   * Runs the environment's `gates.verify` checks once every step is done. Read-only, so after a
   * restart they simply run again. A failed verification fails the promotion: with onFailure
   * rollback, every reversible step is rolled back.
   */
  private async verify(): Promise<void> {
    if (!this.verificationDue()) return;
    const configs = this.verifyConfigs();
    let checks: VerifyCheck[];
    try {
      checks = configs.map((c, i) => verifyCheck(c, i, this.verifyScope()));
    } catch (error) {
      await this.verificationFailed({ state: 'failed', startedAt: this.now(), finishedAt: this.now(), message: this.redactor.redact(errorMessage(error)), checks: [] });
      return;
    }
    const startedAt = this.now();
    await this.save({ promotion: { record: { ...this.promotion, verification: { state: 'running', startedAt, checks: [] } } } }, [
      this.event('verification.started', { checks: checks.map((c) => c.name) }),
    ]);
    const result = await runVerification(checks, {
      recordDir: this.runsDir(VERIFY_LOG),
      signal: AbortSignal.any([this.controller.signal, this.drainController.signal]),
      cwd: this.deps.projectDir,
      env: process.env,
      now: () => this.deps.clock.now(),
      log: (check, line) => this.log(VERIFY_LOG, `${check}: ${line}`),
    });
    const record: VerificationRecord = {
      state: result.passed ? 'passed' : result.checks.every((c) => c.state !== 'failed') ? 'cancelled' : 'failed',
      startedAt,
      finishedAt: this.now(),
      message: this.redactor.redact(result.message),
      checks: result.checks.map((c) => ({ name: c.name, state: c.state, failures: c.failures, measurements: c.measurements.length, message: this.redactor.redact(c.message) })),
    };
    // Stopped by the drain, not failed: left `running` in the store, run again by the next owner.
    if (!result.passed && this.draining && !this.controller.signal.aborted && record.state === 'cancelled') return;
    if (!result.passed) {
      await this.verificationFailed(record);
      return;
    }
    await this.save({ promotion: { record: { ...this.promotion, verification: record, verifiedAt: record.finishedAt } } }, [
      this.event('verification.finished', { state: record.state, message: record.message, checks: record.checks }),
    ]);
  }

  private verifyConfigs(): VerifyConfig[] {
    return this.deps.loaded.config.environments[this.promotion.environment]?.gates?.verify ?? [];
  }

  /** The environment has checks, and they have not passed for this promotion yet. */
  private verificationDue(): boolean {
    return this.verifyConfigs().length > 0 && this.promotion.verification?.state !== 'passed';
  }

  private async verificationFailed(record: VerificationRecord): Promise<void> {
    this.failed = true;
    const next = this.promotion.onFailure === 'rollback' ? 'rolling-back' : this.promotion.state;
    const failure: PromotionFailure | undefined = this.promotion.failure ?? { phase: 'verification', error: record.message ?? 'verification failed', at: this.now() };
    await this.save({ promotion: { record: { ...this.promotion, verification: record, state: next, failure } } }, [
      this.event('verification.finished', { state: record.state, message: record.message, checks: record.checks }),
    ]);
  }

  /** What a verify check's templates see: the environment, the release id, secrets. */
  private verifyScope(): EvalScope {
    return {
      values: { env: { name: this.promotion.environment, vars: this.vars }, release: { id: this.release.id } },
      secret: (n) => this.deps.secrets.get(n),
      redactor: this.redactor,
    };
  }

  // ------------------------------------------------------------------ rollback

  /** Rolls back, in reverse dependency order, every reversible step of this promotion that changed something. */
  private async rollBack(): Promise<void> {
    this.rollingBack = true;
    const levels = [...this.promotion.plan.levels].reverse();
    for (const level of levels) {
      // Draining: the level running has ended; the next owner rolls back the rest.
      if (this.draining) return;
      const due = level
        .map((n) => this.steps.get(n))
        .filter((s): s is StepRecord => s !== undefined && this.needsRollback(s));
      await Promise.all(due.map((s) => this.rollBackStep(s)));
      if (this.state() === 'interrupted') return;
    }
  }

  private needsRollback(s: StepRecord): boolean {
    if (s.state === 'rolling-back') return true;
    return s.applyStarted && (s.state === 'succeeded' || s.state === 'failed') && s.reversible && s.previous !== undefined;
  }

  private async rollBackStep(step: StepRecord): Promise<void> {
    const name = step.component;
    const component = this.deps.loaded.config.components[name];
    const adapter = component ? this.deps.adapters.get(component.type) : undefined;
    const rolling: StepRecord = { ...step, state: 'rolling-back', phase: 'rollback' };
    await this.save({ steps: [rolling] }, step.state === 'rolling-back' ? [] : [this.event('step.rollback-started', { from: step.toVersion, to: step.fromVersion }, name)]);
    try {
      if (!adapter?.rollback) throw new StepFailure(`the ${component?.type ?? '?'} adapter cannot roll back`, false);
      await this.readSensitiveInputs(name);
      const spec = this.spec(name);
      await this.holdingLogs(name, adapter, spec, rolling, async () => adapter.rollback?.(spec, this.context(rolling, 'rollback')));
      const done: StepRecord = { ...rolling, state: 'rolled-back', phase: undefined, finishedAt: this.now() };
      await this.save({ steps: [done], componentStates: this.restoredState(done) }, [
        this.event('step.rolled-back', { version: step.fromVersion }, name),
      ]);
    } catch (error) {
      const message = this.redactor.redact(errorMessage(error));
      // `error` keeps why the step itself failed (if it did): the cause must survive its rollback.
      await this.save({ steps: [{ ...rolling, state: 'rollback-failed', rollbackError: message, finishedAt: this.now() }] }, [
        this.event('step.rollback-failed', { error: message }, name),
      ]);
    }
  }

  // ------------------------------------------------------------------ the end

  private async finish(): Promise<void> {
    const steps = [...this.steps.values()];
    const verification = this.promotion.verification;
    const verified = verification === undefined || verification.state === 'passed';
    const ok = verified && steps.every((s) => s.state === 'succeeded' || s.state === 'unchanged');
    const failure = ok ? undefined : (this.promotion.failure ?? earliestFailure(steps, verified ? undefined : verification?.message));
    const summary = {
      failure,
      succeeded: names(steps, 'succeeded'),
      unchanged: names(steps, 'unchanged'),
      // Every step whose own plan, apply or verify failed, rolled back since or not.
      failed: steps.filter(failedItself).map((s) => s.component),
      skipped: names(steps, 'skipped'),
      rolledBack: names(steps, 'rolled-back'),
      rollbackFailed: names(steps, 'rollback-failed'),
      rollbackErrors: Object.fromEntries(steps.filter((s) => s.state === 'rollback-failed').map((s) => [s.component, s.rollbackError ?? s.error ?? ''])),
      leftAtNewVersion: ok ? [] : steps.filter((s) => s.applyStarted && s.state !== 'rolled-back' && s.state !== 'rollback-failed').map((s) => s.component),
    };
    const reason = failure === undefined ? undefined : failureReason(failure, steps, this.promotion.onFailure);
    const finishedAt = this.now();
    const finished: PromotionRecord = {
      ...this.promotion,
      state: ok ? 'succeeded' : 'failed',
      finishedAt,
      reason,
      failure,
      owner: undefined,
      // Soak time counts from here: the checks passed, or there were none.
      verifiedAt: ok ? (this.promotion.verifiedAt ?? finishedAt) : undefined,
    };
    // The process records serve the recovery of steps in flight, and every step has ended by now. They
    // may hold what a command printed (and an outputs file), so they do not outlive the promotion.
    // Removed before the promotion is recorded as finished: a crash in between leaves it running,
    // and the resume that finishes it removes what is left.
    rmSync(this.runsDir(), { recursive: true, force: true });
    await this.save({ promotion: { record: finished, releaseLock: true } }, [this.event('promotion.finished', { state: finished.state, ...summary, reason })]);
  }

  // ------------------------------------------------------------------ helpers

  private spec(name: string): unknown {
    const cached = this.specs.get(name);
    if (cached !== undefined) return cached;
    const component = this.deps.loaded.config.components[name];
    const adapter = component ? this.deps.adapters.get(component.type) : undefined;
    if (!component || !adapter) throw new StepFailure(`component ${name} is no longer in the config`, false);
    const step = this.steps.get(name);
    this.components ??= componentsScope(this.deps.loaded.config, this.release, (c) => this.outputsOf(c));
    const scope = componentScope({
      environment: this.promotion.environment,
      vars: this.vars,
      release: this.release,
      component: name,
      previousVersion: step?.fromVersion,
      components: this.components,
      secrets: this.deps.secrets,
      redactor: this.redactor,
    });
    const spec = renderSpec(adapter, name, component.with, scope);
    this.specs.set(name, spec);
    return spec;
  }

  /**
   * A component's outputs as its dependents see them: live values first, then what was recorded, with
   * its sensitive values as read back from its system (readSensitiveInputs).
   */
  private outputsOf(name: string): Record<string, unknown> | undefined {
    const live = this.liveOutputs.get(name);
    if (live) return live;
    const recorded = this.recordOf(name)?.outputs;
    if (!recorded) return undefined;
    // Sensitive outputs are stored redacted: a dependent must never receive the placeholder as if it
    // were the value. Left out, they read as "not available" unless read back from the system.
    const sensitive = this.recordedSensitive(name);
    const clear = Object.fromEntries(Object.entries(recorded).filter(([k]) => !sensitive.includes(k)));
    return { ...clear, ...this.readBack.get(name) };
  }

  /** What was recorded of a component's last apply: its step in this promotion if it succeeded, else the environment's state. */
  private recordOf(name: string): { outputs?: Record<string, unknown>; sensitiveOutputs?: string[] } | undefined {
    const step = this.steps.get(name);
    return step?.state === 'succeeded' ? step : this.states.get(name);
  }

  /** The names of a component's sensitive outputs: declared ones and those its system marked when it last applied. */
  private recordedSensitive(name: string): string[] {
    return sensitiveNames(this.deps.loaded.config.components[name]?.outputs ?? {}, this.recordOf(name)?.sensitiveOutputs ?? []);
  }

  /**
   * Reads back, from their producers' systems, the sensitive outputs `consumer` references of
   * components not applied in this process (unchanged here, or applied before a restart): their values
   * were never stored. Throws StepFailure when an adapter cannot, saying what to do.
   */
  private async readSensitiveInputs(consumer: string, seen = new Set<string>()): Promise<void> {
    const config = this.deps.loaded.config;
    const needed = neededSensitiveOutputs(config, consumer, (p) =>
      this.liveOutputs.has(p) || this.readBack.has(p) ? [] : this.recordedSensitive(p),
    );
    for (const [producer, names] of needed) {
      if (seen.has(producer)) continue;
      seen.add(producer);
      const component = config.components[producer];
      const adapter = component ? this.deps.adapters.get(component.type) : undefined;
      const step = this.steps.get(producer);
      if (!adapter || !step) throw new StepFailure(`component ${producer} is no longer in the config`, false);
      // The producer's own spec may consume sensitive outputs of its producers.
      await this.readSensitiveInputs(producer, seen);
      this.log(consumer, `reading ${names.map((o) => `${producer}.outputs.${o}`).join(', ')} back from ${producer}'s system (sensitive values are never stored)`);
      const values = await readSensitiveOutputs({
        config,
        adapter,
        producer,
        consumer,
        needed: names,
        recordedSensitive: this.recordedSensitive(producer),
        spec: this.spec(producer),
        ctx: this.context(step),
        redactor: this.redactor,
      });
      this.readBack.set(producer, values);
    }
  }

  /**
   * Whether a step's outputs may be sensitive, so that its log lines are held while its system runs:
   * lockstep.yaml declares one sensitive, its system can mark them (capabilities.sensitiveOutputs), or
   * it marked one when it last applied.
   */
  private mayBeSensitive(name: string, adapter: Adapter<unknown>, spec: unknown): boolean {
    return adapter.capabilities(spec).sensitiveOutputs === true || this.recordedSensitive(name).length > 0;
  }

  /**
   * Starts holding a step's log lines: neither shown, stored nor kept as its last line, until
   * releaseLogs. A program may print a sensitive output (Terraform's `Outputs:`, a script echoing what
   * it writes to $LOCKSTEP_OUTPUTS) before Lockstep has read it and can redact it; held lines are
   * redacted when released, once the values are known. The cost: while such a step's system runs, only
   * its phase is shown live, not its output.
   */
  private holdLogs(name: string): void {
    if (this.heldLogs.has(name)) return;
    this.log(name, 'outputs may be sensitive: this log is held until they are known, then shown redacted');
    this.heldLogs.set(name, { held: [], dropped: 0 });
  }

  /** Releases held lines through the redactor, with the times they were logged at. */
  private releaseLogs(name: string): void {
    const holding = this.heldLogs.get(name);
    if (!holding) return;
    this.heldLogs.delete(name);
    if (holding.dropped > 0) this.log(name, `(${holding.dropped} earlier lines dropped: more than ${MAX_HELD_LINES} were held)`, holding.held[0]?.time);
    for (const { time, raw } of holding.held) this.log(name, raw, time);
  }

  /** Runs work that may print sensitive outputs (a rollback, an observe) with the step's lines held, then learns and releases. */
  private async holdingLogs<T>(name: string, adapter: Adapter<unknown>, spec: unknown, step: StepRecord, work: () => Promise<T>): Promise<T> {
    if (!this.mayBeSensitive(name, adapter, spec)) return work();
    this.holdLogs(name);
    try {
      return await work();
    } finally {
      await this.learnSensitive(name, adapter, step);
      this.releaseLogs(name);
    }
  }

  /**
   * Best effort, where no apply returned outputs (it failed; a rollback or an observe ran): the sensitive
   * values the system holds now become known secrets, so held lines are released redacted. An adapter
   * that cannot read outputs back teaches nothing here.
   */
  private async learnSensitive(name: string, adapter: Adapter<unknown>, step: StepRecord): Promise<void> {
    if (!adapter.readOutputs) return;
    try {
      const produced = await adapter.readOutputs(this.spec(name), this.context(step));
      const declared = this.deps.loaded.config.components[name]?.outputs ?? {};
      for (const k of sensitiveNames(declared, [...sensitiveOutputNames(produced), ...this.recordedSensitive(name)])) {
        if (k in produced) this.redactor.add(produced[k]);
      }
    } catch (error) {
      this.log(name, `could not read the outputs back to redact this log: ${errorMessage(error)}`);
    }
  }

  /**
   * Where this promotion's step processes keep their records while it runs, `runs/<promotion>/` beside
   * the state database; with `log`, those of one step (a component, or the verification's VERIFY_LOG).
   */
  private runsDir(log?: string): string {
    const dir = path.join(this.deps.stateDir, 'runs', this.promotion.id);
    return log === undefined ? dir : path.join(dir, safeName(log));
  }

  /**
   * Where the processes of one phase of one attempt of a step keep their records:
   * `<runs>/<promotion>/<component>/<phase>-<attempt>`. Beside the state database, not in the cache.
   */
  private runDir(step: StepRecord, phase: RecordedPhase): string {
    return path.join(this.runsDir(step.component), `${phase}-${step.attempts}`);
  }

  /** `recorded`: the phase whose processes keep records (apply, verify, rollback); none for plan and observe. */
  private context(step: StepRecord, recorded?: RecordedPhase): StepContext {
    return {
      runDir: recorded === undefined ? undefined : this.runDir(step, recorded),
      signal: this.rollingBack ? this.rollbackController.signal : this.controller.signal,
      log: (line) => this.log(step.component, line),
      heartbeat: () => undefined,
      idempotencyKey: step.idempotencyKey,
      project: this.deps.loaded.config.project,
      projectDir: this.deps.projectDir,
      cacheDir: this.deps.cacheDir,
      stateDir: this.deps.stateDir,
      isSensitive: (value) => this.redactor.covers(value),
      environment: { name: this.promotion.environment, vars: this.vars },
      release: { id: this.release.id, versions: this.release.versions },
      promotionId: this.promotion.id,
      component: step.component,
      version: step.toVersion,
      previousVersion: step.fromVersion,
      reapply: this.promotion.reapply?.includes(step.component) === true,
    };
  }

  private log(component: string, raw: string, time = this.now()): void {
    const holding = this.heldLogs.get(component);
    if (holding) {
      holding.held.push({ time, raw });
      if (holding.held.length > MAX_HELD_LINES) {
        holding.held.shift();
        holding.dropped++;
      }
      return;
    }
    const line = this.redactor.redact(raw).slice(0, MAX_LOG_LINE);
    this.pendingLogs.push({ promotionId: this.promotion.id, component, time, line });
    const step = this.steps.get(component);
    if (step) this.steps.set(component, { ...step, lastLog: line });
    this.deps.observer?.log?.(component, line);
  }

  private newState(step: StepRecord, outputs: Record<string, unknown>, inputs = this.appliedInputs(step.component)): ComponentState {
    const planned = this.promotion.plan.steps.find((s) => s.component === step.component);
    return {
      environment: this.promotion.environment,
      component: step.component,
      version: step.toVersion,
      releaseId: this.promotion.releaseId,
      promotionId: this.promotion.id,
      configDigest: planned?.configDigest ?? '',
      outputs,
      sensitiveOutputs: step.sensitiveOutputs,
      ...(inputs !== undefined ? { inputs } : {}),
      updatedAt: this.now(),
    };
  }

  /**
   * Fingerprints of the outputs a component was applied with, so a later plan can tell whether it
   * would receive something new. A sensitive value this process does not hold (or with no key) is
   * left out: a later plan then counts it as possibly changed.
   */
  private appliedInputs(name: string): Record<string, string> | undefined {
    const config = this.deps.loaded.config;
    const refs = referencedOutputs(config, name);
    if (refs.size === 0) return undefined;
    const out: Record<string, string> = {};
    for (const [producer, outputs] of refs) {
      const declared = Object.keys(config.components[producer]?.outputs ?? {});
      const values = this.outputsOf(producer) ?? {};
      const sensitive = this.recordedSensitive(producer);
      for (const o of outputs.has('*') ? declared : [...outputs]) {
        if (!(o in values)) continue;
        const fingerprint = inputFingerprint(values[o], sensitive.includes(o), sensitive.includes(o) ? this.fingerprintKey() : undefined);
        if (fingerprint !== undefined) out[`${producer}.outputs.${o}`] = fingerprint;
      }
    }
    return out;
  }

  private restoredState(step: StepRecord): ComponentState[] {
    const p = step.previous;
    if (!p) return [];
    return [{
      environment: this.promotion.environment,
      component: step.component,
      version: p.version,
      releaseId: p.releaseId,
      promotionId: this.promotion.id,
      configDigest: p.configDigest,
      outputs: p.outputs,
      sensitiveOutputs: p.sensitiveOutputs,
      ...(p.inputs !== undefined ? { inputs: p.inputs } : {}),
      updatedAt: this.now(),
    }];
  }

  /** Shows a step's state to the observer (and this runner) without committing it. */
  private show(step: StepRecord): void {
    const shown = { ...step, lastLog: this.steps.get(step.component)?.lastLog ?? step.lastLog };
    this.steps.set(step.component, shown);
    this.deps.observer?.step?.(shown);
  }

  /**
   * Commits, then updates the in-memory copies and tells the observer; resolves once the change is
   * durable. Saves made in the same turn of the event loop (several steps finishing together) go
   * out as one transaction, so they share one fsync: a commit costs about as much as all the rest of
   * a zero-work step. Nothing is held back longer than that turn, and each caller still waits for
   * its own change to be on disk, so "committed before the next action starts" holds as before.
   */
  private save(change: Omit<StoreChange, 'audit'>, audit: AuditEventInput[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queuedSaves.push({ change, audit, resolve, reject });
      if (this.queuedSaves.length === 1) {
        // setImmediate runs after the I/O callbacks of this turn, so their saves join the group. The
        // chain keeps groups in order when the store's commit really waits (PostgreSQL).
        setImmediate(() => {
          this.committing = this.committing.then(() => this.commitQueued());
        });
      }
    });
  }

  private async commitQueued(): Promise<void> {
    const queued = this.queuedSaves;
    this.queuedSaves = [];
    // Consecutive step-only saves merge; a save with anything else (the promotion record) goes alone,
    // in its place, so the order of changes on disk is the order they were made.
    const groups: QueuedSave[][] = [];
    for (const q of queued) {
      const last = groups.at(-1);
      const first = last?.[0];
      if (last && first && stepsOnly(first.change) && stepsOnly(q.change)) last.push(q);
      else groups.push([q]);
    }
    for (const group of groups) {
      try {
        await this.commitGroup(group);
        for (const q of group) q.resolve();
      } catch (error) {
        for (const q of group) q.reject(error);
      }
    }
  }

  private async commitGroup(group: QueuedSave[]): Promise<void> {
    const change: Omit<StoreChange, 'audit'> =
      group.length === 1 && group[0] !== undefined
        ? group[0].change
        : { steps: group.flatMap((q) => q.change.steps ?? []), componentStates: group.flatMap((q) => q.change.componentStates ?? []) };
    const audit = group.flatMap((q) => q.audit);
    const steps = change.steps?.map((s) => ({ ...s, lastLog: this.steps.get(s.component)?.lastLog ?? s.lastLog }));
    const token = this.promotion.owner?.token;
    const logs = this.pendingLogs;
    this.pendingLogs = [];
    const full: StoreChange = { ...change, steps, logs, audit, fence: token ? { promotionId: this.promotion.id, ownerToken: token } : undefined };
    if (change.promotion) full.promotion = { ...change.promotion, record: { ...change.promotion.record, owner: change.promotion.record.owner ?? (change.promotion.releaseLock ? undefined : this.promotion.owner) } };
    try {
      await this.deps.store.commit(full);
    } catch (error) {
      this.pendingLogs = [...logs, ...this.pendingLogs];
      throw error;
    }
    if (full.promotion) {
      this.promotion = full.promotion.record;
      this.deps.observer?.promotion?.(this.promotion);
    }
    for (const s of steps ?? []) {
      this.steps.set(s.component, s);
      this.deps.observer?.step?.(s);
    }
    for (const c of change.componentStates ?? []) this.states.set(c.component, c);
  }

  private event(kind: AuditKind, data: Record<string, unknown>, component?: string): AuditEventInput {
    return {
      kind,
      time: this.now(),
      actor: this.deps.actor,
      project: this.promotion.project,
      environment: this.promotion.environment,
      releaseId: this.promotion.releaseId,
      promotionId: this.promotion.id,
      component,
      data: this.redactor.redactValue(data),
    };
  }

  private now(): string {
    return this.deps.clock.now().toISOString();
  }
}

/** Whether a change only upserts steps and component states, so that it can share a commit with others. */
function stepsOnly(change: Omit<StoreChange, 'audit'>): boolean {
  return Object.entries(change).every(([key, value]) => value === undefined || key === 'steps' || key === 'componentStates');
}

function short(id: string): string {
  return id.slice(0, 12);
}

function names(steps: StepRecord[], state: StepRecord['state']): string[] {
  return steps.filter((s) => s.state === state).map((s) => s.component);
}

function elapsed(step: StepRecord): number | undefined {
  if (!step.startedAt || !step.finishedAt) return undefined;
  return Date.parse(step.finishedAt) - Date.parse(step.startedAt);
}

/** Whether a step failed in its own plan, apply or verify (a refused rollback alone does not count). */
function failedItself(s: StepRecord): boolean {
  return s.state === 'failed' || ((s.state === 'rolled-back' || s.state === 'rollback-failed') && s.error !== undefined);
}

/** For a promotion recorded before `failure` existed: the first failed step, or the verification. */
function earliestFailure(steps: StepRecord[], verification: string | undefined): PromotionFailure {
  if (verification !== undefined) return { phase: 'verification', error: verification, at: '' };
  const first = steps.filter(failedItself).sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? ''))[0];
  if (!first) return { phase: 'apply', error: 'the promotion failed', at: '' };
  return { component: first.component, phase: first.phase ?? 'apply', error: first.error ?? '', at: first.finishedAt ?? '' };
}

/** Adapters often start their messages with the phase ("verify: …"): after "failed in verify" say it once. */
function withoutPhase(error: string, phase: string): string {
  return error.startsWith(`${phase}: `) ? error.slice(phase.length + 2) : error;
}

/**
 * One sentence for people: what failed first and why, then what the rollback did (rolled back), did
 * not manage (rollback failed, with its reason) and what stays changed on purpose.
 */
function failureReason(failure: PromotionFailure, steps: StepRecord[], onFailure: string): string {
  const parts: string[] = [];
  if (failure.phase === 'approval') parts.push(`the changed plan was not approved (${failure.error})`);
  else if (failure.phase === 'cancel') parts.push(failure.error);
  else if (failure.component === undefined) parts.push(`verification failed: ${failure.error}`);
  else {
    parts.push(`${failure.component} failed in ${failure.phase}: ${withoutPhase(failure.error, failure.phase)}`);
  }
  const rolled = names(steps, 'rolled-back');
  if (rolled.length) parts.push(`rolled back: ${rolled.join(', ')}`);
  for (const s of steps.filter((x) => x.state === 'rollback-failed')) {
    // A step that succeeded runs its new version still; one whose own apply failed may be anywhere.
    const where = failedItself(s) ? `not back at ${s.fromVersion ?? '?'}` : `still at ${s.toVersion}`;
    parts.push(`rollback failed: ${s.component} (${where}): ${withoutPhase(s.rollbackError ?? s.error ?? 'no reason recorded', 'rollback')}`);
  }
  const forward = steps.filter((s) => s.applyStarted && ['succeeded', 'failed'].includes(s.state)).map((s) => s.component);
  if (forward.length) parts.push(`${onFailure === 'halt' ? 'left as they are (onFailure: halt)' : 'left at the new version (forward-only)'}: ${forward.join(', ')}`);
  return parts.join('; ');
}

/** A `gates.verify` entry made runnable: templates rendered (secrets redacted in messages), the CEL expectation compiled. */
function verifyCheck(config: VerifyConfig, index: number, scope: EvalScope): VerifyCheck {
  const rendered = renderTemplates({ http: config.http ? { ...config.http, expect: undefined } : undefined, command: config.command }, scope, {
    path: ['gates', 'verify', index],
  }) as Pick<VerifyConfig, 'http' | 'command'>;
  const timing = {
    intervalMs: parseDuration(config.interval) ?? 10_000,
    count: config.count,
    failureLimit: config.failureLimit,
    initialDelayMs: parseDuration(config.initialDelay) ?? 0,
  };
  if (rendered.command) return { name: `verify[${index}] ${rendered.command.run[0] ?? ''}`, command: { argv: rendered.command.run }, ...timing };
  const http = rendered.http;
  if (!http) throw new StepFailure(`gates.verify[${index}] has neither http nor command`, false);
  const expect = config.http?.expect === undefined ? undefined : compileCel('verify', config.http.expect);
  const url = new URL(http.url);
  return {
    name: `verify[${index}] ${http.method} ${url.origin}${url.pathname}`,
    http: { url: http.url, method: http.method, headers: http.headers, body: http.body, timeoutMs: parseDuration(http.timeout) ?? 10_000 },
    expect: expect ? (response) => expect.evaluate({ response }) : undefined,
    ...timing,
  };
}
