import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZodType } from 'zod';
import { authorize, type Identity } from '../../src/core/access.js';
import type { PromotionRecord, ReleaseRecord } from '../../src/core/model.js';
import { openProjectHandle, type ProjectHandle } from '../../src/project/project-handle.js';
import { createApp } from '../../src/server/app.js';
import { BackgroundRuns } from '../../src/server/background.js';
import { ROUTE_PERMISSIONS, type OperationId } from '../../src/server/permissions.js';
import {
  ApproveBody,
  CancelBody,
  CreatePromotionBody,
  CreateReleaseBody,
  CreateTokenBody,
  RejectBody,
  RejectReleaseBody,
  ResumeBody,
  RollbackBody,
  DriftBody,
} from '../../src/server/schemas.js';
import { sampleRequests, type SampleRequest } from '../helpers/api-requests.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// A few hundred malformed requests, generated from one valid request per operation (the samples the
// permission matrix uses) and the operations' own OpenAPI entries, sent in-process with an admin
// token to a real scratch project (real SQLite, real deploy scripts). None may get a 5xx; a refused
// one is a 4xx with a message, naming the field the schema faults, and changes nothing.
// The admin is an approver too (admin alone may not approve): every operation gets past the guard.
const CONFIG = `project: shop
access:
  admin: [adam@example.com]
  approver: [adam@example.com]
environments:
  dev: {}
  staging: { after: [dev] }
components:
  api:
${commandComponent()}
  web:
${commandComponent()}
`;
const ADMIN: Identity = { name: 'adam@example.com', via: { kind: 'token', token: 'adam-admin' } };
const TOKEN = 'adam-token';
const P = '/api/v1/projects/shop';

/** The body schema of each operation that takes one: the server validates with the same. */
const BODY_SCHEMAS: Partial<Record<OperationId, ZodType>> = {
  createRelease: CreateReleaseBody,
  createPromotion: CreatePromotionBody,
  approvePromotion: ApproveBody,
  rejectPromotion: RejectBody,
  resumePromotion: ResumeBody,
  cancelPromotion: CancelBody,
  rollbackEnvironment: RollbackBody,
  checkDrift: DriftBody,
  rejectRelease: RejectReleaseBody,
  createToken: CreateTokenBody,
};

/** mulberry32: a small seeded PRNG, so the generated requests are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * What a case may get: `refused` is a 4xx that changes nothing, a 400 naming `field` when given, and
 * any 400 or 415 naming `named` when that is given (the API's one convention: `body.to`,
 * `query.limit`, `params.promotion`, and `body` for a body that is not JSON);
 * `harmless` is what the schema admits (the engine then decides, and may act): anything but a 5xx;
 * `read` is a query value on a GET (its schema is the route's own): a 2xx or a 4xx naming the
 * parameter, and nothing changes.
 */
type Expect =
  { kind: 'refused'; field?: string; named?: string } | { kind: 'harmless' } | { kind: 'read'; parameter: string };

interface Case {
  label: string;
  method: string;
  path: string;
  /** The body as sent, already encoded. */
  raw?: string | Uint8Array;
  headers: [string, string][];
  expect: Expect;
}

interface OpenApiOperation {
  operationId: string;
  parameters?: { name: string; in: string }[];
}
type OpenApiDoc = { paths: Record<string, Record<string, OpenApiOperation>> };

let project: TestProject;
let handle: ProjectHandle;
let background: BackgroundRuns;
let logged: string[];
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  project = testProject(CONFIG);
  handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml') });
  logged = [];
  background = new BackgroundRuns((line) => logged.push(line));
  app = createApp({
    background,
    projects: new Map([[handle.name, handle]]),
    authenticate: (bearer) => Promise.resolve(bearer === TOKEN ? ADMIN : undefined),
    authorize: (identity, permission, _project, environment) =>
      authorize(handle.loaded.config, identity, permission, environment),
    log: (line) => logged.push(line),
  });
});
afterAll(async () => {
  await background.idle();
  await handle.close();
  project.cleanup();
});

