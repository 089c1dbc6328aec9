import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { holdsUnknown } from '../../core/plan.js';
import { ExpressionError, parseExpression, referencesIn } from '../../core/expression/index.js';
import { parseUrlTemplate } from './url-template.js';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/**
 * What the adapter's own expressions (`success`, `failure`, `outputs`, `${{ }}` in `poll.url`) can read:
 * the JSON body of the response, its HTTP status and headers (names in lower case), and in polls and
 * outputs the trigger's response.
 */
export const RESPONSE_ROOTS = ['response', 'status', 'headers', 'trigger'] as const;

const duration = (example: string) =>
  z.string().refine((text) => (parseDuration(text) ?? 0) > 0, { error: `expected a duration such as ${example}` });

/** An expression over the response, checked when the config is read so a typo fails `validate`. */
const responseExpression = z.string().superRefine((text, ctx) => {
  const problem = expressionProblem(text);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * An http(s) URL. One holding the stand-in of a value known only after its producer applies (a host
 * from Terraform) passes at plan time, where nothing is sent; the step renders the real URL and it is
 * checked again then.
 */
const url = z.string().refine((text) => isHttpUrl(text), {
  error: 'expected an http:// or https:// URL',
});

function isHttpUrl(text: string): boolean {
  return holdsUnknown(text) || /^https?:\/\/[^\s]+$/.test(text);
}

const headers = z.record(
  z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: 'a header name' }),
  z.string({ error: 'expected a string (a header value)' }),
);

/** `with:` of an `http` component. Templates (`${{ }}`) are rendered by the engine before the adapter sees it. */
export const httpSpec = z.strictObject({
  request: z.strictObject({
    method: z.enum(HTTP_METHODS, { error: `expected one of ${HTTP_METHODS.join(', ')}` }).default('POST'),
    url,
    headers: headers.default({}),
    /** Any JSON value, sent as JSON. */
    body: z.unknown().optional(),
    timeout: duration('30s').default('30s'),
    /**
     * The endpoint treats a repeated request as one (or dedupes on `idempotencyHeader`): the trigger may
     * then be retried on 5xx, 429 and network errors like a poll. Off by default: a retried POST can
     * start a second job.
     */
    idempotent: z.boolean().default(false),
    /** A header to send the step's idempotency key in (stable across retries), such as `Idempotency-Key`. */
    idempotencyHeader: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: 'a header name' })
      .optional(),
  }),
  poll: z
    .strictObject({
      /** May hold `${{ EXPR }}` over the trigger's response (`${{ response.id }}`), filled in after the trigger. */
      url: z.string().superRefine((text, ctx) => {
        const problem = urlTemplateProblem(text);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      }),
      /** Defaults to the request's headers. */
      headers: headers.optional(),
      interval: duration('10s').default('10s'),
      timeout: duration('30m').default('30m'),
      success: responseExpression,
      failure: responseExpression.optional(),
    })
    .optional(),
  /** Output name → expression over the last response. */
  outputs: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, { error: 'an output name' }), responseExpression)
    .default({}),
});

export type HttpSpec = z.output<typeof httpSpec>;

/** Why `text` is not a usable expression over the response, or undefined. */
export function expressionProblem(text: string): string | undefined {
  let expr;
  try {
    expr = parseExpression(text);
  } catch (error) {
    if (error instanceof ExpressionError)
      return `${error.message} at offset ${error.offset} of ${JSON.stringify(text)}`;
    throw error;
  }
  for (const path of referencesIn(expr)) {
    const root = path[0] ?? '';
    if (!(RESPONSE_ROOTS as readonly string[]).includes(root)) {
      return `unknown reference ${path.join('.')}: these expressions read ${RESPONSE_ROOTS.join(', ')} (config values such as env.vars are not available in these expressions)`;
    }
  }
  return undefined;
}

function urlTemplateProblem(text: string): string | undefined {
  let parts;
  try {
    parts = parseUrlTemplate(text);
  } catch (error) {
    if (error instanceof ExpressionError) return error.message;
    throw error;
  }
  for (const part of parts) {
    if (part.kind !== 'expression') continue;
    const problem = expressionProblem(part.source);
    if (problem !== undefined) return problem;
  }
  // One hole and nothing else: the response gives the whole URL, checked when it is known.
  if (parts.length === 1 && parts[0]?.kind === 'expression') return undefined;
  const literal = parts.map((p) => (p.kind === 'text' ? p.text : 'x')).join('');
  return isHttpUrl(literal) ? undefined : 'expected an http:// or https:// URL';
}
