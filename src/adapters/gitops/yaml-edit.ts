import { isAlias, isMap, isScalar, isSeq, parse, parseAllDocuments, Scalar } from 'yaml';
import type { Document, Node, Pair, YAMLMap, YAMLSeq } from 'yaml';

/**
 * Surgical YAML edits: the file is parsed only to find where things are; the change is spliced into
 * the original text, so comments, key order, quoting, indentation and every other byte stay as they
 * were. Every edit is checked by parsing the result again: if the file would not say exactly what
 * was asked (and nothing else moved), the edit throws instead of writing something subtly different.
 *
 * Pure: strings in, strings out. Problems with the file or the path throw YamlEditError, which the
 * adapter words for the step log (naming the file and the commit).
 */

/** Keys and list indexes from the document root, such as ['image', 'tag'] or ['containers', 0, 'image']. */
export type YamlPath = readonly (string | number)[];
export type ScalarValue = string | number | boolean;

export class YamlEditError extends Error {
  override readonly name = 'YamlEditError';
}

export interface YamlTarget {
  path: YamlPath;
  /** Which document of a multi-document file; 0 is the first. */
  document: number;
}

// ------------------------------------------------------------------ paths

/**
 * Parses a path as users write it: keys joined by dots, list indexes in brackets, and keys that
 * contain dots in double quotes: `image.tag`, `containers[0].image`, `annotations."example.com/team"`.
 */
export function parseYamlPath(text: string): YamlPath {
  const out: (string | number)[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new YamlEditError(`invalid path ${JSON.stringify(text)}: ${why}`);
  };
  if (text.trim() === '') fail('it is empty; name at least one key, such as image.tag');
  while (i < text.length) {
    const c = text[i];
    if (c === '[') {
      const close = text.indexOf(']', i);
      if (close === -1) fail(`[ at position ${i + 1} is not closed`);
      const index = text.slice(i + 1, close);
      if (!/^\d+$/.test(index)) fail(`a list index is a number, such as [0], not [${index}]`);
      out.push(Number(index));
      i = close + 1;
    } else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) fail(`the quote at position ${i + 1} is not closed`);
      try {
        out.push(JSON.parse(text.slice(i, j + 1)) as string);
      } catch {
        fail(`the quoted key at position ${i + 1} is not a valid string`);
      }
      i = j + 1;
    } else {
      let j = i;
      while (j < text.length && text[j] !== '.' && text[j] !== '[') j += 1;
      const key = text.slice(i, j);
      if (key === '') fail(`empty key at position ${i + 1}`);
      out.push(key);
      i = j;
    }
    if (i < text.length) {
      if (text[i] === '.') {
        i += 1;
        if (i >= text.length) fail('it ends with a dot');
      } else if (text[i] !== '[') {
        fail(`expected . or [ at position ${i + 1}`);
      }
    }
  }
  return out;
}

/** A path as messages show it: `image.tag`, `containers[0].image`, `annotations."a.b/c"`. */
export function formatYamlPath(path: YamlPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = /^[^."[\]]+$/.test(segment) ? segment : JSON.stringify(segment);
      out += out === '' ? key : `.${key}`;
    }
  }
  return out === '' ? '(the document root)' : out;
}

// ------------------------------------------------------------------ reading

/** The documents of a file; throws YamlEditError for a file that is not valid YAML. */
function parseDocuments(text: string): Document.Parsed[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new YamlEditError('not valid YAML');
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) throw new YamlEditError(`not valid YAML: ${firstLine(error.message)}`);
  }
  return docs;
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? '').replace(/:$/, '');
}

function documentAt(docs: Document.Parsed[], index: number): Document.Parsed | undefined {
  if (index === 0 && docs.length === 0) return undefined;
  const doc = docs[index];
  if (!doc) throw new YamlEditError(`has ${docs.length} document${docs.length === 1 ? '' : 's'}; document ${index} does not exist (documents count from 0)`);
  return doc;
}

type Walk =
  | { found: true; node: Node; pair: Pair | undefined; parent: YAMLMap | YAMLSeq | undefined; inFlow: boolean }
  | { found: false; depth: number; container: YAMLMap | YAMLSeq | undefined };

