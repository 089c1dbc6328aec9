import { ConflictError, InputError, NotFoundError } from '../core/errors.js';
import type { PromotionRecord } from '../core/model.js';
import { printable } from '../core/printable.js';
import type { TokenRecord } from '../core/tokens.js';
import { MAX_ATTEMPT_HISTORY, type AttemptOutcome, type DeliveryRecord, type NewDelivery } from './store.js';

/*
 * The decisions and messages every store makes alike, whatever its SQL: kept here once so that the
 * contract's words (which the CLI and the API show) cannot drift between SQLite and PostgreSQL.
 */

/** The shortest id prefix `getRelease` and `getPromotion` accept. */
export const MIN_PREFIX = 7;
/** How many candidates an "ambiguous prefix" error lists: a store fetches one more to know there are more. */
export const MAX_CANDIDATES = 10;

/** Before looking a prefix up: InputError when it is too short. */
export function checkPrefix(noun: 'release' | 'promotion', idOrPrefix: string): void {
  if (idOrPrefix.length < MIN_PREFIX) throw new InputError(`a ${noun} id prefix needs at least ${MIN_PREFIX} characters`, noun);
}

/** The ids a prefix lookup may match, as a range on the primary key: ids are lower-case hex or UUIDs. */
export function prefixRange(idOrPrefix: string): { from: string; to: string } {
  const prefix = idOrPrefix.toLowerCase();
  return { from: prefix, to: `${prefix}g` };
}

/** The one row of up to MAX_CANDIDATES + 1 matches, in id order: NotFoundError for none, InputError for several. */
export function onlyMatch<Row extends { id: string }>(noun: 'release' | 'promotion', idOrPrefix: string, rows: readonly Row[]): Row {
  const [first, second] = rows;
  if (first === undefined) throw new NotFoundError(`${noun} ${printable(idOrPrefix)} not found`);
  if (second === undefined) return first;
  const listed = rows.slice(0, MAX_CANDIDATES).map((row) => row.id);
  const more = rows.length > MAX_CANDIDATES ? ', and more' : '';
  throw new InputError(`${noun} id prefix ${printable(idOrPrefix)} is ambiguous (give more characters): it matches ${listed.join(', ')}${more}`, noun);
}

/** A promotion made `once` (StoreChange.createPromotion.once) exists already. */
export function promotedAlready(record: PromotionRecord, existing: string): ConflictError {
  return new ConflictError(`release ${record.releaseId.slice(0, 12)} was promoted to ${record.environment} already (promotion ${existing.slice(0, 12)})`);
}

export function environmentBusy(environment: string, holder: PromotionRecord): ConflictError {
  return new ConflictError(`environment ${environment} is busy: promotion ${holder.id} (requested by ${holder.requestedBy} at ${holder.requestedAt})`);
}

export function tokenNameTaken(existing: TokenRecord, record: TokenRecord): ConflictError {
  const expired = existing.expiresAt !== undefined && existing.expiresAt <= record.createdAt ? `, expired at ${existing.expiresAt}` : '';
  return new ConflictError(
    `a token named ${record.name} exists already (for ${existing.identity}, created at ${existing.createdAt} by ${existing.createdBy}${expired}): revoke it first (lockstep token revoke ${record.name}) or choose another name`,
  );
}

/** A delivery as first queued. */
export function queuedDelivery(delivery: NewDelivery): Omit<DeliveryRecord, 'id'> {
  return { ...delivery, status: 'pending', attempts: 0, nextAttemptAt: delivery.createdAt, history: [] };
}

/** A delivery after one more attempt. */
export function afterAttempt(before: DeliveryRecord, outcome: AttemptOutcome): Omit<DeliveryRecord, 'id'> {
  const { id: _id, ...rest } = before;
  return {
    ...rest,
    status: outcome.status,
    attempts: before.attempts + 1,
    nextAttemptAt: outcome.status === 'pending' ? outcome.nextAttemptAt : before.nextAttemptAt,
    history: [...before.history, outcome.attempt].slice(-MAX_ATTEMPT_HISTORY),
    ...(outcome.status === 'delivered' ? { deliveredAt: outcome.attempt.at } : {}),
  };
}
