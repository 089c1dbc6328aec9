import { isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Node, YAMLMap } from 'yaml';
import { appendYamlListItem, removeYamlKey, setYamlValue, YamlEditError } from './yaml-edit.js';

/**
 * Edits of a kustomization's `images:` list, in place (see yaml-edit.ts): the entry is found by its
 * `name`, and only its `newName`, `newTag` and `digest` change. Pure.
 */

/** The names Kustomize looks for in a directory, in its own order. */
export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'] as const;

export const IMAGE_FIELDS = ['newName', 'newTag', 'digest'] as const;
export type ImageField = (typeof IMAGE_FIELDS)[number];

/** What an `images:` entry says, beside its name. */
export type ImageEntry = Partial<Record<ImageField, string>>;

/** What to change: a string sets the field, null removes it, undefined leaves it alone. */
export type ImageChange = Partial<Record<ImageField, string | null>>;

/** The images entry named `image`, or undefined when the file has none. */
export function readKustomizeImage(text: string, image: string): ImageEntry | undefined {
  const found = findImage(text, image);
  if (found.index === undefined) return undefined;
  const entry: ImageEntry = {};
  for (const field of IMAGE_FIELDS) {
    const value = found.entry?.get(field, true) as Node | undefined;
    const scalar = isScalar(value) ? value.value : undefined;
    if (typeof scalar === 'string' || typeof scalar === 'number' || typeof scalar === 'boolean') entry[field] = String(scalar);
  }
  return entry;
}

/**
 * Applies `change` to the images entry named `image`. A missing entry (or a missing `images:` list,
 * or an empty file) is an error unless `create`; then the entry is appended. Returns `text` itself
 * when nothing changes.
 */
export function setKustomizeImage(text: string, image: string, change: ImageChange, options: { create: boolean }): string {
  const found = findImage(text, image);
  if (found.index === undefined) {
    if (!options.create) {
      const has = found.names.length > 0 ? ` (it has ${found.names.join(', ')})` : '';
      const where = found.hasList ? `has no images entry with name: ${image}${has}` : 'has no images: list';
      throw new YamlEditError(`${where}; add the entry by hand, or set create: true`);
    }
    const item: Record<string, string> = { name: image };
    for (const field of IMAGE_FIELDS) {
      const value = change[field];
      if (typeof value === 'string') item[field] = value;
    }
    return appendYamlListItem(text, { path: ['images'], document: 0 }, item, { create: true });
  }
  let out = text;
  for (const field of IMAGE_FIELDS) {
    const value = change[field];
    const path = ['images', found.index, field];
    if (value === null) out = removeYamlKey(out, { path, document: 0 });
    else if (value !== undefined) out = setYamlValue(out, { path, document: 0 }, value, { create: true });
  }
  return out;
}

interface FoundImage {
  index: number | undefined;
  entry: YAMLMap | undefined;
  hasList: boolean;
  /** Every entry's name, for the message when `image` is not among them. */
  names: string[];
}

function findImage(text: string, image: string): FoundImage {
  const doc = parseDocument(text);
  const error = doc.errors[0];
  if (error) throw new YamlEditError(`not valid YAML: ${(error.message.split('\n')[0] ?? '').replace(/:$/, '')}`);
  const root = doc.contents;
  if (root === null) return { index: undefined, entry: undefined, hasList: false, names: [] };
  if (!isMap(root)) throw new YamlEditError('is not a kustomization: its top level is not a mapping');
  const images = root.get('images', true) as Node | undefined;
  if (images === undefined || (isScalar(images) && images.value === null)) {
    return { index: undefined, entry: undefined, hasList: false, names: [] };
  }
  if (!isSeq(images)) throw new YamlEditError('images: is not a list');
  const names: string[] = [];
  let index: number | undefined;
  images.items.forEach((item, i) => {
    if (!isMap(item)) return;
    const name = item.get('name');
    if (typeof name === 'string') names.push(name);
    if (name === image && index === undefined) index = i;
  });
  const entry = index === undefined ? undefined : (images.items[index] as YAMLMap);
  return { index, entry, hasList: true, names };
}
