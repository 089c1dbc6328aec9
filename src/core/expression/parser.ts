import { ExpressionError } from './expression-error.js';
import { tokenize, type Token } from './lexer.js';

/**
 * The `${{ }}` expression language: a small Pratt parser over the tokens of lexer.ts. No `eval`.
 *
 *   literals      1  2.5  'single'  "double"  true  false  null
 *   references    env.name  env.vars['db-url']  env.vars.hosts[0]
 *   operators     !x  -x   * / %   + -   < <= > >=   == !=   &&   ||   c ? a : b   ( )
 *
 * Every node carries `start`/`end` offsets within the expression source.
 */
export type BinaryOperator = '*' | '/' | '%' | '+' | '-' | '<' | '<=' | '>' | '>=' | '==' | '!=' | '&&' | '||';
export type UnaryOperator = '!' | '-';

interface Span {
  start: number;
  end: number;
}

export type Expr =
  | (Span & { kind: 'literal'; value: string | number | boolean | null })
  | (Span & { kind: 'identifier'; name: string })
  | (Span & { kind: 'member'; object: Expr; property: string })
  | (Span & { kind: 'index'; object: Expr; index: Expr })
  | (Span & { kind: 'unary'; operator: UnaryOperator; operand: Expr })
  | (Span & { kind: 'binary'; operator: BinaryOperator; left: Expr; right: Expr })
  | (Span & { kind: 'conditional'; test: Expr; consequent: Expr; alternate: Expr });

/** Binding powers: higher binds tighter. */
const BINARY_POWER: Record<BinaryOperator, number> = {
  '||': 2,
  '&&': 3,
  '==': 4,
  '!=': 4,
  '<': 5,
  '<=': 5,
  '>': 5,
  '>=': 5,
  '+': 6,
  '-': 6,
  '*': 7,
  '/': 7,
  '%': 7,
};
const CONDITIONAL_POWER = 1;
const UNARY_POWER = 8;

/**
 * How deep an expression may nest: parentheses, operators, members and indexes each add a level.
 * The parser and everything that walks the tree (evaluation, printing, reference search) recurse,
 * so without a limit a fuzzed `((((…` ends in a stack overflow instead of a positioned error. Real
 * expressions stay far below it.
 */
export const MAX_EXPRESSION_DEPTH = 100;

/** Parses one expression (the text between `${{` and `}}`). Throws ExpressionError with the offset of the problem. */
export function parseExpression(source: string): Expr {
  const parser = new Parser(tokenize(source));
  if (parser.peek().kind === 'end') throw new ExpressionError('expected an expression', 0);
  const expr = parser.expression(0);
  const rest = parser.peek();
  if (rest.kind !== 'end') throw new ExpressionError(`unexpected ${describe(rest)}`, rest.start);
  return expr;
}

class Parser {
  private position = 0;
  /** How many expression() calls are open: parentheses and operands that nest. */
  private nesting = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  peek(): Token {
    // tokenize always ends with an 'end' token, which is never consumed.
    return this.tokens[this.position] ?? (this.tokens.at(-1) as Token);
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== 'end') this.position++;
    return token;
  }

  private isPunctuator(text: string): boolean {
    const token = this.peek();
    return token.kind === 'punctuator' && token.text === text;
  }

  private expect(text: string, what: string): Token {
    const token = this.peek();
    if (token.kind !== 'punctuator' || token.text !== text) {
      throw new ExpressionError(`expected ${text} ${what}, found ${describe(token)}`, token.start);
    }
    return this.next();
  }

  expression(minPower: number): Expr {
    if (++this.nesting > MAX_EXPRESSION_DEPTH) throw tooDeep(this.peek().start);
    try {
      return this.operators(minPower);
    } finally {
      this.nesting--;
    }
  }

  private operators(minPower: number): Expr {
    let left = this.prefix();
    for (;;) {
      const token = this.peek();
      if (token.kind !== 'punctuator') break;
      if (token.text === '.' || token.text === '[') {
        left = this.postfix(left);
        continue;
      }
      if (token.text === '?') {
        if (CONDITIONAL_POWER < minPower) break;
        this.next();
        const consequent = this.expression(0);
        this.expect(':', 'in c ? a : b');
        // Right-associative: a ? b : c ? d : e is a ? b : (c ? d : e).
        const alternate = this.expression(CONDITIONAL_POWER);
        left = deeper({ kind: 'conditional', test: left, consequent, alternate, start: left.start, end: alternate.end }, left, consequent, alternate);
        continue;
      }
      const power = BINARY_POWER[token.text as BinaryOperator] as number | undefined;
      if (power === undefined || power <= minPower) break;
      this.next();
      if (this.peek().kind === 'end')
        throw new ExpressionError(`expected an expression after ${token.text}`, token.start);
      const right = this.expression(power);
      left = deeper({ kind: 'binary', operator: token.text as BinaryOperator, left, right, start: left.start, end: right.end }, left, right);
    }
    return left;
  }

  private prefix(): Expr {
    const token = this.next();
    switch (token.kind) {
      case 'number':
        return { kind: 'literal', value: token.number ?? Number(token.text), start: token.start, end: token.end };
      case 'string':
        return { kind: 'literal', value: token.text, start: token.start, end: token.end };
      case 'identifier': {
        const span = { start: token.start, end: token.end };
        if (token.text === 'true') return { kind: 'literal', value: true, ...span };
        if (token.text === 'false') return { kind: 'literal', value: false, ...span };
        if (token.text === 'null') return { kind: 'literal', value: null, ...span };
        return { kind: 'identifier', name: token.text, ...span };
      }
      case 'punctuator':
        if (token.text === '(') {
          const inner = this.expression(0);
          const close = this.expect(')', 'to close (');
          // The span grows to cover the parentheses; the node stays the inner one.
          const wrapped = { ...inner, start: token.start, end: close.end };
          depths.set(wrapped, depths.get(inner) ?? 1);
          return wrapped;
        }
        if (token.text === '!' || token.text === '-') {
          if (this.peek().kind === 'end')
            throw new ExpressionError(`expected an expression after ${token.text}`, token.start);
          const operand = this.expression(UNARY_POWER);
          return deeper({ kind: 'unary', operator: token.text, operand, start: token.start, end: operand.end }, operand);
        }
        throw new ExpressionError(`unexpected ${describe(token)}`, token.start);
      case 'end':
        throw new ExpressionError('unexpected end of expression', token.start);
    }
  }

  private postfix(object: Expr): Expr {
    const token = this.next();
    if (token.text === '.') {
      const name = this.peek();
      if (name.kind !== 'identifier') {
        throw new ExpressionError(`expected a property name after ., found ${describe(name)}`, name.start);
      }
      this.next();
      return deeper({ kind: 'member', object, property: name.text, start: object.start, end: name.end }, object);
    }
    const index = this.expression(0);
    const close = this.expect(']', 'to close [');
    return deeper({ kind: 'index', object, index, start: object.start, end: close.end }, object, index);
  }
}

