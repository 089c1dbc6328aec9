import { canonicalJson, sha256Hex } from './canonical-json.js';
import { InputError } from './errors.js';
import { ownRecord } from './own.js';
import { hasControlCharacter, printable } from './printable.js';

/**
 * A release is its versions: the id is the SHA-256 of the canonical JSON of the project name and the
 * version of every component. Creating the same versions twice gives the same release; message and
 * labels are metadata, not identity. Pure.
 */
export function releaseId(project: string, versions: Readonly<Record<string, string>>): string {
  return sha256Hex(canonicalJson({ project, versions }));
}

export const MIN_ID_PREFIX = 7;

/** The longest version, in characters (Unicode code points, not UTF-16 units). */
export const MAX_VERSION_LENGTH = 256;

/**
 * Versions are opaque text, but printable and single-line so logs and tables stay honest, and
 * never starting with `-`, so a tool that gets one as an argument (`rm`, `git`, a deploy script)
 * cannot read it as an option. Control characters are C0, DEL, C1 and the Unicode line and
 * paragraph separators. See docs/promotions.md.
 */
export function checkVersion(component: string, version: string): void {
  const name = printable(component);
  if (version.length === 0) throw new InputError(`version of ${name} is empty`, '--set');
  if (codePoints(version) > MAX_VERSION_LENGTH) {
    throw new InputError(`version of ${name} is longer than ${MAX_VERSION_LENGTH} characters`, '--set');
  }
  if (hasControlCharacter(version)) {
    throw new InputError(`version of ${name} contains a control character or line break`, '--set');
  }
  if (version.startsWith('-')) {
    throw new InputError(`version of ${name} starts with "-", which commands would read as an option`, '--set');
  }
}

/** How many characters (code points) a text has: an emoji is one, not two UTF-16 units. */
export function codePoints(text: string): number {
  return Array.from(text).length;
}

/** Parses `--set name=version` pairs; every problem at once. */
export function parseVersionAssignments(pairs: readonly string[]): Record<string, string> {
  // Prototype-free: `--set __proto__=1` and `--set constructor=1` are names like any other.
  const versions = ownRecord<string>();
  const problems: string[] = [];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      problems.push(`--set ${printable(pair)}: expected COMPONENT=VERSION`);
      continue;
    }
    const name = pair.slice(0, eq);
    const version = pair.slice(eq + 1);
    if (name in versions) problems.push(`--set ${printable(name)} is given twice`);
    try {
      checkVersion(name, version);
    } catch (error) {
      problems.push(`--set ${printable(pair)}: ${(error as Error).message}`);
      continue;
    }
    versions[name] = version;
  }
  if (problems.length > 0) throw new InputError(problems.join('\n'), '--set');
  return versions;
}
