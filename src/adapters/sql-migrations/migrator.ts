import { setTimeout as sleep } from 'node:timers/promises';
import type { MigrationFile } from './migration-files.js';
import { checkHistory, migrationSteps, missingDowns, stepSql, versionAt } from './migration-plan.js';
import type { MigrationStep, PlanData, Target, Where } from './migration-plan.js';
import { parseVersion } from './migration-version.js';
import { history, ScriptError } from './sql-dialect.js';
import type { Dialect, DialectConnection, TableName } from './sql-dialect.js';

/**
 * Moves one database to a target version under its migration lock, one migration at a time, and
 * reports what happened as a value: a batch may stop part-way (a failed migration, a cancellation),
 * and the caller decides how to word that. Only the lock's and the history table's own queries throw.
 */
export interface MigrateRequest {
  readonly dialect: Dialect;
  readonly table: TableName;
  readonly where: Where;
  /** The database as messages name it (no credentials). */
  readonly database: string;
  readonly files: readonly MigrationFile[];
  readonly target: Target;
  readonly lockTimeoutMs: number;
  /** `lockTimeout` as the user wrote it, for messages. */
  readonly lockTimeout: string;
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
  readonly heartbeat: () => void;
  /** Recorded as `applied_by`: the promotion. */
  readonly appliedBy: string;
  /** The migrations the approved plan showed; when given, any other migration is refused. */
  readonly planned?: PlanData;
}

export interface MigrationOutcome {
  readonly step: MigrationStep;
  readonly durationMs: number;
}

export type Stopped =
  /** Nothing ran: the history disagrees with the files, a down file is missing, or the plan is stale. */
  | { readonly kind: 'refused'; readonly message: string }
  /** Nothing ran: another runner held the lock for all of lockTimeout. */
  | { readonly kind: 'lock-timeout'; readonly message: string }
  | {
      readonly kind: 'failed';
      readonly step: MigrationStep;
      readonly message: string;
      /** Part of the migration stayed applied (databases without transactional DDL). */
      readonly partial: boolean;
    }
  | { readonly kind: 'cancelled'; readonly reason: unknown; readonly during?: MigrationStep };

export interface MigrationBatch {
  /** The version the database was at when the lock was taken (undefined when refused before reading it). */
  readonly from: string | undefined;
  readonly done: readonly MigrationOutcome[];
  readonly stopped?: Stopped;
}

/** Longest single wait for the lock, so the step heartbeats and notices cancellation. */
const LOCK_SLICE_MS = 1_000;
const HEARTBEAT_MS = 2_000;
const MAX_RECORDED_FAILURE = 1_000;

/** `conn` is opened for writing by the caller, who closes it. */
export async function migrate(conn: DialectConnection, request: MigrateRequest): Promise<MigrationBatch> {
  const locked = await acquireLock(conn, request);
  if (locked !== undefined) return { from: undefined, done: [], stopped: locked };
  try {
    return await migrateLocked(conn, request);
  } finally {
    // For SQLite this commits the run; a failure here must not be swallowed.
    await conn.unlock(request.table);
  }
}

/** Undefined once the lock is held; otherwise why not. */
async function acquireLock(conn: DialectConnection, request: MigrateRequest): Promise<Stopped | undefined> {
  const { signal, table, database } = request;
  if (signal.aborted) return { kind: 'cancelled', reason: signal.reason as unknown };
  if (await conn.tryLock(table, 0)) return undefined;
  request.log(
    `waiting for the migration lock on ${database}: another runner is migrating it (lockTimeout ${request.lockTimeout})`,
  );
  const deadline = Date.now() + request.lockTimeoutMs;
  for (;;) {
    if (signal.aborted) return { kind: 'cancelled', reason: signal.reason as unknown };
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      return {
        kind: 'lock-timeout',
        message:
          `timed out after ${request.lockTimeout} waiting for the migration lock on ${database} (history table ${table.text}): ` +
          'another runner is migrating this database. Let it finish and promote again, or raise lockTimeout',
      };
    }
    if (await conn.tryLock(table, Math.min(LOCK_SLICE_MS, remaining))) return undefined;
    request.heartbeat();
    // Lets the event loop run between attempts (SQLite's wait blocks it).
    await sleep(25);
  }
}

