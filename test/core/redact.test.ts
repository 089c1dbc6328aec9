import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/core/redact.js';

describe('Redactor', () => {
  it('replaces a secret inside longer text, in its JSON-escaped and shell-quoted forms too', () => {
    const r = new Redactor();
    r.add(`pw-"quoted"\\back'slash`);
    expect(r.redact(`password=pw-"quoted"\\back'slash;`)).toBe('password=***;');
    expect(r.redact(JSON.stringify({ password: `pw-"quoted"\\back'slash` }))).toBe('{"password":"***"}');
    expect(r.redact(`run ./use.sh 'pw-"quoted"\\back'\\''slash'`)).toBe(`run ./use.sh '***'`);
  });

  it('replaces each line of a multi-line secret on its own, but not its short lines', () => {
    const r = new Redactor();
    r.add('-----BEGIN KEY-----\nMIIBVQIBADANBgkq\nabc\n-----END KEY-----');
    expect(r.redact('key line: MIIBVQIBADANBgkq')).toBe('key line: ***');
    expect(r.redact('-----BEGIN KEY-----')).toBe('***');
    expect(r.redact('abc is not a secret on its own')).toBe('abc is not a secret on its own');
    expect(r.redact(JSON.stringify({ key: '-----BEGIN KEY-----\nMIIBVQIBADANBgkq\nabc\n-----END KEY-----' }))).toBe('{"key":"***"}');
  });
});
