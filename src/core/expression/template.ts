import { ExpressionError } from './expression-error.js';
import { evaluate, toText, type EvalScope } from './evaluate.js';
import { parseExpression, referencePath, type Expr } from './parser.js';

// Rendering callers need the scope type with renderTemplates.
export type { EvalScope } from './evaluate.js';

/**
 * Strings with `${{ EXPR }}` in them. A string that is exactly one `${{ }}` (white space inside
 * the braces allowed, nothing outside) keeps the value's type: `"${{ env.vars.hosts }}"` stays a
 * list. Any other string is text: each expression is turned into text and put in its place.
 */
const OPEN = '${{';
const CLOSE = '}}';

export interface TextPart {
  kind: 'text';
  text: string;
  /** Offset of the text within the template. */
  offset: number;
}

export interface ExpressionPart {
  kind: 'expression';
  /** The text between `${{` and `}}`, as written. */
  source: string;
  expr: Expr;
  /** Offset of `${{` within the template. */
  offset: number;
  /** Offset of `source` within the template (expression offsets are relative to it). */
  sourceOffset: number;
}

export type TemplatePart = TextPart | ExpressionPart;

export interface Template {
  parts: TemplatePart[];
  /** The text is exactly one `${{ }}`: it renders to the expression's value, of any type. */
  whole: boolean;
}

/** True when `text` holds `${{` (even an unterminated one, so the error surfaces). */
export function isTemplate(text: string): boolean {
  return text.includes(OPEN);
}

/** Splits and parses a template. Throws ExpressionError with an offset within `text`. */
export function parseTemplate(text: string): Template {
  const { template, errors } = scanTemplate(text);
  const first = errors[0];
  if (first !== undefined) throw first.error;
  return template;
}

export interface TemplateProblem {
  /** Offset of the `${{` the problem is in. */
  offset: number;
  /** The error, its offset within the whole text. */
  error: ExpressionError;
  /** The expression's source, when it was closed. */
  source?: string;
}

/**
 * Like parseTemplate but collects every broken expression instead of stopping at the first; the
 * template then holds only the parts that parsed.
 */
export function scanTemplate(text: string): { template: Template; errors: TemplateProblem[] } {
  const cached = scanned.get(text);
  if (cached !== undefined) return cached;
  const result = scanUncached(text);
  if (scanned.size >= SCAN_CACHE_LIMIT) scanned.clear();
  scanned.set(text, result);
  return result;
}

/**
 * Scans by template text. A config repeats the same few templates across its components
 * (`\${{ version }}`), and validating and planning read each component's templates several times:
 * parsing each once keeps that linear in the size of the config. The results are shared, so they
 * are never changed after they are made. Bounded, for a long-running server.
 */
const scanned = new Map<string, { template: Template; errors: TemplateProblem[] }>();
const SCAN_CACHE_LIMIT = 10_000;

function scanUncached(text: string): { template: Template; errors: TemplateProblem[] } {
  const parts: TemplatePart[] = [];
  const errors: TemplateProblem[] = [];
  let closedAll = true;
  let position = 0;
  while (position < text.length) {
    const open = text.indexOf(OPEN, position);
    if (open === -1) {
      parts.push({ kind: 'text', text: text.slice(position), offset: position });
      break;
    }
    if (open > position) parts.push({ kind: 'text', text: text.slice(position, open), offset: position });
    const sourceOffset = open + OPEN.length;
    const close = findClose(text, sourceOffset);
    if (close === -1) {
      closedAll = false;
      errors.push({ offset: open, error: new ExpressionError('${{ is not closed with }}', open) });
      break;
    }
    const source = text.slice(sourceOffset, close);
    try {
      parts.push({ kind: 'expression', source, expr: parseExpression(source), offset: open, sourceOffset });
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      const shifted = new ExpressionError(error.message, sourceOffset + error.offset, { cause: error });
      errors.push({ offset: open, error: shifted, source });
    }
    position = close + CLOSE.length;
  }
  const only = parts[0];
  const whole =
    closedAll &&
    errors.length === 0 &&
    parts.length === 1 &&
    only?.kind === 'expression' &&
    only.offset === 0 &&
    only.sourceOffset + only.source.length + CLOSE.length === text.length;
  return { template: { parts, whole }, errors };
}

