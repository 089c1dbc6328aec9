import { describe, expect, it } from 'vitest';
import {
  checkCel,
  compileCel,
  type CelContext,
  type PolicyVariables,
  type VerifyVariables,
} from '../../../src/core/gates/cel.js';
import { ExpressionError } from '../../../src/core/expression/expression-error.js';

const SECRET = 's3cr3t-label-value';

function policy(overrides: { [K in keyof PolicyVariables]?: Partial<PolicyVariables[K]> } = {}): PolicyVariables {
  const base: PolicyVariables = {
    release: {
      id: 'r-42',
      versions: { api: '1.4.2', web: '2.0.0' },
      labels: { risk: 'low' },
      message: 'Ship it',
      createdBy: 'ada',
      createdAt: new Date('2026-03-01T10:00:00Z'),
    },
    plan: {
      components: {
        api: { type: 'helm', action: 'apply', from: '1.4.1', to: '1.4.2', reversible: true, risk: 'low' },
        db: { type: 'sql', action: 'apply', from: '', to: '7', reversible: false, risk: 'high' },
        web: { type: 'helm', action: 'unchanged', from: '2.0.0', to: '2.0.0', reversible: true, risk: 'low' },
      },
      changed: ['api', 'db'],
      irreversible: true,
      destructive: false,
      counts: { total: 3, apply: 2, unchanged: 1, irreversible: 1, destructive: 0, unknowns: 0 },
      unknowns: [],
    },
    env: { name: 'prod-us', after: ['staging'] },
    approvals: { count: 1, by: ['grace'] },
    now: new Date('2026-06-01T12:00:00Z'),
  };
  return {
    release: { ...base.release, ...overrides.release },
    plan: { ...base.plan, ...overrides.plan },
    env: { ...base.env, ...overrides.env },
    approvals: { ...base.approvals, ...overrides.approvals },
    now: overrides.now === undefined ? base.now : (overrides.now as Date),
  };
}

function verify(response: Partial<VerifyVariables['response']> = {}): VerifyVariables {
  return {
    response: { status: 200, headers: { 'content-type': 'application/json' }, body: { ok: true }, ...response },
  };
}

function run(context: CelContext, expression: string, variables: PolicyVariables | VerifyVariables): boolean {
  return compileCel(context, expression).evaluate(variables as unknown as Record<string, unknown>);
}

