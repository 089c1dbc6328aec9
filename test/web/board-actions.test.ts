import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockstep, requireBuild } from '../helpers/cli.js';
import { launchChromium, openPage } from '../helpers/chromium.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';
import { startServe, stopServe, type ServeProcess } from '../helpers/serve-process.js';

/**
 * Drift on the board in Chromium against a real `lockstep serve`: a component changed behind
 * Lockstep's back (its system file edited), one that cannot be observed. A releaser checks drift from
 * dev's card and reads what differs; a viewer reads the recorded checks and gets no button.
 *
 * Then the metrics page over the same history (a release promoted, the next rolled back), and
 * promoting by dragging dev's release onto staging's card.
 *
 * LOCKSTEP_UI_SCREENSHOTS=DIR writes the board with drift as PNG into DIR.
 */
const CONFIG = `project: shop
access:
  viewer: [viewer@example.com]
  releaser: [rel@example.com]
  admin: [admin@example.com]
environments:
  dev: {}
  staging:
    after: [dev]
components:
  api:
${commandComponent({ observe: true })}
  web:
${commandComponent()}
`;

const SCREENSHOTS = process.env.LOCKSTEP_UI_SCREENSHOTS;

let project: TestProject;
let server: ServeProcess;
let browser: Browser;
const tokens: Record<string, string> = {};