/** The offset of the `}}` closing an expression that starts at `from`, skipping string literals; -1 if none. */
function findClose(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "'" || ch === '"') {
      i++;
      while (i < text.length && text[i] !== ch) i += text[i] === '\\' ? 2 : 1;
      if (i >= text.length) return -1;
      i++;
      continue;
    }
    if (text.startsWith(CLOSE, i)) return i;
    i++;
  }
  return -1;
}

// ---------------------------------------------------------------- references

/** A reference found in a template: a member chain rooted at an identifier with only constant keys. */
export interface TemplateRef {
  /** Where in the searched value the string is: object keys and array indexes. */
  at: (string | number)[];
  /** `components.iam.outputs.role_arn` → ['components', 'iam', 'outputs', 'role_arn']. */
  path: string[];
  /** The string is exactly one `${{ }}` and that expression is just this reference: the value keeps its type. */
  whole: boolean;
  /** Offset of the `${{` within the string. */
  offset: number;
  /** The source of the whole expression the reference is in, trimmed. */
  expression: string;
}

export interface TemplateSyntaxProblem {
  at: (string | number)[];
  /** Offset of the `${{` within the string. */
  offset: number;
  message: string;
}

/**
 * Every reference in every string of `value` (deep), in document order, and every expression that
 * does not parse. A chain with a computed key contributes its constant prefix and the references in
 * the key (`a.b[c.d]` → `a.b`, `c.d`), so a validator sees each root that could be read.
 */
export function findReferences(value: unknown): { refs: TemplateRef[]; errors: TemplateSyntaxProblem[] } {
  if (value === null || typeof value !== 'object') return findReferencesUncached(value);
  const cached = found.get(value);
  if (cached !== undefined) return cached;
  const result = findReferencesUncached(value);
  found.set(value, result);
  return result;
}

/**
 * findReferences by the object searched. Validating and planning look for the references of each
 * component's `with` several times (the cycle check, the reference check, the planner, the config
 * digest); a config is never changed after it is loaded, so each is searched once. The results are
 * shared, so they are never changed after they are made. Entries go with their objects.
 */
const found = new WeakMap<object, { refs: TemplateRef[]; errors: TemplateSyntaxProblem[] }>();

function findReferencesUncached(value: unknown): { refs: TemplateRef[]; errors: TemplateSyntaxProblem[] } {
  const refs: TemplateRef[] = [];
  const errors: TemplateSyntaxProblem[] = [];
  forEachString(value, [], (text, at) => {
    if (!isTemplate(text)) return;
    const { template, errors: problems } = scanTemplate(text);
    for (const problem of problems) {
      // A fuzzed expression can be megabytes long: the position points at it, the message shows a part.
      const source = problem.source !== undefined && problem.source.length > 200 ? `${problem.source.slice(0, 199)}…` : problem.source;
      const where = source === undefined ? '' : ` in \${{${source}}}`;
      errors.push({ at, offset: problem.offset, message: `${problem.error.message}${where}` });
    }
    for (const part of template.parts) {
      if (part.kind !== 'expression') continue;
      const wholeRef = template.whole && referencePath(part.expr) !== undefined;
      for (const path of referencesIn(part.expr)) {
        refs.push({ at, path, whole: wholeRef, offset: part.offset, expression: part.source.trim() });
      }
    }
  });
  return { refs, errors };
}

/** The reference paths an expression reads, left to right. */
export function referencesIn(expr: Expr): string[][] {
  const out: string[][] = [];
  const visit = (node: Expr): void => {
    switch (node.kind) {
      case 'literal':
        return;
      case 'identifier':
      case 'member':
      case 'index': {
        const path = referencePath(node);
        if (path !== undefined) {
          out.push(path);
          return;
        }
        // Only a member or an index with a computed key gets here: an identifier is always a path.
        if (node.kind === 'identifier') return;
        visit(node.object);
        if (node.kind === 'index') visit(node.index);
        return;
      }
      case 'unary':
        visit(node.operand);
        return;
      case 'binary':
        visit(node.left);
        visit(node.right);
        return;
      case 'conditional':
        visit(node.test);
        visit(node.consequent);
        visit(node.alternate);
        return;
    }
  };
  visit(expr);
  return out;
}