/** The depth of each node built so far (leaves are 1): long chains such as `a.b.c…` or `1+1+…` nest without parentheses. */
const depths = new WeakMap<Expr, number>();

function deeper(node: Expr, ...children: Expr[]): Expr {
  let depth = 1;
  for (const child of children) depth = Math.max(depth, (depths.get(child) ?? 1) + 1);
  if (depth > MAX_EXPRESSION_DEPTH) throw tooDeep(node.start);
  depths.set(node, depth);
  return node;
}

function tooDeep(offset: number): ExpressionError {
  return new ExpressionError(
    `the expression nests more than ${MAX_EXPRESSION_DEPTH} levels deep (parentheses, operators, members); split it up`,
    offset,
  );
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'end':
      return 'end of expression';
    case 'string':
      return `string ${JSON.stringify(token.text)}`;
    case 'number':
      return `number ${token.text}`;
    case 'identifier':
      return `identifier ${token.text}`;
    case 'punctuator':
      return token.text;
  }
}

/**
 * The path of a reference: a member chain rooted at an identifier whose keys are all constants.
 * `components.iam.outputs.role_arn` → ['components', 'iam', 'outputs', 'role_arn'];
 * `env.vars['db-url']` → ['env', 'vars', 'db-url']; `hosts[0]` → ['hosts', '0'].
 * Undefined for anything else (`a[b]`, `(a || b).c`, literals).
 */
export function referencePath(expr: Expr): string[] | undefined {
  switch (expr.kind) {
    case 'identifier':
      return [expr.name];
    case 'member': {
      const base = referencePath(expr.object);
      return base && [...base, expr.property];
    }
    case 'index': {
      if (expr.index.kind !== 'literal') return undefined;
      const key = expr.index.value;
      if (typeof key !== 'string' && typeof key !== 'number') return undefined;
      const base = referencePath(expr.object);
      return base && [...base, String(key)];
    }
    default:
      return undefined;
  }
}

const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*$/;

/** The expression written back as source, normalised (`a['b']` → `a.b`); used to name references in messages. */
export function printExpression(expr: Expr): string {
  switch (expr.kind) {
    case 'literal':
      return typeof expr.value === 'string' ? quote(expr.value) : String(expr.value);
    case 'identifier':
      return expr.name;
    case 'member':
      return `${printOperand(expr.object, 10)}.${expr.property}`;
    case 'index': {
      const key = expr.index;
      const object = printOperand(expr.object, 10);
      if (key.kind === 'literal' && typeof key.value === 'string' && PLAIN_NAME.test(key.value)) {
        return `${object}.${key.value}`;
      }
      return `${object}[${printExpression(key)}]`;
    }
    case 'unary':
      return `${expr.operator}${printOperand(expr.operand, UNARY_POWER)}`;
    case 'binary': {
      const power = BINARY_POWER[expr.operator];
      return `${printOperand(expr.left, power)} ${expr.operator} ${printOperand(expr.right, power + 1)}`;
    }
    case 'conditional':
      return `${printOperand(expr.test, CONDITIONAL_POWER + 1)} ? ${printExpression(expr.consequent)} : ${printOperand(expr.alternate, CONDITIONAL_POWER)}`;
  }
}

function printOperand(expr: Expr, minPower: number): string {
  const text = printExpression(expr);
  return powerOf(expr) < minPower ? `(${text})` : text;
}

function powerOf(expr: Expr): number {
  switch (expr.kind) {
    case 'binary':
      return BINARY_POWER[expr.operator];
    case 'conditional':
      return CONDITIONAL_POWER;
    case 'unary':
      return UNARY_POWER;
    default:
      return 10;
  }
}

function quote(value: string): string {
  return `'${value
    .replace(/[\\']/g, (c) => `\\${c}`)
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t')
    .replace(/\r/g, '\\r')}'`;
}
