import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { compareVersions, parseVersion } from './migration-version.js';
import type { MigrationVersion } from './migration-version.js';

/**
 * One migration as found in the directory: `VERSION_title.up.sql` and, optionally,
 * `VERSION_title.down.sql` (the layout golang-migrate and dbmate use).
 */
export interface MigrationFile {
  readonly version: MigrationVersion;
  /** The file name without `.up.sql`: `20261101120000_add_orders`. */
  readonly name: string;
  /** Paths as the user wrote them: `dir` joined with the file name, for messages. */
  readonly upFile: string;
  readonly upSql: string;
  /** SHA-256 (hex) of the up file, line endings normalised to `\n`. Recorded when applied. */
  readonly checksum: string;
  readonly downFile: string | undefined;
  readonly downSql: string | undefined;
  readonly downChecksum: string | undefined;
}

/** `VERSION_title.up.sql`, `VERSION_title.down.sql`, or `VERSION.up.sql` without a title. */
const FILE_NAME = /^(\d+(?:\.\d+)*)(?:_(.*))?\.(up|down)\.sql$/;

/** Thrown with every problem in the directory at once, so they are fixed in one go. */
export class MigrationDirectoryError extends Error {
  override readonly name = 'MigrationDirectoryError';
  constructor(readonly problems: readonly string[]) {
    super(
      problems.length === 1
        ? (problems[0] ?? '')
        : `problems in the migrations directory:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

/**
 * SHA-256 of a migration's text. CRLF and LF count as the same, so a checkout with other line endings
 * (git's autocrlf) is not mistaken for a changed migration.
 */
export function checksum(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

/**
 * The migrations in `dir` (`shownDir` is how messages name it), sorted by version. Files not ending
 * in `.sql` and subdirectories are ignored; a `.sql` file with another name, two files for one
 * version, or a down file without its up file is an error.
 */
export async function readMigrations(dir: string, shownDir: string): Promise<MigrationFile[]> {
  let entries: { name: string; isFile: boolean }[];
  try {
    entries = (await readdir(dir, { withFileTypes: true })).map((e) => ({ name: e.name, isFile: e.isFile() }));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new MigrationDirectoryError([
        `the migrations directory ${shownDir} does not exist (dir is relative to the project directory)`,
      ]);
    }
    if (code === 'ENOTDIR') throw new MigrationDirectoryError([`${shownDir} is not a directory`]);
    throw error;
  }

  const problems: string[] = [];
  const found = new Map<string, { version: MigrationVersion; up?: string; down?: string }>();
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isFile || !entry.name.endsWith('.sql')) continue;
    const shown = path.posix.join(shownDir, entry.name);
    const match = FILE_NAME.exec(entry.name);
    const version = match ? parseVersion(match[1] ?? '') : undefined;
    if (!match || !version) {
      problems.push(
        `${shown} is not named VERSION_title.up.sql or VERSION_title.down.sql (such as 20261101120000_add_orders.up.sql): rename it, or move it out of the directory`,
      );
      continue;
    }
    const direction = match[3] === 'up' ? 'up' : 'down';
    const slot = found.get(version.key) ?? { version };
    const other = slot[direction];
    if (other !== undefined) {
      problems.push(
        `${path.posix.join(shownDir, other)} and ${shown} are both the ${direction} migration of version ${version.key}: give one of them another version`,
      );
      continue;
    }
    slot[direction] = entry.name;
    found.set(version.key, slot);
  }

  const slots = [...found.values()].sort((a, b) => compareVersions(a.version, b.version));
  const migrations: MigrationFile[] = [];
  for (const slot of slots) {
    if (slot.up === undefined) {
      problems.push(
        `${path.posix.join(shownDir, slot.down ?? '')} has no up migration: add ${upName(slot.down ?? '')}, or remove the down file`,
      );
      continue;
    }
    const name = slot.up.slice(0, -'.up.sql'.length);
    if (slot.down !== undefined && slot.down !== `${name}.down.sql`) {
      problems.push(
        `${path.posix.join(shownDir, slot.down)} does not match ${path.posix.join(shownDir, slot.up)}: name the down file ${name}.down.sql`,
      );
      continue;
    }
    const upSql = await readFile(path.join(dir, slot.up), 'utf8');
    const downSql = slot.down === undefined ? undefined : await readFile(path.join(dir, slot.down), 'utf8');
    migrations.push({
      version: slot.version,
      name,
      upFile: path.posix.join(shownDir, slot.up),
      upSql,
      checksum: checksum(upSql),
      downFile: slot.down === undefined ? undefined : path.posix.join(shownDir, slot.down),
      downSql,
      downChecksum: downSql === undefined ? undefined : checksum(downSql),
    });
  }
  if (problems.length > 0) throw new MigrationDirectoryError(problems);
  return migrations;
}

function upName(downName: string): string {
  return downName.replace(/\.down\.sql$/, '.up.sql');
}
