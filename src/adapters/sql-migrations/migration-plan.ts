import type { AdapterPlan } from '../../core/adapter.js';
import type { MigrationFile } from './migration-files.js';
import { compareVersions, parseVersion } from './migration-version.js';
import type { MigrationVersion } from './migration-version.js';

/**
 * The pure part of migrating: which version the release asks for, whether the database's history
 * agrees with the files, and which migrations move it there. No I/O.
 */

/** One row of the history table, as every dialect returns it. */
export interface HistoryRow {
  readonly version: string;
  readonly name: string;
  readonly checksum: string;
  /** ISO 8601. */
  readonly appliedAt: string;
  /** The promotion that applied it. */
  readonly appliedBy: string;
  readonly durationMs: number;
  /**
   * Set when a migration failed part-way on a database without transactional DDL (MySQL, MariaDB):
   * which statement failed and why. The database may hold part of the migration; a person decides.
   */
  readonly failure: string | null;
}

export type Direction = 'up' | 'down';

export interface MigrationStep {
  readonly direction: Direction;
  readonly migration: MigrationFile;
}

/** Why the history and the files disagree. Each message names the file and the fix. */
export interface HistoryProblem {
  readonly kind: 'changed' | 'removed' | 'unknown' | 'out-of-order' | 'failed';
  readonly version: string;
  readonly message: string;
}

export interface Where {
  /** The migrations directory as the user wrote it. */
  readonly dir: string;
  /** The history table as the user wrote it. */
  readonly table: string;
}

/** The number of migrations (from the first file) the database must have for `version`. */
export interface Target {
  readonly version: string;
  readonly count: number;
}

/**
 * Resolves the release's version: `0` or anything below the first migration means an empty
 * database; otherwise it must be the version of a file. Throws Error with the fix otherwise.
 */
export function resolveTarget(version: string, files: readonly MigrationFile[], where: Where): Target {
  const wanted = parseVersion(version.trim());
  if (wanted === undefined) {
    throw new Error(
      `the release gives this component version ${JSON.stringify(version)}, which is not a migration version: ` +
        'use the numeric prefix of a migration file (such as 20261101120000 for 20261101120000_add_orders.up.sql), or 0 for no migrations',
    );
  }
  const first = files[0];
  if (first === undefined || compareVersions(wanted, first.version) < 0) {
    if (wanted.key === '0' || first !== undefined) return { version, count: 0 };
    throw new Error(
      `version ${version} matches no migration: ${where.dir} has no migration files yet (use version 0 until it does)`,
    );
  }
  const index = files.findIndex((f) => compareVersions(f.version, wanted) === 0);
  if (index === -1) {
    const newest = files[files.length - 1];
    const nearby = files.filter((f) => compareVersions(f.version, wanted) < 0).pop();
    throw new Error(
      `version ${version} matches no migration in ${where.dir}` +
        ` (the nearest below is ${nearby?.name ?? first.name}; the newest is ${newest?.name ?? first.name}): ` +
        "check this component's version in the release, or add the migration file",
    );
  }
  return { version, count: index + 1 };
}

/**
 * Every way the history table disagrees with the directory, all at once. Applied migrations must be
 * exactly the first N files, each unchanged since it ran.
 */
