import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '../../../src/core/config/config-schema.js';
import { ADAPTERS } from './fixtures.js';

type Json = Record<string, unknown>;
const get = (value: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], value);

describe('configJsonSchema', () => {
  const schema = configJsonSchema(ADAPTERS);
  const component = get(schema, 'properties', 'components', 'additionalProperties') as Json;

  it('is a draft 2020-12 schema of the config, strict where the loader is strict', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.required).toEqual(['project', 'environments', 'components']);
    expect(schema.additionalProperties).toBe(false);
    expect(get(schema, 'properties', 'environments', 'propertyNames', 'pattern')).toBe('^[a-z][a-z0-9-_]*$');
    expect(get(schema, 'properties', 'environments', 'minProperties')).toBe(1);
    expect(get(schema, 'properties', 'environments', 'additionalProperties', 'additionalProperties')).toBe(false);
    expect(
      get(schema, 'properties', 'environments', 'additionalProperties', 'properties', 'onFailure', 'enum'),
    ).toEqual(['rollback', 'halt']);
    expect(component.additionalProperties).toBe(false);
    expect(component.required).toEqual(['type']);
    expect(get(component, 'properties', 'outputs', 'additionalProperties', 'properties', 'type', 'enum')).toContain(
      'integer',
    );
  });

  it('lists the registered types and gives `with` the schema of each', () => {
    expect(get(component, 'properties', 'type', 'enum')).toEqual(['command', 'scale']);
    const branches = component.allOf as Json[];
    expect(branches.map((b) => get(b, 'if', 'properties', 'type', 'const'))).toEqual(['command', 'scale']);
    const commandWith = get(branches[0], 'then', 'properties', 'with') as Json;
    expect(commandWith.type).toBe('object');
    expect(commandWith.additionalProperties).toBe(false);
    expect(commandWith.description).toBe('test adapter command');
    expect(Object.keys(commandWith.properties as Json)).toEqual(['apply', 'env', 'timeout']);
  });

  it('lets every non-string field hold a whole ${{ }} instead', () => {
    const branches = component.allOf as Json[];
    const scaleWith = get(branches[1], 'then', 'properties', 'with') as Json;
    const replicas = get(scaleWith, 'properties', 'replicas') as Json;
    expect(replicas.anyOf).toEqual([
      { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
      { $ref: '#/$defs/template' },
    ]);
    // Strings take a template as they are.
    expect(get(branches[0], 'then', 'properties', 'with', 'properties', 'timeout')).toEqual({ type: 'string' });
    const template = get(schema, '$defs', 'template') as { pattern: string };
    expect(new RegExp(template.pattern).test('${{ env.vars.replicas }}')).toBe(true);
    expect(new RegExp(template.pattern).test('x ${{ a }}')).toBe(false);
  });

  it('has no adapter branches when no adapter is registered', () => {
    const bare = configJsonSchema(new Map());
    expect(get(bare, 'properties', 'components', 'additionalProperties', 'allOf')).toBeUndefined();
  });
});
