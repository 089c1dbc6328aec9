import { load, Schema, Type, type State } from 'js-yaml';

/**
 * A fast reader for the common `lockstep.yaml`: plain mappings, sequences and scalars, nothing
 * else. js-yaml parses a large config about twenty times faster than the `yaml` library builds its
 * Document, which the loader needs only for positions (to report problems) and for the YAML
 * features below. So this reader either gives exactly the value `yaml`'s `toJS` would give, or
 * declines (undefined), and the loader takes its full path. It declines:
 *
 * - when js-yaml throws: a syntax error, a duplicate key, an explicit tag such as `!!str` (the
 *   schema below knows no tags by name), more than one document;
 * - on anchors and aliases, tags (`!`, `!<…>`), directives, merge keys (`<<`), any js-yaml warning;
 * - on keys that are not strings (`[a, b]: 1`, `1: a`, `null: a`: `yaml` with `stringKeys` keeps
 *   their source text where js-yaml would print the value) and explicit keys (`? a`);
 * - on what `yaml` rejects or reads otherwise and js-yaml does not: implicit keys over 1024
 *   characters, tabs in indentation, a comment right after a quoted scalar or a flow collection
 *   (`"a"#b`), text on a `---` or `...` line, an escape past Unicode (`\U00110000`), a lone CR
 *   as a line break, a byte order mark after the start;
 * - where js-yaml reads differently or the check below could not see: empty nodes (`a:`, `- `),
 *   pairs in flow sequences (`[a: b]`), flow entries without a value (`{a}`), an empty document.
 *
 * Pure.
 */
export function readPlainYaml(source: string): { value: unknown } | undefined {
  // The verbatim tag `!<?>` asks for implicit typing of any scalar; `!<…>` may also name a tag of
  // the schema below. Neither belongs in a config, so a text that holds one is not checked further.
  if (source.includes('!<')) return undefined;
  // A tab in the indentation is an error in `yaml` wherever it is, in js-yaml only in some places.
  if (TAB_INDENT.test(source)) return undefined;
  // A line break that is a lone CR is one for js-yaml, not for `yaml`.
  if (LONE_CR.test(source)) return undefined;
  // Content on a `---` or `...` line: `--- a: 1` is an error in `yaml`, a mapping in js-yaml, and
  // `---a: 1` is the key `---a` in `yaml`, a document marker in js-yaml.
  if (CONTENT_AFTER_MARKER.test(source)) return undefined;
  // `\U00110000` is past Unicode: an error in `yaml`, two broken surrogates in js-yaml.
  if ([...source.matchAll(LONG_ESCAPE)].some((m) => parseInt(m[1] ?? '0', 16) > 0x10ffff)) return undefined;
  // A byte order mark after the start: `yaml` skips it, js-yaml keeps it as text.
  if (source.indexOf('\ufeff', 1) !== -1) return undefined;
  let plain = true;
  // The nodes being read, innermost last: where each starts and how many nodes it holds so far.
  const starts: number[] = [];
  const children: number[] = [];
  // The value of the node's last child: a node with one child of the same value only wraps it
  // (js-yaml reads `- {a: 1}` as a node that tries a block mapping and keeps the flow mapping).
  const lastChild: unknown[] = [];
  const listener = (event: 'open' | 'close', state: State): void => {
    const s = state as unknown as ListenerState;
    if (event === 'open') {
      // The root node: the directives, if any, have been read.
      if (starts.length === 0 && (s.version !== null || Object.keys(s.tagMap).length > 0)) plain = false;
      // An explicit key (`? [a]`, `? a: 1`): it may be a collection with no `:` after it.
      if (afterQuestionMark(s.input, s.position)) plain = false;
      starts.push(s.position);
      children.push(0);
      lastChild.push(undefined);
      return;
    }
    const start = starts.pop() ?? 0;
    const nodes = children.pop() ?? 0;
    const last = lastChild.pop();
    const wraps = nodes === 1 && last === s.result;
    const parent = children.length - 1;
    if (parent >= 0) {
      children[parent] = (children[parent] ?? 0) + 1;
      lastChild[parent] = s.result;
    }
    if (!plain) return;
    if (s.anchor !== null && s.anchor !== undefined) plain = false;
    else if (s.tag !== null && s.tag !== undefined && s.tag !== '?' && !CORE_TAGS.has(s.tag)) plain = false;
    // An empty node (`a:`): never part of a valid config, and where js-yaml is least like `yaml`.
    else if (s.kind === null || s.kind === undefined) plain = false;
    // A sequence has one node read per entry, unless it has an empty block entry, which js-yaml adds
    // without reading a node (and misreads in the compact `- -` followed by `- x`: x goes into the
    // inner sequence), or a flow pair (`[a: b]`, two nodes for a one-pair mapping that is not read
    // as a node, so the check for merge keys below would not see it).
    else if (!wraps && Array.isArray(s.result) && s.result.length !== nodes) plain = false;
    // A mapping has a key node and a value node per entry, unless an entry has no value: a flow
    // `{a}`, whose key may be a collection (`{{a}}`) with nothing after it to show it is a key.
    else if (!wraps && s.kind === 'mapping' && Object.keys(s.result as object).length * 2 !== nodes) plain = false;
    else if (s.kind === 'mapping' && Object.hasOwn(s.result as object, '<<')) plain = false;
    // `"a"#b`: `yaml` wants white space before a comment, js-yaml does not.
    else if (s.input.charCodeAt(s.position) === 0x23 /* # */ && !isSpace(s.input.charCodeAt(s.position - 1)))
      plain = false;
    else if (followedByColon(s.input, s.position) && (typeof s.result !== 'string' || s.position - start > 1024)) {
      // A key (or an error): a node that is not a string, or too long for an implicit key.
      plain = false;
    }
  };
  let value: unknown;
  try {
    value = load(source, {
      schema: CORE_SCHEMA,
      listener,
      onWarning: () => {
        plain = false;
      },
    });
  } catch {
    return undefined;
  }
  // An empty document: js-yaml gives undefined, `yaml` null.
  if (!plain || value === undefined) return undefined;
  return { value };
}

