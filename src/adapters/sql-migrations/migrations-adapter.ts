import path from 'node:path';
import type { Adapter, AdapterPlan, Observed, ObservedDifference, Outputs, StepContext } from '../../core/adapter.js';
import { parseDuration } from '../../core/duration.js';
import { errorMessage, StepFailure } from '../../core/errors.js';
import { holdsUnknown } from '../../core/plan.js';
import { credentialScrubber, parseDatabaseUrl, unknownUrlDisplay } from './database-url.js';
import type { DatabaseTarget } from './database-url.js';
import { MigrationDirectoryError, readMigrations } from './migration-files.js';
import type { MigrationFile } from './migration-files.js';
import {
  checkHistory,
  describePlan,
  describeUnseenPlan,
  isPlanData,
  migrationSteps,
  missingDowns,
  resolveTarget,
  versionAt,
} from './migration-plan.js';
import type { HistoryProblem, HistoryRow, Target, Where } from './migration-plan.js';
import { compareVersions, parseVersion } from './migration-version.js';
import { migrate } from './migrator.js';
import type { MigrationBatch, MigrateRequest } from './migrator.js';
import { migrationsSpec } from './migrations-spec.js';
import type { MigrationsSpec } from './migrations-spec.js';
import { mysqlDialect } from './mysql.js';
import { postgresDialect } from './postgres.js';
import { history, tableName } from './sql-dialect.js';
import { DeadlineError } from './sql-dialect.js';
import type { Dialect, DialectConnection, NetworkLimits, TableName } from './sql-dialect.js';
import { sqliteDialect } from './sqlite.js';

/**
 * The `sql-migrations` component type: the component's version is the migration version the
 * database must be at. Plan lists the migrations up or down with their SQL; apply runs them under a
 * database-level lock, one transaction each where DDL is transactional; rollback moves the database
 * back to the previous version; observe reads the history table.
 *
 * Nothing the adapter logs or throws holds the URL's credentials: every message passes through a
 * scrubber built from the URL, since drivers put connection strings in their errors.
 */