async function migrateLocked(conn: DialectConnection, request: MigrateRequest): Promise<MigrationBatch> {
  const { files, table, where, dialect } = request;
  await history.ensure(conn, table);
  const rows = (await history.read(conn, table)) ?? [];
  const problems = checkHistory(files, rows, where);
  if (problems.length > 0)
    return {
      from: undefined,
      done: [],
      stopped: { kind: 'refused', message: refusal(problems.map((p) => p.message)) },
    };

  const from = versionAt(files, rows.length);
  const steps = migrationSteps(files, rows.length, request.target);
  const missing = missingDowns(steps);
  if (missing.length > 0) {
    const names = missing.map((s) => `${where.dir}/${s.migration.name}.down.sql`);
    return {
      from,
      done: [],
      stopped: {
        kind: 'refused',
        message:
          `cannot move ${request.database} down from version ${from} to ${request.target.version}: ` +
          `no down migration ${names.join(', ')} (those migrations are forward-only). Add the down file, or promote a version at or above them`,
      },
    };
  }
  const stale = unplanned(steps, request.planned, where);
  if (stale !== undefined) return { from, done: [], stopped: { kind: 'refused', message: stale } };

  if (steps.length === 0) {
    request.log(`${request.database} is at migration version ${from} already: nothing to do`);
    return { from, done: [] };
  }
  request.log(
    `migrating ${request.database} from version ${from} to ${request.target.version}: ${steps.length} ${steps[0]?.direction ?? 'up'} migration${steps.length === 1 ? '' : 's'}`,
  );
  if (!dialect.transactionalDdl) {
    request.log(
      `warning: ${dialect.name} cannot roll back DDL: if a migration fails, its statements before the failing one stay applied; the error names the statement that failed`,
    );
  }

  const done: MigrationOutcome[] = [];
  for (const step of steps) {
    if (request.signal.aborted)
      return { from, done, stopped: { kind: 'cancelled', reason: request.signal.reason as unknown } };
    request.heartbeat();
    const result = await runStep(conn, step, request);
    if ('stopped' in result) return { from, done, stopped: result.stopped };
    done.push(result);
    request.log(`${step.direction} ${step.migration.name}: done in ${result.durationMs}ms`);
  }
  return { from, done };
}

