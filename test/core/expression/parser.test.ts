import { describe, expect, it } from 'vitest';
import { ExpressionError } from '../../../src/core/expression/expression-error.js';
import { tokenize } from '../../../src/core/expression/lexer.js';
import { parseExpression, printExpression, referencePath } from '../../../src/core/expression/parser.js';

/** Fully parenthesised form, to assert precedence and associativity. */
function shape(source: string): string {
  const walk = (e: ReturnType<typeof parseExpression>): string => {
    switch (e.kind) {
      case 'literal':
        return JSON.stringify(e.value);
      case 'identifier':
        return e.name;
      case 'member':
        return `${walk(e.object)}.${e.property}`;
      case 'index':
        return `${walk(e.object)}[${walk(e.index)}]`;
      case 'unary':
        return `(${e.operator}${walk(e.operand)})`;
      case 'binary':
        return `(${walk(e.left)} ${e.operator} ${walk(e.right)})`;
      case 'conditional':
        return `(${walk(e.test)} ? ${walk(e.consequent)} : ${walk(e.alternate)})`;
    }
  };
  return walk(parseExpression(source));
}

function errorOf(source: string): { message: string; offset: number } {
  try {
    parseExpression(source);
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionError);
    const e = error as ExpressionError;
    return { message: e.message, offset: e.offset };
  }
  throw new Error(`expected ${source} to fail`);
}

describe('lexer', () => {
  it('reads numbers, strings with escapes, identifiers and punctuators with offsets', () => {
    const tokens = tokenize(`a.b >= 1.5e2 && 'it\\'s' != "x\\ny\\u0041"`);
    expect(tokens.map((t) => [t.kind, t.text, t.start])).toEqual([
      ['identifier', 'a', 0],
      ['punctuator', '.', 1],
      ['identifier', 'b', 2],
      ['punctuator', '>=', 4],
      ['number', '1.5e2', 7],
      ['punctuator', '&&', 13],
      ['string', "it's", 16],
      ['punctuator', '!=', 24],
      ['string', 'x\nyA', 27],
      ['end', '', 39],
    ]);
    expect(tokens[4]?.number).toBe(150);
  });

  it('allows dashes in property names after a dot only', () => {
    expect(tokenize('components.db-migrations.version').map((t) => t.text)).toEqual([
      'components',
      '.',
      'db-migrations',
      '.',
      'version',
      '',
    ]);
    expect(tokenize('a-b').map((t) => t.text)).toEqual(['a', '-', 'b', '']);
    expect(tokenize('a.b - 1').map((t) => t.text)).toEqual(['a', '.', 'b', '-', '1', '']);
  });
});

describe('parseExpression', () => {
  it('parses literals', () => {
    expect(shape('42')).toBe('42');
    expect(shape('0.25')).toBe('0.25');
    expect(shape(`'single'`)).toBe('"single"');
    expect(shape(`"dou\\"ble"`)).toBe('"dou\\"ble"');
    expect(shape('true')).toBe('true');
    expect(shape('false')).toBe('false');
    expect(shape('null')).toBe('null');
  });

  it('parses member chains and indexes', () => {
    expect(shape(`components.iam.outputs['role_arn']`)).toBe('components.iam.outputs["role_arn"]');
    expect(shape('hosts[0].name')).toBe('hosts[0].name');
    expect(shape('a[b.c]')).toBe('a[b.c]');
    // A keyword after a dot is a property name.
    expect(shape('a.true.null')).toBe('a.true.null');
  });

  it('applies the usual precedence', () => {
    expect(shape('1 + 2 * 3')).toBe('(1 + (2 * 3))');
    expect(shape('(1 + 2) * 3')).toBe('((1 + 2) * 3)');
    expect(shape('a || b && c')).toBe('(a || (b && c))');
    expect(shape('a == b && c != d')).toBe('((a == b) && (c != d))');
    expect(shape('a < b == c >= d')).toBe('((a < b) == (c >= d))');
    expect(shape('1 + 2 < 3 * 4')).toBe('((1 + 2) < (3 * 4))');
    expect(shape('!a && -b.c')).toBe('((!a) && (-b.c))');
    expect(shape('!a == b')).toBe('((!a) == b)');
    expect(shape('-a * b')).toBe('((-a) * b)');
    expect(shape('a % b / c')).toBe('((a % b) / c)');
  });

  it('is left-associative for binary operators', () => {
    expect(shape('a - b - c')).toBe('((a - b) - c)');
    expect(shape('a / b * c')).toBe('((a / b) * c)');
  });

  it('parses the conditional, right-associative and lowest', () => {
    expect(shape('a ? b : c')).toBe('(a ? b : c)');
    expect(shape('a || b ? c + 1 : d')).toBe('((a || b) ? (c + 1) : d)');
    expect(shape('a ? b : c ? d : e')).toBe('(a ? b : (c ? d : e))');
    expect(shape('a ? b ? c : d : e')).toBe('(a ? (b ? c : d) : e)');
  });

  it('records source offsets on nodes', () => {
    const expr = parseExpression('  a.b + 1');
    expect(expr).toMatchObject({ kind: 'binary', start: 2, end: 9, left: { start: 2, end: 5 } });
  });

  it.each([
    ['', 'expected an expression', 0],
    ['a +', 'expected an expression after +', 2],
    ['a b', 'unexpected identifier b', 2],
    ['(a', 'expected ) to close (, found end of expression', 2],
    ['a[0', 'expected ] to close [, found end of expression', 3],
    ['a.', 'expected a property name after ., found end of expression', 2],
    ['a.1', 'expected a property name after ., found number 1', 2],
    ['a ? b', 'expected : in c ? a : b, found end of expression', 5],
    ['a = b', 'unexpected =: compare with ==', 2],
    ['a & b', 'unexpected &: "and" is &&', 2],
    ['a | b', 'unexpected |: "or" is ||', 2],
    ['1 + #', 'unexpected character "#"', 4],
    [`'abc`, 'unterminated string', 0],
    [`x == 'a\\qb'`, 'unknown escape \\q', 7],
    [`'\\u12'`, 'invalid \\u escape: expected 4 hex digits', 1],
    ['12abc', 'invalid number 12a', 0],
    [')', 'unexpected )', 0],
    ['!', 'expected an expression after !', 0],
  ])('reports %j as "%s" at offset %i', (source, message, offset) => {
    expect(errorOf(source)).toEqual({ message, offset });
  });
});