export const sqlMigrationsAdapter: Adapter<MigrationsSpec> = {
  type: 'sql-migrations',
  description:
    'Moves a PostgreSQL, MySQL/MariaDB or SQLite database to a migration version with VERSION_title.up.sql / .down.sql files, under a database lock.',
  spec: migrationsSpec,

  capabilities() {
    // Rollback runs down files; a plan with an up that has none says irreversible, which wins per promotion.
    return { reversible: true, idempotentApply: true, observe: true };
  },

  plan(spec, ctx) {
    // The database is named by a value known only after its producer applies: nothing to connect to.
    if (holdsUnknown(spec.url)) return planUnseen(spec, ctx);
    return guarded(spec, ctx, 'plan', async (job) => {
      const target = job.resolve(ctx.version);
      const conn = await job.connect('read');
      const notes: string[] = [];
      let rows: HistoryRow[] = [];
      if (conn === undefined) {
        notes.push(`-- ${job.database} does not exist yet: apply creates it, with the history table ${spec.table}\n`);
      } else {
        try {
          const read = await history.read(conn, job.table);
          if (read === undefined)
            notes.push(`-- the history table ${spec.table} does not exist yet: apply creates it\n`);
          rows = read ?? [];
        } finally {
          await conn.close().catch(() => undefined);
        }
      }
      const problems = checkHistory(job.files, rows, job.where);
      // A re-apply (to correct drift) puts back checksums changed by hand: the files are the release's truth.
      const repairs = ctx.reapply === true ? checksumRepairs(job.files, rows, problems) : [];
      const left = problems.filter((p) => !repairs.some((r) => r.version === p.version));
      if (left.length > 0) throw refused(left.map((p) => p.message));
      const from = versionAt(job.files, rows.length);
      const steps = migrationSteps(job.files, rows.length, target);
      const missing = missingDowns(steps);
      if (missing.length > 0) {
        throw refused([
          `cannot move ${job.database} down from version ${from} to ${target.version}: no down migration ` +
            `${missing.map((s) => `${spec.dir}/${s.migration.name}.down.sql`).join(', ')} (those migrations are forward-only). ` +
            'Add the down file, or promote a version at or above them',
        ]);
      }
      const planned = describePlan({ steps, from, to: target, database: job.database, notes });
      return repairs.length === 0 ? planned : withRepairs(planned, repairs, job.database);
    });
  },

  apply(spec, plan: AdapterPlan, ctx): Promise<Outputs> {
    return guarded(spec, ctx, 'apply', async (job) => {
      const target = job.resolve(ctx.version);
      if (ctx.reapply === true) await repairChecksums(job);
      const batch = await job.migrate(target, isPlanData(plan.data) ? plan.data : undefined);
      return outputs(batch, target, job);
    });
  },

  rollback(spec, ctx) {
    return guarded(spec, ctx, 'rollback', async (job) => {
      if (ctx.previousVersion === undefined) {
        throw new StepFailure(`rollback: there is no previous version of ${ctx.component} to go back to`, false, {
          untouched: true,
        });
      }
      const target = job.resolve(ctx.previousVersion);
      job.log(`rolling back ${job.database} to migration version ${target.version}`);
      outputs(await job.migrate(target, undefined), target, job);
    });
  },

  observe(spec, ctx): Promise<Observed> {
    return guarded(spec, ctx, 'observe', async (job) => {
      const conn = await job.connect('read');
      let rows: HistoryRow[] = [];
      if (conn !== undefined) {
        try {
          rows = (await history.read(conn, job.table)) ?? [];
        } finally {
          await conn.close().catch(() => undefined);
        }
      }
      const problems = checkHistory(job.files, rows, job.where);
      const highest = highestRow(rows);
      return {
        version: observedVersion(job, rows, highest, problems.length === 0, ctx),
        drift: problems.map((p) => p.message),
        differences: historyDifferences(job.files, rows, problems, ctx.version === '' ? undefined : safeTarget(job, ctx.version)),
        details: {
          database: job.database,
          table: spec.table,
          applied: rows.length,
          files: job.files.length,
          ...(highest === undefined
            ? {}
            : { latest: { name: highest.name, appliedAt: highest.appliedAt, appliedBy: highest.appliedBy } }),
        },
      };
    });
  },
};

/**
 * The plan for a database URL holding a value known only after its producer applies: the files and
 * the version are checked as always; the database is not read (see describeUnseenPlan).
 */
async function planUnseen(spec: MigrationsSpec, ctx: StepContext): Promise<AdapterPlan> {
  if (ctx.signal.aborted) throw abortError(ctx.signal.reason, 'plan');
  const where: Where = { dir: spec.dir, table: spec.table };
  let files: MigrationFile[];
  let to: Target;
  try {
    files = await readMigrations(path.resolve(ctx.projectDir, spec.dir), spec.dir);
    to = resolveTarget(ctx.version, files, where);
  } catch (error) {
    throw new StepFailure(errorMessage(error), false, { untouched: true });
  }
  return describeUnseenPlan({ files, to, database: unknownUrlDisplay(spec.url) });
}

type Operation = 'plan' | 'apply' | 'rollback' | 'observe';

/** What every operation needs: the files, the dialect, and scrubbed logging. */
interface Job {
  readonly files: readonly MigrationFile[];
  readonly where: Where;
  readonly table: TableName;
  readonly database: string;
  readonly log: (line: string) => void;
  resolve(version: string): Target;
  connect(mode: 'read' | 'write'): Promise<DialectConnection | undefined>;
  migrate(target: Target, planned: MigrateRequest['planned']): Promise<MigrationBatch>;
}

/**
 * Runs one operation and turns every failure into a StepFailure whose message holds no credential.
 * The abort reason passes through as it is (it is the engine's own).
 */