/** Follows `path` from `root`. Missing keys are a result; a path through a scalar or an alias throws. */
function walk(root: Node | null, path: YamlPath): Walk {
  let node: Node | null = root;
  let pair: Pair | undefined;
  let parent: YAMLMap | YAMLSeq | undefined;
  let inFlow = false;
  for (let depth = 0; depth < path.length; depth++) {
    const segment = path[depth] as string | number;
    const here = formatYamlPath(path.slice(0, depth));
    if (node === null) return { found: false, depth, container: undefined };
    if (isAlias(node)) {
      throw new YamlEditError(`${here} is an alias (*${node.source}): edit the value where its anchor is`);
    }
    if (isMap(node)) {
      inFlow ||= node.flow === true;
      const hit = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (!hit) return { found: false, depth, container: node };
      parent = node;
      pair = hit;
      node = (hit.value as Node | null) ?? null;
    } else if (isSeq(node)) {
      inFlow ||= node.flow === true;
      const index = typeof segment === 'number' ? segment : /^\d+$/.test(segment) ? Number(segment) : undefined;
      if (index === undefined) throw new YamlEditError(`${here} is a list: use an index, such as ${here}[0]`);
      const item = node.items[index] as Node | undefined;
      if (item === undefined) return { found: false, depth, container: node };
      parent = node;
      pair = undefined;
      node = item ?? null;
    } else {
      throw new YamlEditError(`${here} holds a single value, not a mapping or a list, so it has no ${formatYamlPath([segment])}`);
    }
  }
  if (node === null) return { found: false, depth: path.length, container: undefined };
  if (isAlias(node)) throw new YamlEditError(`${formatYamlPath(path)} is an alias (*${node.source}): edit the value where its anchor is`);
  return { found: true, node, pair, parent, inFlow };
}

/**
 * The value at `path`: the scalar's value, or the plain JS value of a mapping or list. `found: false`
 * when the path (or the file's document) does not exist.
 */
export function readYamlValue(text: string, target: YamlTarget): { found: true; value: unknown } | { found: false } {
  const doc = documentAt(parseDocuments(text), target.document);
  if (!doc) return { found: false };
  const w = walk(doc.contents, target.path);
  if (!w.found) return { found: false };
  return { found: true, value: isScalar(w.node) ? w.node.value : w.node.toJSON() };
}

// ------------------------------------------------------------------ writing

export interface SetOptions {
  /** Create missing keys (and the file's content) instead of failing. */
  create: boolean;
}

/**
 * Sets the scalar at `path` to `value`. Returns `text` itself when the value is already there (same
 * value and type), so "nothing to change" is `result === text`.
 */
export function setYamlValue(text: string, target: YamlTarget, value: ScalarValue, options: SetOptions): string {
  const docs = parseDocuments(text);
  const doc = documentAt(docs, target.document);
  const root = doc?.contents ?? null;
  const w = walk(root, target.path);
  let candidates: string[];
  if (w.found) {
    if (!isScalar(w.node)) {
      const kind = isMap(w.node) ? 'a mapping' : 'a list';
      throw new YamlEditError(`${formatYamlPath(target.path)} is ${kind}, not a single value: point the path at a value inside it`);
    }
    if (sameValue(w.node.value, value)) return text;
    candidates = replaceScalar(text, w.node, value, w.inFlow);
  } else {
    const missing = formatYamlPath(target.path.slice(0, w.depth + 1));
    if (!options.create) throw new YamlEditError(`${missing} does not exist (set create: true to add it)`);
    const rest = target.path.slice(w.depth);
    if (rest.some((s) => typeof s === 'number')) {
      throw new YamlEditError(`${missing} does not exist, and create: true only adds mapping keys, not list items`);
    }
    const keys = rest as string[];
    if (w.container === undefined) {
      if (root !== null || target.document !== Math.max(docs.length - 1, 0)) {
        throw new YamlEditError(`${missing} does not exist and cannot be created here: ${formatYamlPath(target.path.slice(0, w.depth))} is empty (null)`);
      }
      candidates = [appendBlock(text, blockKeys(keys, value, 0))];
    } else if (isSeq(w.container)) {
      throw new YamlEditError(`${missing} does not exist, and create: true only adds mapping keys, not list items`);
    } else {
      candidates = [insertIntoMap(text, w.container, keys, value)];
    }
  }
  for (const candidate of candidates) {
    if (holds(candidate, target, value, docs.length)) return candidate;
  }
  throw new Error(
    `could not write ${formatYamlPath(target.path)} without changing the file's meaning (the edited file did not read back as the value)`,
  );
}

