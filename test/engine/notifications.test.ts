import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NotifyEvent } from '../../src/core/notify/notify-events.js';
import type { SlackMessage } from '../../src/core/notify/slack-message.js';
import type { EngineDeps } from '../../src/engine/deps.js';
import { flushNotifications, prepareNotifications, sendTestNotification } from '../../src/engine/notifications.js';
import { queueNotifications } from '../../src/engine/notify-queue.js';
import { approve } from '../../src/engine/approve.js';
import { createRelease, promote } from '../../src/engine/promote.js';
import type { DeliveryRecord } from '../../src/store/store.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

// Notifications on a real project (real SQLite, real deploy scripts) to a real HTTP receiver on
// loopback that checks every signature. Retries wait milliseconds here (the policy is a parameter);
// nothing measures time: the assertions are on what was received, in which order, and what the
// outbox recorded.

const FAST = { retry: { baseMs: 5, capMs: 40, giveUpAfterMs: 600_000 }, timeoutMs: 5_000 };
const SECRETS = { BUS_HMAC: 'bus-hmac-key-7a1c9e', CHAT_HMAC: 'chat-hmac-key-55d0b2', BUS_PATH: 'T0123/B0456/bus-path-token-ff09' };

let project: TestProject | undefined;
const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
  project?.cleanup();
  project = undefined;
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await new WebhookReceiver({ [`/bus/${SECRETS.BUS_PATH}`]: SECRETS.BUS_HMAC, '/chat': SECRETS.CHAT_HMAC, '/cd': SECRETS.BUS_HMAC }).start();
  receivers.push(r);
  return r;
}

function config(port: number, extra = ''): string {
  return `project: shop
server: { url: "https://lockstep.example.com" }
environments:
  dev: {}
  prod:
    after: [dev]
    gates: { approvals: { count: 1, from: [carol@example.com] } }
components:
  api:
${commandComponent()}
notify:
  - name: bus
    url: "http://127.0.0.1:${port}/bus/\${{ secrets.BUS_PATH }}"
    format: json
    secret: "\${{ secrets.BUS_HMAC }}"
  - name: chat
    url: http://127.0.0.1:${port}/chat
    format: slack
    secret: "\${{ secrets.CHAT_HMAC }}"
    environments: [prod]
  - name: cd
    url: http://127.0.0.1:${port}/cd
    format: cdevents
    secret: "\${{ secrets.BUS_HMAC }}"
${extra}`;
}

async function release(deps: EngineDeps, version: string): Promise<string> {
  return (await createRelease(deps, { set: [`api=${version}`] })).release.id;
}

async function outbox(deps: EngineDeps, target?: string): Promise<DeliveryRecord[]> {
  return (await deps.store.listDeliveries({ ...(target === undefined ? {} : { target }), limit: 10_000 })).reverse();
}

