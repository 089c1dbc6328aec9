import { ExpressionError } from './expression-error.js';

/**
 * The lexer for `${{ }}` expressions. Pure.
 *
 * A property name after `.` may hold dashes (`components.db-migrations.version`), as component
 * names do; so `a.b-1` is the property `b-1`, and a subtraction needs spaces (`a.b - 1`).
 */
export type TokenKind = 'number' | 'string' | 'identifier' | 'punctuator' | 'end';

export interface Token {
  kind: TokenKind;
  /** The identifier or punctuator text, the string's decoded value, or the number as written. */
  text: string;
  /** Set for numbers. */
  number?: number;
  start: number;
  end: number;
}

const PUNCTUATORS = [
  '<=',
  '>=',
  '==',
  '!=',
  '&&',
  '||',
  '(',
  ')',
  '[',
  ']',
  '.',
  '!',
  '-',
  '+',
  '*',
  '/',
  '%',
  '<',
  '>',
  '?',
  ':',
];
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0', '\\': '\\', "'": "'", '"': '"' };

const IDENTIFIER_START = /[A-Za-z_]/;
const IDENTIFIER_PART = /[A-Za-z0-9_]/;
const NUMBER = /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i] ?? '';
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const start = i;
    if (/\d/.test(ch)) {
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(source);
      const text = match?.[0] ?? ch;
      i += text.length;
      if (IDENTIFIER_PART.test(source[i] ?? '')) {
        throw new ExpressionError(`invalid number ${source.slice(start, i + 1)}`, start);
      }
      tokens.push({ kind: 'number', text, number: Number(text), start, end: i });
      continue;
    }
    if (IDENTIFIER_START.test(ch)) {
      const afterDot = tokens.at(-1)?.text === '.' && tokens.at(-1)?.kind === 'punctuator';
      i++;
      for (;;) {
        const next = source[i] ?? '';
        if (IDENTIFIER_PART.test(next)) i++;
        else if (afterDot && next === '-' && IDENTIFIER_PART.test(source[i + 1] ?? '')) i += 2;
        else break;
      }
      tokens.push({ kind: 'identifier', text: source.slice(start, i), start, end: i });
      continue;
    }
    if (ch === "'" || ch === '"') {
      const { value, end } = readString(source, i);
      tokens.push({ kind: 'string', text: value, start, end });
      i = end;
      continue;
    }
    const punctuator = PUNCTUATORS.find((p) => source.startsWith(p, i));
    if (punctuator !== undefined) {
      tokens.push({ kind: 'punctuator', text: punctuator, start, end: i + punctuator.length });
      i += punctuator.length;
      continue;
    }
    if (ch === '=') throw new ExpressionError('unexpected =: compare with ==', start);
    if (ch === '&') throw new ExpressionError('unexpected &: "and" is &&', start);
    if (ch === '|') throw new ExpressionError('unexpected |: "or" is ||', start);
    throw new ExpressionError(`unexpected character ${JSON.stringify(ch)}`, start);
  }
  tokens.push({ kind: 'end', text: '', start: source.length, end: source.length });
  return tokens;
}

function readString(source: string, start: number): { value: string; end: number } {
  const quote = source[start];
  let value = '';
  let i = start + 1;
  while (i < source.length) {
    const ch = source[i] ?? '';
    if (ch === quote) return { value, end: i + 1 };
    if (ch === '\\') {
      const next = source[i + 1];
      if (next === undefined) break;
      if (next === 'u') {
        const hex = source.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new ExpressionError('invalid \\u escape: expected 4 hex digits', i);
        value += String.fromCharCode(parseInt(hex, 16));
        i += 6;
        continue;
      }
      const escaped = ESCAPES[next];
      if (escaped === undefined) throw new ExpressionError(`unknown escape \\${next}`, i);
      value += escaped;
      i += 2;
      continue;
    }
    value += ch;
    i++;
  }
  throw new ExpressionError('unterminated string', start);
}
