import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { authorize } from '../../src/core/access.js';
import type { Identity } from '../../src/core/access.js';
import type { AuditEntry } from '../../src/core/audit.js';
import type { PromotionRecord, ReleaseRecord } from '../../src/core/model.js';
import { createRelease, promote as promoteHere } from '../../src/engine/promote.js';
import { openProjectHandle, type ProjectHandle } from '../../src/project/project-handle.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import type { StepLogLine } from '../../src/store/store.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// The event stream over real HTTP (startServer, fetch reading the body as it arrives), on a real
// scratch project: real SQLite, real deploy scripts run by the engine. Nothing here measures time:
// a stream is read until the event a test waits for, or until it ends.
const CONFIG = `project: shop
environments:
  dev: {}
components:
  api:
${commandComponent()}
  web:
${commandComponent()}
`;

const IDENTITIES: Record<string, Identity> = {
  alice: { name: 'alice@example.com', via: { kind: 'token', token: 'alice-ci' }, role: 'releaser' },
  victor: { name: 'victor@example.com', via: { kind: 'token', token: 'victor' }, role: 'viewer' },
};

interface Message {
  id?: string;
  event?: string;
  data: string;
}

/** Reads an SSE response as it arrives: messages (comments skipped) until told to stop, or until it ends. */
class EventReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buffer = '';
  ended = false;

  constructor(response: Response) {
    if (response.body === null) throw new Error('no body');
    this.reader = response.body.getReader();
  }

  /** The next message; undefined when the stream ended. */
  async next(): Promise<Message | undefined> {
    for (;;) {
      const block = await this.block();
      if (block === undefined) return undefined;
      const message = parse(block);
      if (message !== undefined) return message;
    }
  }

  /** Reads until a comment line arrives; the messages before it. */
  async untilComment(): Promise<Message[]> {
    const messages: Message[] = [];
    for (;;) {
      const block = await this.block();
      if (block === undefined) throw new Error('the stream ended without a comment');
      if (block.split('\n').some((line) => line.startsWith(':'))) return messages;
      const message = parse(block);
      if (message !== undefined) messages.push(message);
    }
  }

  /** The next block of lines (a message or a comment); undefined when the stream ended. */
  private async block(): Promise<string | undefined> {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        return block;
      }
      const { done, value } = await this.reader.read();
      if (done) {
        this.ended = true;
        return undefined;
      }
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  /** Messages up to and including the first for which `last` holds. */
  async until(last: (m: Message) => boolean): Promise<Message[]> {
    const messages: Message[] = [];
    for (;;) {
      const m = await this.next();
      if (m === undefined) throw new Error(`the stream ended after ${messages.length} messages`);
      messages.push(m);
      if (last(m)) return messages;
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel();
  }
}

function parse(block: string): Message | undefined {
  const message: Message = { data: '' };
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') message.id = value;
    else if (field === 'event') message.event = value;
    else if (field === 'data') data.push(value);
  }
  if (message.id === undefined && message.event === undefined && data.length === 0) return undefined;
  message.data = data.join('\n');
  return message;
}

const audit = (m: Message) => JSON.parse(m.data) as AuditEntry;
const logLine = (m: Message) => JSON.parse(m.data) as StepLogLine;
const finished = (promotionId: string) => (m: Message) =>
  m.event === 'audit' && audit(m).kind === 'promotion.finished' && audit(m).promotionId === promotionId;

let project: TestProject;
let handle: ProjectHandle;
let server: RunningServer;
const readers: EventReader[] = [];

async function start(eventStream?: { heartbeatMs: number }): Promise<RunningServer> {
  handle = await openProjectHandle({ config: join(project.dir, 'lockstep.yaml') });
  const h = handle;
  return startServer({
    projects: new Map([[h.name, h]]),
    host: '127.0.0.1',
    port: 0,
    worker: false,
    authenticate: (bearer) => Promise.resolve(IDENTITIES[bearer]),
    authorize: (identity, permission, _project, environment) =>
      authorize(h.loaded.config, identity, permission, environment),
    log: () => undefined,
    eventStream,
  });
}

