import Database from 'better-sqlite3';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandComponent } from './project.js';

/**
 * The state test/fixtures/state-before-postgres.sql holds: written by the Lockstep of commit 57db593,
 * the last before the PostgreSQL store (see test/fixtures/README.md).
 */

/** What that Lockstep's `audit verify` printed when the fixture was made. */
export const LEGACY_HEAD = 'c89590a2a5d129a6a42065feec8c04a7016f255dc2d41bc8c7cebc4938ebae8e';
export const LEGACY_ENTRIES = 47;
export const LEGACY_SCHEMA_VERSION = 7;

/** The fixture's config (without its notify target, whose receiver never answered). */
export const LEGACY_CONFIG = `project: legacy
groups:
  sre: [bob@example.com]
environments:
  dev: {}
  staging:
    after: [dev]
    gates:
      approvals: { count: 1, from: [group:sre] }
    onFailure: rollback
components:
  api:
${commandComponent()}
`;

/** Writes the fixture's state into a new SQLite file at `path`. */
export function writeLegacyState(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.exec(readFileSync(fileURLToPath(new URL('../fixtures/state-before-postgres.sql', import.meta.url)), 'utf8'));
  } finally {
    db.close();
  }
}

/** Every row of `table` in the file, as SQLite holds it (read without any Lockstep code). */
export function rawRows(path: string, table: string, order: string): Record<string, unknown>[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

/** The `json` column of every row of `table`, parsed. */
export function rawRecords(path: string, table: string, order: string): unknown[] {
  return rawRows(path, table, order).map((row) => JSON.parse(String(row.json)) as unknown);
}