async function runStep(
  conn: DialectConnection,
  step: MigrationStep,
  request: MigrateRequest,
): Promise<MigrationOutcome | { stopped: Stopped }> {
  const { table, signal, dialect } = request;
  const { migration } = step;
  const script = stepSql(step);
  // missingDowns was checked before anything ran.
  if (script === undefined) throw new Error(`${migration.name} has no down file`);
  request.log(
    `${step.direction} ${migration.name} (${step.direction === 'up' ? migration.upFile : (migration.downFile ?? '')})`,
  );

  const started = Date.now();
  const alive = setInterval(request.heartbeat, HEARTBEAT_MS);
  // Where the database can undo a migration, cancelling stops the running statement; elsewhere the
  // migration runs to its end (half a migration is worse than a late stop), and the loop stops after it.
  const cancel = conn.cancel?.bind(conn);
  const onAbort = dialect.transactionalDdl && cancel !== undefined ? (): void => void cancel() : undefined;
  if (onAbort) signal.addEventListener('abort', onAbort, { once: true });
  let scriptDone = false;
  try {
    await conn.begin();
    await conn.runScript(script.sql, { beforeStatement: () => request.heartbeat() });
    scriptDone = true;
    const durationMs = Date.now() - started;
    if (step.direction === 'up') {
      await history.insert(conn, table, {
        version: migration.version.text,
        name: migration.name,
        checksum: migration.checksum,
        appliedAt: new Date(),
        appliedBy: request.appliedBy,
        durationMs,
        failure: null,
      });
    } else {
      await history.remove(conn, table, migration.version.text);
    }
    await conn.commit();
    return { step, durationMs };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (dialect.transactionalDdl) {
      await conn.rollback().catch(() => undefined);
      if (signal.aborted) return { stopped: { kind: 'cancelled', reason: signal.reason as unknown, during: step } };
      return { stopped: { kind: 'failed', step, message, partial: false } };
    }
    return { stopped: await recordPartial(conn, step, request, error, message, scriptDone) };
  } finally {
    clearInterval(alive);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Without transactional DDL the statements before a failing one stay applied. When any did, the
 * migration is recorded as failed in the history table, so every later run stops and asks a person
 * instead of running the migration's first statements a second time.
 */
async function recordPartial(
  conn: DialectConnection,
  step: MigrationStep,
  request: MigrateRequest,
  error: unknown,
  message: string,
  scriptDone: boolean,
): Promise<Stopped> {
  const { migration } = step;
  const statement = error instanceof ScriptError ? error.statement : undefined;
  const completed = scriptDone ? Number.POSITIVE_INFINITY : (statement?.index ?? 1) - 1;
  if (completed === 0) {
    return { kind: 'failed', step, message: `${message}. Nothing of this migration was applied`, partial: false };
  }
  const failure = `${step.direction}: ${scriptDone ? `ran, but recording it failed: ${message}` : message}`.slice(
    0,
    MAX_RECORDED_FAILURE,
  );
  let recorded = true;
  try {
    if (step.direction === 'up') {
      await history.insert(conn, request.table, {
        version: migration.version.text,
        name: migration.name,
        checksum: migration.checksum,
        appliedAt: new Date(),
        appliedBy: request.appliedBy,
        durationMs: 0,
        failure,
      });
    } else {
      await history.markFailed(conn, request.table, migration.version.text, failure);
    }
  } catch {
    recorded = false;
  }
  const before = scriptDone ? 'all its statements ran' : `statements 1 to ${completed} stayed applied`;
  return {
    kind: 'failed',
    step,
    partial: true,
    message:
      `${message}. ${request.dialect.name} cannot roll back DDL: ${before}. ` +
      (recorded
        ? `The history table ${request.table.text} marks ${migration.name} as failed; fix the database by hand, then follow the message the next promotion prints`
        : `Recording that in ${request.table.text} failed too: fix the database by hand before promoting again`),
  };
}

/** Why the migrations about to run are not the ones the plan showed, if they are not. */
function unplanned(steps: readonly MigrationStep[], planned: PlanData | undefined, where: Where): string | undefined {
  if (planned === undefined) return undefined;
  const shown = new Map(
    planned.steps.map((s) => [`${s.direction}:${parseVersion(s.version)?.key ?? s.version}`, s.checksum]),
  );
  for (const step of steps) {
    const checksum = shown.get(`${step.direction}:${step.migration.version.key}`);
    if (checksum === undefined) {
      return (
        `the database or ${where.dir} changed since the plan was made: ${step.direction} ${step.migration.name} was not in the plan. ` +
        'Nothing was run; plan again (lockstep plan) and review the new plan'
      );
    }
    if (checksum !== stepSql(step)?.checksum) {
      const file = step.direction === 'up' ? step.migration.upFile : (step.migration.downFile ?? '');
      return `${file} changed since the plan was made (the plan showed other SQL). Nothing was run; plan again (lockstep plan) and review the new plan`;
    }
  }
  return undefined;
}

function refusal(messages: readonly string[]): string {
  if (messages.length === 1) return messages[0] ?? '';
  return `the history table and the migration files disagree:\n${messages.map((m) => `  - ${m}`).join('\n')}`;
}