/** Removes the key at `path` and its value. The key must exist and leave its mapping non-empty. */
export function removeYamlKey(text: string, target: YamlTarget): string {
  const docs = parseDocuments(text);
  const doc = documentAt(docs, target.document);
  const w = walk(doc?.contents ?? null, target.path);
  const where = formatYamlPath(target.path);
  if (!w.found) return text;
  const pair = w.pair;
  const map = w.parent;
  if (!pair || !map || !isMap(map)) throw new YamlEditError(`${where} is not a mapping key`);
  if (map.items.length === 1) throw new YamlEditError(`${where} is the only key of its mapping; remove it by hand`);
  const key = pair.key as Node;
  const value = pair.value as Node | null;
  const keyStart = key.range?.[0] ?? 0;
  const valueEnd = value?.range?.[1] ?? key.range?.[1] ?? keyStart;
  let out: string;
  if (map.flow) {
    const index = map.items.indexOf(pair);
    const previous = map.items[index - 1];
    const next = map.items[index + 1];
    if (previous) {
      const previousEnd = (previous.value as Node | null)?.range?.[1] ?? (previous.key as Node).range?.[1] ?? keyStart;
      out = text.slice(0, previousEnd) + text.slice(valueEnd);
    } else {
      const nextStart = (next?.key as Node | undefined)?.range?.[0] ?? valueEnd;
      out = text.slice(0, keyStart) + text.slice(nextStart);
    }
  } else {
    const lineStart = text.lastIndexOf('\n', keyStart - 1) + 1;
    if (text.slice(lineStart, keyStart).trim() !== '') {
      throw new YamlEditError(`${where} does not start its own line (it follows "- " or another key); remove it by hand`);
    }
    const newline = text.indexOf('\n', Math.max(valueEnd - 1, keyStart));
    out = text.slice(0, lineStart) + text.slice(newline === -1 ? text.length : newline + 1);
  }
  const check = parseAllDocuments(out);
  const again = Array.isArray(check) ? check[target.document] : undefined;
  if (!again || again.errors.length > 0 || walk(again.contents, target.path).found) {
    throw new Error(`could not remove ${where} without changing the rest of the file`);
  }
  return out;
}

/** Appends `item` (a mapping of scalars) to the list at `path`, creating the list's key when `create`. */
export function appendYamlListItem(
  text: string,
  target: YamlTarget,
  item: Readonly<Record<string, ScalarValue>>,
  options: SetOptions,
): string {
  const docs = parseDocuments(text);
  const doc = documentAt(docs, target.document);
  const root = doc?.contents ?? null;
  const w = walk(root, target.path);
  const where = formatYamlPath(target.path);
  let out: string;
  if (w.found) {
    if (!isSeq(w.node)) throw new YamlEditError(`${where} is not a list`);
    out = appendToSeq(text, w.node, item);
  } else {
    if (!options.create) throw new YamlEditError(`${where} does not exist (set create: true to add it)`);
    const rest = target.path.slice(w.depth);
    if (rest.length !== 1 || typeof rest[0] !== 'string') {
      throw new YamlEditError(`${formatYamlPath(target.path.slice(0, w.depth + 1))} does not exist; create: true adds only the list's own key`);
    }
    const key = rest[0];
    if (w.container === undefined) {
      if (root !== null) throw new YamlEditError(`${where} cannot be created: its parent is empty (null)`);
      out = appendBlock(text, blockList(key, item, 0));
    } else if (isSeq(w.container)) {
      throw new YamlEditError(`${where} cannot be created inside a list`);
    } else if (w.container.flow) {
      out = insertFlowEntry(text, w.container, `${renderKey(key, true)}: [${flowMap(item)}]`);
    } else {
      out = insertBlockLines(text, w.container.range?.[1] ?? text.length, blockList(key, item, blockIndent(text, w.container)));
    }
  }
  const check = parseAllDocuments(out);
  const again = Array.isArray(check) ? check[target.document] : undefined;
  const list = again && again.errors.length === 0 ? walk(again.contents, target.path) : undefined;
  const last: unknown = list?.found && isSeq(list.node) ? (list.node.items.at(-1) as Node | undefined)?.toJSON() : undefined;
  if (JSON.stringify(last) !== JSON.stringify(item)) throw new Error(`could not add an item to ${where} without changing the rest of the file`);
  return out;
}