export function checkHistory(
  files: readonly MigrationFile[],
  rows: readonly HistoryRow[],
  where: Where,
): HistoryProblem[] {
  const problems: HistoryProblem[] = [];
  const byKey = new Map(files.map((f) => [f.version.key, f]));
  const newest = files[files.length - 1];
  const applied = new Set<string>();
  let highest: { version: MigrationVersion; row: HistoryRow } | undefined;
  for (const row of rows) {
    const version = parseVersion(row.version);
    if (version === undefined) {
      problems.push({
        kind: 'unknown',
        version: row.version,
        message: `the history table ${where.table} has a row with version ${JSON.stringify(row.version)} (${row.name}), which is not a migration version: it was not written by Lockstep; delete the row or choose another table`,
      });
      continue;
    }
    applied.add(version.key);
    if (highest === undefined || compareVersions(version, highest.version) > 0) highest = { version, row };
    const file = byKey.get(version.key);
    const when = `on ${row.appliedAt}${row.appliedBy === '' ? '' : ` by promotion ${row.appliedBy}`}`;
    if (row.failure !== null) {
      problems.push({
        kind: 'failed',
        version: row.version,
        message:
          `migration ${row.name} failed part-way ${when} (${row.failure}) and may be partly applied: MySQL and MariaDB cannot roll back DDL. ` +
          `Check the database by hand; then either finish the migration by hand and mark it applied (UPDATE ${where.table} SET failure = NULL WHERE version = '${row.version}'), ` +
          `or undo what it did and forget it (DELETE FROM ${where.table} WHERE version = '${row.version}'), and promote again`,
      });
      continue;
    }
    if (file === undefined) {
      if (newest === undefined || compareVersions(version, newest.version) > 0) {
        problems.push({
          kind: 'unknown',
          version: row.version,
          message:
            `the database has migration ${row.name} (version ${row.version}, applied ${when}), which ${where.dir} does not know: ` +
            `it is newer than every file there${newest === undefined ? '' : ` (newest: ${newest.name})`}, so the database was migrated from a newer set of files. ` +
            'Promote a release whose migrations include it, or roll the database back with those files',
        });
      } else {
        problems.push({
          kind: 'removed',
          version: row.version,
          message:
            `migration ${row.name} was applied ${when}, but ${where.dir}/${row.name}.up.sql is gone: restore the file from version control. ` +
            `If its changes were undone by hand, delete its row instead: DELETE FROM ${where.table} WHERE version = '${row.version}'`,
        });
      }
      continue;
    }
    if (file.checksum !== row.checksum) {
      problems.push({
        kind: 'changed',
        version: row.version,
        message:
          `${file.upFile} was changed after it was applied to this database ${when} (checksum now ${file.checksum.slice(0, 12)}, applied ${row.checksum.slice(0, 12)}): ` +
          'restore the file as it was applied (see its history in version control) and put the change in a new migration',
      });
    }
  }
  if (highest !== undefined) {
    const top = highest;
    for (const file of files) {
      if (applied.has(file.version.key) || compareVersions(file.version, top.version) > 0) continue;
      problems.push({
        kind: 'out-of-order',
        version: file.version.text,
        message:
          `${file.upFile} was never applied to this database, but the newer migration ${top.row.name} was: ` +
          `it was probably added on a branch after ${top.row.name} ran. Give it a version above ${top.row.version} (rename the file) so it runs after`,
      });
    }
  }
  return problems;
}

/**
 * The migrations that bring a database holding the first `applied` files to `target`: ups oldest
 * first, or downs newest first. Only meaningful when checkHistory found nothing.
 */
export function migrationSteps(files: readonly MigrationFile[], applied: number, target: Target): MigrationStep[] {
  if (target.count > applied)
    return files.slice(applied, target.count).map((migration) => ({ direction: 'up', migration }));
  return files
    .slice(target.count, applied)
    .reverse()
    .map((migration) => ({ direction: 'down', migration }));
}

/** Downs that have no file: such a step cannot run. */
export function missingDowns(steps: readonly MigrationStep[]): MigrationStep[] {
  return steps.filter((s) => s.direction === 'down' && s.migration.downSql === undefined);
}

/** The SQL a step runs, and its checksum. Undefined for a down without a file. */
export function stepSql(step: MigrationStep): { sql: string; checksum: string } | undefined {
  const { migration } = step;
  if (step.direction === 'up') return { sql: migration.upSql, checksum: migration.checksum };
  if (migration.downSql === undefined || migration.downChecksum === undefined) return undefined;
  return { sql: migration.downSql, checksum: migration.downChecksum };
}

/** The version a database holding the first `count` files is at, as written in its file (`0` when empty). */
export function versionAt(files: readonly MigrationFile[], count: number): string {
  return count === 0 ? '0' : (files[count - 1]?.version.text ?? '0');
}

/** What the plan keeps for apply: the exact migrations shown, so apply refuses anything else. */
export interface PlanData {
  readonly target: string;
  readonly steps: readonly { direction: Direction; version: string; checksum: string }[];
}

