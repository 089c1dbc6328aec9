import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockstep, lockstepAsync, requireBuild } from '../helpers/cli.js';
import { launchChromium, openPage } from '../helpers/chromium.js';
import { testProject, type TestProject } from '../helpers/project.js';
import { startServe, stopServe, type ServeProcess } from '../helpers/serve-process.js';

/**
 * The promotion page's other decisions in Chromium against a real `lockstep serve`: a promotion
 * interrupted by a killed `lockstep promote` (two steps that cannot tell whether they finished),
 * *Retry* one as a releaser and *Mark done* the other as an admin (a releaser is told why not, a
 * viewer gets no button at all), the page turning green from the event stream; *Roll back* the
 * environment afterwards; *Cancel* a running promotion with a reason.
 *
 * LOCKSTEP_UI_SCREENSHOTS=DIR writes the interrupted promotion's decisions as PNG into DIR.
 */
const CONFIG = `project: shop
access:
  viewer: [viewer@example.com]
  releaser: [rel@example.com]
  admin: [admin@example.com]
environments:
  dev: {}
  prod:
    after: [dev]
components:
  api:
    type: command
    with:
      apply: ["./slow.sh", "\${{ version }}"]
  web:
    type: command
    with:
      apply: ["./slow.sh", "\${{ version }}"]
`;

// Sleeps where SLOW names the environment: a step to kill or cancel half-way.
const SLOW_SH = `#!/bin/sh
set -eu
echo "apply $LOCKSTEP_ENVIRONMENT $LOCKSTEP_COMPONENT $1" >> applies.log
if [ "\${SLOW:-}" = "$LOCKSTEP_ENVIRONMENT" ]; then sleep 60; fi
mkdir -p "systems/$LOCKSTEP_ENVIRONMENT"
printf '%s\\n' "$1" > "systems/$LOCKSTEP_ENVIRONMENT/$LOCKSTEP_COMPONENT"
echo "deployed $LOCKSTEP_COMPONENT $1"
`;

const SCREENSHOTS = process.env.LOCKSTEP_UI_SCREENSHOTS;

let project: TestProject;
let server: ServeProcess;
let browser: Browser;
const tokens: Record<string, string> = {};
let first: string;
let second: string;
let interrupted: string;

