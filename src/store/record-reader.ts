import type { PromotionRecord, ReleaseRecord, ReleaseRejection, StepRecord } from '../core/model.js';
import type { TokenRecord } from '../core/tokens.js';
import { checkPromotion, checkRejection, checkRelease, checkStep, checkToken, type RowCheck } from './row-checks.js';
import { StateError } from './store.js';

/**
 * Reads the JSON records a store wrote back, for every store alike. The store wrote them, so
 * anything wrong means the data was damaged or edited: a StateError naming the state, the table and
 * the entry, never a raw SyntaxError or a TypeError later. A message never quotes the column's content.
 */
export class RecordReader {
  /** `name`: the state as messages name it (`the state at /path/state.db`), never with a password. */
  constructor(private readonly name: string) {}

  /** Parses and checks one stored record. */
  record<T>(table: string, entry: string, json: string, check: RowCheck, column = 'json'): T {
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch {
      throw this.damaged(table, entry, `column ${column} is not valid JSON`);
    }
    const problem = check(value);
    if (problem !== undefined) throw this.damaged(table, entry, `column ${column}: ${problem}`);
    return value as T;
  }

  damaged(table: string, entry: string, problem: string): StateError {
    return new StateError(`${this.name} is damaged: table ${table}, ${entry}: ${problem}`);
  }

  release(id: string, json: string): ReleaseRecord {
    const release = this.record<ReleaseRecord>('releases', `id ${id}`, json, checkRelease);
    if (release.id !== id) throw this.damaged('releases', `id ${id}`, `column json holds release ${release.id}`);
    // Labels were always written; a record without them still reads as a release without labels.
    return release.labels === undefined ? { ...release, labels: {} } : release;
  }

  rejection(releaseId: string, json: string): ReleaseRejection {
    return this.record<ReleaseRejection>('release_rejections', `release_id ${releaseId}`, json, checkRejection);
  }

  promotion(id: string, json: string): PromotionRecord {
    const promotion = this.record<PromotionRecord>('promotions', `id ${id}`, json, checkPromotion);
    if (promotion.id !== id) throw this.damaged('promotions', `id ${id}`, `column json holds promotion ${promotion.id}`);
    return promotion;
  }

  step(promotionId: string, component: string, json: string): StepRecord {
    return this.record<StepRecord>('steps', `promotion_id ${promotionId}, component ${component}`, json, checkStep);
  }

  /** The entry names the row id, not the token's name: a damaged row's name column cannot be trusted either. */
  token(id: number, json: string): TokenRecord {
    return this.record<TokenRecord>('api_tokens', `row id ${id}`, json, checkToken);
  }

  /** A promotion whose release is gone. */
  missingRelease(promotion: PromotionRecord): StateError {
    return this.damaged('promotions', `id ${promotion.id}`, `it names release ${promotion.releaseId}, which is not in table releases`);
  }
}
