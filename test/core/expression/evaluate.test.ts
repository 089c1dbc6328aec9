import { describe, expect, it } from 'vitest';
import { evaluate, type EvalScope } from '../../../src/core/expression/evaluate.js';
import { ExpressionError } from '../../../src/core/expression/expression-error.js';
import { parseExpression } from '../../../src/core/expression/parser.js';
import { Redactor } from '../../../src/core/redact.js';

const SECRET = 's3cr3t-value';

function scope(values: Record<string, unknown> = {}, secrets: Record<string, string> = {}): EvalScope {
  return { values, secret: (name) => secrets[name], redactor: new Redactor() };
}

const values = {
  env: { name: 'prod', vars: { replicas: 3, hosts: ['a', 'b'], 'db-url': 'postgres://x', empty: '' } },
  version: '1.4.2',
  n: 7,
  flag: false,
  nothing: null,
};

function run(source: string, s: EvalScope = scope(values)): unknown {
  return evaluate(parseExpression(source), s);
}

function failure(source: string, s: EvalScope = scope(values)): { message: string; offset: number } {
  try {
    run(source, s);
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionError);
    return { message: (error as ExpressionError).message, offset: (error as ExpressionError).offset };
  }
  throw new Error(`expected ${source} to fail`);
}

describe('evaluate', () => {
  it('evaluates arithmetic with precedence', () => {
    expect(run('1 + 2 * 3')).toBe(7);
    expect(run('(1 + 2) * 3')).toBe(9);
    expect(run('10 - 4 - 3')).toBe(3);
    expect(run('7 % 4 / 2')).toBe(1.5);
    expect(run('-n + 1')).toBe(-6);
    expect(run('--n')).toBe(7);
  });

  it('concatenates when either side of + is a string', () => {
    expect(run(`'v' + version`)).toBe('v1.4.2');
    expect(run(`'r' + env.vars.replicas`)).toBe('r3');
    expect(run(`1 + 2 + 'x'`)).toBe('3x');
    expect(run(`'x' + 1 + 2`)).toBe('x12');
    expect(run(`'on: ' + true`)).toBe('on: true');
  });

  it('reads members, indexes and dashed keys', () => {
    expect(run('env.name')).toBe('prod');
    expect(run('env.vars.hosts[1]')).toBe('b');
    expect(run(`env.vars['db-url']`)).toBe('postgres://x');
    expect(run('env.vars.db-url')).toBe('postgres://x');
    expect(run(`env['vars'].replicas`)).toBe(3);
    expect(run('env.vars.hosts')).toEqual(['a', 'b']);
    expect(run(`env.vars[env.name == 'prod' ? 'replicas' : 'hosts']`)).toBe(3);
  });

  it('gives undefined for missing members, and never reaches prototypes', () => {
    expect(run('env.nope')).toBeUndefined();
    expect(run('nope.deeper.still')).toBeUndefined();
    expect(run('env.vars.hosts[5]')).toBeUndefined();
    expect(run(`env.vars.hosts['0']`)).toBeUndefined();
    expect(run('version.length')).toBeUndefined();
    expect(run('env.constructor')).toBeUndefined();
    expect(run('env.__proto__')).toBeUndefined();
    expect(run('toString')).toBeUndefined();
  });

  it('compares strictly, with missing equal to null', () => {
    expect(run(`n == 7`)).toBe(true);
    expect(run(`n == '7'`)).toBe(false);
    expect(run(`n != '7'`)).toBe(true);
    expect(run(`env.name == 'prod'`)).toBe(true);
    expect(run('nothing == null')).toBe(true);
    expect(run('env.missing == null')).toBe(true);
    expect(run('env.missing != null')).toBe(false);
    expect(run('flag == 0')).toBe(false);
  });

  it('orders numbers and strings', () => {
    expect(run('n > 3')).toBe(true);
    expect(run('n <= 7')).toBe(true);
    expect(run('n < 7')).toBe(false);
    expect(run(`'a' < 'b'`)).toBe(true);
    expect(run(`version >= '1.4'`)).toBe(true);
  });

  it('short-circuits && and ||, returning booleans', () => {
    expect(run(`version && n`)).toBe(true);
    expect(run(`flag || env.vars.empty`)).toBe(false);
    expect(run(`flag || 'x'`)).toBe(true);
    // The right side would throw (secret unset), but is never evaluated.
    expect(run('flag && secrets.UNSET')).toBe(false);
    expect(run(`n || secrets.UNSET`)).toBe(true);
    expect(run('!flag')).toBe(true);
    expect(run('!env.missing')).toBe(true);
    expect(run('!env.vars.hosts')).toBe(false);
  });

  it('evaluates only the chosen branch of a conditional', () => {
    expect(run(`env.name == 'prod' ? env.vars.replicas : 1`)).toBe(3);
    expect(run(`env.missing ? secrets.UNSET : 'fallback'`)).toBe('fallback');
  });

  it('throws on type errors, naming types but never values', () => {
    expect(failure('-version')).toEqual({ message: '- needs numbers, got a string', offset: 1 });
    expect(failure('n * env.vars.hosts')).toEqual({ message: '* needs numbers, got an array', offset: 4 });
    expect(failure('true + 1')).toEqual({ message: 'cannot add a boolean and a number', offset: 0 });
    expect(failure(`n < 'x'`)).toEqual({ message: 'cannot compare a number < a string', offset: 0 });
    expect(failure('n / 0')).toEqual({ message: 'division by zero', offset: 4 });
    expect(failure('n % (1 - 1)')).toEqual({ message: 'division by zero', offset: 4 });
    expect(failure(`'x' + env`)).toEqual({
      message: 'env is an object, which cannot be put into text; use it as the whole value or pick a field',
      offset: 6,
    });
    expect(failure(`'x' + nothing`).message).toBe(
      'nothing is null, which cannot be put into text; use it as the whole value or pick a field',
    );
    expect(failure('env.vars[env.vars.hosts]')).toEqual({
      message: 'an index must be a string or a number, got an array',
      offset: 9,
    });
  });

  it('names a missing reference used where a value is needed', () => {
    expect(failure(`1 + components.iam.outputs.port`)).toEqual({
      message: 'components.iam.outputs.port is not available',
      offset: 4,
    });
    expect(failure(`'v' + env['missing']`)).toEqual({ message: 'env.missing is not available', offset: 6 });
    expect(failure(`env.missing > 1`)).toEqual({ message: 'env.missing is not available', offset: 0 });
  });

  it('makes a missing result an error only when a value is required', () => {
    const expr = parseExpression(`flag ? 1 : components.iam.outputs.role_arn`);
    expect(evaluate(expr, scope(values))).toBeUndefined();
    expect(() => evaluate(expr, scope(values), { requireValue: true })).toThrow(
      'components.iam.outputs.role_arn is not available',
    );
  });

  describe('secrets', () => {
    it('reads secrets through scope.secret and adds them to the redactor', () => {
      const s = scope(values, { DB_PASSWORD: SECRET });
      expect(run('secrets.DB_PASSWORD', s)).toBe(SECRET);
      expect(s.redactor?.redact(`password=${SECRET}`)).toBe('password=***');
      expect(run(`'u:' + secrets['DB_PASSWORD']`, s)).toBe(`u:${SECRET}`);
    });

    it('never puts `secrets` itself in reach of values', () => {
      const s = scope({ secrets: { X: 'from-values' } }, { X: SECRET });
      expect(run('secrets.X', s)).toBe(SECRET);
      expect(failure('secrets', s)).toEqual({
        message: 'secrets must be followed by a name, as in secrets.NAME',
        offset: 0,
      });
    });

    it('throws for an unset secret, without any value in the message', () => {
      const s = scope(values, { OTHER: SECRET });
      const error = failure(`'x' + secrets.DB_PASSWORD`, s);
      expect(error).toEqual({ message: 'secret DB_PASSWORD is not set', offset: 6 });
      expect(error.message).not.toContain(SECRET);
    });

    it('keeps a secret out of type errors', () => {
      const s = scope(values, { TOKEN: SECRET });
      const error = failure('secrets.TOKEN * 2', s);
      expect(error.message).toBe('* needs numbers, got a string');
      expect(error.message).not.toContain(SECRET);
    });
  });
});
