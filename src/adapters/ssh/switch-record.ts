import type { StepContext } from '../../core/adapter.js';

/** Steps whose switches are remembered for rollback; the oldest are forgotten first. */
const REMEMBERED_STEPS = 500;

/**
 * Which hosts each step switched and what each ran before, by step (idempotency key) and version:
 * written at apply time, read by rollback. In memory only (see createSshAdapter).
 */
export class SwitchRecord {
  private readonly steps = new Map<string, Map<string, string | null>>();

  private key(ctx: StepContext): string {
    return `${ctx.idempotencyKey}\0${ctx.version}`;
  }

  forStep(ctx: StepContext): Map<string, string | null> {
    const key = this.key(ctx);
    let record = this.steps.get(key);
    if (record === undefined) {
      record = new Map();
      this.steps.set(key, record);
      if (this.steps.size > REMEMBERED_STEPS) this.steps.delete(this.steps.keys().next().value as string);
    }
    return record;
  }

  get(ctx: StepContext): ReadonlyMap<string, string | null> | undefined {
    return this.steps.get(this.key(ctx));
  }
}
