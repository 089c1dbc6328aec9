import type { PromotionRecord } from '../core/model.js';
import type { PromotionRunner } from './runner.js';

/** What a process hears about the runs it hands back while draining (the server logs one line each). */
export interface DrainEvents {
  /**
   * A promotion was handed back: its lease released, the promotion left as it stood (`running` or
   * `rolling-back`) with no owner, for the next process to resume. `stillRunning` names steps that
   * had not ended: recovery decides about them as after a crash.
   */
  handedBack?(promotion: PromotionRecord, stillRunning: string[]): void;
}

/**
 * The promotion runners of one process, by promotion id, while they own their promotion: so that a
 * request can cancel a promotion this process runs at once (instead of the runner reading a cancel
 * request from the store at its next lease renewal), and so that a server shutting down can drain
 * them. A runner adds itself once it has claimed its promotion and removes itself when its run ends.
 */
export class RunningPromotions {
  private readonly runners = new Map<string, PromotionRunner>();
  private drainEvents: DrainEvents | undefined;

  /** A runner added while draining is drained at once: a request in flight when the drain began may start one. */
  add(runner: PromotionRunner): void {
    this.runners.set(runner.record.id, runner);
    if (this.drainEvents !== undefined) runner.drain();
  }

  remove(runner: PromotionRunner): void {
    if (this.runners.get(runner.record.id) === runner) this.runners.delete(runner.record.id);
  }

  /** The runner of this promotion in this process, if one runs it now. */
  get(promotionId: string): PromotionRunner | undefined {
    return this.runners.get(promotionId);
  }

  get size(): number {
    return this.runners.size;
  }

  /** Every runner, now and added later, starts no new step and hands its promotion back once its running steps end (PromotionRunner.drain). */
  drain(events: DrainEvents = {}): void {
    this.drainEvents = events;
    for (const runner of this.runners.values()) runner.drain();
  }

  /**
   * The drain time is up: every runner still running hands its promotion back now, with its steps
   * still running (PromotionRunner.abandon). Resolves when those hand-backs are committed or have
   * failed (a lease not released then expires, as after a crash).
   */
  async abandon(): Promise<void> {
    await Promise.allSettled([...this.runners.values()].map((runner) => runner.abandon()));
  }

  /** Called by a runner that handed its promotion back. */
  handedBack(promotion: PromotionRecord, stillRunning: string[]): void {
    this.drainEvents?.handedBack?.(promotion, stillRunning);
  }
}