export function isPlanData(value: unknown): value is PlanData {
  if (typeof value !== 'object' || value === null) return false;
  const steps = (value as { steps?: unknown }).steps;
  return (
    typeof (value as { target?: unknown }).target === 'string' &&
    Array.isArray(steps) &&
    steps.every(
      (s: unknown) =>
        typeof s === 'object' &&
        s !== null &&
        ((s as { direction?: unknown }).direction === 'up' || (s as { direction?: unknown }).direction === 'down') &&
        typeof (s as { version?: unknown }).version === 'string' &&
        typeof (s as { checksum?: unknown }).checksum === 'string',
    )
  );
}

/**
 * The step plan shown by `lockstep plan` and stored with the promotion: a summary, each migration's
 * SQL, and whether it can be undone. An up without a down file makes the promotion irreversible.
 */
export function describePlan(input: {
  steps: readonly MigrationStep[];
  from: string;
  to: Target;
  database: string;
  notes: readonly string[];
}): AdapterPlan {
  const { steps, from, to, database } = input;
  if (steps.length === 0) {
    return {
      action: 'unchanged',
      summary: `${database} is at migration version ${from} already`,
      risk: 'low',
      data: { target: to.version, steps: [] },
    };
  }
  const direction = steps[0]?.direction ?? 'up';
  const withoutDown = steps.filter((s) => s.direction === 'up' && s.migration.downSql === undefined);
  const count = `${steps.length} migration${steps.length === 1 ? '' : 's'}`;
  const summary =
    direction === 'up'
      ? `apply ${count} to ${database}: version ${from} → ${to.version}` +
        (withoutDown.length > 0
          ? ` (irreversible: no down file for ${withoutDown.map((s) => s.migration.name).join(', ')})`
          : '')
      : `revert ${count} on ${database}: version ${from} → ${to.version} (down migrations; data they drop is not restored by a later up)`;
  const details = [...input.notes, ...steps.map(describeStep)].join('\n');
  const data: PlanData = {
    target: to.version,
    steps: steps.map((s) => ({
      direction: s.direction,
      version: s.migration.version.text,
      checksum: stepSql(s)?.checksum ?? '',
    })),
  };
  return {
    summary,
    details,
    irreversible: withoutDown.length > 0,
    risk: withoutDown.length > 0 || direction === 'down' ? 'high' : 'medium',
    data,
  };
}

/**
 * The plan for a database named by a value known only after its producer applies: it cannot be read,
 * so which migrations it has run is not known. Every migration up to the target is shown with its
 * SQL, as the ones that run on a new database (what such a producer usually makes). An up among them
 * without a down file marks the plan irreversible: the worst case is what approvers see. No plan data:
 * the step plans again once the database is known.
 */
export function describeUnseenPlan(input: { files: readonly MigrationFile[]; to: Target; database: string }): AdapterPlan {
  const { files, to, database } = input;
  const steps = migrationSteps(files, 0, to);
  const later = '(which of them it has run is read once it is known)';
  if (steps.length === 0) {
    return {
      action: 'apply',
      summary: `revert every migration ${database} has run, down to version ${to.version} ${later}`,
      risk: 'high',
    };
  }
  const withoutDown = steps.filter((s) => s.migration.downSql === undefined);
  const count = `${steps.length} migration${steps.length === 1 ? '' : 's'}`;
  const summary =
    `apply the ${count} up to version ${to.version} that ${database} has not run ${later}` +
    (withoutDown.length > 0 ? ` (irreversible if ${withoutDown.map((s) => s.migration.name).join(', ')} runs: no down file)` : '');
  return {
    action: 'apply',
    summary,
    details: steps.map(describeStep).join('\n'),
    irreversible: withoutDown.length > 0,
    risk: withoutDown.length > 0 ? 'high' : 'medium',
  };
}

/** One step as the plan shows it: what it runs, from which file, whether it can be undone, and its SQL. */
function describeStep(step: MigrationStep): string {
  const { migration } = step;
  const sql = stepSql(step)?.sql ?? '';
  const file = step.direction === 'up' ? migration.upFile : (migration.downFile ?? '');
  const down =
    step.direction === 'up'
      ? migration.downFile === undefined
        ? 'no down file: cannot be rolled back'
        : `down: ${migration.downFile}`
      : 'reverting';
  return `-- ${step.direction} ${migration.name} (${file}; ${down})\n${sql.trimEnd()}\n`;
}
