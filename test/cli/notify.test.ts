import { afterEach, describe, expect, it } from 'vitest';
import type { NotifyEvent } from '../../src/core/notify/notify-events.js';
import type { DeliveryView } from '../../src/engine/notifications.js';
import { lockstepAwait } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

// The CLI without a server, as a user runs it (the built CLI in its own process), against a
// loopback receiver in this process: commands send what they recorded as they end, a receiver that
// is down changes nothing about a promotion's outcome, and `notify send` delivers what was left.

const KEY = 'cli-hmac-key-0b9f3e';
const ENV = { HOOK_HMAC: KEY };

let project: TestProject | undefined;
let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  project?.cleanup();
});

async function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return lockstepAwait(project?.dir ?? '', args, ENV);
}

async function deliveries(): Promise<DeliveryView[]> {
  const log = await run(['notify', 'log', '-o', 'json']);
  expect(log.status, log.stderr).toBe(0);
  return JSON.parse(log.stdout) as DeliveryView[];
}

describe('lockstep notify, without a server', () => {
  it('promote sends as it ends; a receiver that is down leaves the outcome alone; notify send delivers the rest under the same ids', async () => {
    receiver = await new WebhookReceiver({ '/hook': KEY }).start();
    project = testProject(`project: shop
environments:
  dev: {}
components:
  api:
${commandComponent()}
notify:
  - name: hook
    url: ${receiver.url('/hook')}
    secret: "\${{ secrets.HOOK_HMAC }}"
    events: [promotion.started, promotion.finished]
`);
    const created = await run(['release', 'create', '--set', 'api=1.0.0', '-o', 'json']);
    const first = (JSON.parse(created.stdout) as { release: { id: string } }).release.id;
    const promoted = await run(['promote', first, '--to', 'dev']);
    expect(promoted.status, promoted.stderr).toBe(0);
    expect(receiver.acknowledged().map((r) => r.event)).toStrictEqual(['promotion.started', 'promotion.finished']);
    expect(receiver.received.every((r) => r.signatureValid === true)).toBe(true);
    expect((JSON.parse(receiver.acknowledged()[1]?.body ?? '{}') as NotifyEvent).data.state).toBe('succeeded');

    await receiver.down();
    const second = (JSON.parse((await run(['release', 'create', '--set', 'api=1.1.0', '-o', 'json'])).stdout) as { release: { id: string } }).release.id;
    const unheard = await run(['promote', second, '--to', 'dev', '-o', 'json']);
    // The promotion's result is its own: exit 0, succeeded, whatever the receiver does.
    expect(unheard.status, unheard.stderr).toBe(0);
    expect((JSON.parse(unheard.stdout) as { promotion: { state: string } }).promotion.state).toBe('succeeded');
    expect(unheard.stderr).toContain('notification(s) could not be sent');
    const waiting = await deliveries();
    expect(waiting.map((d) => [d.event, d.status])).toStrictEqual([
      ['promotion.finished', 'pending'],
      ['promotion.started', 'pending'],
      ['promotion.finished', 'delivered'],
      ['promotion.started', 'delivered'],
    ]);
    expect(waiting[1]?.lastAttempt?.error).toContain('ECONNREFUSED');
    const text = await run(['notify', 'log', '--status', 'pending']);
    expect(text.stdout).toMatch(/^QUEUED\s+TARGET\s+EVENT\s+STATUS\s+ATTEMPTS\s+LAST ANSWER\s+DELIVERY/);
    expect(text.stdout.trim().split('\n')).toHaveLength(3);

    await receiver.start();
    const sent = await run(['notify', 'send', '-o', 'json']);
    expect(sent.status, sent.stderr).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ delivered: 2, failed: 0, retrying: 0 });
    const pendingIds = waiting.filter((d) => d.status === 'pending').map((d) => d.deliveryId).reverse();
    expect(receiver.acknowledged().slice(2).map((r) => r.deliveryId)).toStrictEqual(pendingIds);
    expect((await deliveries()).every((d) => d.status === 'delivered')).toBe(true);

    const tested = await run(['notify', 'test', 'hook', '-o', 'json']);
    expect(tested.status, tested.stderr).toBe(0);
    expect(JSON.parse(tested.stdout)).toMatchObject({ target: 'hook', event: 'notify.test', status: 'delivered' });
    const unknown = await run(['notify', 'test', 'hok']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('no notify target hok (targets: hook); did you mean hook?');
  });
});