async function send(c: { method: string; path: string; raw?: string | Uint8Array; headers: [string, string][] }) {
  const headers = new Headers();
  // append, not set: a case may send a header twice.
  for (const [name, value] of c.headers) headers.append(name, value);
  const response = await app.request(c.path, { method: c.method, headers, body: c.raw });
  // An event stream never ends by itself: its status is the answer here.
  if (response.headers.get('content-type')?.startsWith('text/event-stream') === true) {
    await response.body?.cancel();
    return { status: response.status, text: '', json: undefined as unknown };
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json };
}

const auth = (): [string, string] => ['Authorization', `Bearer ${TOKEN}`];
const jsonType: [string, string] = ['Content-Type', 'application/json'];

async function settledPromotion(id: string): Promise<PromotionRecord> {
  for (let i = 0; i < 600; i++) {
    const r = await send({ method: 'GET', path: `${P}/promotions/${id}`, headers: [auth()] });
    const promotion = (r.json as { promotion: PromotionRecord }).promotion;
    if (promotion.state !== 'running' && promotion.state !== 'rolling-back') return promotion;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`promotion ${id} did not finish`);
}

/** A release promoted to dev, and a token, for the samples to act on. */
async function fixtures(): Promise<{ release: string; promotion: string }> {
  const body = (value: unknown) => ({ raw: JSON.stringify(value), headers: [auth(), jsonType] });
  const release = await send({ method: 'POST', path: `${P}/releases`, ...body({ set: ['api=1', 'web=1'] }) });
  expect(release.status, release.text).toBe(201);
  const id = (release.json as { release: ReleaseRecord }).release.id;
  const promotion = await send({ method: 'POST', path: `${P}/promotions`, ...body({ release: id, to: 'dev' }) });
  expect(promotion.status, promotion.text).toBe(202);
  const done = await settledPromotion((promotion.json as { promotion: PromotionRecord }).promotion.id);
  expect(done.state).toBe('succeeded');
  const token = await send({ method: 'POST', path: `${P}/tokens`, ...body({ name: 'ci-bot' }) });
  expect(token.status, token.text).toBe(201);
  return { release: id, promotion: done.id };
}

/** The wrong values every body field is set to; the schema decides which it admits. */
function wrongValues(random: () => number): [string, unknown][] {
  const garbage = Array.from({ length: 8 + Math.floor(random() * 24) }, () => {
    const pool = ['\u0000', '\u0007', '\u001b[31m', '\ud800', '\udfff', '%ZZ', '../', '\u202e', 'é', 'x', '"', '\\'];
    return pool[Math.floor(random() * pool.length)] ?? '';
  }).join('');
  return [
    ['a number', 42],
    ['a float', 1e308],
    ['a boolean', true],
    ['an array', ['api=1', 7]],
    ['an object', { a: 1 }],
    ['null', null],
    ['a 100 KB string', 'x'.repeat(100_000)],
    ['an array holding a 100 KB string', ['x'.repeat(100_000)]],
    ['a string with NUL and control characters', 'a\u0000b\u0007c\u001b[2J'],
    ['a string with lone UTF-16 surrogates', 'a\ud800b\udc00'],
    ['the string __proto__', '__proto__'],
    ['the string constructor', 'constructor'],
    ['an empty string', ''],
    ['an object with __proto__ and constructor keys', JSON.parse('{"__proto__": {"polluted": 1}, "constructor": 1}')],
    [`generated garbage ${JSON.stringify(garbage)}`, garbage],
  ];
}

/** What a refused request must leave as it was: the audit log, and the records it would tell of. */
async function storeState(): Promise<string> {
  const store = handle.store;
  return JSON.stringify({
    audit: (await store.auditPage(null, 100_000)).length,
    releases: (await store.listReleases({ limit: 100_000 })).map((r) => [r.id, r.rejected ?? null]),
    promotions: (await store.listPromotions()).map((p) => [p.id, p.state]),
    tokens: (await store.listTokens()).map((t) => [t.name, t.revokedAt ?? null]),
  });
}

