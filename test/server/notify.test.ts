import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { authorize, type Identity } from '../../src/core/access.js';
import type { PromotionRecord, ReleaseRecord } from '../../src/core/model.js';
import type { DeliveryView } from '../../src/engine/notifications.js';
import { openProjectHandle, type ProjectHandle } from '../../src/project/project-handle.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

// The server's notifier over real HTTP both ways: `startServer` with its background worker, the
// API driven with fetch, a loopback receiver. Assertions are on states and what was received, in
// which order; nothing measures time.

const ALICE: Identity = { name: 'alice@example.com', via: { kind: 'token', token: 'alice-ci' }, role: 'releaser' };
const HEADERS = { Authorization: 'Bearer alice', 'Content-Type': 'application/json' };
const HMAC = 'events-hmac-4b7e21';

let project: TestProject | undefined;
const receivers: WebhookReceiver[] = [];
const servers: RunningServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const r of receivers.splice(0)) await r.close();
  project?.cleanup();
  project = undefined;
});

async function serve(timeoutMs: number): Promise<{ server: RunningServer; handle: ProjectHandle }> {
  const dir = project?.dir ?? '';
  const handle = await openProjectHandle({ config: join(dir, 'lockstep.yaml'), secretsFile: join(dir, 'secrets.env') });
  const server = await startServer({
    projects: new Map([[handle.name, handle]]),
    host: '127.0.0.1',
    port: 0,
    authenticate: (bearer) => Promise.resolve(bearer === 'alice' ? ALICE : undefined),
    authorize: (identity, permission, _project, environment) => authorize(handle.loaded.config, identity, permission, environment),
    log: () => undefined,
    notify: { timeoutMs, retry: { baseMs: 10, capMs: 50, giveUpAfterMs: 600_000 }, intervalMs: 20 },
  });
  servers.push(server);
  return { server, handle };
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let i = 0; i < 1_000; i++) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`gave up waiting for ${what}`);
}

async function api<T>(server: RunningServer, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${server.url}/api/v1/projects/shop${path}`, { method, headers: HEADERS, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  expect(response.status, await response.clone().text()).toBeLessThan(300);
  return (await response.json()) as T;
}

describe('notifications from lockstep serve', () => {
  it('a target that never answers does not hold up a promotion; after a restart its deliveries go out, in order, under the same ids', async () => {
    const r = await new WebhookReceiver({ '/events': HMAC }).start();
    receivers.push(r);
    r.mode = 'hanging';
    const other = await new WebhookReceiver().start();
    receivers.push(other);
    project = testProject(`project: shop
environments:
  dev: {}
components:
  api:
${commandComponent()}
notify:
  - name: events
    url: ${r.url('/events')}
    format: json
    secret: "\${{ secrets.EVENTS_HMAC }}"
  - name: other
    url: ${other.url('/other')}
    events: [promotion.finished]
`);
    project.write('secrets.env', `EVENTS_HMAC=${HMAC}\n`);
    {
      // A request timeout far longer than the promotion: the head of line hangs throughout.
      const first = await serve(600_000);
      const { release } = await api<{ release: ReleaseRecord }>(first.server, 'POST', '/releases', { set: ['api=2.0.0'] });
      const { promotion } = await api<{ promotion: PromotionRecord }>(first.server, 'POST', '/promotions', { release: release.id, to: 'dev' });
      const done = await until('the promotion to end', () => api<{ promotion: PromotionRecord }>(first.server, 'GET', `/promotions/${promotion.id}`), (p) => p.promotion.state !== 'running');
      expect(done.promotion.state).toBe('succeeded');
      // It ended while its first notification still had no answer, and the rest waited behind it.
      await until('the first request to arrive', () => Promise.resolve(r.received.length), (n) => n > 0);
      expect(r.received.map((x) => x.answer)).toStrictEqual(['hung']);
      const queued = await until(
        'every event to be queued',
        () => api<DeliveryView[]>(first.server, 'GET', '/notify/deliveries?limit=100'),
        (list) => list.some((d) => d.target === 'events' && d.event === 'promotion.finished'),
      );
      const events = queued.filter((d) => d.target === 'events');
      expect(events.every((d) => d.status === 'pending' && d.attempts === 0)).toBe(true);
      // Another target does not wait for the one that hangs.
      await until('the other target to hear the promotion finish', () => Promise.resolve(other.acknowledged().length), (n) => n === 1);
      expect(other.acknowledged()[0]?.event).toBe('promotion.finished');

      // Stopped: the request in flight is abandoned, the deliveries stay in the outbox.
      await first.server.close();
      servers.splice(servers.indexOf(first.server), 1);
      r.mode = 'up';

      const second = await serve(5_000);
      const delivered = await until(
        'the outbox to empty',
        () => api<DeliveryView[]>(second.server, 'GET', '/notify/deliveries?limit=100'),
        (list) => list.length >= queued.length && list.every((d) => d.status === 'delivered'),
      );
      const inOrder = [...delivered].reverse().filter((d) => d.target === 'events');
      expect(r.acknowledged().map((a) => a.deliveryId)).toStrictEqual(inOrder.map((d) => d.deliveryId));
      // The one that hung went again under its id; the receiver can tell it is the same delivery.
      expect(r.received[0]?.deliveryId).toBe(inOrder[0]?.deliveryId);
      expect(r.received.every((x) => x.signatureValid === true)).toBe(true);
      expect(inOrder.map((d) => d.event)).toStrictEqual(['promotion.requested', 'promotion.started', 'step.started', 'step.finished', 'promotion.finished']);
      // The API filters as `notify log` does.
      expect(await api<DeliveryView[]>(second.server, 'GET', '/notify/deliveries?status=pending')).toStrictEqual([]);
      expect((await api<DeliveryView[]>(second.server, 'GET', '/notify/deliveries?target=events&limit=1'))[0]?.event).toBe('promotion.finished');
      expect(await api<DeliveryView[]>(second.server, 'GET', '/notify/deliveries?target=other')).toHaveLength(1);
    }
  });
});
