import { describe, expect, it } from 'vitest';
import { ExpressionError } from '../../../src/core/expression/expression-error.js';
import {
  findReferences,
  isTemplate,
  parseTemplate,
  renderTemplates,
  RenderError,
} from '../../../src/core/expression/template.js';
import type { EvalScope } from '../../../src/core/expression/evaluate.js';
import { Redactor } from '../../../src/core/redact.js';

const SECRET = 'hunter2-very-secret';

function scope(secrets: Record<string, string> = {}): EvalScope {
  return {
    values: {
      env: { name: 'prod', vars: { hosts: ['billing-1', 'billing-2'], replicas: 3, debug: false } },
      version: '1.4.2',
      components: { iam: { version: 'git:4f2a1c', outputs: { role_arn: 'arn:aws:iam::1:role/x', port: 8080 } } },
    },
    secret: (name) => secrets[name],
    redactor: new Redactor(),
  };
}

function renderError(value: unknown, s: EvalScope = scope()): RenderError {
  try {
    renderTemplates(value, s);
  } catch (error) {
    expect(error).toBeInstanceOf(RenderError);
    expect(error).toBeInstanceOf(ExpressionError);
    return error as RenderError;
  }
  throw new Error('expected rendering to fail');
}

describe('parseTemplate', () => {
  it('splits text and expressions with their offsets', () => {
    const t = parseTemplate('api-${{ env.name }}-${{version}}!');
    expect(t.whole).toBe(false);
    expect(
      t.parts.map((p) =>
        p.kind === 'text' ? ['text', p.text, p.offset] : ['expr', p.source, p.offset, p.sourceOffset],
      ),
    ).toEqual([
      ['text', 'api-', 0],
      ['expr', ' env.name ', 4, 7],
      ['text', '-', 19],
      ['expr', 'version', 20, 23],
      ['text', '!', 32],
    ]);
  });

  it('is whole only for exactly one expression with nothing outside the braces', () => {
    expect(parseTemplate('${{ env.vars.hosts }}').whole).toBe(true);
    expect(parseTemplate('${{env.vars.hosts}}').whole).toBe(true);
    expect(parseTemplate(' ${{ env.vars.hosts }}').whole).toBe(false);
    expect(parseTemplate('${{ env.vars.hosts }} ').whole).toBe(false);
    expect(parseTemplate('${{ a }}${{ b }}').whole).toBe(false);
    expect(parseTemplate('plain text').whole).toBe(false);
  });

  it('does not end an expression at }} inside a string literal', () => {
    const t = parseTemplate(`\${{ 'a}}b' + "c}}" }}`);
    expect(t.whole).toBe(true);
    expect(t.parts[0]).toMatchObject({ kind: 'expression', source: ` 'a}}b' + "c}}" ` });
  });

  it('throws ExpressionError for an unterminated ${{, at its offset', () => {
    expect(() => parseTemplate('abc ${{ env.name')).toThrow(new ExpressionError('${{ is not closed with }}', 4));
    try {
      parseTemplate('abc ${{ env.name');
    } catch (error) {
      expect((error as ExpressionError).offset).toBe(4);
    }
  });

  it('reports a syntax error at its offset within the whole text', () => {
    try {
      parseTemplate('x-${{ a + }}');
      throw new Error('expected a failure');
    } catch (error) {
      expect(error).toBeInstanceOf(ExpressionError);
      expect((error as ExpressionError).message).toBe('expected an expression after +');
      expect((error as ExpressionError).offset).toBe(8);
    }
  });

  it('isTemplate looks for ${{', () => {
    expect(isTemplate('a ${{ b }}')).toBe(true);
    expect(isTemplate('a ${{ b')).toBe(true);
    expect(isTemplate('a ${ b } {{ c }}')).toBe(false);
  });
});

