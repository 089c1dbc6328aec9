import type { PromotionRecord, ReleaseRecord, StepRecord } from '../core/model.js';
import type { StepLogLine, Store } from '../store/store.js';

/** A release and every promotion of it, newest first (`release show`). NotFoundError, InputError for a short or ambiguous prefix. */
export async function releaseWithPromotions(
  store: Pick<Store, 'getRelease' | 'listPromotions'>,
  releaseRef: string,
): Promise<{ release: ReleaseRecord; promotions: PromotionRecord[] }> {
  const release = await store.getRelease(releaseRef);
  return { release, promotions: await store.listPromotions({ releaseId: release.id }) };
}

/** A promotion with its steps in plan order (`history PROMOTION`). NotFoundError, InputError for a short or ambiguous prefix. */
export async function promotionWithSteps(
  store: Pick<Store, 'getPromotion' | 'listSteps'>,
  promotionRef: string,
): Promise<{ promotion: PromotionRecord; steps: StepRecord[] }> {
  const promotion = await store.getPromotion(promotionRef);
  return { promotion, steps: await store.listSteps(promotion.id) };
}

/** What a promotion's steps printed, oldest first; of one component, or of all (`logs`). */
export async function promotionLogs(
  store: Pick<Store, 'getPromotion' | 'stepLogs'>,
  promotionRef: string,
  component?: string,
): Promise<StepLogLine[]> {
  const promotion = await store.getPromotion(promotionRef);
  return store.stepLogs(promotion.id, component);
}