const TAB_INDENT = /^[ ]*\t/m;
const LONE_CR = /\r(?!\n)/;
const CONTENT_AFTER_MARKER = /^(?:---|\.\.\.)(?!(?:[ \t]+#.*|[ \t]*)\r?$)/m;
const LONG_ESCAPE = /\\U([0-9A-Fa-f]{8})/g;

/** The part of js-yaml's parser state the listener reads (its typings leave out tag and anchor). */
interface ListenerState {
  input: string;
  position: number;
  tag: string | null | undefined;
  anchor: string | null | undefined;
  kind: string | null | undefined;
  result: unknown;
  version: string | null;
  tagMap: Record<string, string>;
}

/**
 * Whether the next character after a node, past white space, line breaks and comments, is `:`:
 * then the node is a key (implicit, or explicit with `? `). Skipping line breaks and comments
 * errs towards declining, which is always safe.
 */
function followedByColon(input: string, position: number): boolean {
  let i = position;
  while (i < input.length) {
    const c = input.charCodeAt(i);
    if (isSpace(c)) {
      i++;
    } else if (c === 0x23 /* # */) {
      while (i < input.length && input.charCodeAt(i) !== 0x0a && input.charCodeAt(i) !== 0x0d) i++;
    } else {
      return c === 0x3a; /* : */
    }
  }
  return false;
}

/** Whether the last character before `position`, past spaces and tabs, is `?`. */
function afterQuestionMark(input: string, position: number): boolean {
  let i = position - 1;
  while (i >= 0 && (input.charCodeAt(i) === 0x20 || input.charCodeAt(i) === 0x09)) i--;
  return i >= 0 && input.charCodeAt(i) === 0x3f; /* ? */
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/*
 * The YAML 1.2 core schema exactly as `yaml` (2.x, default options) resolves plain scalars: the
 * same patterns and the same conversions (parseInt and parseFloat, so `+1` is 1, `012` is 12 and
 * `-0` is -0). Anything else stays a string: `1_000`, `0b1`, `Yes`, `0o8`, `1e`, `.`.
 */
const NULL = new Type('tag:lockstep.dev,2026:core-null', {
  kind: 'scalar',
  resolve: (s: string) => /^(?:~|[Nn]ull|NULL)?$/.test(s),
  construct: () => null,
});
const BOOL = new Type('tag:lockstep.dev,2026:core-bool', {
  kind: 'scalar',
  resolve: (s: string) => /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s),
  construct: (s: string) => s[0] === 't' || s[0] === 'T',
});
const INT_OCT = new Type('tag:lockstep.dev,2026:core-int-oct', {
  kind: 'scalar',
  resolve: (s: string) => /^0o[0-7]+$/.test(s),
  construct: (s: string) => parseInt(s.substring(2), 8),
});
const INT = new Type('tag:lockstep.dev,2026:core-int', {
  kind: 'scalar',
  resolve: (s: string) => /^[-+]?[0-9]+$/.test(s),
  construct: (s: string) => parseInt(s, 10),
});
const INT_HEX = new Type('tag:lockstep.dev,2026:core-int-hex', {
  kind: 'scalar',
  resolve: (s: string) => /^0x[0-9a-fA-F]+$/.test(s),
  construct: (s: string) => parseInt(s.substring(2), 16),
});
const FLOAT_NAN = new Type('tag:lockstep.dev,2026:core-float-nan', {
  kind: 'scalar',
  resolve: (s: string) => /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s),
  construct: (s: string) =>
    s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY,
});
const FLOAT_EXP = new Type('tag:lockstep.dev,2026:core-float-exp', {
  kind: 'scalar',
  resolve: (s: string) => /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s),
  construct: (s: string) => parseFloat(s),
});
const FLOAT = new Type('tag:lockstep.dev,2026:core-float', {
  kind: 'scalar',
  resolve: (s: string) => /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s),
  construct: (s: string) => parseFloat(s),
});

const CORE_TYPES = [NULL, BOOL, INT_OCT, INT, INT_HEX, FLOAT_NAN, FLOAT_EXP, FLOAT];
const CORE_TAGS: ReadonlySet<string> = new Set(CORE_TYPES.map((t) => (t as unknown as { tag: string }).tag));
// Implicit types only: no explicit ones, not even str, seq and map, so every explicit tag throws.
const CORE_SCHEMA = new Schema({ implicit: CORE_TYPES, explicit: [] });