function evaluationFailure(
  context: CelContext,
  expression: string,
  variables: PolicyVariables | VerifyVariables,
): Error {
  try {
    run(context, expression, variables);
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error(`expected ${expression} to fail`);
}

describe('checkCel', () => {
  it('accepts the issue examples and reports what they reference', () => {
    const examples: [CelContext, string, string[]][] = [
      ['policy', '!plan.irreversible || approvals.count >= 3', ['approvals', 'plan']],
      ['policy', `release.labels['risk'] != 'high' || env.name != 'prod-us'`, ['env', 'release']],
      ['policy', `now < timestamp('2027-01-01T00:00:00Z')`, ['now']],
      ['policy', 'size(plan.changed) <= 5', ['plan']],
      ['verify', 'response.status == 200 && response.body.ok == true', ['response']],
    ];
    for (const [context, expression, references] of examples) {
      const result = checkCel(context, expression);
      expect(result, expression).toEqual({ ok: true, references: new Set(references) });
    }
  });

  it('rejects a comparison of an int with a string', () => {
    const result = checkCel('policy', 'approvals.count >= "3"');
    expect(result).toEqual({ ok: false, message: 'no such overload: int >= string', offset: 0 });
  });

  it('rejects an unknown field of a declared object, pointing at the field', () => {
    expect(checkCel('policy', 'plan.irreversibel')).toEqual({
      ok: false,
      message: 'No such key: irreversibel',
      offset: 5,
    });
    const nested = checkCel('policy', `plan.components['api'].riks == 'high'`);
    expect(nested).toMatchObject({ ok: false, message: 'No such key: riks', offset: 23 });
  });

  it('rejects an unknown variable, and a variable of the other context', () => {
    expect(checkCel('policy', 'approval.count >= 2')).toEqual({
      ok: false,
      message: 'Unknown variable: approval',
      offset: 0,
    });
    expect(checkCel('verify', 'approvals.count >= 2')).toMatchObject({
      ok: false,
      message: 'Unknown variable: approvals',
    });
    expect(checkCel('policy', 'response.status == 200')).toMatchObject({
      ok: false,
      message: 'Unknown variable: response',
    });
  });

  it('rejects an expression that is not a bool, including dyn', () => {
    expect(checkCel('policy', 'approvals.count')).toEqual({
      ok: false,
      message: 'the expression must be of type bool, got int',
      offset: 0,
    });
    expect(checkCel('verify', 'response.body.ok')).toMatchObject({
      ok: false,
      message: 'the expression must be of type bool, got dyn',
    });
  });

  it('reports a syntax error with its offset', () => {
    expect(checkCel('policy', 'approvals.count >= >= 3')).toEqual({
      ok: false,
      message: 'Unexpected token: GE',
      offset: 19,
    });
    expect(checkCel('policy', 'approvals.count >= ')).toMatchObject({ ok: false, offset: 19 });
    expect(checkCel('policy', '')).toMatchObject({ ok: false, offset: 0 });
  });

  it('type-checks inside macros, maps of objects and timestamps', () => {
    expect(checkCel('policy', `plan.changed.all(c, plan.components[c].risk != 'high')`)).toMatchObject({ ok: true });
    expect(checkCel('policy', `plan.changed.all(c, plan.components[c].rsik != 'high')`)).toMatchObject({
      ok: false,
      message: 'No such key: rsik',
    });
    expect(checkCel('policy', `now - release.createdAt > duration('1h')`)).toMatchObject({ ok: true });
    expect(checkCel('policy', `release.createdAt > '2026-01-01'`)).toMatchObject({ ok: false });
    expect(checkCel('policy', `plan.counts['apply'] > 2`)).toMatchObject({ ok: true });
  });

  it('computes references without counting macro variables that shadow them', () => {
    const refs = (expression: string): string[] => {
      const result = checkCel('policy', expression);
      if (!result.ok) throw new Error(result.message);
      return [...result.references].sort();
    };
    expect(refs('true')).toEqual([]);
    expect(refs(`env.name == 'prod-us' && approvals.by.exists(a, a == release.createdBy)`)).toEqual([
      'approvals',
      'env',
      'release',
    ]);
    // `now` here is the iteration variable, not the clock.
    expect(refs(`plan.changed.exists(now, now == 'db')`)).toEqual(['plan']);
    expect(refs(`plan.changed.exists(c, c == 'db') || now > release.createdAt`)).toEqual(['now', 'plan', 'release']);
    expect(refs(`cel.bind(n, approvals.count, n >= 2 && now > release.createdAt)`)).toEqual([
      'approvals',
      'now',
      'release',
    ]);
    expect(refs(`{'a': approvals.count}['a'] > 0 && [env.name][0] != ''`)).toEqual(['approvals', 'env']);
    expect(refs(`has(release.labels.risk) ? release.labels.risk == 'low' : -approvals.count < 0`)).toEqual([
      'approvals',
      'release',
    ]);
  });
});

describe('compileCel', () => {
  it('throws naming the expression when the check fails', () => {
    expect(() => compileCel('policy', 'plan.irreversibel')).toThrow(
      'Invalid CEL expression "plan.irreversibel" at offset 5: No such key: irreversibel',
    );
    expect(() => compileCel('policy', 'approvals.count')).toThrow(ExpressionError);
  });

  it('evaluates the approval policy with real values', () => {
    const expression = '!plan.irreversible || approvals.count >= 3';
    expect(run('policy', expression, policy({ approvals: { count: 1 } }))).toBe(false);
    expect(run('policy', expression, policy({ approvals: { count: 3 } }))).toBe(true);
    expect(run('policy', expression, policy({ plan: { irreversible: false } }))).toBe(true);
  });

  it('evaluates a policy on the values a plan knows only after their producers apply', () => {
    const unknown = { consumer: 'api', field: 'with.values.roleArn', producer: 'infra', output: 'role_arn' };
    const thirdApprover = 'size(plan.unknowns) == 0 || approvals.count >= 3';
    expect(run('policy', thirdApprover, policy())).toBe(true);
    expect(run('policy', thirdApprover, policy({ plan: { unknowns: [unknown], counts: { unknowns: 1 } } }))).toBe(false);
    expect(run('policy', thirdApprover, policy({ plan: { unknowns: [unknown] }, approvals: { count: 3 } }))).toBe(true);
    const fromInfra = `!plan.unknowns.exists(u, u.producer == 'infra' && u.consumer == 'api')`;
    expect(run('policy', fromInfra, policy({ plan: { unknowns: [unknown] } }))).toBe(false);
    expect(run('policy', fromInfra, policy({ plan: { unknowns: [{ ...unknown, producer: 'db' }] } }))).toBe(true);
    expect(run('policy', `plan.counts['unknowns'] == 1`, policy({ plan: { unknowns: [unknown], counts: { unknowns: 1 } } }))).toBe(true);
    expect(checkCel('policy', 'plan.unknowns.exists(u, u.produser == "infra")')).toMatchObject({ ok: false });
  });

  it('evaluates labels, environment names, timestamps, lists and maps', () => {
    const labels = `release.labels['risk'] != 'high' || env.name != 'prod-us'`;
    expect(run('policy', labels, policy())).toBe(true);
    expect(run('policy', labels, policy({ release: { labels: { risk: 'high' } } }))).toBe(false);
    expect(run('policy', labels, policy({ release: { labels: { risk: 'high' } }, env: { name: 'staging' } }))).toBe(
      true,
    );

    const deadline = `now < timestamp('2027-01-01T00:00:00Z')`;
    expect(run('policy', deadline, policy())).toBe(true);
    expect(run('policy', deadline, policy({ now: new Date('2027-01-01T00:00:00Z') }))).toBe(false);

    expect(run('policy', 'size(plan.changed) <= 5', policy())).toBe(true);
    expect(run('policy', 'size(plan.changed) <= 1', policy())).toBe(false);
    expect(run('policy', `plan.counts['apply'] == 2 && plan.counts['destructive'] == 0`, policy())).toBe(true);
    expect(run('policy', `plan.changed.all(c, plan.components[c].reversible)`, policy())).toBe(false);
    expect(run('policy', `plan.components['db'].from == '' && plan.components.db.risk == 'high'`, policy())).toBe(true);
    expect(run('policy', `now - release.createdAt > duration('720h')`, policy())).toBe(true);
    expect(run('policy', `'staging' in env.after && release.versions['api'].startsWith('1.')`, policy())).toBe(true);
  });

  it('evaluates the verify example against a parsed JSON body, and a text body', () => {
    const expression = 'response.status == 200 && response.body.ok == true';
    expect(run('verify', expression, verify())).toBe(true);
    expect(run('verify', expression, verify({ body: { ok: false } }))).toBe(false);
    expect(run('verify', expression, verify({ status: 503 }))).toBe(false);
    expect(
      run(
        'verify',
        `response.body.count == 3 && response.body.items[1] > 1.5`,
        verify({ body: { count: 3, items: [1, 2] } }),
      ),
    ).toBe(true);
    expect(
      run(
        'verify',
        `response.body == 'pong' && response.headers['content-type'].startsWith('application/')`,
        verify({ body: 'pong' }),
      ),
    ).toBe(true);
    // A text body has no fields: the error says where, not what the body was.
    const error = evaluationFailure('verify', expression, verify({ body: 'not json' }));
    expect(error.message).toBe(
      'Cannot evaluate CEL expression "response.status == 200 && response.body.ok == true" at offset 40 (ok): no such key',
    );
  });

  it('fails on a missing map key; `in`, has() and optional indexing test for it', () => {
    const noRisk = policy({ release: { labels: {} } });
    const error = evaluationFailure('policy', `release.labels['risk'] != 'high'`, noRisk);
    expect(error).toBeInstanceOf(ExpressionError);
    expect(error.message).toBe(
      `Cannot evaluate CEL expression "release.labels['risk'] != 'high'" at offset 0 (release.labels['risk']): no such key`,
    );
    expect((error as ExpressionError).offset).toBe(0);

    expect(run('policy', `!('risk' in release.labels) || release.labels['risk'] != 'high'`, noRisk)).toBe(true);
    expect(run('policy', `!has(release.labels.risk) || release.labels.risk != 'high'`, noRisk)).toBe(true);
    expect(run('policy', `release.labels[?'risk'].orValue('low') != 'high'`, noRisk)).toBe(true);
    expect(run('policy', `release.labels.?risk.orValue('low') == 'low'`, noRisk)).toBe(true);
    // `||` absorbs the error when its other side is true, whichever side that is.
    expect(
      run(
        'policy',
        `release.labels['risk'] != 'high' || env.name != 'prod-us'`,
        policy({ release: { labels: {} }, env: { name: 'staging' } }),
      ),
    ).toBe(true);
  });

  it('never puts variable values in an error message', () => {
    const withSecret = policy({ release: { labels: { token: SECRET }, message: SECRET } });
    for (const expression of [
      `release.labels[release.labels['token']] == 'x'`,
      `duration(release.message) > duration('1s')`,
      `int(release.message) > 0`,
      `release.message.matches(release.labels['token'] + '(')`,
    ]) {
      const error = evaluationFailure('policy', expression, withSecret);
      expect(error.message).toContain(expression);
      expect(error.message).not.toContain(SECRET);
    }
  });

  it('converts int fields from numbers, and rejects values of the wrong shape without quoting them', () => {
    const compiled = compileCel('policy', 'approvals.count >= 3');
    expect(compiled.evaluate({ approvals: { count: 3n, by: [] } })).toBe(true);
    expect(() => compiled.evaluate({ approvals: { count: 2.5, by: [] } })).toThrow(
      'Cannot evaluate CEL expression "approvals.count >= 3": variable approvals.count must be an integer',
    );
    expect(() => compiled.evaluate({ approvals: { count: SECRET, by: [] } })).not.toThrow(SECRET);
    expect(() => run('policy', 'plan.counts["total"] > 0', policy({ plan: { counts: { total: 1.5 } } }))).toThrow(
      'variable plan.counts[*] must be an integer',
    );
    expect(() => compileCel('policy', `now > timestamp('2026-01-01T00:00:00Z')`).evaluate({ now: '2026' })).toThrow(
      'variable now must be a valid Date',
    );
  });

  it('needs only the variables the expression references', () => {
    const compiled = compileCel('policy', 'approvals.count >= 2');
    expect(compiled.expression).toBe('approvals.count >= 2');
    expect([...compiled.references]).toEqual(['approvals']);
    expect(compiled.evaluate({ approvals: { count: 2, by: ['a', 'b'] } })).toBe(true);
    expect(() => compiled.evaluate({})).toThrow(
      'Cannot evaluate CEL expression "approvals.count >= 2" at offset 0 (approvals): unknown variable',
    );
  });

  it('keeps the environments unchanged between expressions', () => {
    for (let i = 0; i < 2; i++) {
      expect(checkCel('policy', 'approvals.count >= 1')).toMatchObject({ ok: true });
      expect(checkCel('verify', 'response.status >= 200 && response.status < 300')).toMatchObject({ ok: true });
    }
  });
});

describe('CEL nesting has a limit', () => {
  it.each([
    ['5,000 parentheses', `${'('.repeat(5000)}true${')'.repeat(5000)}`],
    ['5,000 negations', `${'!'.repeat(5000)}true`],
    ['5,000 conjunctions', `true${' && true'.repeat(5000)}`],
  ])('%s: a clear error, not a stack overflow', (_, expression) => {
    const result = checkCel('policy', expression);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(/nests more than|maxDepth/);
  });

  it('an expression of ordinary depth still checks', () => {
    expect(checkCel('policy', `true${' && true'.repeat(50)}`).ok).toBe(true);
  });
});
