import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { holdsUnknown } from '../../core/plan.js';
import { urlProblem } from './database-url.js';

export const DEFAULT_TABLE = 'lockstep_migrations';
export const DEFAULT_LOCK_TIMEOUT = '1m';
export const DEFAULT_CONNECT_TIMEOUT = '10s';
export const DEFAULT_QUERY_TIMEOUT = '1h';

const duration = (examples: string) =>
  z.string().refine((text) => (parseDuration(text) ?? 0) > 0, { error: `expected a duration such as ${examples}` });

/** `name` or `schema.name`: letters, digits and `_`, so it can be quoted the same way everywhere. */
const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}(?:\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;

/**
 * `with:` of a `sql-migrations` component. Templates are rendered by the engine before the adapter
 * sees it. Messages about `url` never quote it: it usually holds a password.
 */
export const migrationsSpec = z.strictObject({
  url: z
    .string({ error: 'expected a database URL string, such as "${{ env.vars.db }}"' })
    .superRefine((url, ctx) => {
      // A URL holding a value known only after its producer applies (a host from Terraform) is planned
      // without the database (see describeUnseenPlan); the step checks the real URL.
      if (holdsUnknown(url)) return;
      const problem = urlProblem(url);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe(
      'postgres://…, postgresql://…, mysql://… (MySQL and MariaDB) or sqlite:PATH (relative to the project directory).',
    ),
  dir: z
    .string({ error: 'expected the migrations directory, such as db/migrations' })
    .min(1, { error: 'expected the migrations directory, such as db/migrations' })
    .describe('The directory of VERSION_title.up.sql / .down.sql files, relative to the project directory.'),
  table: z
    .string()
    .regex(TABLE_NAME, {
      error: 'expected a table name (letters, digits and _, not starting with a digit), optionally schema.table',
    })
    .default(DEFAULT_TABLE)
    .describe('The history table Lockstep keeps in the database.'),
  lockTimeout: z
    .string()
    .refine((text) => (parseDuration(text) ?? 0) > 0, { error: 'expected a duration such as 30s, 1m or 5m' })
    .default(DEFAULT_LOCK_TIMEOUT)
    .describe('How long to wait for another runner migrating the same database.'),
  connectTimeout: duration('5s, 10s or 30s')
    .default(DEFAULT_CONNECT_TIMEOUT)
    .describe('How long connecting to the database (TCP, TLS and login) may take. Not used for SQLite.'),
  queryTimeout: duration('10m, 1h or 4h')
    .default(DEFAULT_QUERY_TIMEOUT)
    .describe(
      'The longest one query or migration file may run (one statement on MySQL/MariaDB); a database that stops answering fails the step then. Not used for SQLite.',
    ),
});

export type MigrationsSpec = z.output<typeof migrationsSpec>;
