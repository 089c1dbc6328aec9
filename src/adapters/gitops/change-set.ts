import path from 'node:path';
import { StepFailure } from '../../core/errors.js';
import type { SetEntry } from './gitops-spec.js';
import { GitError, type GitRepo } from './git-repo.js';
import { IMAGE_FIELDS, KUSTOMIZATION_FILES, readKustomizeImage, setKustomizeImage, type ImageEntry } from './kustomize-edit.js';
import { formatYamlPath, readYamlValue, setYamlValue, YamlEditError } from './yaml-edit.js';

/**
 * What a set of edits does to the files of one commit, computed in memory from git objects: nothing
 * is checked out and nothing is written, so planning is read-only.
 */

/** One file the edits change. */
export interface FileEdit {
  /** From the repository root. */
  path: string;
  /** undefined: the file is new (an entry with create: true). */
  before: string | undefined;
  /** The blob `before` was read from (undefined for a new file). */
  beforeBlob: string | undefined;
  after: string;
  mode: string;
  /** What changed, without values (they may be secrets): `images[acme/api].newTag`, `image.tag`. */
  edits: string[];
}

/** Where the edits apply: the commit, and how messages name it. */
export interface Base {
  repo: GitRepo;
  commit: string;
  /** `main (abc1234)`: for messages. */
  label: string;
  /** `path` from the spec, normalised: '' is the repository root. */
  dir: string;
}

/** The spec's `path`, normalised: no leading ./, no trailing /, '' for the root. */
export function normaliseDir(dir: string): string {
  const normal = path.posix.normalize(dir === '' ? '.' : dir).replace(/\/+$/, '');
  return normal === '.' ? '' : normal;
}

/** A file of the spec, from the repository root. Refuses paths that leave the repository. */
export function repoFile(dir: string, file: string): string {
  const joined = path.posix.normalize(path.posix.join(dir === '' ? '.' : dir, file));
  if (joined === '..' || joined.startsWith('../') || path.posix.isAbsolute(joined)) {
    throw new StepFailure(`${file} (under path ${dir || '.'}) is outside the repository`, false, { untouched: true });
  }
  return joined;
}

/** The files `entries` change at `base`, in the order first touched; files already right are left out. */
export async function computeEdits(base: Base, entries: readonly SetEntry[]): Promise<FileEdit[]> {
  const files = new Map<string, FileEdit>();
  const read = async (file: string): Promise<FileEdit | undefined> => {
    const known = files.get(file);
    if (known) return known;
    const found = await readAt(base, file);
    if (!found) return undefined;
    const edit: FileEdit = { path: file, before: found.text, beforeBlob: found.blob, after: found.text, mode: found.mode, edits: [] };
    files.set(file, edit);
    return edit;
  };
  for (const entry of entries) {
    const file = await entryFile(base, entry, read);
    let edit = await read(file);
    if (!edit) {
      if (!entry.create) {
        throw new StepFailure(
          `${file} does not exist at ${base.label}; check path and file in the spec, or set create: true to create it`,
          false,
          { untouched: true },
        );
      }
      edit = { path: file, before: undefined, beforeBlob: undefined, after: '', mode: '100644', edits: [] };
      files.set(file, edit);
    }
    const next = editText(edit.after, entry, file, base);
    if (next !== edit.after) {
      edit.after = next;
      edit.edits.push(describeEntry(entry));
    }
  }
  return [...files.values()].filter((f) => f.after !== f.before);
}

/** What an entry's target currently holds at `base` (undefined: the file, path or image is missing). */
export type CurrentValue =
  | { kind: 'yaml'; found: true; value: unknown }
  | { kind: 'kustomize-image'; found: true; value: ImageEntry }
  | { kind: SetEntry['kind']; found: false };

export async function readEntry(base: Base, entry: SetEntry): Promise<CurrentValue> {
  const file = await entryFile(base, entry, async (f) => readAt(base, f));
  const found = await readAt(base, file);
  if (!found) return { kind: entry.kind, found: false };
  try {
    if (entry.kind === 'yaml') {
      const value = readYamlValue(found.text, { path: entry.path, document: entry.document });
      return value.found ? { kind: 'yaml', found: true, value: value.value } : { kind: 'yaml', found: false };
    }
    const image = readKustomizeImage(found.text, entry.image);
    return image ? { kind: 'kustomize-image', found: true, value: image } : { kind: 'kustomize-image', found: false };
  } catch (error) {
    throw editFailure(error, file, base);
  }
}

/** How messages name an entry's target: `images[acme/api].newTag`, `serviceAccount.roleArn`. */
export function describeEntry(entry: SetEntry): string {
  if (entry.kind === 'yaml') return entry.pathText;
  // A digest dropped because a tag is set is part of setting the tag, not an edit of its own.
  const set = IMAGE_FIELDS.filter((f) => typeof entry[f] === 'string');
  const fields = set.length > 0 ? set : IMAGE_FIELDS.filter((f) => entry[f] !== undefined);
  return `images[${entry.image}].${fields.length === 1 ? fields[0] : `{${fields.join(',')}}`}`;
}

/** The entry's file from the repository root; a kustomization is looked up by Kustomize's names. */
export async function entryFile(
  base: Base,
  entry: SetEntry,
  read: (file: string) => Promise<unknown>,
): Promise<string> {
  if (entry.file !== undefined) return repoFile(base.dir, entry.file);
  for (const name of KUSTOMIZATION_FILES) {
    const file = repoFile(base.dir, name);
    if ((await read(file)) !== undefined) return file;
  }
  if (entry.create) return repoFile(base.dir, KUSTOMIZATION_FILES[0]);
  throw new StepFailure(
    `no kustomization in ${base.dir || 'the repository root'} at ${base.label} (looked for ${KUSTOMIZATION_FILES.join(', ')}); ` +
      'check path, name the file with file:, or set create: true',
    false,
    { untouched: true },
  );
}

function editText(text: string, entry: SetEntry, file: string, base: Base): string {
  try {
    if (entry.kind === 'yaml') {
      return setYamlValue(text, { path: entry.path, document: entry.document }, entry.value, { create: entry.create });
    }
    const change = Object.fromEntries(IMAGE_FIELDS.filter((f) => entry[f] !== undefined).map((f) => [f, entry[f]]));
    return setKustomizeImage(text, entry.image, change, { create: entry.create });
  } catch (error) {
    throw editFailure(error, file, base, entry.kind === 'yaml' ? formatYamlPath(entry.path) : `images[${entry.image}]`);
  }
}

function editFailure(error: unknown, file: string, base: Base, what?: string): unknown {
  if (error instanceof YamlEditError) {
    return new StepFailure(`${file} at ${base.label}${what ? `, ${what}` : ''}: ${error.message}`, false, {
      cause: error,
      untouched: true,
    });
  }
  return error;
}

async function readAt(base: Base, file: string): Promise<{ text: string; mode: string; blob: string } | undefined> {
  try {
    return await base.repo.readFile(base.commit, file);
  } catch (error) {
    if (error instanceof GitError && error.code === null) {
      throw new StepFailure(`${file} at ${base.label}: ${error.message}`, false, { cause: error, untouched: true });
    }
    throw error;
  }
}
