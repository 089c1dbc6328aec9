import { errorMessage } from '../core/errors.js';
import type { EngineDeps } from './deps.js';
import { deliverTarget, type DispatchOptions } from './notify-dispatch.js';
import { queueNotifications } from './notify-queue.js';

/** How often the server's notifier reads the audit log and looks for due deliveries when nothing wakes it. */
export const NOTIFY_INTERVAL_MS = 1_000;

export type NotifierOptions = Omit<DispatchOptions, 'signal' | 'deadline'> & { intervalMs?: number };

/**
 * Queues and sends notifications continuously, as `lockstep serve` runs it beside the background
 * worker. Each round queues what the audit log has that the targets have not read, then starts
 * sending for every target that is not sending already: each target has at most one sender, which
 * goes through its due deliveries in order and ends. So a target that is down or never answers holds
 * up only its own later deliveries: not the promotions, not the queuing, not the other targets.
 * Stopping aborts the requests in flight; their deliveries stay in the outbox and go out after a
 * restart, under the same delivery ids.
 */
export class Notifier {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly senders = new Map<string, Promise<void>>();

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

  /** Resolves when the round and the senders in progress have ended. */
  async idle(): Promise<void> {
    while (this.round !== undefined || this.senders.size > 0) await Promise.allSettled([this.round, ...this.senders.values()]);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.round = this.work().finally(() => {
        this.round = undefined;
        const again = this.again;
        this.again = false;
        this.schedule(again ? 0 : (this.options.intervalMs ?? NOTIFY_INTERVAL_MS));
      });
    }, ms);
    this.timer.unref();
  }

  /** Never throws: what fails is logged and tried again next round. */
  private async work(): Promise<void> {
    const deps = this.deps();
    const targets = deps.loaded.config.notify ?? [];
    if (targets.length === 0) return;
    try {
      await queueNotifications(deps);
    } catch (error) {
      this.options.log?.(`notifications: cannot queue: ${errorMessage(error)}; tried again next round`);
    }
    for (const target of targets) {
      if (this.senders.has(target.name) || this.stopped) continue;
      const sender = deliverTarget(deps, target, { ...this.options, signal: this.abort.signal })
        .then(() => undefined)
        .catch((error: unknown) => this.options.log?.(`notify ${target.name}: ${errorMessage(error)}; tried again next round`))
        .finally(() => this.senders.delete(target.name));
      this.senders.set(target.name, sender);
    }
  }
}
