import { toText } from '../../core/expression/evaluate.js';
import { evaluate, ExpressionError, parseExpression } from '../../core/expression/index.js';
import type { EvalScope, Expr } from '../../core/expression/index.js';

/**
 * A poll URL with `{{ EXPR }}` holes filled in from the trigger's response, after the trigger ran.
 * Not `${{ }}`: the engine renders those before the step starts, when there is no response yet. The
 * expressions are the same language. Pure.
 */
export type UrlPart = { kind: 'text'; text: string } | { kind: 'expression'; source: string; expr: Expr };

const OPEN = '{{';
const CLOSE = '}}';

/** Throws ExpressionError when a hole is not closed or does not parse. */
export function parseUrlTemplate(text: string): UrlPart[] {
  const parts: UrlPart[] = [];
  let position = 0;
  while (position < text.length) {
    const open = text.indexOf(OPEN, position);
    if (open === -1) {
      parts.push({ kind: 'text', text: text.slice(position) });
      break;
    }
    if (open > position) parts.push({ kind: 'text', text: text.slice(position, open) });
    const close = text.indexOf(CLOSE, open + OPEN.length);
    if (close === -1) throw new ExpressionError('{{ is not closed with }}', open);
    const source = text.slice(open + OPEN.length, close);
    parts.push({ kind: 'expression', source, expr: parseExpression(source) });
    position = close + CLOSE.length;
  }
  return parts;
}

/**
 * The URL with each hole replaced by its value, URI-encoded (an id with a `/` stays one path segment).
 * A URL that is one hole and nothing else is the value as it is (`{{ response.url }}`, `{{ headers.location }}`).
 */
export function renderUrlTemplate(text: string, scope: EvalScope): string {
  const parts = parseUrlTemplate(text);
  const value = (part: Extract<UrlPart, { kind: 'expression' }>): string =>
    toText(evaluate(part.expr, scope, { requireValue: true }), part.expr);
  const only = parts[0];
  if (parts.length === 1 && only?.kind === 'expression') return value(only);
  return parts.map((part) => (part.kind === 'text' ? part.text : encodeURIComponent(value(part)))).join('');
}
