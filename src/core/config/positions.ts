import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml';

/** A 1-based position in the source. */
export interface Position {
  line: number;
  column: number;
}

export type Path = readonly (string | number)[];

/**
 * Maps paths in the parsed value (`['components', 'api', 'with', 'apply', 1]`) back to positions
 * in the YAML source. Paths that do not exist (a missing field, a key merged in with `<<`) fall
 * back to the nearest ancestor that does. Aliases are followed to their anchor.
 */
export class SourcePositions {
  /**
   * Each mapping's pairs by key name, built when a path first goes through it. Searching the pairs
   * for every problem made `validate` quadratic: 20,000 problems among 20,000 components took a
   * minute.
   */
  private readonly pairsByKey = new WeakMap<YAMLMap, Map<string, Pair>>();

  constructor(
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
    private readonly source: string,
  ) {}

  /** Where the value at `path` starts; for `key:` with nothing after it, where the key is. */
  value(path: Path): Position {
    const found = this.find(path);
    // An alias is pointed at where it is used, not at its anchor.
    if (found.complete && found.alias?.range) return this.at(found.alias.range[0]);
    const node = found.node;
    const empty = found.complete && isScalar(node) && node.value === null && node.range?.[0] === node.range?.[1];
    if (empty && found.keyOffset !== undefined) return this.at(found.keyOffset);
    return this.at(node?.range?.[0] ?? this.rootOffset());
  }

  /** Where the key of the field at `path` is (for an array item: the item). */
  key(path: Path): Position {
    const found = this.find(path);
    return this.at(found.keyOffset ?? found.node?.range?.[0] ?? this.rootOffset());
  }

  /**
   * Where the `${{` at `offset` of the string at `path` is. Found by counting `${{` in the raw
   * scalar, so quotes, escapes and folded lines before it do not throw the column off; falls back to
   * the scalar's start when the raw text and the value do not match.
   */
  inString(path: Path, offset: number): Position {
    const scalar = this.stringScalar(path);
    if (!scalar) return this.value(path);
    const { start, raw, value } = scalar;
    const nth = countOpenings(value.slice(0, offset));
    if (countOpenings(raw) !== countOpenings(value)) return this.at(start);
    let index = -1;
    for (let i = 0; i <= nth; i++) {
      index = raw.indexOf('${{', index + 1);
      if (index === -1) return this.at(start);
    }
    return this.at(start + index);
  }

  /**
   * The position of character `offset` of a string value (a CEL expression), when the string is
   * written as is (plain, or quoted without escapes); otherwise the start of the value.
   */
  atCharacter(path: Path, offset: number): Position {
    const scalar = this.stringScalar(path);
    if (!scalar) return this.value(path);
    const { start, raw, value } = scalar;
    if (raw === value) return this.at(start + offset);
    const quoted = raw.length >= 2 && (raw[0] === '"' || raw[0] === "'") && raw.endsWith(raw[0]);
    if (quoted && raw.slice(1, -1) === value) return this.at(start + 1 + offset);
    return this.at(start);
  }

  /** The string scalar at `path`: where it starts, its source text and its value; undefined for anything else. */
  private stringScalar(path: Path): { start: number; raw: string; value: string } | undefined {
    const found = this.find(path);
    const node = found.complete ? found.node : undefined;
    if (!node || !isScalar(node) || typeof node.value !== 'string' || !node.range) return undefined;
    const [start, end] = node.range;
    return { start, raw: this.source.slice(start, end), value: node.value };
  }

  /**
   * The path of the innermost node holding `offset`: for YAML errors, which come with an offset
   * only. A nested mapping that begins at `offset` with its first key is not entered: a syntax
   * error there means the parser read a value as a mapping that the user did not mean as one
   * (`hosts: (local host: a)` is the value of `hosts`, not a mapping with the key `(local host`).
   */
  pathAt(offset: number): (string | number)[] {
    const path: (string | number)[] = [];
    let node: unknown = this.doc.contents;
    for (;;) {
      if (isMap(node)) {
        const pair = node.items.find((p) => {
          const k = p.key as Node | null;
          const v = p.value as Node | null;
          const from = k?.range?.[0] ?? v?.range?.[0];
          const to = v?.range?.[2] ?? k?.range?.[2];
          return from !== undefined && to !== undefined && from <= offset && offset < Math.max(to, from + 1);
        });
        if (!pair) return path;
        const key = pair.key as Node | null;
        if (node !== this.doc.contents && node.range?.[0] === offset && key?.range?.[0] === offset) return path;
        path.push(keyName(pair.key));
        if (key?.range && offset < key.range[2]) return path;
        node = pair.value;
      } else if (isSeq(node)) {
        const index = node.items.findIndex((item) => {
          const range = (item as Node | null)?.range;
          return range !== undefined && range !== null && range[0] <= offset && offset < range[2];
        });
        if (index === -1) return path;
        path.push(index);
        node = node.items[index];
      } else {
        return path;
      }
    }
  }

  /** The position of an offset in the source. */
  atOffset(offset: number): Position {
    return this.at(offset);
  }

  private at(offset: number): Position {
    const { line, col } = this.lineCounter.linePos(offset);
    return { line, column: col };
  }

  private rootOffset(): number {
    return this.doc.contents?.range?.[0] ?? 0;
  }

  /** Follows `path` as far as it goes. */
  private find(path: Path): {
    node: Node | undefined;
    keyOffset: number | undefined;
    complete: boolean;
    /** The alias node, when the last step led through one. */
    alias?: Node;
  } {
    let node = this.resolve(this.doc.contents);
    let keyOffset: number | undefined;
    let alias: Node | undefined;
    for (const segment of path) {
      let next: unknown;
      let nextKey: number | undefined;
      if (isMap(node)) {
        const pair = this.pairs(node).get(String(segment));
        if (pair) {
          next = pair.value ?? undefined;
          nextKey = (pair.key as Node | null)?.range?.[0];
          // `key:` with no value: the key is the best place to point at.
          if (next === undefined || next === null) return { node: undefined, keyOffset: nextKey, complete: false };
        }
      } else if (isSeq(node) && typeof segment === 'number') {
        next = node.items[segment];
        nextKey = (next as Node | undefined)?.range?.[0];
      }
      const resolved = this.resolve(next);
      if (!resolved) return { node, keyOffset, complete: false };
      alias = isAlias(next) ? next : undefined;
      node = resolved;
      keyOffset = nextKey;
    }
    return { node, keyOffset, complete: true, ...(alias ? { alias } : {}) };
  }

  private pairs(map: YAMLMap): Map<string, Pair> {
    let byKey = this.pairsByKey.get(map);
    if (byKey === undefined) {
      byKey = new Map();
      // The last one wins: with a duplicate key (reported as such), the last value is the one read.
      for (const p of map.items) if (isPair(p)) byKey.set(keyName(p.key), p);
      this.pairsByKey.set(map, byKey);
    }
    return byKey;
  }

  private resolve(value: unknown): Node | undefined {
    let node = value;
    // Bounded, in case of alias loops (the parser reports those).
    for (let i = 0; i < 32 && isAlias(node); i++) node = node.resolve(this.doc);
    return node !== null && typeof node === 'object' && 'range' in node ? (node as Node) : undefined;
  }
}

function keyName(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}

function countOpenings(text: string): number {
  return text.split('${{').length - 1;
}
