import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import type { EngineDeps } from '../../src/engine/deps.js';
import { createRelease, promote } from '../../src/engine/promote.js';
import { BackgroundWorker } from '../../src/engine/worker.js';
import { testProject, type TestProject } from '../helpers/project.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

// The server's scheduled drift checks (`drift: { every }`): two workers over one store stand for two
// server replicas; each due time is checked once, and a finding goes out as `drift.detected`.

let project: TestProject | undefined;
let workers: BackgroundWorker[] = [];
let receiver: WebhookReceiver | undefined;

afterEach(async () => {
  for (const w of workers) w.stop();
  for (const w of workers) await w.idle();
  workers = [];
  await receiver?.down();
  project?.cleanup();
});

const OBSERVE_COUNTING = `#!/bin/sh
echo observed >> observes.log
cat "systems/$LOCKSTEP_ENVIRONMENT/$LOCKSTEP_COMPONENT" 2>/dev/null || true
`;

async function until<T>(what: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (;;) {
    const value = await what();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function observes(dir: string): number {
  const file = join(dir, 'observes.log');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').length : 0;
}

describe('scheduled drift checks', () => {
  it('run once per due time across two workers, record and notify drift.detected', async () => {
    receiver = await new WebhookReceiver().start();
    project = testProject(`project: shop
environments:
  prod:
    drift: { every: 15m }
components:
  api:
    type: command
    with:
      apply: ["./deploy.sh", "\${{ version }}"]
      observe: ["./observe-counting.sh"]
notify:
  - name: ops
    url: ${receiver.url('/ops')}
    format: json
    events: [drift.detected]
`);
    project.write('observe-counting.sh', OBSERVE_COUNTING, true);
    let now = new Date('2026-12-07T10:00:00.000Z');
    const clock = { now: () => now };
    const deps: EngineDeps = await project.deps({ clock });
    const other: EngineDeps = await project.deps({ clock });
    const id = (await createRelease(deps, { set: ['api=1.0.0'] })).release.id;
    expect((await promote(deps, id, 'prod')).state).toBe('succeeded');
    // By hand: the system runs something else.
    project.write('systems/prod/api', '0.9.0\n');

    workers = [new BackgroundWorker(() => deps, {}, 20), new BackgroundWorker(() => other, {}, 20)];
    for (const w of workers) w.start();
    const detected = await until(async () => {
      const entries: AuditEntry[] = await deps.store.auditPage(null, 1000);
      return entries.find((e) => e.kind === 'drift.detected');
    });
    expect(detected).toMatchObject({ environment: 'prod', component: 'api', data: { trigger: 'schedule', recordedVersion: '1.0.0', observedVersion: '0.9.0' } });
    const delivered = await until(() => receiver?.acknowledged('/ops').find((r) => r.event === 'drift.detected'));
    expect(JSON.parse(delivered.body)).toMatchObject({ type: 'drift.detected', environment: 'prod', component: 'api' });

    // Many rounds of both workers at the same time: still one check for this due time.
    await new Promise((r) => setTimeout(r, 300));
    expect(observes(project.dir)).toBe(1);

    // 15 minutes later: due again, checked once more; the same drift is not recorded again.
    now = new Date(now.getTime() + 15 * 60_000);
    await until(() => (observes(project?.dir ?? '') === 2 ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    expect(observes(project.dir)).toBe(2);
    const states = await deps.store.driftStates('prod');
    expect(states.map((s) => [s.component, s.state, s.checkedAt])).toEqual([['api', 'drifted', now.toISOString()]]);
    expect((await deps.store.auditPage(null, 1000)).filter((e) => e.kind === 'drift.detected')).toHaveLength(1);
  });
});
