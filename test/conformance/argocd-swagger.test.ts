import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ARGOCD_ENDPOINTS, argoApplication } from '../../src/adapters/gitops/argocd-client.js';

/*
 * The Argo CD client and its test fake are written from Argo CD's API description. This checks the
 * client against the real one (Argo CD's own swagger.json, kept beside the repository in the shared
 * fixtures, never copied in): every endpoint, method, query parameter and body field it sends, and
 * every Application field it reads, must exist there.
 */

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const swaggerPath = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'argocd', 'swagger.json');

interface Schema {
  $ref?: string;
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
}

interface Operation {
  parameters?: { name: string; in: string; schema?: Schema }[];
  responses?: Record<string, { schema?: Schema }>;
}

/**
 * Every field path the client's Application schema reads (it parses responses with it, so this is
 * exactly what the client depends on), through optional, catch, nullable and array wrappers.
 */
function fieldsRead(schema: z.ZodType, prefix = ''): string[] {
  const def = (schema as unknown as { _zod: { def: { type: string; innerType?: z.ZodType; element?: z.ZodType; shape?: Record<string, z.ZodType> } } })._zod.def;
  if (def.innerType) return fieldsRead(def.innerType, prefix);
  if (def.type === 'array' && def.element) return fieldsRead(def.element, prefix);
  if (def.type !== 'object' || !def.shape) return [prefix];
  return Object.entries(def.shape).flatMap(([key, child]) => fieldsRead(child, prefix === '' ? key : `${prefix}.${key}`));
}

interface Swagger {
  paths: Record<string, Record<string, Operation>>;
  definitions: Record<string, Schema>;
}

describe('the Argo CD client conforms to Argo CD’s swagger.json', () => {
  if (!existsSync(swaggerPath)) {
    it('needs the shared fixtures', () => {
      const message = `${swaggerPath} does not exist: the Argo CD conformance checks did not run`;
      console.warn(message);
      // Outside CI a checkout without the shared fixtures may skip them; CI must have them.
      expect(process.env.CI, message).toBeFalsy();
    });
    return;
  }

  const swagger = JSON.parse(readFileSync(swaggerPath, 'utf8')) as Swagger;
  const resolve = (schema: Schema | undefined): Schema | undefined => {
    if (schema?.$ref === undefined) return schema;
    return swagger.definitions[schema.$ref.replace('#/definitions/', '')];
  };
  /** The schema at a dotted path below `schema`, through $refs and array items. */
  const at = (schema: Schema | undefined, dotted: string): Schema | undefined => {
    let node = resolve(schema);
    for (const key of dotted.split('.')) {
      while (node?.type === 'array') node = resolve(node.items);
      node = resolve(node?.properties?.[key]);
      if (node === undefined) return undefined;
    }
    return node;
  };

  for (const endpoint of ARGOCD_ENDPOINTS) {
    it(`${endpoint.method.toUpperCase()} ${endpoint.path} exists with the parameters the client sends`, () => {
      const operation = swagger.paths[endpoint.path]?.[endpoint.method];
      expect(operation, `${endpoint.method} ${endpoint.path} is not in swagger.json`).toBeDefined();
      const params = operation?.parameters ?? [];
      for (const name of endpoint.query) {
        expect(params.some((p) => p.in === 'query' && p.name === name), `query parameter ${name}`).toBe(true);
      }
      const body = params.find((p) => p.in === 'body')?.schema;
      for (const field of endpoint.body) {
        expect(at(body, field), `body field ${field} of ${endpoint.path}`).toBeDefined();
      }
      if (endpoint.body.length === 0) expect(body).toBeUndefined();
    });
  }

  it('the login answers a token, and errors are runtimeError with a message', () => {
    const login = swagger.paths['/api/v1/session']?.post?.responses;
    expect(at(login?.['200']?.schema, 'token')).toEqual({ type: 'string' });
    const error = swagger.paths['/api/v1/applications/{name}']?.get?.responses?.default?.schema;
    expect(at(error, 'message')?.type).toBe('string');
    expect(at(error, 'error')?.type).toBe('string');
  });

  it('GET and sync answer a v1alpha1Application, which has every field the client reads', () => {
    const get = swagger.paths['/api/v1/applications/{name}']?.get?.responses?.['200']?.schema;
    const sync = swagger.paths['/api/v1/applications/{name}/sync']?.post?.responses?.['200']?.schema;
    expect(get?.$ref).toBe('#/definitions/v1alpha1Application');
    expect(sync?.$ref).toBe('#/definitions/v1alpha1Application');
    const read = fieldsRead(argoApplication);
    expect(read).toContain('status.operationState.syncResult.revision');
    const missing = read.filter((field) => at(get, field) === undefined);
    expect(missing, 'fields the client reads that the API does not describe').toEqual([]);
  });

  it('the status values the wait compares are the ones the API names', () => {
    const text = JSON.stringify(swagger.definitions);
    // Sync status and operation phase are documented in their fields' descriptions.
    expect(text).toContain('Synced, OutOfSync');
    expect(at({ $ref: '#/definitions/v1alpha1Application' }, 'status.operationState.phase')?.type).toBe('string');
    expect(at({ $ref: '#/definitions/v1alpha1Application' }, 'status.health.status')?.type).toBe('string');
  });
});
