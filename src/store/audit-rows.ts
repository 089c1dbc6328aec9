import type { AuditEntry, AuditEventInput, AuditKind } from '../core/audit.js';

/*
 * Audit rows as both stores keep them: one column per field, `data` as JSON text. Shared so that
 * SQLite and PostgreSQL hash, store and read back an entry the same way.
 */

interface AuditRow {
  seq: number;
  hash: string;
  prev_hash: string;
  kind: string;
  time: string;
  actor: string;
  project: string;
  environment: string | null;
  release_id: string | null;
  promotion_id: string | null;
  component: string | null;
  data: string;
}

/**
 * The entry as it will read back: optional fields that are absent stay absent, and `data` passes
 * through JSON (a Date becomes its string, `undefined` members vanish). The hash is computed over
 * this form, so what is stored is exactly what was hashed.
 */
export function asStored(input: AuditEventInput): AuditEventInput {
  const stored: AuditEventInput = {
    kind: input.kind,
    time: input.time,
    actor: input.actor,
    project: input.project,
    data: JSON.parse(JSON.stringify(input.data)) as Record<string, unknown>,
  };
  if (input.environment !== undefined) stored.environment = input.environment;
  if (input.releaseId !== undefined) stored.releaseId = input.releaseId;
  if (input.promotionId !== undefined) stored.promotionId = input.promotionId;
  if (input.component !== undefined) stored.component = input.component;
  return stored;
}

/** The columns `auditPage` reads, in the order of `AuditTuple`. */
export const AUDIT_COLUMNS = [
  'seq',
  'hash',
  'prev_hash',
  'kind',
  'time',
  'actor',
  'project',
  'environment',
  'release_id',
  'promotion_id',
  'component',
  'data',
] as const satisfies readonly (keyof AuditRow)[];

/** An audit row as an array (better-sqlite3's raw mode, pg's rowMode 'array'), in `AUDIT_COLUMNS` order. */
export type AuditTuple = [
  seq: number,
  hash: string,
  prevHash: string,
  kind: string,
  time: string,
  actor: string,
  project: string,
  environment: string | null,
  releaseId: string | null,
  promotionId: string | null,
  component: string | null,
  data: string,
];

/** `data` parsed and checked by the store (see `auditEntry`). */
export function entryFromTuple(row: AuditTuple, data: Record<string, unknown>): AuditEntry {
  const [seq, hash, prevHash, kind, time, actor, project, environment, releaseId, promotionId, component] = row;
  const entry: AuditEntry = {
    seq,
    kind: kind as AuditKind,
    time,
    actor,
    project,
    data,
    prevHash,
    hash,
  };
  if (environment !== null) entry.environment = environment;
  if (releaseId !== null) entry.releaseId = releaseId;
  if (promotionId !== null) entry.promotionId = promotionId;
  if (component !== null) entry.component = component;
  return entry;
}

/** An entry's column values, in `AUDIT_COLUMNS` order: what both stores insert. */
export function auditRowValues(entry: AuditEntry): AuditTuple {
  return [
    entry.seq,
    entry.hash,
    entry.prevHash,
    entry.kind,
    entry.time,
    entry.actor,
    entry.project,
    entry.environment ?? null,
    entry.releaseId ?? null,
    entry.promotionId ?? null,
    entry.component ?? null,
    JSON.stringify(entry.data),
  ];
}
