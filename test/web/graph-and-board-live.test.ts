import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockstep, requireBuild } from '../helpers/cli.js';
import { launchChromium, openPage } from '../helpers/chromium.js';
import { testProject, type TestProject } from '../helpers/project.js';
import { startServe, stopServe, type ServeProcess } from '../helpers/serve-process.js';

/**
 * The promotion graph and the board at a size where they lay out and load differently (issue 18,
 * "at scale"), in Chromium against a real `lockstep serve`: a promotion of 201 steps (200 zero-work
 * steps in a layered DAG, then one that waits for a file) draws every step as a node, laid out by
 * the plan's levels; when the waiting step finishes, its node turns green live and no other node
 * changes; meanwhile the open board re-reads only the environments that promotion names (dev, and
 * staging, which comes after it), not the whole board, and dev's card shows the new release.
 * Timing stays in the bench (bench/ui.mjs).
 */
const STEPS = 200;
const WIDTH = 20;

function config(): string {
  const lines = ['project: big', 'environments:', '  dev: {}', '  staging:', '    after: [dev]', '  qa: {}', 'components:'];
  for (let i = 0; i < STEPS; i++) {
    const layer = Math.floor(i / WIDTH);
    const slot = i % WIDTH;
    const deps = layer === 0 ? [] : [...new Set([`c${(layer - 1) * WIDTH + slot}`, `c${(layer - 1) * WIDTH + ((slot + 1) % WIDTH)}`])];
    lines.push(`  c${i}:`, '    type: command');
    if (deps.length > 0) lines.push(`    dependsOn: [${deps.join(', ')}]`);
    lines.push('    with:', '      apply: ["true"]');
  }
  // The last step waits until the test lets it go: a step event the open page has to show.
  lines.push('  hold:', '    type: command', `    dependsOn: [c${STEPS - 1}]`, '    with:', '      apply: ["sh", "-c", "while [ ! -f go ]; do sleep 0.1; done"]');
  return lines.join('\n') + '\n';
}

let project: TestProject;
let server: ServeProcess;
let browser: Browser;
let token: string;

async function signedIn(path: string, scripts: string[] = []): Promise<{ page: Page; problems: string[]; close: () => Promise<void> }> {
  const { page, problems, context } = await openPage(browser, server.url, { width: 1400, height: 900 });
  await context.addInitScript(`localStorage.setItem('lockstep.token', ${JSON.stringify(token)})`);
  // The scripts the page loads (its chunks), from the start.
  page.on('request', (r) => {
    if (r.resourceType() === 'script') scripts.push(new URL(r.url()).pathname);
  });
  await page.goto(`${server.url}${path}`);
  return { page, problems, close: () => context.close() };
}

async function post<T>(path: string, body: unknown): Promise<T> {
  const response = await fetch(`${server.url}/api/v1/projects/big${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status, await response.clone().text()).toBeLessThan(300);
  return (await response.json()) as T;
}

beforeAll(async () => {
  requireBuild();
  project = testProject(config());
  const created = lockstep(project.dir, ['token', 'create', '--name', 'ui', '--role', 'admin', '--output', 'json'], { LOCKSTEP_ACTOR: 'admin@example.com' });
  expect(created.status, created.stderr).toBe(0);
  token = (JSON.parse(created.stdout) as { token: string }).token;
  server = await startServe(project.dir);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  if (project !== undefined && !existsSync(join(project.dir, 'go'))) writeFileSync(join(project.dir, 'go'), '');
  await browser?.close();
  await stopServe(server);
  project?.cleanup();
});

describe('a promotion of 201 steps, followed live on its page and on the board', () => {
  it('draws every step, updates only the step that changed, and re-reads only the environments named', async () => {
    const board = await signedIn('/projects/big');
    const graph: { page?: Page; problems?: string[]; close?: () => Promise<void> } = {};
    try {
      await board.page.locator('article.env-card').nth(2).waitFor();
      await board.page.getByText('Live', { exact: true }).waitFor();
      const reads: string[] = [];
      board.page.on('request', (r) => {
        const path = new URL(r.url()).pathname;
        if (path.includes('/environments')) reads.push(path);
      });

      const { release } = await post<{ release: { id: string } }>('/releases', {
        set: [...Array.from({ length: STEPS }, (_, i) => `c${i}=1.0.0`), 'hold=1.0.0'],
      });
      const { promotion } = await post<{ promotion: { id: string } }>('/promotions', { release: release.id, to: 'dev' });

      const scripts: string[] = [];
      Object.assign(graph, await signedIn(`/projects/big/promotions/${promotion.id}`, scripts));
      const page = graph.page!;
      const hold = page.locator('.react-flow__node [data-component="hold"]');
      await page.locator('.react-flow__node [data-component="hold"][data-step-state="running"]').waitFor({ timeout: 60_000 });
      // Every step is a node (the whole graph fits the viewport, so none is left undrawn).
      await page.waitForFunction(`document.querySelectorAll('.react-flow__node').length === ${STEPS + 1}`);
      expect(await page.getByRole('group', { name: 'Promotion graph' }).getAttribute('data-steps')).toBe(String(STEPS + 1));
      expect(await page.locator('.react-flow__node [data-step-state="succeeded"]').count()).toBe(STEPS);
      // Laid out by levels: c0 to c19 in the first column, each later layer one column to the right.
      const left = async (id: string): Promise<number> => (await page.locator(`.react-flow__node[data-id="${id}"]`).boundingBox())?.x ?? NaN;
      expect(await left('c0')).toBe(await left('c19'));
      expect(await left('c20')).toBeGreaterThan(await left('c19'));
      expect(await left('hold')).toBeGreaterThan(await left(`c${STEPS - 1}`));
      // Not by ELK: at this size its code is not even loaded.
      expect(scripts.some((s) => s.includes('/assets/index-'))).toBe(true);
      expect(scripts.filter((s) => s.includes('elk'))).toEqual([]);

      // Record which nodes' drawing changes from here on.
      // (A string: this file is compiled without the DOM's types; it runs in the page.)
      await page.evaluate(`{
        const changed = new Set();
        window.changedNodes = changed;
        const pane = document.querySelector('.react-flow__nodes');
        new MutationObserver((records) => {
          for (const r of records) {
            const node = (r.target instanceof Element ? r.target : r.target.parentElement)?.closest('.react-flow__node');
            const id = node?.getAttribute('data-id');
            if (id) changed.add(id);
            else if (r.target === pane) changed.add('(the node list itself)');
          }
        }).observe(pane, { subtree: true, childList: true, attributes: true, characterData: true });
      }`);
      writeFileSync(join(project.dir, 'go'), '');
      await hold.and(page.locator('[data-step-state="succeeded"]')).waitFor({ timeout: 30_000 });
      await page.locator('[data-promotion-state="succeeded"]').waitFor();
      expect(await page.evaluate('[...window.changedNodes]')).toEqual(['hold']);

      // The board: dev's card shows the release; it was read alone (with staging, after it), never the whole board.
      const dev = board.page.locator('article[aria-labelledby="env-dev"]');
      await dev.locator('.facts dd').first().getByText(release.id.slice(0, 12)).waitFor({ timeout: 30_000 });
      expect(reads.length).toBeGreaterThan(0);
      expect(new Set(reads)).toEqual(new Set(['/api/v1/projects/big/environments/dev', '/api/v1/projects/big/environments/staging']));
      expect(await board.page.locator('article.env-card.render-when-visible').count()).toBe(3);
      expect(board.problems).toEqual([]);
      expect(graph.problems).toEqual([]);
    } finally {
      await graph.close?.();
      await board.close();
    }
  }, 120_000);
});