// ------------------------------------------------------------------ the splicing

function sameValue(current: unknown, value: ScalarValue): boolean {
  return current === value;
}

/** Candidate texts, best first: the scalar's own quoting style when it can hold the value. */
function replaceScalar(text: string, node: Scalar, value: ScalarValue, inFlow: boolean): string[] {
  if (node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED) {
    throw new YamlEditError('the value is a block scalar (| or >); write it on one line so it can be edited in place');
  }
  const [start, end] = node.range ?? [0, 0];
  const splice = (replacement: string): string => {
    // An empty value (`key:`) has an empty range right after the colon.
    const pad = start === end && text[start - 1] === ':' ? ' ' : '';
    return text.slice(0, start) + pad + replacement + text.slice(end);
  };
  if (typeof value !== 'string') return [splice(String(value))];
  const double = JSON.stringify(value);
  switch (node.type) {
    case Scalar.QUOTE_DOUBLE:
      return [splice(double)];
    case Scalar.QUOTE_SINGLE:
      return value.includes('\n') ? [splice(double)] : [splice(`'${value.replaceAll("'", "''")}'`), splice(double)];
    default:
      return plainIsSafe(value, inFlow) ? [splice(value), splice(double)] : [splice(double)];
  }
}

/** A string that reads back as the same string when written plain, under YAML 1.2 and 1.1 alike. */
function plainIsSafe(value: string, inFlow: boolean): boolean {
  if (value === '' || value !== value.trim() || /[\n\r\t]/.test(value)) return false;
  if (/^[-?:,[\]{}#&*!|>'"%@`]/.test(value) && !/^-[^\s-]/.test(value)) return false;
  if (value.includes(': ') || value.includes(' #') || value.endsWith(':')) return false;
  if (inFlow && /[,[\]{}]/.test(value)) return false;
  try {
    return parse(value, { version: '1.2' }) === value && parse(value, { version: '1.1' }) === value;
  } catch {
    return false;
  }
}

function renderScalar(value: ScalarValue, inFlow: boolean): string {
  if (typeof value !== 'string') return String(value);
  return plainIsSafe(value, inFlow) ? value : JSON.stringify(value);
}

function renderKey(key: string, inFlow: boolean): string {
  return renderScalar(key, inFlow);
}

/** The file says `value` at `target`, and has as many documents as before. */
function holds(text: string, target: YamlTarget, value: ScalarValue, documents: number): boolean {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs) || docs.length !== Math.max(documents, 1)) return false;
  if (docs.some((d) => d.errors.length > 0)) return false;
  const doc = docs[target.document];
  if (!doc) return false;
  const w = walk(doc.contents, target.path);
  return w.found && isScalar(w.node) && sameValue(w.node.value, value);
}

/** The column where `offset` sits on its line. */
function columnOf(text: string, offset: number): number {
  return offset - (text.lastIndexOf('\n', offset - 1) + 1);
}

function blockIndent(text: string, map: YAMLMap): number {
  const first = map.items[0]?.key as Node | undefined;
  return columnOf(text, first?.range?.[0] ?? map.range?.[0] ?? 0);
}

/** `a:\n  b: value` at `indent`. */
function blockKeys(keys: readonly string[], value: ScalarValue, indent: number): string[] {
  return keys.map((key, i) => {
    const pad = ' '.repeat(indent + 2 * i);
    return i === keys.length - 1 ? `${pad}${renderKey(key, false)}: ${renderScalar(value, false)}` : `${pad}${renderKey(key, false)}:`;
  });
}