/** What the schema says of a body: admitted (harmless), or refused naming the field it faults. */
function judged(schema: ZodType, body: unknown): Expect {
  // The server reads the JSON text: judge what arrives, not the value before encoding.
  const result = schema.safeParse(JSON.parse(JSON.stringify(body)));
  if (result.success) return { kind: 'harmless' };
  const path = result.error.issues[0]?.path ?? [];
  return { kind: 'refused', field: ['body', ...path.map(String)].join('.') };
}

/** A body text sent as JSON: refused naming `body` when it does not parse, else as its schema judges it. */
function notJson(schema: ZodType, text: string | Uint8Array): Expect {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof text === 'string' ? text : new TextDecoder().decode(text));
  } catch {
    return { kind: 'refused', named: 'body' };
  }
  const result = schema.safeParse(parsed);
  if (result.success) return { kind: 'harmless' };
  return { kind: 'refused', named: ['body', ...(result.error.issues[0]?.path ?? []).map(String)].join('.') };
}

function casesFor(
  operation: OperationId,
  sample: SampleRequest,
  template: string,
  parameters: { name: string; in: string }[],
  random: () => number,
): Case[] {
  const cases: Case[] = [];
  const [pathOnly = '', query = ''] = sample.path.split('?');
  const raw = sample.body === undefined ? undefined : JSON.stringify(sample.body);
  const headers: [string, string][] = raw === undefined ? [auth()] : [auth(), jsonType];
  const add = (label: string, c: Partial<Case> & { expect: Expect }) =>
    cases.push({ label: `${operation}: ${label}`, method: sample.method, path: sample.path, raw, headers, ...c });

  // Body: each field dropped, each set to each wrong value, extra and prototype keys.
  const schema = BODY_SCHEMAS[operation];
  if (schema !== undefined) {
    const body = sample.body as Record<string, unknown>;
    const fields = Object.keys((schema as unknown as { shape: Record<string, unknown> }).shape);
    for (const field of Object.keys(body)) {
      const { [field]: _dropped, ...rest } = body;
      add(`without body.${field}`, { raw: JSON.stringify(rest), expect: judged(schema, rest) });
    }
    for (const field of fields) {
      for (const [what, value] of wrongValues(random)) {
        const mutated = { ...body, [field]: value };
        add(`body.${field} is ${what}`, { raw: JSON.stringify(mutated), expect: judged(schema, mutated) });
      }
    }
    add('an unknown extra field', {
      raw: JSON.stringify({ ...body, lables: 1 }),
      expect: judged(schema, { ...body, lables: 1 }),
    });
    for (const key of ['__proto__', 'constructor', 'prototype'])
      add(`a ${key} key`, {
        raw: `{"${key}": {"polluted": true}, ${JSON.stringify(body).slice(1)}`.replace(/, }$/, '}'),
        expect: { kind: 'refused' },
      });
    for (const [what, value] of [
      ['null', null],
      ['an array', [body]],
      ['a string', 'set=api=1'],
      ['a number', 7],
    ] as const)
      add(`the body is ${what}`, { raw: JSON.stringify(value), expect: { kind: 'refused', field: 'body' } });

    // JSON texts that do not parse, or parse into something absurd.
    const text = raw ?? '{}';
    const cut = 1 + Math.floor(random() * Math.max(1, text.length - 2));
    const texts: [string, string | Uint8Array][] = [
      ['truncated JSON', text.slice(0, cut)],
      ['an empty body', ''],
      ['a trailing comma', text.replace(/}$/, ',}')],
      ['single quotes', text.replace(/"/g, "'")],
      ['NaN', '{"concurrency": NaN}'],
      ['a comment', `/* hi */ ${text}`],
      ['10,000 nested arrays', '['.repeat(10_000) + ']'.repeat(10_000)],
      ['10,000 nested objects', '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)],
      ['a field nested 10,000 deep', `{"${fields[0] ?? 'a'}": ${'['.repeat(10_000)}${']'.repeat(10_000)}}`],
      ['invalid UTF-8 bytes', new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])],
      ['a NUL byte', `${text}\u0000`],
    ];
    // What does not parse names the body as a whole; what parses, the field its schema faults.
    for (const [what, t] of texts) if (t !== text) add(what, { raw: t, expect: notJson(schema, t) });

    // Media types: what is not JSON is refused whatever the text; a JSON one is read as JSON.
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/jsonx',
      '',
    ])
      add(`Content-Type ${JSON.stringify(type)}`, {
        headers: [auth(), ['Content-Type', type]],
        expect: { kind: 'refused', named: 'body' },
      });
    add('no Content-Type', { headers: [auth()], expect: { kind: 'refused', named: 'body' } });
    for (const type of ['application/json; charset=utf-8', 'application/json, text/plain'])
      add(`Content-Type ${type}`, { headers: [auth(), ['Content-Type', type]], expect: { kind: 'harmless' } });
    add('Content-Type sent twice', { headers: [auth(), jsonType, jsonType], expect: { kind: 'harmless' } });
  }

  // Path parameters: the sample's value at each {name} of the template, replaced.
  const names = template.split('/');
  const values = pathOnly.split('/');
  names.forEach((segment, i) => {
    const name = /^\{(.+)\}$/.exec(segment)?.[1];
    if (name === undefined) return;
    for (const [what, value] of [
      ['empty', ''],
      ['..', '..'],
      ['.', '.'],
      ['%2e%2e', '%2e%2e'],
      ['an encoded slash', '..%2F..%2Fetc'],
      ['5,000 characters', 'p'.repeat(5000)],
      ['%ZZ', '%ZZ'],
      ['a lone %', '%'],
      ['%00', '%00'],
      ['a truncated UTF-8 sequence', '%E0%A4%A'],
      ['an encoded lone surrogate', '%ED%A0%80'],
      ['__proto__', '__proto__'],
      ['constructor', 'constructor'],
      ['toString', 'toString'],
    ]) {
      const path = values.map((v, j) => (j === i ? value : v)).join('/');
      add(`path {${name}} ${what}`, {
        path: query === '' ? path : `${path}?${query}`,
        expect: { kind: 'refused', named: `params.${name}` },
      });
    }
  });

  // Query parameters the operation declares, then ones it does not. GETs all: nothing may change.
  for (const parameter of parameters.filter((p) => p.in === 'query')) {
    for (const [what, value] of [
      ['empty', ''],
      ['not a number', 'abc'],
      ['negative', '-1'],
      ['1e400', '1e400'],
      ['%ZZ', '%ZZ'],
      ['%00 and an escape', '%00%1B%5B2J'],
      ['an encoded lone surrogate', '%ED%A0%80'],
      ['__proto__', '__proto__'],
      ['5,000 characters', 'q'.repeat(5000)],
    ]) {
      const params = new URLSearchParams(query);
      params.delete(parameter.name);
      const kept = params.toString();
      const path = `${pathOnly}?${kept === '' ? '' : `${kept}&`}${parameter.name}=${value}`;
      add(`query ${parameter.name} ${what}`, { path, expect: { kind: 'read', parameter: parameter.name } });
    }
    add(`query ${parameter.name} twice`, {
      path: `${sample.path}${query === '' ? '?' : '&'}${parameter.name}=1&${parameter.name}=2`,
      expect: { kind: 'read', parameter: parameter.name },
    });
  }
  add('unknown and prototype query parameters', {
    path: `${sample.path}${query === '' ? '?' : '&'}__proto__=1&constructor=2&lables=%ZZ`,
    expect: { kind: 'harmless' },
  });

  // Authorization headers that prove nothing: always 401, whatever else the request holds.
  const contentType = raw === undefined ? [] : [jsonType];
  for (const value of [
    'Bearer',
    'Bearer ',
    'Basic YWRhbTpzZWNyZXQ=',
    `Bearer ${TOKEN} extra`,
    `Bearer ${TOKEN}, Bearer ${TOKEN}`,
    `Token ${TOKEN}`,
    `Bearer ${'x'.repeat(10_000)}`,
    'Bearer \u00ff\u00fe',
    `Bearer\t${TOKEN}`,
  ])
    add(`Authorization ${JSON.stringify(value.slice(0, 40))}`, {
      headers: [['Authorization', value], ...contentType],
      expect: { kind: 'refused' },
    });
  add('Authorization sent twice', { headers: [auth(), auth(), ...contentType], expect: { kind: 'refused' } });
  add('no Authorization', { headers: contentType, expect: { kind: 'refused' } });

  // A method the route does not take.
  for (const method of ['PUT', 'PATCH']) add(`method ${method}`, { method, expect: { kind: 'refused' } });
  return cases;
}