function cli(args: string[], actor = 'rel@example.com', env: NodeJS.ProcessEnv = {}): string {
  const result = lockstep(project.dir, args, { LOCKSTEP_ACTOR: actor, ...env });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

function token(name: string, identity: string): string {
  return (JSON.parse(cli(['token', 'create', '--name', name, '--for', identity, '--output', 'json'], 'admin@example.com')) as { token: string }).token;
}

function release(versions: string): string {
  return (JSON.parse(cli(['release', 'create', '--set', `api=${versions}`, '--set', `web=${versions}`, '--output', 'json'])) as { release: { id: string } }).release.id;
}

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function signIn(page: Page, path: string, as: string): Promise<void> {
  await page.goto(`${server.url}${path}`);
  await page.getByLabel('API token', { exact: true }).fill(tokens[as] ?? '');
  await page.getByRole('button', { name: 'Use this token' }).click();
}

async function state(page: Page, expected: string): Promise<void> {
  await page.locator(`[data-promotion-state="${expected}"]`).waitFor({ timeout: 30_000 });
}

beforeAll(async () => {
  requireBuild();
  project = testProject(CONFIG);
  project.write('slow.sh', SLOW_SH, true);
  first = release('1.0.0');
  cli(['promote', first, '--to', 'dev']);
  second = release('2.0.0');
  // Killed while both steps run: neither can say whether it finished, so `resume` leaves them interrupted.
  const child = lockstepAsync(project.dir, ['promote', second, '--to', 'dev'], { LOCKSTEP_ACTOR: 'rel@example.com', SLOW: 'dev' });
  const exited = once(child, 'exit');
  await until('both steps to start', () => {
    const log = existsSync(join(project.dir, 'applies.log')) ? readFileSync(join(project.dir, 'applies.log'), 'utf8') : '';
    return (log.match(/^apply dev \w+ 2\.0\.0$/gm) ?? []).length === 2 ? true : undefined;
  });
  child.kill('SIGKILL');
  await exited;
  // Its step commands outlive it: stop them rather than wait.
  lockstep(project.dir, ['resume', '--stop-running'], { LOCKSTEP_ACTOR: 'rel@example.com' });
  const listed = JSON.parse(cli(['history', '--env', 'dev', '--output', 'json'])) as { id: string; state: string; releaseId: string }[];
  const found = listed.find((p) => p.releaseId === second);
  expect(found?.state).toBe('interrupted');
  interrupted = found?.id ?? '';
  tokens.viewer = token('viewer-laptop', 'viewer@example.com');
  tokens.releaser = token('rel-laptop', 'rel@example.com');
  tokens.admin = token('admin-laptop', 'admin@example.com');
  server = await startServe(project.dir, [], { SLOW: 'prod' });
  browser = await launchChromium();
  if (SCREENSHOTS !== undefined) mkdirSync(SCREENSHOTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stopServe(server);
  project?.cleanup();
});

describe('the promotion page’s decisions', () => {
  it('an interrupted promotion: a viewer is told why not; a releaser retries one step, an admin marks the other done; the page turns green live', async () => {
    const viewer = await openPage(browser, server.url);
    const releaser = await openPage(browser, server.url);
    const admin = await openPage(browser, server.url);
    try {
      const path = `/projects/shop/promotions/${interrupted}`;
      await signIn(viewer.page, path, 'viewer');
      await state(viewer.page, 'interrupted');
      const decisions = viewer.page.getByRole('region', { name: 'Decisions' });
      await decisions.getByText('You may not retry a step: viewer@example.com may not resume promotions in dev: needs releaser').waitFor();
      await decisions.getByText('You may not mark a step done: viewer@example.com may not mark steps done in dev: needs admin').waitFor();
      expect(await decisions.getByRole('button').count()).toBe(0);

      await signIn(releaser.page, path, 'releaser');
      const ours = releaser.page.getByRole('region', { name: 'Decisions' });
      await ours.getByRole('button', { name: 'Retry api' }).waitFor();
      await ours.getByRole('button', { name: 'Retry web' }).waitFor();
      expect(await ours.getByRole('button', { name: /^Mark .* done$/ }).count()).toBe(0);
      await ours.getByText('You may not mark a step done: rel@example.com may not mark steps done in dev: needs admin').waitFor();
      // Asked first: nothing happens until confirmed.
      await ours.getByRole('button', { name: 'Retry api' }).click();
      const confirm = ours.getByRole('group', { name: 'Confirm the decision' });
      await confirm.getByText('Apply api again?').waitFor();
      await confirm.getByRole('button', { name: 'Back' }).click();
      expect(await confirm.count()).toBe(0);
      expect(readFileSync(join(project.dir, 'applies.log'), 'utf8').match(/^apply dev api 2\.0\.0$/gm)).toHaveLength(1);
      await ours.getByRole('button', { name: 'Retry api' }).click();
      await confirm.getByRole('button', { name: 'Confirm: retry api' }).click();
      // Recorded: api waits to be applied again, but web still waits for a decision, so the promotion
      // stays interrupted and nothing runs yet.
      await until('only web left to decide', async () => ((await ours.getByRole('button', { name: 'Retry api' }).count()) === 0 ? true : undefined));
      await ours.getByRole('list', { name: 'Interrupted steps' }).getByRole('button', { name: 'Retry web' }).waitFor();
      await releaser.page.locator('#step-api').getByText('pending', { exact: true }).waitFor();
      await state(releaser.page, 'interrupted');
      expect(readFileSync(join(project.dir, 'applies.log'), 'utf8').match(/^apply dev api 2\.0\.0$/gm)).toHaveLength(1);

      await signIn(admin.page, path, 'admin');
      const adminDecisions = admin.page.getByRole('region', { name: 'Decisions' });
      await adminDecisions.getByRole('button', { name: 'Mark web done' }).waitFor();
      if (SCREENSHOTS !== undefined) {
        await adminDecisions.getByRole('button', { name: 'Mark web done' }).click();
        await admin.page.screenshot({ path: join(SCREENSHOTS, 'ui-promotion-decisions.png'), fullPage: true });
        await adminDecisions.getByRole('button', { name: 'Back' }).click();
      }
      await adminDecisions.getByRole('button', { name: 'Mark web done' }).click();
      await adminDecisions.getByRole('button', { name: 'Confirm: mark web done' }).click();
      // Every page follows the event stream: the viewer's, which nobody clicked on, too.
      await state(admin.page, 'succeeded');
      await state(releaser.page, 'succeeded');
      await state(viewer.page, 'succeeded');
      // api was applied again; web was not: it was marked done.
      expect(readFileSync(join(project.dir, 'applies.log'), 'utf8').match(/^apply dev api 2\.0\.0$/gm)).toHaveLength(2);
      expect(readFileSync(join(project.dir, 'applies.log'), 'utf8').match(/^apply dev web 2\.0\.0$/gm)).toHaveLength(1);
      // The audit log says who decided what.
      const exported = await fetch(`${server.url}/api/v1/projects/shop/audit/export`, { headers: { Authorization: `Bearer ${tokens.admin}` } });
      const audit = (await exported.text()).trim().split('\n').map((l) => JSON.parse(l) as { kind: string; actor: string; component?: string; promotionId?: string });
      const decided = audit.filter((e) => e.promotionId === interrupted && (e.kind === 'step.retried' || e.kind === 'step.marked-done'));
      expect(decided.map((e) => [e.kind, e.component, e.actor])).toEqual([
        ['step.retried', 'api', 'rel@example.com'],
        ['step.marked-done', 'web', 'admin@example.com'],
      ]);
      for (const w of [viewer, releaser, admin]) expect(w.problems.filter((p) => !p.includes('401'))).toEqual([]);
    } finally {
      await viewer.context.close();
      await releaser.context.close();
      await admin.context.close();
    }
  }, 90_000);

  it('rolls the environment back from an ended promotion, after confirmation, and opens the rollback', async () => {
    const { page, problems, context } = await openPage(browser, server.url);
    try {
      await signIn(page, `/projects/shop/promotions/${interrupted}`, 'releaser');
      await state(page, 'succeeded');
      const decisions = page.getByRole('region', { name: 'Decisions' });
      await decisions.getByRole('button', { name: 'Roll back dev…' }).click();
      await decisions.getByText(`Roll dev back to release ${first.slice(0, 12)}?`).waitFor();
      await decisions.getByRole('button', { name: 'Confirm: roll back dev' }).click();
      await page.waitForURL((url) => !url.pathname.endsWith(interrupted));
      await page.getByRole('heading', { name: `Release ${first.slice(0, 12)} to dev` }).waitFor();
      await page.getByText(/^Rollback /).waitFor();
      await state(page, 'succeeded');
      expect(readFileSync(join(project.dir, 'systems/dev/api'), 'utf8').trim()).toBe('1.0.0');
      expect(problems.filter((p) => !p.includes('401'))).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('cancels a running promotion with a reason; a viewer is told why not', async () => {
    cli(['promote', second, '--to', 'dev']);
    const response = await fetch(`${server.url}/api/v1/projects/shop/promotions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tokens.releaser}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ release: second, to: 'prod' }),
    });
    expect(response.status).toBe(202);
    const { promotion } = (await response.json()) as { promotion: { id: string } };
    const viewer = await openPage(browser, server.url);
    const releaser = await openPage(browser, server.url);
    try {
      await signIn(viewer.page, `/projects/shop/promotions/${promotion.id}`, 'viewer');
      await state(viewer.page, 'running');
      await viewer.page.getByText('You may not cancel it: viewer@example.com may not cancel promotions in prod').waitFor();

      await signIn(releaser.page, `/projects/shop/promotions/${promotion.id}`, 'releaser');
      await state(releaser.page, 'running');
      const decisions = releaser.page.getByRole('region', { name: 'Decisions' });
      await decisions.getByRole('button', { name: 'Cancel this promotion…' }).click();
      await decisions.getByLabel(/^Reason/).fill('INC-7: wrong build');
      await decisions.getByRole('button', { name: 'Confirm: cancel the promotion' }).click();
      // Its steps are stopped, then its failure policy applies: it ends failed, and says why.
      await state(releaser.page, 'failed');
      await releaser.page.getByText(/cancelled by rel@example\.com: INC-7: wrong build/).first().waitFor();
      await state(viewer.page, 'failed');
      for (const w of [viewer, releaser]) expect(w.problems.filter((p) => !p.includes('401'))).toEqual([]);
    } finally {
      await viewer.context.close();
      await releaser.context.close();
    }
  }, 90_000);
});
