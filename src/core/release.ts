import { canonicalJson, sha256Hex } from './canonical-json.js';
import { InputError } from './errors.js';

/**
 * A release is its versions: the id is the SHA-256 of the canonical JSON of the project name and the
 * version of every component. Creating the same versions twice gives the same release; message and
 * labels are metadata, not identity. Pure.
 */
export function releaseId(project: string, versions: Readonly<Record<string, string>>): string {
  return sha256Hex(canonicalJson({ project, versions }));
}

export const MIN_ID_PREFIX = 7;

/** Versions are opaque text, but must be printable and single-line so logs and tables stay honest. */
export function checkVersion(component: string, version: string): void {
  if (version.length === 0) throw new InputError(`version of ${component} is empty`, '--set');
  if (version.length > 256) throw new InputError(`version of ${component} is longer than 256 characters`, '--set');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(version)) {
    throw new InputError(`version of ${component} contains a control character or line break`, '--set');
  }
}

/** Parses `--set name=version` pairs; every problem at once. */
export function parseVersionAssignments(pairs: readonly string[]): Record<string, string> {
  const versions: Record<string, string> = {};
  const problems: string[] = [];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      problems.push(`--set ${pair}: expected COMPONENT=VERSION`);
      continue;
    }
    const name = pair.slice(0, eq);
    const version = pair.slice(eq + 1);
    if (name in versions) problems.push(`--set ${name} is given twice`);
    try {
      checkVersion(name, version);
    } catch (error) {
      problems.push(`--set ${pair}: ${(error as Error).message}`);
      continue;
    }
    versions[name] = version;
  }
  if (problems.length > 0) throw new InputError(problems.join('\n'), '--set');
  return versions;
}