describe('server: generated malformed requests', () => {
  it('a few hundred malformed requests over every operation: never a 5xx; a refused one is a 4xx with a message, naming the field at fault, and changes nothing', async () => {
    const samples = sampleRequests(P, await fixtures());
    const doc = (await send({ method: 'GET', path: '/api/v1/openapi.json', headers: [] })).json as OpenApiDoc;
    const templates = new Map<string, { template: string; parameters: { name: string; in: string }[] }>();
    for (const [path, methods] of Object.entries(doc.paths))
      for (const op of Object.values(methods))
        templates.set(op.operationId, { template: path, parameters: op.parameters ?? [] });

    const random = prng(14);
    const cases: Case[] = [];
    for (const operation of Object.keys(ROUTE_PERMISSIONS) as OperationId[]) {
      const entry = templates.get(operation);
      expect(entry, `${operation} is in the OpenAPI document`).toBeDefined();
      if (entry === undefined) continue;
      expect(BODY_SCHEMAS[operation] !== undefined, `${operation}: a body schema here iff it takes a body`).toBe(
        samples[operation].body !== undefined,
      );
      cases.push(...casesFor(operation, samples[operation], entry.template, entry.parameters, random));
    }
    // What the schema admits goes last: it may act, and the other cases are to see the fixtures
    // as made (a token called `constructor` created first would make DELETE /tokens/constructor right).
    const order = (c: Case) => (c.expect.kind === 'harmless' ? 1 : 0);
    cases.sort((a, b) => order(a) - order(b));
    expect(cases.length).toBeGreaterThan(300);

    const failures: string[] = [];
    const seen = { refused: 0, read: 0, harmless: 0 };
    for (const c of cases) {
      const before = await storeState();
      const logBefore = logged.length;
      const r = await send(c);
      const error = (r.json as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
      const problem = (why: string) => failures.push(`${c.label}: ${why} (${r.status} ${r.text.slice(0, 300)})`);
      if (r.status >= 500) problem('a 5xx');
      if (logged.slice(logBefore).some((line) => /^[A-Z]+ \//.test(line))) problem('the server logged an error');
      if (r.status >= 400 && (typeof error?.message !== 'string' || error.message === '' || !error.code))
        problem('no error code and message');
      if (c.expect.kind === 'refused') {
        seen.refused++;
        if (r.status < 400 || r.status >= 500) problem('not refused with a 4xx');
        if (c.expect.field !== undefined && (r.status !== 400 || error?.field !== c.expect.field))
          problem(`expected a 400 naming ${c.expect.field}`);
        if (c.expect.named !== undefined && [400, 415].includes(r.status) && error?.field !== c.expect.named)
          problem(`a ${r.status} that does not name ${c.expect.named}`);
      } else if (c.expect.kind === 'read') {
        seen.read++;
        const named = c.expect.parameter;
        // The schema and the engine alike name it with its place.
        if (r.status === 400 && error?.field !== `query.${named}`) problem(`a 400 that does not name query.${named}`);
      } else {
        seen.harmless++;
        // What the engine started on an admitted request ends before the next request's "before".
        await background.idle();
      }
      if (c.expect.kind !== 'harmless' && (await storeState()) !== before) problem('the store or audit log changed');
    }
    expect(failures, failures.join('\n')).toEqual([]);
    expect(seen.refused).toBeGreaterThan(seen.harmless + seen.read);
  }, 60_000);
});
