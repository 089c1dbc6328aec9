import { ConflictError } from '../core/errors.js';
import type { PromotionState } from '../core/model.js';
import { STATE_TABLES, totalRows, type RowCounts, type RowPage, type StateTableName } from '../store/state-rows.js';
import { StateError, type Store } from '../store/store.js';
import { verifyAuditLog } from './audit-verify.js';

/**
 * Promotions a process is executing: their records change under the copy, and the copy would hold
 * a run half done that no process owns there. Refused; pending and interrupted promotions (waiting
 * on a gate or a person) are copied as they stand.
 */
const EXECUTING: readonly PromotionState[] = ['running', 'rolling-back'];

/** Rows per page read from the source and written to the target. */
const PAGE_SIZE = 500;

export interface CopyProgress {
  table: StateTableName;
  /** Rows of the table copied so far. */
  rows: number;
  /** The table is complete. */
  done: boolean;
}

export interface CopyResult {
  rows: RowCounts;
  total: number;
  /** The audit log, verified on the target after the copy: the same entries and head as the source. */
  audit: { entries: number; head: string };
}

/**
 * Moves every record of `source` into `target` (both migrated to this code's schema; the target
 * empty): one snapshot of the source, written in one transaction on the target, so the target gets
 * all of it or nothing. Refuses a source whose audit log does not verify (a copy would present a
 * tampered history as a fresh one) and a source with promotions executing. Verifies the target's
 * audit log after: the same entries, the same head hash.
 */
export async function copyState(source: Store, target: Store, onProgress: (progress: CopyProgress) => void = () => undefined): Promise<CopyResult> {
  const before = await verifyAuditLog(source);
  if (!before.ok) {
    throw new StateError(`the source's audit log does not verify (${'reason' in before ? before.reason : 'broken'}): lockstep audit verify shows where; nothing was copied`);
  }
  const written = await target.importRows(watched(source.exportRows(PAGE_SIZE), onProgress));
  const after = await verifyAuditLog(target);
  if (!after.ok || after.head !== before.head || after.entries !== before.entries) {
    // Cannot happen when both stores keep rows verbatim; checked, because this is the one promise made.
    throw new StateError(`the copy's audit log does not match the source's (source head ${before.head}, ${before.entries} entries): do not use the target`);
  }
  return { rows: written, total: totalRows(written), audit: { entries: after.entries, head: after.head } };
}

/** The pages as they go by: progress per table, and the refusal of an executing promotion (which rolls the import back). */
async function* watched(pages: AsyncIterable<RowPage>, onProgress: (progress: CopyProgress) => void): AsyncIterable<RowPage> {
  const promotions = STATE_TABLES.find((t) => t.name === 'promotions')?.columns as readonly string[];
  const [idAt, envAt, stateAt] = ['id', 'environment', 'state'].map((column) => promotions.indexOf(column));
  let current: CopyProgress | undefined;
  for await (const page of pages) {
    if (current !== undefined && current.table !== page.table) onProgress({ ...current, done: true });
    if (current?.table !== page.table) current = { table: page.table, rows: 0, done: false };
    if (page.table === 'promotions') {
      const executing = page.rows.find((row) => EXECUTING.includes(row[stateAt ?? -1] as PromotionState));
      if (executing !== undefined) {
        throw new ConflictError(
          `promotion ${String(executing[idAt ?? -1])} is ${String(executing[stateAt ?? -1])} in ${String(executing[envAt ?? -1])} on the source: copy when no promotion runs (wait for it, or cancel it); nothing was copied`,
        );
      }
    }
    current.rows += page.rows.length;
    onProgress(current);
    yield page;
  }
  if (current !== undefined) onProgress({ ...current, done: true });
}
