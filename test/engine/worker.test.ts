import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PromotionRecord } from '../../src/core/model.js';
import type { EngineDeps } from '../../src/engine/deps.js';
import { createRelease, promote } from '../../src/engine/promote.js';
import { AUTO_ACTOR } from '../../src/engine/tick.js';
import { BackgroundWorker } from '../../src/engine/worker.js';
import { lockstepAsync } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// The server's background worker (issue 14): what `tick` does by hand, done while nobody types
// anything. Real projects, real SQLite, real processes; the test waits for outcomes, never asserts
// how long they took.

let project: TestProject | undefined;
let worker: BackgroundWorker | undefined;
afterEach(async () => {
  worker?.stop();
  await worker?.idle();
  worker = undefined;
  project?.cleanup();
});

async function release(deps: EngineDeps, version: string): Promise<string> {
  return (await createRelease(deps, { set: [`api=${version}`] })).release.id;
}

/** Polls the store until the promotion reaches one of `states` (the test's own timeout bounds it). */
async function until(deps: EngineDeps, id: string, states: PromotionRecord['state'][]): Promise<PromotionRecord> {
  for (;;) {
    const p = await deps.store.getPromotion(id);
    if (states.includes(p.state)) return p;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the background worker', () => {
  it('starts a pending promotion once its soak time has passed, with nobody typing anything', async () => {
    project = testProject(`project: shop
environments:
  staging: {}
  prod: { after: [staging], gates: { soak: 1500ms } }
components:
  api:
${commandComponent()}
`);
    const deps = await project.deps({ actor: 'alice@example.com' });
    const id = await release(deps, '1.0.0');
    expect((await promote(deps, id, 'staging')).state).toBe('succeeded');
    const pending = await promote(deps, id, 'prod');
    expect(pending.state).toBe('pending');
    expect(pending.plan.gates.find((g) => g.gate === 'soak')?.status).toBe('waiting');

    worker = new BackgroundWorker(() => deps, {}, 100);
    worker.start();
    const done = await until(deps, pending.id, ['succeeded', 'failed']);
    expect(done.state).toBe('succeeded');
    expect(done.requestedBy).toBe('alice@example.com');
    expect(project.running('prod', 'api')).toBe('1.0.0');
  }, 30_000);

  it('promotes automatically where an environment says auto, and only once', async () => {
    project = testProject(`project: shop
environments:
  dev: { gates: { auto: true } }
components:
  api:
${commandComponent()}
`);
    const deps = await project.deps({ actor: 'alice@example.com' });
    worker = new BackgroundWorker(() => deps, {}, 50);
    worker.start();
    await release(deps, '1.0.0');
    worker.nudge();
    for (;;) {
      const [p] = await deps.store.listPromotions({ environment: 'dev' });
      if (p?.state === 'succeeded') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Several more rounds: nothing new to promote.
    await new Promise((r) => setTimeout(r, 300));
    worker.stop();
    await worker.idle();
    const promotions = await deps.store.listPromotions({ environment: 'dev' });
    expect(promotions.map((p) => [p.state, p.requestedBy])).toEqual([['succeeded', AUTO_ACTOR]]);
    expect(project.applies().length).toBe(1);
  }, 30_000);

  it('resumes a promotion whose process was killed mid-step, applying nothing twice', async () => {
    project = testProject(`project: shop
environments:
  dev: {}
components:
  api:
${commandComponent()}
`);
    const deps = await project.deps({ actor: 'alice@example.com' });
    const id = await release(deps, '1.0.0');
    // The step sleeps, so the process can be killed while it runs; its command outlives it.
    const child = lockstepAsync(project.dir, ['promote', id, '--to', 'dev'], { STEP_SLEEP: '1' });
    let running: PromotionRecord | undefined;
    while (running === undefined) {
      const [p] = await deps.store.listPromotions({ environment: 'dev' }).catch(() => []);
      const [step] = p ? await deps.store.listSteps(p.id) : [];
      // Killed once the step's command has started (it logs its start, then sleeps).
      if (p && step?.phase === 'apply' && project.applies().length > 0) running = p;
      else await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const lines: string[] = [];
    worker = new BackgroundWorker(() => deps, { log: (line) => lines.push(line) }, 100);
    worker.start();
    const done = await until(deps, running.id, ['succeeded', 'failed', 'interrupted']);
    expect(done.state).toBe('succeeded');
    expect(lines.some((l) => l.includes('was left running by a process that is gone: resuming it'))).toBe(true);
    // The command the killed process started was waited for, not run again.
    expect(readFileSync(join(project.dir, 'applies.log'), 'utf8').trim().split('\n')).toHaveLength(1);
  }, 30_000);
});