beforeEach(async () => {
  project = testProject(CONFIG);
  server = await start();
});
afterEach(async () => {
  for (const r of readers.splice(0)) await r.cancel().catch(() => undefined);
  await server.close();
  project.cleanup();
});

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const response = await fetch(`${server.url}/api/v1/projects/shop${path}`, {
    method,
    headers: { Authorization: 'Bearer alice', 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as T };
}

async function promote(versions: string[], to: string): Promise<PromotionRecord> {
  const created = await api<{ release: ReleaseRecord }>('POST', '/releases', { set: versions });
  const started = await api<{ promotion: PromotionRecord }>('POST', '/promotions', {
    release: created.json.release.id,
    to,
  });
  expect(started.status).toBe(202);
  return started.json.promotion;
}

async function events(query = '', headers: Record<string, string> = {}, token = 'victor'): Promise<EventReader> {
  const response = await fetch(`${server.url}/api/v1/projects/shop/events${query}`, {
    headers: { Authorization: `Bearer ${token}`, ...headers },
  });
  expect(response.status, response.status === 200 ? '' : await response.text()).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = new EventReader(response);
  readers.push(reader);
  return reader;
}

/** Ids are AUDITSEQ-LOGID: each event's is after the one before it in both numbers, and differs. */
function expectIncreasing(ids: string[]): void {
  const pairs = ids.map((id) => id.split('-').map(Number) as [number, number]);
  for (let i = 1; i < pairs.length; i++) {
    const [a0, l0] = pairs[i - 1] ?? [0, 0];
    const [a1, l1] = pairs[i] ?? [0, 0];
    expect(a1 >= a0 && l1 >= l0 && (a1 > a0 || l1 > l0), `${ids[i - 1]} then ${ids[i]}`).toBe(true);
  }
}

describe('server: the event stream', () => {
  it("carries a promotion as it happens: its audit entries and its steps' log lines in commit order, as stored", async () => {
    const stream = await events();
    const dev = await promote(['api=1.0.0', 'web=1.0.0'], 'dev');
    const messages = await stream.until(finished(dev.id));
    expectIncreasing(messages.map((m) => m.id ?? ''));

    const ofDev = messages.filter((m) =>
      m.event === 'audit' ? audit(m).promotionId === dev.id : logLine(m).promotionId === dev.id,
    );
    const kinds = ofDev.map((m) => (m.event === 'audit' ? audit(m).kind : `log ${logLine(m).component}`));
    expect(kinds[0]).toBe('promotion.requested');
    expect(kinds.at(-1)).toBe('promotion.finished');
    for (const component of ['api', 'web']) {
      const started = ofDev.findIndex(
        (m) => m.event === 'audit' && audit(m).kind === 'step.started' && audit(m).component === component,
      );
      const succeeded = ofDev.findIndex(
        (m) => m.event === 'audit' && audit(m).kind === 'step.succeeded' && audit(m).component === component,
      );
      const deployed = ofDev.findIndex((m) => m.event === 'log' && logLine(m).line === `deployed ${component} 1.0.0`);
      expect(started, kinds.join(', ')).toBeGreaterThanOrEqual(0);
      expect(deployed, kinds.join(', ')).toBeGreaterThan(started);
      expect(succeeded, kinds.join(', ')).toBeGreaterThan(deployed);
    }

    // Exactly what the store holds, nothing added: the audit entries as exported, the lines as `logs` gives them.
    // Up to its promotion.finished, where the stream was read to: its evidence is recorded after it.
    const end = ofDev.filter((m) => m.event === 'audit').map(audit).at(-1)?.seq ?? 0;
    const stored = (await handle.store.auditPage(null, 10_000)).filter((e) => e.promotionId === dev.id && e.seq <= end);
    expect(ofDev.filter((m) => m.event === 'audit').map(audit)).toEqual(stored);
    expect(ofDev.filter((m) => m.event === 'log').map(logLine)).toEqual(await handle.store.stepLogs(dev.id));
    expect(messages.filter((m) => m.event === 'audit').map((m) => audit(m).kind)).toContain('release.created');

    // Read again from the start once it is all stored: the same events in the same order, with the same ids.
    const replay = await (await events()).until(finished(dev.id));
    expect(replay).toEqual(messages);
  });

  it('carries what another process records in the project (a promotion run at a terminal)', async () => {
    const stream = await events();
    const deps = await project.deps({ actor: 'someone@example.com' });
    const { release } = await createRelease(deps, { set: ['api=3', 'web=3'] });
    const local = await promoteHere(deps, release.id, 'dev');
    const messages = await stream.until(finished(local.id));
    expect(messages.some((m) => m.event === 'log' && logLine(m).line === 'deployed api 3')).toBe(true);
    expect(messages.filter((m) => m.event === 'audit').map(audit)).toContainEqual(
      expect.objectContaining({ kind: 'release.created', actor: 'someone@example.com', releaseId: release.id }),
    );
  });

  it('resumes after a Last-Event-ID (or ?after=) with exactly the events after it, after a restart too', async () => {
    const dev = await promote(['api=1.0.0', 'web=1.0.0'], 'dev');
    const all = await (await events()).until(finished(dev.id));
    expect(all.length).toBeGreaterThan(6);
    const same = (ms: Message[]) => ms.map((m) => [m.id, m.event, m.data]);

    for (const k of [0, 3, Math.floor(all.length / 2), all.length - 2]) {
      const id = all[k]?.id ?? '';
      const expected = all.slice(k + 1);
      const resumed = await (await events('', { 'Last-Event-ID': id })).until(finished(dev.id));
      expect(same(resumed), `after ${id}`).toEqual(same(expected));
      const after = await (await events(`?after=${id}`)).until(finished(dev.id));
      expect(same(after), `?after=${id}`).toEqual(same(expected));
    }

    // Ids are positions in the store, not in this process: a new server gives the same events after one.
    for (const r of readers.splice(0)) await r.cancel();
    await server.close();
    server = await start();
    const k = Math.floor(all.length / 3);
    const resumed = await (await events('', { 'Last-Event-ID': all[k]?.id ?? '' })).until(finished(dev.id));
    expect(same(resumed)).toEqual(same(all.slice(k + 1)));
  });

  it("filters: ?promotion= gives that promotion's events only, ?kinds= the kinds named", async () => {
    const release = await api<{ release: ReleaseRecord }>('POST', '/releases', { set: ['api=1', 'web=1'] });
    const dev = await api<{ promotion: PromotionRecord }>('POST', '/promotions', {
      release: release.json.release.id,
      to: 'dev',
    });
    const first = dev.json.promotion;
    await (await events()).until(finished(first.id));
    const second = await promote(['api=2', 'web=2'], 'dev');

    const one = await (await events(`?promotion=${second.id.slice(0, 10)}`)).until(finished(second.id));
    expect(one.length).toBeGreaterThan(0);
    for (const m of one)
      expect(m.event === 'audit' ? audit(m).promotionId : logLine(m).promotionId, m.data).toBe(second.id);
    expect(one.some((m) => m.event === 'log')).toBe(true);
    expect(audit(one[0] as Message).kind).toBe('promotion.requested');

    const auditOnly = await (await events('?kinds=audit')).until(finished(second.id));
    expect(auditOnly.every((m) => m.event === 'audit')).toBe(true);
    expect(auditOnly.filter((m) => audit(m).promotionId === first.id).map((m) => audit(m).kind)).toContain(
      'promotion.finished',
    );
    let deployed = 0;
    const logsOnly = await (
      await events(`?kinds=log&promotion=${first.id}`)
    ).until((m) => (logLine(m).line.startsWith('deployed ') ? ++deployed : deployed) === 2);
    expect(logsOnly.every((m) => m.event === 'log' && logLine(m).promotionId === first.id)).toBe(true);
  });

  it('refuses a request it cannot serve before any stream: 401, 404 for an unknown promotion, 400 naming a malformed id', async () => {
    const none = await fetch(`${server.url}/api/v1/projects/shop/events`);
    expect(none.status).toBe(401);
    const unknown = await fetch(`${server.url}/api/v1/projects/shop/events?promotion=${'e'.repeat(32)}`, {
      headers: { Authorization: 'Bearer victor' },
    });
    expect(unknown.status).toBe(404);
    const bad = await fetch(`${server.url}/api/v1/projects/shop/events`, {
      headers: { Authorization: 'Bearer victor', 'Last-Event-ID': 'a12' },
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { field: string } }).error.field).toBe('header.last-event-id');
    const kinds = await fetch(`${server.url}/api/v1/projects/shop/events?kinds=audit,secrets`, {
      headers: { Authorization: 'Bearer victor' },
    });
    expect(kinds.status).toBe(400);
    expect(((await kinds.json()) as { error: { field: string } }).error.field).toBe('query.kinds');
  });

  it('sends a heartbeat comment while nothing happens', async () => {
    await server.close();
    server = await start({ heartbeatMs: 1 });
    const stream = await events();
    expect(await stream.untilComment()).toEqual([]);
    expect(await stream.untilComment()).toEqual([]);
  });

  it('close() ends open streams instead of waiting for them', async () => {
    const stream = await events();
    const dev = await promote(['api=1', 'web=1'], 'dev');
    await stream.until(finished(dev.id));
    await server.close();
    // The stream ended: the reader gets the end, not a hang.
    while ((await stream.next()) !== undefined);
    expect(stream.ended).toBe(true);
  });
});
