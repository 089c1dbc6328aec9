import { errorMessage } from '../core/errors.js';
import type { PromotionRecord } from '../core/model.js';

/**
 * Promotions that requests started and that run on after the response: a promote request answers as
 * soon as the promotion is recorded (202), while the engine runs its steps here. Shutdown waits for
 * them (`idle`).
 */
export class BackgroundRuns {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly log: (line: string) => void) {}

  /**
   * Starts `run` without awaiting its end. Resolves with the promotion as soon as `run` reports it
   * recorded (`recorded`), or with what `run` returns if it ends first; rejects with `run`'s error
   * only if nothing was recorded yet (the request then fails as the CLI would). A failure after that
   * is logged: the promotion's record says how it ended.
   */
  start(
    label: string,
    run: (recorded: (promotion: PromotionRecord) => void) => Promise<PromotionRecord>,
  ): Promise<PromotionRecord> {
    return new Promise((resolve, reject) => {
      let answered = false;
      const recorded = (promotion: PromotionRecord): void => {
        if (answered) return;
        answered = true;
        resolve(promotion);
      };
      const done: Promise<void> = run(recorded)
        .then(recorded, (error: unknown) => {
          if (!answered) {
            answered = true;
            reject(error instanceof Error ? error : new Error(errorMessage(error)));
          } else this.log(`${label}: ${errorMessage(error)}`);
        })
        .finally(() => this.running.delete(done));
      this.running.add(done);
    });
  }

  get size(): number {
    return this.running.size;
  }

  /** Resolves when every run started so far has ended. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