async function guarded<T>(
  spec: MigrationsSpec,
  ctx: StepContext,
  operation: Operation,
  run: (job: Job) => Promise<T>,
): Promise<T> {
  const scrub = credentialScrubber(spec.url);
  if (ctx.signal.aborted) throw abortError(ctx.signal.reason, operation);
  let job: Job | undefined;
  try {
    job = await prepare(spec, ctx, scrub);
    return await run(job);
  } catch (error) {
    if (ctx.signal.aborted && error === ctx.signal.reason) throw error;
    if (error instanceof DeadlineError) {
      // A server that stopped answering may answer again: worth another try.
      throw new StepFailure(scrub(`${operation}: ${job?.database ?? 'the database'}: ${error.message}`), true);
    }
    if (error instanceof StepFailure) {
      throw new StepFailure(scrub(error.message), error.retryable, { untouched: error.untouched });
    }
    if (error instanceof MigrationDirectoryError)
      throw new StepFailure(scrub(error.message), false, { untouched: true });
    // Unknown: not retryable, and not known to have left the database alone. The driver's error is
    // not kept as the cause, since it may carry the connection string.
    throw new StepFailure(`${operation}: ${scrub(describeError(error))}`, false);
  }
}

async function prepare(spec: MigrationsSpec, ctx: StepContext, scrub: (text: string) => string): Promise<Job> {
  const target = parseDatabaseUrl(spec.url, ctx.projectDir);
  const dialect = dialectFor(target, {
    connectTimeoutMs: durationMs(spec.connectTimeout),
    queryTimeoutMs: durationMs(spec.queryTimeout),
    signal: ctx.signal,
  });
  const where: Where = { dir: spec.dir, table: spec.table };
  const files = await readMigrations(path.resolve(ctx.projectDir, spec.dir), spec.dir);
  const table = tableName(spec.table);
  const log = (line: string): void => ctx.log(scrub(line));
  const lockTimeoutMs = parseDuration(spec.lockTimeout);
  if (lockTimeoutMs === undefined)
    throw new Error(`lockTimeout ${spec.lockTimeout} is not a duration: the spec was not parsed`);

  const connect = async (mode: 'read' | 'write'): Promise<DialectConnection | undefined> => {
    try {
      return await dialect.connect(mode);
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw connectFailure(error, target.display, scrub);
    }
  };
  return {
    files,
    where,
    table,
    database: target.display,
    log,
    resolve(version) {
      try {
        return resolveTarget(version, files, where);
      } catch (error) {
        throw new StepFailure(errorMessage(error), false, { untouched: true });
      }
    },
    connect,
    async migrate(to, planned) {
      const conn = await connect('write');
      if (conn === undefined)
        throw new StepFailure(`could not open ${target.display} for writing`, false, { untouched: true });
      try {
        return await migrate(conn, {
          dialect,
          table,
          where,
          database: target.display,
          files,
          target: to,
          lockTimeoutMs,
          lockTimeout: spec.lockTimeout,
          signal: ctx.signal,
          log,
          heartbeat: ctx.heartbeat,
          appliedBy: ctx.promotionId,
          planned,
        });
      } finally {
        await conn.close().catch(() => undefined);
      }
    },
  };
}

function dialectFor(target: DatabaseTarget, limits: NetworkLimits): Dialect {
  switch (target.kind) {
    case 'postgres':
      return postgresDialect(target.connectionString, limits);
    case 'mysql':
      return mysqlDialect(target, limits);
    case 'sqlite':
      return sqliteDialect(target.file, target.display);
  }
}

