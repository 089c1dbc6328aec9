import { errorMessage } from '../core/errors.js';
import type { EngineDeps } from './deps.js';
import { deliverDue, type DispatchOptions, type DispatchResult } from './notify-dispatch.js';
import { queueNotifications } from './notify-queue.js';

/** How often the server's notifier reads the audit log when nothing wakes it. */
export const NOTIFY_INTERVAL_MS = 1_000;

export type NotifierOptions = Omit<DispatchOptions, 'signal' | 'deadline'> & { intervalMs?: number };

/**
 * Queues and sends notifications continuously, as `lockstep serve` runs it beside the background
 * worker: each round queues what the audit log has that the targets have not read, then sends what
 * is due, and the next round comes at the interval or when a retry is due, whichever is sooner.
 * Runs apart from the promotions: a target that is down or slow never holds up a promotion, only its
 * own later deliveries. Stopping aborts the requests in flight; their deliveries stay in the outbox
 * and go out after a restart, under the same delivery ids.
 */
export class Notifier {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly deps: () => EngineDeps,
    private readonly options: NotifierOptions = {},
  ) {}

  start(): void {
    this.schedule(0);
  }

  /** Looks for new audit entries now (a request changed something), not at the next interval. */
  nudge(): void {
    if (this.stopped) return;
    if (this.round !== undefined) this.again = true;
    else this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
  }

  /** Resolves when the round in progress, if any, has ended. */
  async idle(): Promise<void> {
    while (this.round !== undefined) await this.round;
  }

  /** One round now, awaited (tests). */
  async runOnce(): Promise<DispatchResult | undefined> {
    return this.work();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.round = this.work().then((result) => {
        this.round = undefined;
        const interval = this.options.intervalMs ?? NOTIFY_INTERVAL_MS;
        const due = result?.nextAttemptAt === undefined ? interval : Date.parse(result.nextAttemptAt) - this.deps().clock.now().getTime();
        const again = this.again;
        this.again = false;
        this.schedule(again ? 0 : Math.max(10, Math.min(interval, due)));
      });
    }, ms);
    this.timer.unref();
  }

  /** Never throws: what fails is logged and tried again next round. */
  private async work(): Promise<DispatchResult | undefined> {
    const deps = this.deps();
    if ((deps.loaded.config.notify ?? []).length === 0) return undefined;
    try {
      await queueNotifications(deps);
      return await deliverDue(deps, { ...this.options, signal: this.abort.signal });
    } catch (error) {
      this.options.log?.(`notifications: ${errorMessage(error)}; tried again next round`);
      return undefined;
    }
  }
}
