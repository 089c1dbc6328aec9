/**
 * Migration versions: the numeric prefix of a file name (`20261101120000`, `0042`), or dotted numbers
 * as Flyway writes them (`1.2.0`). Parts compare as numbers, leading zeros and trailing `.0` parts do
 * not count: `0042` is `42`, `2.0.0` is `2`. So a release may say `2.0.0` for the file `2_add_orders`,
 * and `0` (or any version below the first file) means "no migration applied". Pure.
 */
export interface MigrationVersion {
  /** As written (in the file name, the release, or the history table). */
  readonly text: string;
  /** Canonical form; two versions are the same version exactly when their keys are equal. */
  readonly key: string;
  readonly parts: readonly bigint[];
}

const VERSION = /^\d+(?:\.\d+)*$/;

/** The version, or undefined when `text` is not digits separated by dots. */
export function parseVersion(text: string): MigrationVersion | undefined {
  if (!VERSION.test(text)) return undefined;
  const parts = text.split('.').map((p) => BigInt(p));
  while (parts.length > 1 && parts[parts.length - 1] === 0n) parts.pop();
  return { text, key: parts.join('.'), parts };
}

/** Negative when a < b, 0 when they are the same version, positive when a > b. */
export function compareVersions(a: MigrationVersion, b: MigrationVersion): number {
  const length = Math.max(a.parts.length, b.parts.length);
  for (let i = 0; i < length; i++) {
    const x = a.parts[i] ?? 0n;
    const y = b.parts[i] ?? 0n;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