/** The step's outputs when the batch ran to its end; otherwise the StepFailure that says how far it got. */
function outputs(batch: MigrationBatch, target: Target, job: Job): Outputs {
  const ran = batch.done.map((d) => `${d.step.direction} ${d.step.migration.name}`);
  const stopped = batch.stopped;
  if (stopped === undefined) return { version: target.version, migrations: ran };
  const before = ran.length === 0 ? '' : `; the migrations before it stay applied: ${ran.join(', ')}`;
  switch (stopped.kind) {
    case 'refused':
      throw new StepFailure(stopped.message, false, { untouched: true });
    case 'lock-timeout':
      throw new StepFailure(stopped.message, true, { untouched: true });
    case 'failed':
      throw new StepFailure(
        `${stopped.step.direction} ${stopped.step.migration.name} failed: ${stopped.message}${before}`,
        false,
        {
          untouched: ran.length === 0 && !stopped.partial,
        },
      );
    case 'cancelled': {
      const during =
        stopped.during === undefined
          ? ''
          : ` (${stopped.during.direction} ${stopped.during.migration.name} was stopped and undone)`;
      const at = batch.from === undefined ? '' : `; ${job.database} is at version ${versionAfter(batch)}`;
      throw new StepFailure(`${errorMessage(stopped.reason)}${during}${before}${at}`, false, {
        cause: stopped.reason,
        untouched: ran.length === 0,
      });
    }
  }
}

function versionAfter(batch: MigrationBatch): string {
  const last = batch.done[batch.done.length - 1];
  if (last === undefined) return batch.from ?? '0';
  return last.step.direction === 'up' ? last.step.migration.version.text : `below ${last.step.migration.version.text}`;
}

function highestRow(rows: readonly HistoryRow[]): HistoryRow | undefined {
  let best: { row: HistoryRow; version: NonNullable<ReturnType<typeof parseVersion>> } | undefined;
  for (const row of rows) {
    const version = parseVersion(row.version);
    if (version !== undefined && (best === undefined || compareVersions(version, best.version) > 0))
      best = { row, version };
  }
  return best?.row;
}

/**
 * The version the database is at, spelled as the release spells it when it is the same version
 * (`2.0.0` for the file `2_add_orders`), so the engine's comparison of strings holds.
 */
interface ChecksumRepair {
  version: string;
  name: string;
  recorded: string;
  file: string;
}

/** The applied migrations whose recorded checksum differs from their file's (the `changed` problems). */
function checksumRepairs(files: readonly MigrationFile[], rows: readonly HistoryRow[], problems: readonly HistoryProblem[]): ChecksumRepair[] {
  const out: ChecksumRepair[] = [];
  for (const p of problems) {
    if (p.kind !== 'changed') continue;
    const row = rows.find((r) => r.version === p.version);
    const file = row === undefined ? undefined : files.find((f) => f.name === row.name || f.version.text === row.version);
    if (row !== undefined && file !== undefined) out.push({ version: row.version, name: row.name, recorded: row.checksum, file: file.checksum });
  }
  return out;
}

/** A plan that also repairs checksums: an apply, whatever the migrations alone would need, and it says so. */
function withRepairs(plan: AdapterPlan, repairs: readonly ChecksumRepair[], database: string): AdapterPlan {
  const lines = repairs.map(
    (r) => `-- re-apply: record the checksum of ${r.name} as its file's (${r.file.slice(0, 12)}; ${database} has ${r.recorded.slice(0, 12)}, changed by hand); the migration is not run again`,
  );
  const repair = `repair the recorded checksum of ${repairs.map((r) => r.name).join(', ')} in ${database}`;
  const { action: _action, ...rest } = plan;
  return {
    ...rest,
    summary: plan.action === 'unchanged' ? repair : `${repair}; ${plan.summary}`,
    details: [...lines, plan.details ?? ''].filter((l) => l !== '').join('\n'),
  };
}

