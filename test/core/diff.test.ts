import { describe, expect, it } from 'vitest';
import { compareLeaves, flatten, plainLeaves, type Leaves } from '../../src/core/diff.js';

describe('diff: values compared leaf by leaf', () => {
  it('flattens objects to dotted paths, keeps lists of plain values whole and enters lists of objects', () => {
    expect([...flatten({ a: { b: 1, c: [1, 2] }, d: [{ e: 'x' }], f: {}, g: [] }, 'with')]).toEqual([
      ['with.a.b', 1],
      ['with.a.c', [1, 2]],
      ['with.d.0.e', 'x'],
      ['with.g', []],
    ]);
  });

  it('lists what differs and what is only on one side; an empty list against entries under it is the entries', () => {
    expect(compareLeaves(plainLeaves({ a: 1, b: 'x', l: [], n: [1] }), plainLeaves({ a: 1, b: 'y', c: true, l: [{ k: 1 }], n: [1, 2] }))).toEqual([
      { path: 'b', left: 'x', right: 'y', changed: true },
      { path: 'c', right: true, changed: true },
      { path: 'l.0.k', right: 1, changed: true },
      { path: 'n', left: [1], right: [1, 2], changed: true },
    ]);
    expect(compareLeaves(plainLeaves({ a: [3] }), plainLeaves({ a: [3] }))).toEqual([]);
  });

  it('a secret is always listed, with no value: changed, unchanged, or null when a side cannot be compared', () => {
    const left: Leaves = new Map([
      ['same', { secret: true, key: 'k1' }],
      ['other', { secret: true, key: 'k1' }],
      ['unknown', { secret: true, key: undefined }],
      ['onlyLeft', { secret: true, key: 'k3' }],
      ['becameSecret', { secret: false, value: 'plain' }],
    ]);
    const right: Leaves = new Map([
      ['same', { secret: true, key: 'k1' }],
      ['other', { secret: true, key: 'k2' }],
      ['unknown', { secret: true, key: 'k1' }],
      ['becameSecret', { secret: true, key: 'k4' }],
    ]);
    expect(compareLeaves(left, right)).toEqual([
      { path: 'becameSecret', left: 'plain', secret: true, changed: true },
      { path: 'onlyLeft', secret: true, changed: true },
      { path: 'other', secret: true, changed: true },
      { path: 'same', secret: true, changed: false },
      { path: 'unknown', secret: true, changed: null },
    ]);
  });

  it('orders paths with numbers as numbers', () => {
    const many = plainLeaves({ x: Array.from({ length: 11 }, (_, i) => ({ v: i })) });
    expect(compareLeaves(many, plainLeaves({})).map((d) => d.path).slice(0, 3)).toEqual(['x.0.v', 'x.1.v', 'x.2.v']);
    expect(compareLeaves(many, plainLeaves({})).at(-1)?.path).toBe('x.10.v');
  });
});