/** Sends until nothing is pending, as rounds of the worker would (a bounded number of them). */
async function drain(deps: EngineDeps): Promise<void> {
  for (let round = 0; round < 500; round++) {
    await flushNotifications(deps, FAST);
    if ((await deps.store.listDeliveries({ status: 'pending', limit: 1 })).length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`still pending: ${JSON.stringify(await deps.store.listDeliveries({ status: 'pending' }))}`);
}

describe('notifications to a webhook receiver', () => {
  it('survive the receiver failing and going away: nothing lost, in order, an acknowledged one never resent, retries under the same id', async () => {
    const r = await receiver();
    project = testProject(config(r.port));
    const deps = await project.deps({ env: SECRETS });
    await prepareNotifications(deps);

    await promote(deps, await release(deps, '1.0.0'), 'dev');
    await drain(deps);
    const firstRound = r.received.length;
    expect(firstRound).toBeGreaterThan(0);

    // It answers 503 for a while: each target's head is tried, fails, and holds the rest back.
    r.mode = 'failing';
    await promote(deps, await release(deps, '1.1.0'), 'dev');
    await flushNotifications(deps, FAST);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await flushNotifications(deps, FAST);
    // Then it is gone: connections are refused, and more happens meanwhile.
    await r.down();
    const third = await release(deps, '1.2.0');
    await promote(deps, third, 'dev');
    const pending = await promote(deps, third, 'prod');
    expect(pending.state).toBe('pending');
    await flushNotifications(deps, FAST);
    const refused = (await outbox(deps)).filter((d) => d.history.some((h) => h.error?.includes('ECONNREFUSED')));
    expect(refused.length).toBeGreaterThan(0);

    r.mode = 'up';
    await r.start();
    await approve({ ...deps, actor: 'carol@example.com' }, pending.id, { comment: 'fine' });
    await drain(deps);

    const all = await outbox(deps);
    expect(all.every((d) => d.status === 'delivered')).toBe(true);
    for (const [target, path] of [['bus', `/bus/${SECRETS.BUS_PATH}`], ['chat', '/chat'], ['cd', '/cd']] as const) {
      const queued = all.filter((d) => d.target === target);
      const acked = r.acknowledged(path);
      // Nothing lost, in the order queued, and each acknowledged exactly once.
      expect(acked.map((a) => a.deliveryId), target).toStrictEqual(queued.map((d) => d.deliveryId));
      expect(acked.map((a) => a.body)).toStrictEqual(queued.map((d) => d.body));
    }
    // Every request, answered or not, was signed with its target's key.
    expect(r.received.every((x) => x.signatureValid === true)).toBe(true);
    // The 503s were retried with the same delivery id and the same bytes.
    const failed = r.received.filter((x) => x.answer === 503);
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) {
      const later = r.acknowledged().filter((a) => a.deliveryId === f.deliveryId);
      expect(later).toHaveLength(1);
      expect(later[0]?.body).toBe(f.body);
    }
    // A delivery that failed several times records each attempt.
    expect(all.some((d) => d.attempts >= 3 && d.history.length === d.attempts)).toBe(true);

    // What each format sent: Lockstep's own events, Slack messages for prod only, CloudEvents.
    const bus = r.acknowledged(`/bus/${SECRETS.BUS_PATH}`).map((a) => JSON.parse(a.body) as NotifyEvent);
    expect(bus.filter((e) => e.type === 'promotion.finished').map((e) => `${e.release?.versions.api} ${e.environment}`)).toStrictEqual(['1.0.0 dev', '1.1.0 dev', '1.2.0 dev', '1.2.0 prod']);
    expect(bus.map((e) => e.audit?.seq)).toStrictEqual([...bus.map((e) => e.audit?.seq)].sort((a, b) => (a ?? 0) - (b ?? 0)));
    const chat = r.acknowledged('/chat').map((a) => ({ event: a.event, message: JSON.parse(a.body) as SlackMessage }));
    expect(chat.map((c) => c.event)).toStrictEqual(['approval.requested', 'approval.given', 'promotion.started', 'promotion.finished']);
    const asked = JSON.stringify(chat[0]?.message.blocks);
    expect(asked).toContain('Waiting for 1 approval from carol@example.com');
    expect(asked).toContain(`lockstep approve ${pending.id.slice(0, 12)}`);
    expect(asked).toContain(`https://lockstep.example.com/api/v1/projects/shop/promotions/${pending.id}`);
    expect(r.acknowledged('/cd').every((a) => a.contentType.startsWith('application/cloudevents+json'))).toBe(true);
    expect(new Set(r.acknowledged('/cd').map((a) => a.event))).toContain('dev.cdevents.service.upgraded.0.3.0');
  });

  it('never puts a secret of a target (its URL, its HMAC key, a header) in the store, the audit log, an error or a log line', async () => {
    const r = await receiver();
    const secrets = { ...SECRETS, BROKEN_URL: 'not a url with-secret-part-3c1d', API_KEY: 'header-secret-9e8d7c' };
    const gone = await receiver();
    await gone.down();
    project = testProject(
      config(
        r.port,
        `  - name: broken
    url: "\${{ secrets.BROKEN_URL }}"
    headers: { Authorization: "Bearer \${{ secrets.API_KEY }}" }
  - name: keyed
    url: http://127.0.0.1:${gone.port}/nothing-listens
    headers: { X-Api-Key: "\${{ secrets.API_KEY }}" }
`,
      ),
    );
    const deps = await project.deps({ env: secrets });
    await prepareNotifications(deps);
    const lines: string[] = [];
    await promote(deps, await release(deps, '1.0.0'), 'dev');
    await flushNotifications(deps, { ...FAST, log: (line) => lines.push(line) });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await flushNotifications(deps, { ...FAST, log: (line) => lines.push(line) });

    const broken = await outbox(deps, 'broken');
    expect(broken[0]?.history[0]?.error).toContain('***');
    expect((await outbox(deps, 'keyed'))[0]?.history[0]?.error).toContain('ECONNREFUSED');
    expect(lines.some((l) => l.includes('notify broken'))).toBe(true);
    // The receiver got the headers: they were sent, only never kept.
    expect(r.received.length).toBeGreaterThan(0);

    const audit = JSON.stringify(await deps.store.auditPage(0, 10_000));
    const records = JSON.stringify(await deps.store.listDeliveries({ limit: 10_000 }));
    await deps.store.close();
    const stateDir = join(project.dir, '.lockstep');
    const files = readdirSync(stateDir).filter((f) => f.startsWith('state.db')).map((f) => readFileSync(join(stateDir, f)).toString('latin1'));
    for (const value of Object.values(secrets)) {
      for (const [where, text] of [['audit', audit], ['deliveries', records], ['log', lines.join('\n')], ...files.map((f, i) => [`state file ${i}`, f])]) {
        expect(text?.includes(value), `${where} holds a secret`).toBe(false);
      }
    }
  });

  it('queues a target seen for the first time from the head of the log, and an entry only once', async () => {
    const r = await receiver();
    project = testProject(config(r.port));
    const deps = await project.deps({ env: SECRETS });
    // History before the targets were first seen: not sent.
    await promote(deps, await release(deps, '0.9.0'), 'dev');
    expect(await queueNotifications(deps)).toBe(0);
    expect(await deps.store.listDeliveries()).toHaveLength(0);
    await promote(deps, await release(deps, '1.0.0'), 'dev');
    const queued = await queueNotifications(deps);
    expect(queued).toBeGreaterThan(0);
    // A second process reading the same entries queues nothing more.
    const again = await project.deps({ env: SECRETS });
    expect(await queueNotifications(again)).toBe(0);
    expect(await deps.store.listDeliveries({ limit: 10_000 })).toHaveLength(queued);
  });

  it('notify test sends a test event behind what is pending and reports how it went', async () => {
    const r = await receiver();
    project = testProject(config(r.port));
    const deps = await project.deps({ env: SECRETS });
    const delivered = await sendTestNotification(deps, 'chat', FAST);
    expect(delivered).toMatchObject({ target: 'chat', event: 'notify.test', status: 'delivered', attempts: 1, lastAttempt: { httpStatus: 204 } });
    expect(r.acknowledged('/chat')[0]?.signatureValid).toBe(true);
    await r.down();
    const refused = await sendTestNotification(deps, 'chat', FAST);
    expect(refused.status).toBe('pending');
    expect(refused.lastAttempt?.error).toContain('ECONNREFUSED');
    await expect(sendTestNotification(deps, 'chta')).rejects.toThrow(/no notify target chta .*did you mean chat\?/);
  });
});