function cli(args: string[], actor = 'rel@example.com'): string {
  const result = lockstep(project.dir, args, { LOCKSTEP_ACTOR: actor });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

function token(name: string, identity: string): string {
  return (JSON.parse(cli(['token', 'create', '--name', name, '--for', identity, '--output', 'json'], 'admin@example.com')) as { token: string }).token;
}

async function signIn(page: Page, path: string, as: string): Promise<void> {
  await page.goto(`${server.url}${path}`);
  await page.getByLabel('API token', { exact: true }).fill(tokens[as] ?? '');
  await page.getByRole('button', { name: 'Use this token' }).click();
}

beforeAll(async () => {
  requireBuild();
  project = testProject(CONFIG);
  const release = (JSON.parse(cli(['release', 'create', '--set', 'api=1.0.0', '--set', 'web=1.0.0', '--output', 'json'])) as { release: { id: string } }).release.id;
  cli(['promote', release, '--to', 'dev']);
  // A second release that is rolled back: history for the metrics page (dev runs the first again).
  const second = (JSON.parse(cli(['release', 'create', '--set', 'api=2.0.0', '--set', 'web=2.0.0', '--output', 'json'])) as { release: { id: string } }).release.id;
  cli(['promote', second, '--to', 'dev']);
  cli(['rollback', '--env', 'dev']);
  // Someone changes dev's api by hand.
  mkdirSync(join(project.dir, 'systems/dev'), { recursive: true });
  writeFileSync(join(project.dir, 'systems/dev/api'), '1.0.1-hotfix\n');
  tokens.viewer = token('viewer-laptop', 'viewer@example.com');
  tokens.releaser = token('rel-laptop', 'rel@example.com');
  server = await startServe(project.dir);
  browser = await launchChromium();
  if (SCREENSHOTS !== undefined) mkdirSync(SCREENSHOTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stopServe(server);
  project?.cleanup();
});

describe('drift on the board', () => {
  it('a releaser checks drift in dev and reads what differs; a viewer reads the recorded check without a button', async () => {
    const releaser = await openPage(browser, server.url);
    const viewer = await openPage(browser, server.url);
    try {
      await signIn(releaser.page, '/projects/shop', 'releaser');
      const dev = releaser.page.getByRole('article', { name: 'dev' });
      const drift = dev.getByRole('region', { name: 'Drift in dev' });
      await drift.getByText('Never checked.').waitFor();
      // staging has nothing deployed yet, but a releaser may check it too.
      await releaser.page.getByRole('article', { name: 'staging' }).getByRole('button', { name: 'Check drift in staging' }).waitFor();
      await drift.getByRole('button', { name: 'Check drift in dev' }).click();
      const api = drift.getByRole('listitem', { name: 'Drift of api: drifted' });
      await api.waitFor();
      expect(await api.innerText()).toMatch(/version: expected 1\.0\.0, found 1\.0\.1-hotfix/);
      await drift.getByRole('listitem', { name: 'Drift of web: cannot observe' }).waitFor();
      if (SCREENSHOTS !== undefined) await releaser.page.screenshot({ path: join(SCREENSHOTS, 'ui-board-drift.png'), fullPage: true });

      // Recorded by the server: a viewer, in another browser, reads the same check, and may not run one.
      await signIn(viewer.page, '/projects/shop', 'viewer');
      const seen = viewer.page.getByRole('article', { name: 'dev' }).getByRole('region', { name: 'Drift in dev' });
      await seen.getByRole('listitem', { name: 'Drift of api: drifted' }).waitFor();
      expect(await seen.getByRole('listitem', { name: /Drift of api/ }).innerText()).toMatch(/checked .+/);
      expect(await viewer.page.getByRole('button', { name: /^Check drift/ }).count()).toBe(0);
      for (const w of [releaser, viewer]) expect(w.problems.filter((p) => !p.includes('401'))).toEqual([]);
    } finally {
      await releaser.context.close();
      await viewer.context.close();
    }
  }, 60_000);
});

describe('the metrics page', () => {
  it('shows DORA figures per environment from the record, "—" where there is nothing to measure, over a window in the URL', async () => {
    const { page, problems, context } = await openPage(browser, server.url);
    try {
      await signIn(page, '/projects/shop', 'viewer');
      await page.getByRole('navigation', { name: 'Project' }).getByRole('link', { name: 'Metrics' }).click();
      const table = page.getByRole('table', { name: 'DORA metrics per environment' });
      await table.waitFor();
      await page.getByText('(30 days); percentiles are nearest-rank.').waitFor();
      const rows = await table.getByRole('row').allInnerTexts();
      expect(rows[0]).toBe('Environment\tDeployments\tPer day\tLead time p50 / p90\tChange failure rate\tTime to restore p50 / p90\tRework rate');
      // dev: two promotions and a rollback are three deployments; the rolled-back change is a failed one.
      expect(rows[1]).toMatch(/^dev\t3\t0\.10\t\d+ s \/ \d+ s\t50% \(1\/2\)\t\d+ s \/ \d+ s\t\d+% \(\d\/3\)$/);
      // staging: nothing happened there.
      expect(rows[2]).toBe('staging\t0\t0.00\t— / —\t—\t— / —\t—');
      await page.getByLabel('Window').selectOption('7d');
      await page.getByText('(7 days); percentiles are nearest-rank.').waitFor();
      expect(new URL(page.url()).searchParams.get('since')).toBe('7d');
      expect((await table.getByRole('row').nth(1).innerText()).startsWith('dev\t3\t0.43\t')).toBe(true);
      expect(problems.filter((p) => !p.includes('401'))).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});

describe('drag to promote', () => {
  it("dropping dev's release on staging's card asks, then promotes; a viewer's drop and a drop on the wrong card do nothing", async () => {
    const viewer = await openPage(browser, server.url);
    const releaser = await openPage(browser, server.url);
    try {
      await signIn(viewer.page, '/projects/shop', 'viewer');
      const release = viewer.page.getByRole('article', { name: 'dev' }).locator('.draggable-release');
      await release.dragTo(viewer.page.getByRole('article', { name: 'staging' }));
      expect(await viewer.page.getByRole('group', { name: /^Promote release/ }).count()).toBe(0);

      await signIn(releaser.page, '/projects/shop', 'releaser');
      const dev = releaser.page.getByRole('article', { name: 'dev' });
      const staging = releaser.page.getByRole('article', { name: 'staging' });
      const id = (await dev.locator('.draggable-release').innerText()).trim();
      // dev does not come after dev: no offer.
      await dev.locator('.draggable-release').dragTo(dev.getByRole('heading', { name: 'dev' }));
      expect(await releaser.page.getByRole('group', { name: /^Promote release/ }).count()).toBe(0);
      await dev.locator('.draggable-release').dragTo(staging);
      const offer = staging.getByRole('group', { name: `Promote release ${id} to staging?` });
      await offer.waitFor();
      // Asked, not done: nothing was promoted to staging yet.
      await staging.getByText('none yet').waitFor();
      await offer.getByRole('button', { name: 'Don’t promote' }).click();
      expect(await offer.count()).toBe(0);
      await dev.locator('.draggable-release').dragTo(staging);
      await offer.getByRole('button', { name: 'Promote to staging' }).click();
      await releaser.page.getByRole('heading', { name: `Release ${id} to staging` }).waitFor();
      await releaser.page.locator('[data-promotion-state="succeeded"]').waitFor({ timeout: 30_000 });
      for (const w of [viewer, releaser]) expect(w.problems.filter((p) => !p.includes('401'))).toEqual([]);
    } finally {
      await viewer.context.close();
      await releaser.context.close();
    }
  }, 60_000);
});
