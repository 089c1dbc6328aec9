/**
 * How deep a config may nest. Both YAML parsers and every check after them recurse through the
 * document, so a fuzzed 2,000-deep mapping would end in a stack overflow with no position. A real
 * config nests about ten levels; the parsers overflow only past a thousand or so, and this limit
 * keeps far from that.
 */
export const MAX_CONFIG_DEPTH = 64;

export const TOO_DEEP_MESSAGE = `the config nests more than ${MAX_CONFIG_DEPTH} levels deep here; no config needs that many`;

/**
 * Where the YAML text nests deeper than MAX_CONFIG_DEPTH, found without parsing it (the parser is
 * what would overflow): 0-based line and column, or undefined. An estimate that never counts less
 * than half the real depth: each more-indented line opens a level, as does each `- ` or `? ` in
 * front of a node and each `[` or `{` that starts a flow collection. The content of block
 * scalars (`|`, `>`) and of quoted strings is skipped. Linear in the text. Pure.
 */
export function deepestPoint(source: string): { line: number; column: number } | undefined {
  const lines = source.split(/\r\n|\n|\r/);
  const indents: number[] = [];
  let flow = 0;
  /** The indentation of the line that opened a block scalar; its content is more indented. */
  let scalarParent: number | undefined;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n] ?? '';
    let indent = 0;
    while (line.charCodeAt(indent) === 0x20) indent++;
    let first = indent;
    while (line[first] === ' ' || line[first] === '\t') first++;
    const blank = first === line.length || line[first] === '#';
    if (scalarParent !== undefined) {
      if (blank || indent > scalarParent) continue;
      scalarParent = undefined;
    }
    if (blank) continue;
    if (flow === 0) {
      while (indents.length > 0 && (indents.at(-1) ?? 0) >= indent) indents.pop();
      indents.push(indent);
    }
    let depth = indents.length;
    let atNodeStart = true;
    for (let i = indent; i < line.length; i++) {
      const c = line[i];
      if (c === ' ' || c === '\t') continue;
      if (c === '#' && (i === 0 || line[i - 1] === ' ' || line[i - 1] === '\t')) break;
      if (c === '"' || c === "'") {
        i = endOfQuoted(line, i);
        atNodeStart = false;
        continue;
      }
      if ((c === '-' || c === '?' || c === ':') && (i + 1 === line.length || line[i + 1] === ' ')) {
        if (c !== ':' || flow > 0) depth++;
        atNodeStart = true;
        continue;
      }
      if ((c === '[' || c === '{') && (atNodeStart || flow > 0)) {
        flow++;
        atNodeStart = true;
      } else if ((c === ']' || c === '}') && flow > 0) {
        flow--;
      } else if (c === ',' && flow > 0) {
        atNodeStart = true;
        continue;
      } else {
        atNodeStart = false;
      }
      if (depth + flow > MAX_CONFIG_DEPTH) return { line: n, column: i };
    }
    if (depth + flow > MAX_CONFIG_DEPTH) return { line: n, column: indent };
    if (flow === 0 && (line.includes('|') || line.includes('>')) && BLOCK_SCALAR.test(line.slice(indent))) {
      scalarParent = indent;
    }
  }
  return undefined;
}

/** A line whose value is a block scalar: `key: |`, `- >-`, `|2 # comment`. */
const BLOCK_SCALAR = /(?:^|[ :-])[|>][-+0-9]*[ \t]*(?:#.*)?$/;

/** The index of the closing quote of the quoted scalar opening at `start`, or the end of the line. */
function endOfQuoted(line: string, start: number): number {
  const quote = line[start];
  for (let i = start + 1; i < line.length; i++) {
    if (quote === '"' && line[i] === '\\') i++;
    else if (line[i] === quote) {
      if (quote === "'" && line[i + 1] === "'") i++;
      else return i;
    }
  }
  return line.length;
}