/** `key:\n- a: 1\n  b: 2` at `indent` (list items at the key's own indentation, as kustomize writes them). */
function blockList(key: string, item: Readonly<Record<string, ScalarValue>>, indent: number): string[] {
  const pad = ' '.repeat(indent);
  return [`${pad}${renderKey(key, false)}:`, ...blockItem(item, indent, indent + 2)];
}

function blockItem(item: Readonly<Record<string, ScalarValue>>, dashColumn: number, keyColumn: number): string[] {
  return Object.entries(item).map(([k, v], i) => {
    const lead = i === 0 ? `${' '.repeat(dashColumn)}-${' '.repeat(Math.max(keyColumn - dashColumn - 1, 1))}` : ' '.repeat(keyColumn);
    return `${lead}${renderKey(k, false)}: ${renderScalar(v, false)}`;
  });
}

function flowMap(item: Readonly<Record<string, ScalarValue>>): string {
  return `{${Object.entries(item)
    .map(([k, v]) => `${renderKey(k, true)}: ${renderScalar(v, true)}`)
    .join(', ')}}`;
}

function flowValue(keys: readonly string[], value: ScalarValue): string {
  let out = renderScalar(value, true);
  for (const key of [...keys].reverse()) out = `{${renderKey(key, true)}: ${out}}`;
  return out;
}

function newlineOf(text: string): string {
  return text.includes('\r\n') ? '\r\n' : '\n';
}

/** Inserts whole lines at `offset`, which is the start of a line (or the end of the text). */
function insertBlockLines(text: string, offset: number, lines: readonly string[]): string {
  const nl = newlineOf(text);
  let at = Math.min(offset, text.length);
  if (at > 0 && text[at - 1] !== '\n') {
    const eol = text.indexOf('\n', at);
    at = eol === -1 ? text.length : eol + 1;
  }
  const lead = at > 0 && text[at - 1] !== '\n' ? nl : '';
  return text.slice(0, at) + lead + lines.join(nl) + nl + text.slice(at);
}

function appendBlock(text: string, lines: readonly string[]): string {
  return insertBlockLines(text, text.length, lines);
}

/** Adds `keys` (nested) with `value` at the end of `map`. */
function insertIntoMap(text: string, map: YAMLMap, keys: readonly string[], value: ScalarValue): string {
  const [first, ...rest] = keys;
  if (first === undefined) return text;
  if (map.flow) return insertFlowEntry(text, map, `${renderKey(first, true)}: ${flowValue(rest, value)}`);
  return insertBlockLines(text, map.range?.[1] ?? text.length, blockKeys(keys, value, blockIndent(text, map)));
}

/** Adds `entry` after the last item of a flow mapping or list (`{a: 1}` → `{a: 1, entry}`). */
function insertFlowEntry(text: string, collection: YAMLMap | YAMLSeq, entry: string): string {
  const items = collection.items as unknown[];
  const last = items.at(-1);
  if (last === undefined) {
    const open = collection.range?.[0] ?? 0;
    return text.slice(0, open + 1) + entry + text.slice(open + 1);
  }
  const end = lastItemEnd(last);
  return text.slice(0, end) + `, ${entry}` + text.slice(end);
}

function lastItemEnd(item: unknown): number {
  if (isScalar(item) || isMap(item) || isSeq(item) || isAlias(item)) return item.range?.[1] ?? 0;
  const pair = item as Pair;
  return (pair.value as Node | null)?.range?.[1] ?? (pair.key as Node).range?.[1] ?? 0;
}

function appendToSeq(text: string, seq: YAMLSeq, item: Readonly<Record<string, ScalarValue>>): string {
  if (seq.flow) return insertFlowEntry(text, seq, flowMap(item));
  const dashColumn = columnOf(text, seq.range?.[0] ?? 0);
  const first = seq.items[0] as Node | undefined;
  const keyColumn = first && isMap(first) && first.range ? columnOf(text, first.range[0]) : dashColumn + 2;
  const column = keyColumn > dashColumn ? keyColumn : dashColumn + 2;
  return insertBlockLines(text, seq.range?.[1] ?? text.length, blockItem(item, dashColumn, column));
}