describe('findReferences', () => {
  it('finds every reference, with where it is, whether it is whole, and its ${{ offset', () => {
    const { refs, errors } = findReferences({
      apply: ['./deploy.sh', '${{ version }}', 'to-${{ env.name }}'],
      env: { ROLE: '${{ components.iam.outputs.role_arn }}', N: `\${{ env.vars['replicas'] }}` },
      mixed: "${{ env.name == 'prod' ? components.iam.outputs.port : 1 }}",
      n: 3,
    });
    expect(errors).toEqual([]);
    expect(refs).toEqual([
      { at: ['apply', 1], path: ['version'], whole: true, offset: 0, expression: 'version' },
      { at: ['apply', 2], path: ['env', 'name'], whole: false, offset: 3, expression: 'env.name' },
      {
        at: ['env', 'ROLE'],
        path: ['components', 'iam', 'outputs', 'role_arn'],
        whole: true,
        offset: 0,
        expression: 'components.iam.outputs.role_arn',
      },
      {
        at: ['env', 'N'],
        path: ['env', 'vars', 'replicas'],
        whole: true,
        offset: 0,
        expression: `env.vars['replicas']`,
      },
      {
        at: ['mixed'],
        path: ['env', 'name'],
        whole: false,
        offset: 0,
        expression: "env.name == 'prod' ? components.iam.outputs.port : 1",
      },
      {
        at: ['mixed'],
        path: ['components', 'iam', 'outputs', 'port'],
        whole: false,
        offset: 0,
        expression: "env.name == 'prod' ? components.iam.outputs.port : 1",
      },
    ]);
  });

  it('gives the constant prefix of a computed chain and the references in its key', () => {
    const { refs } = findReferences('${{ components[env.vars.target].outputs.url }}');
    expect(refs.map((r) => r.path.join('.'))).toEqual(['components', 'env.vars.target']);
    expect(refs.every((r) => !r.whole)).toBe(true);
  });

  it('collects every syntax error, each at its ${{', () => {
    const { refs, errors } = findReferences({ a: ['ok ${{ version }} ${{ a + }} ${{ b c }}'], b: 'x ${{ open' });
    expect(refs.map((r) => r.path)).toEqual([['version']]);
    expect(errors).toEqual([
      { at: ['a', 0], offset: 18, message: 'expected an expression after + in ${{ a + }}' },
      { at: ['a', 0], offset: 29, message: 'unexpected identifier c in ${{ b c }}' },
      { at: ['b'], offset: 2, message: '${{ is not closed with }}' },
    ]);
  });
});

describe('renderTemplates', () => {
  it('keeps the type of a whole template and interpolates the rest, deeply', () => {
    const out = renderTemplates(
      {
        hosts: '${{ env.vars.hosts }}',
        replicas: '${{ env.vars.replicas }}',
        debug: '${{ env.vars.debug }}',
        path: 'apps/api/${{ env.name }}',
        list: ['${{ version }}', 'n=${{ env.vars.replicas }} d=${{ env.vars.debug }}', 5, null],
        nested: { role: '${{ components.iam.outputs.role_arn }}', port: 'port ${{ components.iam.outputs.port }}' },
        plain: 'no templates',
      },
      scope(),
    );
    expect(out).toEqual({
      hosts: ['billing-1', 'billing-2'],
      replicas: 3,
      debug: false,
      path: 'apps/api/prod',
      list: ['1.4.2', 'n=3 d=false', 5, null],
      nested: { role: 'arn:aws:iam::1:role/x', port: 'port 8080' },
      plain: 'no templates',
    });
  });

  it('does not change the input', () => {
    const input = { a: ['${{ version }}'] };
    renderTemplates(input, scope());
    expect(input).toEqual({ a: ['${{ version }}'] });
  });

  it('names the field and the reference that is not available', () => {
    const error = renderError({ set: [{}, { value: '${{ components.iam.outputs.role }}' }] });
    expect(error.message).toBe('set.1.value: components.iam.outputs.role is not available');
    expect(error.path).toBe('set.1.value');
    expect(error.expression).toBe('components.iam.outputs.role');
    expect(error.offset).toBe(4);
  });

  it('prefixes paths with options.path', () => {
    try {
      renderTemplates({ apply: ['x', 'v${{ nope }}'] }, scope(), { path: ['components', 'api', 'with'] });
      throw new Error('expected a failure');
    } catch (error) {
      expect((error as RenderError).message).toBe('components.api.with.apply.1: nope is not available');
      expect((error as RenderError).offset).toBe(5);
    }
  });

  it('refuses objects and arrays inside text', () => {
    expect(renderError({ a: 'hosts: ${{ env.vars.hosts }}' }).message).toBe(
      'a: env.vars.hosts is an array, which cannot be put into text; use it as the whole value or pick a field',
    );
  });

  it('reports syntax errors with the field path', () => {
    const error = renderError({ a: 'x ${{ 1 + }}' });
    expect(error.message).toBe('a: expected an expression after +');
    expect(error.offset).toBe(8);
  });

  it('renders secrets, adds them to the redactor, and never shows them in errors', () => {
    const s = scope({ DB_URL: SECRET });
    expect(renderTemplates({ url: '${{ secrets.DB_URL }}', dsn: 'dsn=${{ secrets.DB_URL }}' }, s)).toEqual({
      url: SECRET,
      dsn: `dsn=${SECRET}`,
    });
    expect(s.redactor?.redact(`connecting to ${SECRET}`)).toBe('connecting to ***');

    const unset = renderError({ url: '${{ secrets.MISSING }}' }, s);
    expect(unset.message).toBe('url: secret MISSING is not set');

    const typed = renderError({ n: '${{ secrets.DB_URL - 1 }}' }, s);
    expect(typed.message).toBe('n: - needs numbers, got a string');
    expect(typed.message).not.toContain(SECRET);
  });

  it('renders a top-level string', () => {
    expect(renderTemplates('v${{ version }}', scope())).toBe('v1.4.2');
    expect(() => renderTemplates('${{ nope }}', scope())).toThrow(/^nope is not available$/);
  });
});
