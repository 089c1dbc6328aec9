import { parseDuration } from '../core/duration.js';
import { errorMessage } from '../core/errors.js';
import { checkDrift } from './drift.js';
import type { EngineDeps } from './deps.js';
import type { PromotionRecord } from '../core/model.js';
import { evaluatePromotionGates } from './gates.js';
import { ownerIsGone } from './lease.js';
import { advancePending, resume } from './promote.js';
import { startAutomatic } from './tick.js';
import { sealUnsealed } from './evidence.js';
import { Notifier, type NotifierOptions } from './notifier.js';

/** How often the worker looks for work when nothing wakes it (a gate that time satisfies, a dead process). */
export const WORKER_INTERVAL_MS = 1_000;

export interface WorkerEvents {
  /** What the worker started or could not do, one line each, for the server log. No secrets: engine messages are redacted. */
  log?(line: string): void;
}

/**
 * The background work `tick` does once, done continuously for one project, as `lockstep serve` runs
 * it: pending promotions start as soon as their gates pass (the last approval, the soak time, the
 * window), `auto` environments promote, and promotions left running by a process that died are
 * resumed where `resume` would be safe (those that need a person stay interrupted), as are those a
 * server that shut down handed back. Each promotion it runs runs in the background, so one long
 * promotion holds nothing else up; a promotion it already runs is not picked up twice. Claims in the
 * store keep two workers (or a worker and a person) from running the same promotion. Notifications
 * go out beside it (engine/notifier.ts), never in its way.
 */
export class BackgroundWorker {
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private readonly notifier: Notifier;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    /** The project's engine dependencies as they stand now (the config may be reloaded between rounds). */
    private readonly deps: () => EngineDeps,
    private readonly events: WorkerEvents = {},
    private readonly intervalMs = WORKER_INTERVAL_MS,
    notify: NotifierOptions = {},
  ) {
    this.notifier = new Notifier(deps, { log: (line) => this.events.log?.(line), ...notify });
  }

  start(): void {
    this.schedule(0);
    this.notifier.start();
    // Another server (or a CLI) on the same state committed something: look now, not at the next
    // interval. The interval stays for what only time makes due (a soak, a window, a lease running out).
    this.unsubscribe = this.deps().store.onChange?.((notice) => {
      if (notice.work) this.lookNow();
      if (notice.work || notice.audit) this.notifier.nudge();
    });
  }

  /** Looks for work now (after a request that may have made some), instead of at the next interval. */
  nudge(): void {
    if (this.stopped) return;
    this.notifier.nudge();
    this.lookNow();
  }

  private lookNow(): void {
    if (this.stopped) return;
    if (this.round !== undefined) this.again = true;
    else this.schedule(0);
  }

  /** Promotions this worker is running now, by id. */
  running(): string[] {
    return [...this.inFlight.keys()];
  }

  /** Starts nothing more. Promotions already running go on until the process ends (see stop in serve). */
  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    // Requests in flight are aborted: their deliveries stay in the outbox, sent again after a restart.
    this.notifier.stop();
  }

  /** Waits until every promotion this worker started has ended (tests, and a graceful shutdown with time to spare). */
  async idle(): Promise<void> {
    while (this.round !== undefined || this.inFlight.size > 0) {
      await Promise.allSettled([this.round, ...this.inFlight.values()]);
    }
    await this.notifier.idle();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.round = this.lookForWork().finally(() => {
        this.round = undefined;
        const again = this.again;
        this.again = false;
        this.schedule(again ? 0 : this.intervalMs);
      });
    }, ms);
    this.timer.unref();
  }

  /** One round: never throws; what fails is logged and looked at again next round. */
  private async lookForWork(): Promise<void> {
    const deps = this.deps();
    try {
      for (const p of await deps.store.listPromotions({ states: ['pending'] })) {
        if (this.inFlight.has(p.id)) continue;
        // Read-only first: a promotion whose gates wait as they did is not claimed again (a claim is a write).
        const evaluation = await evaluatePromotionGates(deps, p, await deps.store.getRelease(p.releaseId));
        const unchanged = evaluation.gates.every((g) => p.plan.gates.find((h) => h.gate === g.gate)?.status === g.status);
        if (evaluation.verdict === 'waiting' && unchanged) continue;
        this.run(p.id, () => advancePending(deps, p.id));
      }
      const now = deps.clock.now();
      for (const p of await deps.store.listPromotions({ states: ['running', 'rolling-back'] })) {
        // A runner of this process that could not renew its lease (the store was out of reach) still
        // holds the promotion: it carries on once its commits land; it is not taken over from itself.
        if (this.inFlight.has(p.id) || deps.running?.get(p.id) !== undefined || !ownerIsGone(p, now)) continue;
        // No owner: a process that shut down handed it back (its lease released), so it is taken at once.
        const left = p.owner === undefined ? 'was handed back' : 'was left';
        this.events.log?.(`promotion ${p.id.slice(0, 12)} (${p.environment}) ${left} ${p.state} by a process that is gone: resuming it`);
        this.run(p.id, () => resume(deps, p.id));
      }
      const onCreated = (p: PromotionRecord): void => this.events.log?.(`auto-promotion ${p.id.slice(0, 12)} of release ${p.releaseId.slice(0, 12)} to ${p.environment}`);
      await startAutomatic(deps, { onCreated }, (key, work) => this.run(key, work));
      // Evidence a crash kept from being written when its promotion ended.
      const sealed = await sealUnsealed({ store: deps.store, signer: deps.signer, clock: deps.clock });
      for (const e of sealed.errors) this.events.log?.(`promotion ${e.promotionId.slice(0, 12)}: its evidence could not be written: ${e.message}`);
      await this.startDriftChecks(deps);
    } catch (error) {
      this.events.log?.(`background work failed, tried again in ${this.intervalMs} ms: ${errorMessage(error)}`);
    }
  }

  /**
   * Drift checks of environments with `drift: { every }` that are due: each due time is claimed in the
   * store first, so among several servers one check runs per due time; the check runs in the
   * background, beside promotions.
   */
  private async startDriftChecks(deps: EngineDeps): Promise<void> {
    const now = deps.clock.now();
    for (const [environment, env] of Object.entries(deps.loaded.config.environments)) {
      const every = env.drift === undefined ? undefined : parseDuration(env.drift.every);
      if (every === undefined || this.inFlight.has(`drift:${environment}`)) continue;
      const dueAfter = new Date(now.getTime() - every).toISOString();
      if (!(await deps.store.claimDriftCheck(environment, dueAfter, now.toISOString()))) continue;
      this.run(`drift:${environment}`, async () => {
        const [report] = await checkDrift(deps, { environment, trigger: 'schedule' });
        const drifted = report?.components.filter((c) => c.state === 'drifted').map((c) => c.component) ?? [];
        if (report?.skipped !== undefined) this.events.log?.(`drift check of ${environment} skipped: ${report.skipped}`);
        else if (drifted.length > 0) this.events.log?.(`drift check of ${environment}: drift in ${drifted.join(', ')}`);
      });
    }
  }

  /** Runs `work` for a promotion in the background, unless this worker already runs it. */
  private run(id: string, work: () => Promise<unknown>): void {
    if (this.inFlight.has(id) || this.stopped) return;
    const task = work()
      .catch((error: unknown) => this.events.log?.(`${id.startsWith('drift:') ? `drift check of ${id.slice('drift:'.length)}` : `promotion ${id.slice(0, 12)}`}: ${errorMessage(error)}`))
      .finally(() => {
        this.inFlight.delete(id);
      });
    this.inFlight.set(id, task);
  }
}
