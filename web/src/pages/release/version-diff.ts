import type { EnvironmentStatus, Release } from '../../api/types.js';

/** What a release is compared with: another release, or what an environment runs now. */
export type Comparand = { kind: 'release'; id: string } | { kind: 'environment'; name: string };

export type DiffChange = 'same' | 'changed' | 'only-here' | 'only-there';

/** One component's versions on both sides; `undefined` where a side does not have it. */
export interface DiffRow {
  component: string;
  here?: string;
  there?: string;
  change: DiffChange;
}

/**
 * Versions per component, this release against the other side, components in name order. Pure.
 * `here`: the release's pinned versions; `there`: the other release's, or an environment's.
 */
export function diffVersions(here: Readonly<Record<string, string>>, there: Readonly<Record<string, string>>): DiffRow[] {
  const components = [...new Set([...Object.keys(here), ...Object.keys(there)])].sort();
  return components.map((component) => {
    const a = here[component];
    const b = there[component];
    const change: DiffChange = a === undefined ? 'only-there' : b === undefined ? 'only-here' : a === b ? 'same' : 'changed';
    return { component, ...(a === undefined ? {} : { here: a }), ...(b === undefined ? {} : { there: b }), change };
  });
}

/** The versions an environment runs now, from its status (what GET …/environments serves). */
export function environmentVersions(env: EnvironmentStatus): Record<string, string> {
  return Object.fromEntries(env.components.map((c) => [c.component, c.version]));
}

/** `release:ID` or `env:NAME`, as the page's `against` query parameter holds it. */
export function parseComparand(value: string | null): Comparand | undefined {
  if (value === null) return undefined;
  if (value.startsWith('release:') && value.length > 'release:'.length) return { kind: 'release', id: value.slice('release:'.length) };
  if (value.startsWith('env:') && value.length > 'env:'.length) return { kind: 'environment', name: value.slice('env:'.length) };
  return undefined;
}

export function formatComparand(c: Comparand): string {
  return c.kind === 'release' ? `release:${c.id}` : `env:${c.name}`;
}

/** Where the other side's versions come from: today the release and environment reads the API serves. */
export interface DiffSource {
  release(id: string, signal?: AbortSignal): Promise<Release>;
  environments(signal?: AbortSignal): Promise<EnvironmentStatus[]>;
}

/**
 * The diff of `release` against `against`. Computed here from records the API already serves; the one
 * place to switch to a server-side diff route once there is one.
 */
export async function loadDiff(source: DiffSource, release: Release, against: Comparand, signal?: AbortSignal): Promise<DiffRow[]> {
  if (against.kind === 'release') {
    const other = await source.release(against.id, signal);
    return diffVersions(release.versions, other.versions);
  }
  const env = (await source.environments(signal)).find((e) => e.environment === against.name);
  if (env === undefined) throw new Error(`no environment named ${against.name}`);
  return diffVersions(release.versions, environmentVersions(env));
}
