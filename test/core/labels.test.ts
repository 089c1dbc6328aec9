import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { checkLabels, formatLabels, parseLabelAssignments, sameLabels } from '../../src/core/labels.js';

function problems(pairs: string[]): string {
  try {
    parseLabelAssignments(pairs);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).field).toBe('--label');
    return (error as Error).message;
  }
  throw new Error(`${pairs.join(' ')} was accepted`);
}

describe('release labels', () => {
  it('parse KEY=VALUE at the first =, sorted by key', () => {
    expect(parseLabelAssignments(['team=payments', 'risk=high', 'example.com/ticket=OPS-1', 'note=a=b'])).toEqual({
      'example.com/ticket': 'OPS-1',
      note: 'a=b',
      risk: 'high',
      team: 'payments',
    });
    expect(Object.keys(parseLabelAssignments(['z=1', 'a=2']))).toEqual(['a', 'z']);
    expect(parseLabelAssignments([])).toEqual({});
  });

  it('take keys as Kubernetes label keys: an optional DNS prefix and a name of at most 63 characters', () => {
    for (const key of ['risk', 'a', 'A1', 'change_type', 'v1.2', 'app.kubernetes.io/part-of', 'x/y', `${'n'.repeat(63)}`]) {
      expect(() => parseLabelAssignments([`${key}=v`]), key).not.toThrow();
    }
    expect(problems(['-risk=high'])).toBe(`--label "-risk": the key's name must be 1 to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit`);
    expect(problems([`${'n'.repeat(64)}=v`])).toMatch(/the key's name must be 1 to 63/);
    expect(problems(['Example.com/risk=v'])).toMatch(/"Example.com\/risk": the key's prefix must be a DNS subdomain/);
    expect(problems(['/risk=v'])).toMatch(/prefix must be a DNS subdomain/);
    expect(problems(['example.com/=v'])).toMatch(/the key's name must be/);
    expect(problems(['has space=v'])).toMatch(/the key's name must be/);
    expect(problems(['__proto__=x'])).toMatch(/"__proto__": the key's name must be/);
  });

  it('take values of 1 to 256 printable characters, counted as characters, not UTF-16 units', () => {
    expect(parseLabelAssignments([`note=${'😀'.repeat(256)}`]).note).toHaveLength(512);
    expect(problems([`note=${'😀'.repeat(257)}`])).toBe('--label "note": the value is longer than 256 characters');
    expect(problems(['risk='])).toBe('--label "risk": the value is empty (leave the label out instead)');
    expect(problems(['risk= high'])).toBe('--label "risk": the value starts or ends with white space');
    for (const bad of ['a\nb', 'a\rb', 'a\tb', 'a\u0000b', 'a\u007fb', 'a\u0085b', 'a\u009bb', 'a\u2028b', 'a\u2029b', 'a\u202eb', 'a\u2066b', '\u001b[31mred']) {
      expect(problems([`risk=${bad}`]), JSON.stringify(bad)).toBe('--label "risk": the value contains a control character, a line break or a bidirectional formatting character');
    }
    expect(parseLabelAssignments(['owner=Zoë Müller', 'path=a/b:c']).owner).toBe('Zoë Müller');
  });

  it('refuse a key given twice, a pair without =, and more than 64 labels; every problem at once', () => {
    expect(problems(['risk=high', 'risk=low', 'oops', '=x', 'bad key=1'])).toBe(
      [
        '--label "risk" is given twice',
        '--label "oops": expected KEY=VALUE',
        '--label "=x": expected KEY=VALUE',
        `--label "bad key": the key's name must be 1 to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit`,
      ].join('\n'),
    );
    const many = Array.from({ length: 65 }, (_, i) => `k${i}=v`);
    expect(problems(many)).toBe('65 labels: at most 64 are allowed');
    expect(() => parseLabelAssignments(many.slice(0, 64))).not.toThrow();
  });

  it('treat names of Object.prototype members as keys like any other', () => {
    expect(parseLabelAssignments(['constructor=a', 'toString=b', 'hasOwnProperty=c'])).toEqual({ constructor: 'a', toString: 'b', hasOwnProperty: 'c' });
    expect(problems(['constructor=a', 'constructor=b'])).toBe('--label "constructor" is given twice');
  });

  it('quote a key holding a line break instead of printing it raw', () => {
    expect(problems(['a\nforged line=1'])).toBe(`--label "a\\nforged line": the key's name must be 1 to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit`);
  });

  it('check labels handed to the engine directly, and compare and print them', () => {
    expect(() => checkLabels({ risk: 'high' })).not.toThrow();
    expect(() => checkLabels({ risk: 'a\nb' })).toThrow(InputError);
    expect(() => checkLabels({ risk: 5 } as unknown as Record<string, string>)).toThrow('--label "risk": the value must be text');
    expect(formatLabels({ team: 'payments', risk: 'high' })).toBe('risk=high team=payments');
    expect(formatLabels({})).toBe('');
    expect(sameLabels({ a: '1', b: '2' }, { b: '2', a: '1' })).toBe(true);
    expect(sameLabels({ a: '1' }, { a: '1', b: '2' })).toBe(false);
    expect(sameLabels({ constructor: 'x' }, {})).toBe(false);
  });
});
