import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys by code unit at every depth and leaves no white space', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' }, B: 'é', _: -0.5 })).toBe(
      '{"B":"é","_":-0.5,"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('drops undefined members and writes undefined array items as null, as JSON.stringify does', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, 1], c: {} })).toBe('{"b":[null,1],"c":{}}');
    expect(canonicalJson({ only: undefined })).toBe('{}');
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson(undefined)).toBe('null');
  });

  it('escapes strings and keys as JSON does, and keeps an own __proto__ key', () => {
    const value = JSON.parse('{"__proto__": 1, "q\\"k": "line\\nbreak\\u0000"}') as Record<string, unknown>;
    expect(canonicalJson(value)).toBe('{"__proto__":1,"q\\"k":"line\\nbreak\\u0000"}');
  });

  it('refuses numbers JSON cannot hold', () => {
    expect(() => canonicalJson({ a: [Number.NaN] })).toThrow(TypeError);
    expect(() => canonicalJson(Number.POSITIVE_INFINITY)).toThrow('canonical JSON cannot hold Infinity');
  });
});
