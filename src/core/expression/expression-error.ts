/**
 * A syntax or evaluation error in a `${{ }}` expression. `offset` is where it happened: within the
 * expression source for `parseExpression` and `evaluate`, within the whole text for `parseTemplate`.
 * Messages name references and types, never values, so they are safe to print even when a secret
 * is involved.
 */
export class ExpressionError extends Error {
  override readonly name: string = 'ExpressionError';
  constructor(
    message: string,
    readonly offset: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