/** Writes back the files' checksums over those changed by hand (a re-apply), before migrating. */
async function repairChecksums(job: Job): Promise<void> {
  const conn = await job.connect('write');
  if (conn === undefined) return;
  try {
    const rows = (await history.read(conn, job.table)) ?? [];
    for (const r of checksumRepairs(job.files, rows, checkHistory(job.files, rows, job.where))) {
      await history.setChecksum(conn, job.table, r.version, r.file);
      job.log(`repaired the recorded checksum of ${r.name}: ${r.recorded.slice(0, 12)} → ${r.file.slice(0, 12)} (its file's; the migration was not run again)`);
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** The target a version names, or undefined when it names none of these files. */
function safeTarget(job: Job, version: string): Target | undefined {
  try {
    return job.resolve(version);
  } catch {
    return undefined;
  }
}

/**
 * How the history table differs from the files and the version observed against, field by field: a
 * migration's recorded checksum against its file's, a row nobody's files know, a failed or an
 * unapplied one, and the number of migrations applied. Pure.
 */
export function historyDifferences(
  files: readonly MigrationFile[],
  rows: readonly HistoryRow[],
  problems: readonly HistoryProblem[],
  target: Target | undefined,
): ObservedDifference[] {
  const out: ObservedDifference[] = [];
  for (const p of problems) {
    const row = rows.find((r) => r.version === p.version);
    const file = files.find((f) => f.version.text === p.version || (row !== undefined && f.name === row.name));
    switch (p.kind) {
      case 'changed':
        out.push({ field: `migrations.${p.version}.checksum`, expected: file?.checksum ?? '(unknown)', found: row?.checksum ?? '(unknown)' });
        break;
      case 'failed':
        out.push({ field: `migrations.${p.version}`, expected: 'applied', found: `failed part-way: ${row?.failure ?? ''}` });
        break;
      case 'out-of-order':
        out.push({ field: `migrations.${p.version}`, expected: 'applied', found: 'not applied (a newer one is)' });
        break;
      default:
        out.push({ field: `migrations.${p.version}`, expected: 'no such migration', found: `applied (${row?.name ?? p.version})` });
    }
  }
  if (target !== undefined && problems.length === 0 && rows.length !== target.count) {
    const name = (count: number): string => (count === 0 ? 'none' : (files[count - 1]?.name ?? String(count)));
    out.push({ field: 'migrations.applied', expected: `${target.count} (up to ${name(target.count)})`, found: `${rows.length} (up to ${name(rows.length)})` });
  }
  return out;
}

function observedVersion(
  job: Job,
  rows: readonly HistoryRow[],
  highest: HistoryRow | undefined,
  consistent: boolean,
  ctx: StepContext,
): string {
  const raw = highest?.version ?? '0';
  if (!consistent) return raw;
  for (const candidate of [ctx.version, ctx.previousVersion]) {
    if (candidate === undefined) continue;
    try {
      if (resolveTarget(candidate, job.files, job.where).count === rows.length) return candidate;
    } catch {
      // Not a version of these files: it cannot be the one that runs.
    }
  }
  return raw;
}

function refused(messages: readonly string[]): StepFailure {
  const message =
    messages.length === 1
      ? (messages[0] ?? '')
      : `the history table and the migration files disagree:\n${messages.map((m) => `  - ${m}`).join('\n')}`;
  return new StepFailure(message, false, { untouched: true });
}

/** Network failures that may pass; everything else about connecting (auth, a missing database) will not. */
const TRANSIENT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  '57P03',
  'PROTOCOL_CONNECTION_LOST',
]);

function connectFailure(error: unknown, display: string, scrub: (text: string) => string): StepFailure {
  if (error instanceof StepFailure) return error;
  if (error instanceof DeadlineError) return new StepFailure(`could not connect to ${display}: ${error.message}`, true, { untouched: true });
  const code = (error as { code?: unknown }).code;
  const transient = typeof code === 'string' && TRANSIENT.has(code);
  const timedOut = /timeout/i.test(errorMessage(error));
  return new StepFailure(`could not connect to ${display}: ${scrub(describeError(error))}`, transient || timedOut, {
    untouched: true,
  });
}

/** A driver error's message with its code, when it has one. */
function describeError(error: unknown): string {
  const message = errorMessage(error);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== '' && !message.includes(code) ? `${message} (${code})` : message;
}

function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`${text} is not a duration: the spec was not parsed`);
  return ms;
}

function abortError(reason: unknown, operation: Operation): Error {
  if (reason instanceof Error) return reason;
  return new StepFailure(`${operation}: cancelled`, false, { cause: reason, untouched: true });
}
