import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { printable, printableKeepingColour, printableLines } from '../../src/core/printable.js';
import { checkVersion, parseVersionAssignments } from '../../src/core/release.js';

describe('checkVersion: the documented rule (docs/promotions.md)', () => {
  const refused = (version: string): string => {
    try {
      checkVersion('api', version);
    } catch (error) {
      expect(error).toBeInstanceOf(InputError);
      return (error as Error).message;
    }
    throw new Error(`${JSON.stringify(version)} was accepted`);
  };

  it.each([
    ['U+2028 line separator', '1.0\u20282'],
    ['U+2029 paragraph separator', '1.0\u2029'],
    ['C1 control U+0085 (next line)', '1.0\u0085'],
    ['C1 control U+009B (CSI)', '1\u009b2J'],
    ['ESC', '1\u001b[2J'],
    ['DEL', '1\u007f'],
    ['line feed', '1\n2'],
  ])('refuses a %s', (_, version) => {
    expect(refused(version)).toBe('version of api contains a control character or line break');
  });

  it('refuses a version starting with "-", which commands would read as an option', () => {
    expect(refused('-rf')).toBe('version of api starts with "-", which commands would read as an option');
    expect(() => checkVersion('api', '1.0.0-rc.1')).not.toThrow();
  });

  it('counts characters, not UTF-16 units: 256 emoji are fine, 257 are not', () => {
    expect(() => checkVersion('api', '🚀'.repeat(256))).not.toThrow();
    expect(refused('🚀'.repeat(257))).toBe('version of api is longer than 256 characters');
    expect(refused('a'.repeat(257))).toBe('version of api is longer than 256 characters');
  });

  it('accepts what the docs list as fine, and non-ASCII text', () => {
    for (const v of ['1.4.2', 'git:4f2a1c', '20261101', `sha256:${'a'.repeat(64)}`, 'v1.0-ü']) {
      expect(() => checkVersion('api', v), v).not.toThrow();
    }
  });

  it('names a component with a line break escaped in the message', () => {
    expect(() => parseVersionAssignments(['a\nforged: x=1\n'])).toThrow('--set a\\nforged: x=1\\n: version of a\\nforged: x contains a control character');
  });
});

describe('printable: user text on one terminal line', () => {
  it('escapes C0, DEL, C1 and the Unicode separators, and leaves other text alone', () => {
    expect(printable('a\nb\r\tc')).toBe('a\\nb\\r\\tc');
    expect(printable('\u001b[2J\u001b]0;title\u0007')).toBe('\\x1b[2J\\x1b]0;title\\x07');
    expect(printable('x\u009by\u0085\u2028\u2029\u007f')).toBe('x\\x9by\\x85\\u2028\\u2029\\x7f');
    expect(printable('checkout v42 — ü 🚀')).toBe('checkout v42 — ü 🚀');
  });

  it('keeps colour (SGR) in command output, escapes cursor movement and titles', () => {
    expect(printableKeepingColour('\u001b[31mred\u001b[0m')).toBe('\u001b[31mred\u001b[0m');
    expect(printableKeepingColour('ok\u001b[1A\u001b[2Kforged\r')).toBe('ok\\x1b[1A\\x1b[2Kforged\\r');
  });

  it('keeps the line breaks, tabs and colour of several lines (plan details, error messages), escapes the rest', () => {
    expect(printableLines('- a\tb\n+ \u001b[32mc\u001b[0m')).toBe('- a\tb\n+ \u001b[32mc\u001b[0m');
    expect(printableLines('line 1\nline 2\r\u001b[2Kforged\n\u001b]0;title\u0007')).toBe('line 1\nline 2\\r\\x1b[2Kforged\n\\x1b]0;title\\x07');
  });
});
