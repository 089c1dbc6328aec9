import { toText } from '../../core/expression/evaluate.js';
import { evaluate, parseTemplate } from '../../core/expression/index.js';
import type { EvalScope, Expr } from '../../core/expression/index.js';

/**
 * A poll URL whose `${{ EXPR }}` over the trigger's response (`${{ response.id }}`) is filled in after
 * the trigger ran. The engine leaves those expressions as written (the adapter declares them late
 * bound) and renders every other `${{ }}` before the step starts. Same expression language. Pure.
 */
export type UrlPart = { kind: 'text'; text: string } | { kind: 'expression'; source: string; expr: Expr };

/** Throws ExpressionError when an expression is not closed or does not parse. */
export function parseUrlTemplate(text: string): UrlPart[] {
  return parseTemplate(text).parts.map((part) =>
    part.kind === 'text' ? { kind: 'text', text: part.text } : { kind: 'expression', source: part.source, expr: part.expr },
  );
}

/**
 * The URL with each expression replaced by its value, URI-encoded (an id with a `/` stays one path
 * segment). A URL that is one expression and nothing else is the value as it is
 * (`${{ response.url }}`, `${{ headers.location }}`).
 */
export function renderUrlTemplate(text: string, scope: EvalScope): string {
  const parts = parseUrlTemplate(text);
  const value = (part: Extract<UrlPart, { kind: 'expression' }>): string =>
    toText(evaluate(part.expr, scope, { requireValue: true }), part.expr);
  const only = parts[0];
  if (parts.length === 1 && only?.kind === 'expression') return value(only);
  return parts.map((part) => (part.kind === 'text' ? part.text : encodeURIComponent(value(part)))).join('');
}