/** Calls `fn` for every string in plain objects and arrays, with its location. Keys are not visited. */
export function forEachString(
  value: unknown,
  at: (string | number)[],
  fn: (text: string, at: (string | number)[]) => void,
): void {
  // One path, grown and shrunk on the way down and up; each string gets its own copy.
  const path = [...at];
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      fn(v, [...path]);
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        visit(v[i]);
        path.pop();
      }
    } else if (isPlainObject(v)) {
      for (const [k, item] of Object.entries(v)) {
        path.push(k);
        visit(item);
        path.pop();
      }
    }
  };
  visit(value);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

// ---------------------------------------------------------------- rendering

/** Rendering a field failed. `path` is the dotted path of the field; `offset` is within its string. */
export class RenderError extends ExpressionError {
  override readonly name: string = 'RenderError';
  constructor(
    readonly path: string,
    readonly detail: string,
    offset: number,
    /** The expression that failed, as written (config text: never a secret). */
    readonly expression: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(path === '' ? detail : `${path}: ${detail}`, offset, options);
  }
}

export interface RenderOptions {
  /** Prefix for the dotted paths in errors (`['components', 'api', 'with']`). */
  path?: readonly (string | number)[];
  /**
   * Expressions to leave as written (`${{ … }}`), for someone else to render later: called with the
   * field's location (below `path`) and the references of the expression.
   */
  keep?: (at: readonly (string | number)[], refs: readonly (readonly string[])[]) => boolean;
}

/**
 * A deep copy of `value` with every string template rendered (object keys are left alone). A whole
 * template keeps the value's type; other templates become text. Throws RenderError naming the
 * field's dotted path and the failing reference ("apply.1: components.iam.outputs.role_arn is not
 * available"); messages never hold secret values.
 */
export function renderTemplates<T = unknown>(value: T, scope: EvalScope, options: RenderOptions = {}): unknown {
  const prefix = options.path?.length ?? 0;
  const keep = options.keep;
  const kept = keep ? (at: (string | number)[], expr: Expr) => keep(at.slice(prefix), referencesIn(expr)) : undefined;
  return render(value, [...(options.path ?? [])], scope, kept);
}

type Kept = ((at: (string | number)[], expr: Expr) => boolean) | undefined;

function render(value: unknown, at: (string | number)[], scope: EvalScope, kept: Kept): unknown {
  if (typeof value === 'string') return isTemplate(value) ? renderString(value, at, scope, kept) : value;
  if (Array.isArray(value)) return value.map((item, i) => render(item, [...at, i], scope, kept));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, [...at, k], scope, kept)]));
  }
  return value;
}

function renderString(text: string, at: (string | number)[], scope: EvalScope, kept: Kept): unknown {
  const path = at.join('.');
  let template: Template;
  try {
    template = parseTemplate(text);
  } catch (error) {
    if (!(error instanceof ExpressionError)) throw error;
    throw new RenderError(path, error.message, error.offset, undefined, { cause: error });
  }
  let out = '';
  for (const part of template.parts) {
    if (part.kind === 'text') {
      out += part.text;
      continue;
    }
    if (kept?.(at, part.expr)) {
      if (template.whole) return text;
      out += `\${{${part.source}}}`;
      continue;
    }
    try {
      const result = evaluate(part.expr, scope, { requireValue: true });
      if (template.whole) return result;
      out += toText(result, part.expr);
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      const detail = scope.redactor ? scope.redactor.redact(error.message) : error.message;
      throw new RenderError(path, detail, part.sourceOffset + error.offset, part.source.trim(), { cause: error });
    }
  }
  return out;
}