describe('referencePath', () => {
  it('gives the path of constant member chains', () => {
    expect(referencePath(parseExpression('components.iam.outputs.role_arn'))).toEqual([
      'components',
      'iam',
      'outputs',
      'role_arn',
    ]);
    expect(referencePath(parseExpression(`env.vars['db-url']`))).toEqual(['env', 'vars', 'db-url']);
    expect(referencePath(parseExpression('env.vars.hosts[0]'))).toEqual(['env', 'vars', 'hosts', '0']);
    expect(referencePath(parseExpression('(env).name'))).toEqual(['env', 'name']);
  });

  it('is undefined for anything else', () => {
    expect(referencePath(parseExpression('a[b]'))).toBeUndefined();
    expect(referencePath(parseExpression('(a || b).c'))).toBeUndefined();
    expect(referencePath(parseExpression('a[true]'))).toBeUndefined();
    expect(referencePath(parseExpression('1'))).toBeUndefined();
  });
});

describe('printExpression', () => {
  it('writes expressions back, normalised and with only the parentheses needed', () => {
    expect(printExpression(parseExpression(`components['iam'].outputs["role_arn"]`))).toBe(
      'components.iam.outputs.role_arn',
    );
    expect(printExpression(parseExpression(`a['x y'][0]`))).toBe(`a['x y'][0]`);
    expect(printExpression(parseExpression('(a + b) * c'))).toBe('(a + b) * c');
    expect(printExpression(parseExpression('a - (b - c)'))).toBe('a - (b - c)');
    expect(printExpression(parseExpression('!(a && b) ? x : y'))).toBe('!(a && b) ? x : y');
  });
});

describe('parseExpression: nesting has a limit', () => {
  const tooDeep = (source: string): ExpressionError => {
    try {
      parseExpression(source);
    } catch (error) {
      if (error instanceof ExpressionError) return error;
      throw error;
    }
    throw new Error(`${source.slice(0, 20)}… parsed`);
  };

  it('5,000 nested parentheses are an error at the level past the limit, not a stack overflow', () => {
    const error = tooDeep(`${'('.repeat(5000)}1${')'.repeat(5000)}`);
    expect(error.message).toMatch(/nests more than 100 levels deep/);
    expect(error.offset).toBe(100);
  });

  it('long chains nest too: members, operators, unary signs', () => {
    expect(tooDeep(`a${'.b'.repeat(5000)}`).message).toMatch(/nests more than 100/);
    expect(tooDeep(`1${' + 1'.repeat(5000)}`).message).toMatch(/nests more than 100/);
    expect(tooDeep(`${'!'.repeat(5000)}true`).message).toMatch(/nests more than 100/);
    expect(tooDeep(`${'a ? b : '.repeat(5000)}c`).message).toMatch(/nests more than 100/);
  });

  it('an expression within the limit parses', () => {
    expect(() => parseExpression(`${'('.repeat(90)}1${')'.repeat(90)}`)).not.toThrow();
    expect(() => parseExpression(`a${'.b'.repeat(90)}`)).not.toThrow();
  });
});
