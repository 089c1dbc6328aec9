import { AUDIT_COLUMNS } from './audit-rows.js';

/*
 * Every table of records, as both stores lay them out: what `exportRows` reads and `importRows`
 * writes when a whole state moves to another store (`lockstep state copy`). Rows travel verbatim,
 * as arrays in `columns` order: records keep their JSON text byte for byte, row ids stay (step log
 * ids are the event stream's cursor, delivery ids a target's order), and the audit log keeps its
 * sequence numbers and hashes, so the copy verifies to the same head.
 *
 * A migration that adds a table or a column adds it here too: the stores' tests compare this list
 * with the schema and fail on anything missing.
 */

export interface StateTable {
  name: string;
  columns: readonly string[];
  /** The primary key: pages are read in its order (keyset pagination, no OFFSET). */
  key: readonly string[];
}

/** In an order that inserts parents before the rows that reference them. */
export const STATE_TABLES = [
  { name: 'releases', columns: ['id', 'created_at', 'json'], key: ['id'] },
  { name: 'release_rejections', columns: ['release_id', 'json'], key: ['release_id'] },
  { name: 'promotions', columns: ['id', 'environment', 'release_id', 'state', 'requested_at', 'owner_token', 'json'], key: ['id'] },
  { name: 'evidence', columns: ['promotion_id', 'created_at', 'json'], key: ['promotion_id'] },
  { name: 'env_locks', columns: ['environment', 'promotion_id'], key: ['environment'] },
  { name: 'steps', columns: ['promotion_id', 'component', 'ord', 'json'], key: ['promotion_id', 'component'] },
  { name: 'cancel_requests', columns: ['promotion_id', 'json'], key: ['promotion_id'] },
  { name: 'approvals', columns: ['id', 'promotion_id', 'json'], key: ['id'] },
  { name: 'component_states', columns: ['environment', 'component', 'json'], key: ['environment', 'component'] },
  { name: 'drift_states', columns: ['environment', 'component', 'json'], key: ['environment', 'component'] },
  { name: 'drift_checks', columns: ['environment', 'checked_at'], key: ['environment'] },
  { name: 'audit_log', columns: AUDIT_COLUMNS, key: ['seq'] },
  { name: 'step_logs', columns: ['id', 'promotion_id', 'component', 'time', 'line', 'after_seq'], key: ['id'] },
  { name: 'api_tokens', columns: ['id', 'name', 'hash', 'revoked_at', 'json'], key: ['id'] },
  { name: 'notify_cursors', columns: ['target', 'audit_seq'], key: ['target'] },
  {
    name: 'notify_deliveries',
    columns: ['id', 'delivery_id', 'target', 'status', 'next_attempt_at', 'claim_token', 'claimed_until', 'json'],
    key: ['id'],
  },
] as const satisfies readonly StateTable[];

export type StateTableName = (typeof STATE_TABLES)[number]['name'];

/** One column's value: text (a step log line too, whatever the store keeps it as), a number, or NULL. */
export type RowValue = string | number | null;

/** A page of one table's rows, each in the table's `columns` order. */
export interface RowPage {
  table: StateTableName;
  rows: RowValue[][];
}

/** Rows per table, every table named (0 for an empty one). */
export type RowCounts = Record<StateTableName, number>;

export function emptyCounts(): RowCounts {
  return Object.fromEntries(STATE_TABLES.map((table) => [table.name, 0])) as RowCounts;
}

export function totalRows(counts: RowCounts): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

/** `releases 3, promotions 5, …`: the tables that hold rows. */
export function describeCounts(counts: RowCounts): string {
  const held = STATE_TABLES.filter((table) => counts[table.name] > 0).map((table) => `${table.name} ${counts[table.name]}`);
  return held.length === 0 ? 'nothing' : held.join(', ');
}

/**
 * `(a, b) > (?, ?)`-style keyset condition and its values for the page after `last` (a row of
 * `table`), with the placeholders `placeholder` makes (`?` or `$n`).
 */
export function afterKey(table: StateTable, last: readonly RowValue[] | undefined, placeholder: (index: number) => string): { where: string; values: RowValue[] } {
  if (last === undefined) return { where: '', values: [] };
  const values = table.key.map((column) => last[table.columns.indexOf(column)] ?? null);
  const marks = values.map((_, index) => placeholder(index));
  return { where: `WHERE (${table.key.join(', ')}) > (${marks.join(', ')})`, values };
}

/** The SELECT of one page; `limitMark` is the placeholder of the page size. */
export function pageQuery(table: StateTable, where: string, limitMark: string): string {
  return `SELECT ${table.columns.join(', ')} FROM ${table.name} ${where} ORDER BY ${table.key.join(', ')} LIMIT ${limitMark}`;
}
