import { InputError, NotFoundError } from '../core/errors.js';
import type { PromotionRecord } from '../core/model.js';
import { cancelRefusal } from './cancel.js';
import type { EngineDeps } from './deps.js';
import { previousRelease } from './promote.js';

/**
 * What the engine would refuse, for reasons of state, among the decisions a person may take on a
 * promotion besides approving it (absent: it would go ahead): cancel it, retry or mark done its
 * interrupted steps (`resume`), roll its environment back. Read-only; the caller adds the role check.
 */
export interface ActionRefusals {
  cancel?: string;
  /** `--retry-step` / `--mark-done`: only for an interrupted promotion. */
  resume?: string;
  /** The steps an interrupted promotion waits on a decision for. */
  interruptedSteps: string[];
  rollback?: string;
  /** The release a rollback of the environment would promote. */
  rollbackTo?: string;
}

export async function actionRefusals(deps: EngineDeps, promotion: PromotionRecord): Promise<ActionRefusals> {
  const id = promotion.id.slice(0, 12);
  const interruptedSteps =
    promotion.state === 'interrupted'
      ? (await deps.store.listSteps(promotion.id)).filter((s) => s.state === 'interrupted').map((s) => s.component)
      : [];
  const resume =
    promotion.state === 'interrupted'
      ? undefined
      : `promotion ${id} is ${promotion.state}: only an interrupted promotion's steps can be retried or marked done`;
  let rollback: string | undefined;
  let rollbackTo: string | undefined;
  try {
    rollbackTo = (await previousRelease(deps, promotion.environment)).previous.releaseId;
  } catch (e) {
    // Nothing to roll back to, or an environment no longer in the config.
    if (!(e instanceof NotFoundError || e instanceof InputError)) throw e;
    rollback = e.message;
  }
  const cancel = cancelRefusal(promotion);
  return {
    interruptedSteps,
    ...(cancel === undefined ? {} : { cancel }),
    ...(resume === undefined ? {} : { resume }),
    ...(rollback === undefined ? {} : { rollback }),
    ...(rollbackTo === undefined ? {} : { rollbackTo }),
  };
}
