import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockstep, requireBuild } from '../helpers/cli.js';
import { launchChromium, openPage } from '../helpers/chromium.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';
import { startServe, stopServe, type ServeProcess } from '../helpers/serve-process.js';

/**
 * The release page and the audit page in Chromium against a real `lockstep serve`: releases made and
 * promoted with the CLI, read back through the UI (versions, runs per environment, labels, a version
 * diff against an environment and another release, rejection for a releaser only), the audit timeline
 * filtered through its URL, paged, its hash chain checked (and found broken once a row is altered
 * behind the server's back), and exported. Then keyboard reach and a new project's empty state.
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
${commandComponent()}
  web:
${commandComponent()}
`;

let project: TestProject;
let server: ServeProcess;
let browser: Browser;
const tokens: Record<string, string> = {};
let first: string;
let second: string;

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
  first = (JSON.parse(cli(['release', 'create', '--set', 'api=1.0.0', '--set', 'web=2.0.0', '-m', 'first', '--label', 'risk=low', '--output', 'json'])) as { release: { id: string } }).release.id;
  cli(['promote', first, '--to', 'dev']);
  cli(['promote', first, '--to', 'staging']);
  second = (JSON.parse(cli(['release', 'create', '--set', 'api=1.1.0', '--set', 'web=2.0.0', '-m', 'second', '--output', 'json'])) as { release: { id: string } }).release.id;
  cli(['promote', second, '--to', 'dev']);
  tokens.viewer = token('viewer-laptop', 'viewer@example.com');
  tokens.releaser = token('rel-laptop', 'rel@example.com');
  server = await startServe(project.dir);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await stopServe(server);
  project?.cleanup();
});

describe('the release page', () => {
  it('shows the versions, labels, where the release ran, and its diff against an environment and another release', async () => {
    const { page, problems, context } = await openPage(browser, server.url);
    try {
      await signIn(page, `/projects/shop/releases/${first}`, 'viewer');
      await page.getByRole('heading', { name: `Release ${first.slice(0, 12)}` }).waitFor();
      await page.getByText('first', { exact: true }).waitFor();
      const versions = page.getByRole('table', { name: 'Versions this release pins' });
      expect(await versions.getByRole('row').allInnerTexts()).toEqual(['Component\tVersion', 'api\t1.0.0', 'web\t2.0.0']);
      await page.getByText('risk=low').waitFor();

      const runs = page.getByRole('table', { name: 'Promotions of this release, per environment' });
      await runs.waitFor();
      const rows = await runs.getByRole('row').allInnerTexts();
      expect(rows).toHaveLength(3);
      expect(rows[1]).toMatch(/^dev\tsucceeded\t.+\trel@example\.com\t/);
      expect(rows[2]).toMatch(/^staging\tsucceeded\t.+\trel@example\.com\t/);
      await runs.getByRole('link', { name: 'Promotion to staging: succeeded' }).waitFor();

      // Against what dev runs now (the second release): api differs, web does not.
      await page.getByLabel('Compare this release with').selectOption('env:dev');
      await page.getByText('1 component differ from dev now.').waitFor();
      expect(new URL(page.url()).searchParams.get('against')).toBe('env:dev');
      const diff = page.getByRole('table', { name: 'Versions: this release against dev now' });
      expect(await diff.getByRole('row').allInnerTexts()).toEqual([
        'Component\tThis release\tdev now\tChange',
        'api\t1.0.0\t1.1.0\tchanged',
        'web\t2.0.0\t2.0.0\tsame',
      ]);
      // Against staging, which runs this very release; then against the second release, by a link.
      await page.getByLabel('Compare this release with').selectOption('env:staging');
      await page.getByText('Same versions as staging now.').waitFor();
      await page.goto(`${server.url}/projects/shop/releases/${first}?against=release:${second}`);
      const byRelease = page.getByRole('table', { name: `Versions: this release against release ${second.slice(0, 12)}` });
      expect(await byRelease.getByRole('row').nth(1).innerText()).toBe('api\t1.0.0\t1.1.0\tchanged');

      // A viewer may not reject: no form, and why.
      await page.getByText('Rejecting a release needs the releaser role in shop').waitFor();
      expect(await page.getByRole('button', { name: 'Reject release' }).count()).toBe(0);
      expect(problems.filter((p) => !p.includes('401'))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('lets a releaser reject a release with a comment, through the API, and shows the rejection', async () => {
    const { page, problems, context } = await openPage(browser, server.url);
    try {
      await signIn(page, `/projects/shop/releases/${second}`, 'releaser');
      await page.getByRole('heading', { name: `Release ${second.slice(0, 12)}` }).waitFor();
      await page.getByText('Reject this release…').click();
      const reject = page.getByRole('button', { name: 'Reject release' });
      expect(await reject.isDisabled()).toBe(true);
      await page.getByLabel('What is wrong with it').fill('api 1.1.0 leaks connections');
      await reject.click();
      const note = page.getByRole('note', { name: 'Rejection' });
      await note.waitFor();
      expect(await note.innerText()).toMatch(/Rejected by rel@example\.com .+: api 1\.1\.0 leaks connections/);
      // The server holds it: the release record says so, and the audit log has the entry.
      const response = await fetch(`${server.url}/api/v1/projects/shop/releases/${second}`, { headers: { Authorization: `Bearer ${tokens.releaser}` } });
      const { release } = (await response.json()) as { release: { rejected?: { by: string; reason: string } } };
      expect(release.rejected).toMatchObject({ by: 'rel@example.com', reason: 'api 1.1.0 leaks connections' });
      expect(problems.filter((p) => !p.includes('401'))).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe('the audit page', () => {
  it('filters by actor, environment and kind through its URL, pages a long log, checks the chain and exports it', async () => {
    // A long log: 120 more releases through the API, more than one page of entries.
    for (let i = 0; i < 120; i++) {
      const response = await fetch(`${server.url}/api/v1/projects/shop/releases`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${tokens.releaser}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ set: [`api=3.0.${i}`, 'web=2.0.0'] }),
      });
      expect(response.status).toBe(201);
    }
    const verified = (await (await fetch(`${server.url}/api/v1/projects/shop/audit/verify`, { headers: { Authorization: `Bearer ${tokens.viewer}` } })).json()) as { ok: boolean; entries: number };
    expect(verified.ok).toBe(true);
    const total = verified.entries;
    expect(total).toBeGreaterThan(200);

    const { page, problems, context } = await openPage(browser, server.url);
    try {
      await signIn(page, '/projects/shop/audit', 'viewer');
      await page.getByRole('heading', { name: 'Audit', exact: true }).waitFor();
      const chain = page.getByRole('status', { name: 'Hash chain' });
      await chain.getByText('chain intact').waitFor();
      expect(await chain.innerText()).toContain(`${total} entries verified`);
      await page.getByText(`${total} entries. Page 1 of ${Math.ceil(total / 100)}, newest first.`).waitFor();
      const table = page.getByRole('table', { name: 'Audit entries, newest first' });
      expect(await table.getByRole('row').count()).toBe(101);

      // Paged: the next page is a link, with its own URL.
      await page.getByRole('navigation', { name: 'Audit pages' }).getByRole('link', { name: 'Older →' }).click();
      await page.getByText(`Page 2 of ${Math.ceil(total / 100)}`, { exact: false }).first().waitFor();
      expect(new URL(page.url()).searchParams.get('page')).toBe('2');
      const firstSeqOnPage2 = Number(await table.getByRole('row').nth(1).getByRole('cell').first().innerText());
      expect(firstSeqOnPage2).toBe(total - 100);

      // Filters go into the URL; the table holds only what matches.
      await page.getByLabel('Environment').selectOption('staging');
      await page.getByLabel('Kind').selectOption('promotion');
      let url = new URL(page.url());
      expect([url.searchParams.get('environment'), url.searchParams.get('kind'), url.searchParams.get('page')]).toEqual(['staging', 'promotion', null]);
      await page.getByText(/^\d+ of \d+ entries match\./).waitFor();
      const kinds = await table.getByRole('row').locator('td:nth-child(3)').allInnerTexts();
      expect(kinds.length).toBeGreaterThan(0);
      expect(kinds.every((k) => k.startsWith('promotion.'))).toBe(true);
      expect(await table.getByRole('row').locator('td:nth-child(5)').allInnerTexts()).toEqual(kinds.map(() => 'staging'));

      // A linked view opens filtered: the rejection, by its actor and exact kind.
      await page.goto(`${server.url}/projects/shop/audit?actor=rel%40example.com&kind=release.rejected`);
      await page.getByText(/^1 of \d+ entries match\./).waitFor();
      expect(await page.getByLabel('Actor').inputValue()).toBe('rel@example.com');
      const only = await table.getByRole('row').nth(1).innerText();
      expect(only).toContain('release.rejected');
      expect(only).toContain('api 1.1.0 leaks connections');
      url = new URL(page.url());
      expect(url.searchParams.get('actor')).toBe('rel@example.com');

      // Export: the whole log as JSON lines, each entry with its hash.
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export audit log' }).click()]);
      expect(download.suggestedFilename()).toBe('shop-audit.jsonl');
      const lines = readFileSync((await download.path()) ?? '', 'utf8').trim().split('\n');
      expect(lines).toHaveLength(total);
      expect(JSON.parse(lines[lines.length - 1] ?? '{}')).toMatchObject({ seq: total, kind: 'release.created' });

      // An entry altered behind the server's back (by someone who drops the append-only trigger, which
      // is what the chain is for): the chain status says where it broke.
      const db = new Database(join(project.dir, '.lockstep', 'state.db'));
      try {
        db.exec('DROP TRIGGER audit_log_no_update');
        db.prepare("UPDATE audit_log SET actor = 'mallory@example.com' WHERE seq = 3").run();
      } finally {
        db.close();
      }
      await chain.getByRole('button', { name: 'Verify again' }).click();
      await chain.getByText('chain broken').waitFor();
      expect(await chain.innerText()).toContain('at entry 3');
      expect(problems.filter((p) => !p.includes('401'))).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe('keyboard and a new project', () => {
  it('reaches the content with the skip link and moves focus to the new page after a link', async () => {
    const { page, context } = await openPage(browser, server.url);
    try {
      await signIn(page, `/projects/shop/releases/${first}`, 'viewer');
      await page.getByRole('heading', { name: `Release ${first.slice(0, 12)}` }).waitFor();
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
      await page.keyboard.press('Enter');
      expect(await page.evaluate('document.activeElement?.id')).toBe('main');
      // A link followed with the keyboard: focus starts at the new page's main region.
      await page.getByRole('link', { name: 'Audit entries of this release' }).focus();
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Audit', exact: true }).waitFor();
      expect(await page.evaluate('document.activeElement?.id')).toBe('main');
      expect(new URL(page.url()).searchParams.get('release')).toBe(first);
    } finally {
      await context.close();
    }
  });

  it('tells a new project what to run to make its first release', async () => {
    const fresh = testProject(CONFIG);
    const created = lockstep(fresh.dir, ['token', 'create', '--name', 'v', '--for', 'viewer@example.com', '--output', 'json'], { LOCKSTEP_ACTOR: 'admin@example.com' });
    expect(created.status, created.stderr).toBe(0);
    const freshServer = await startServe(fresh.dir);
    const { page, problems, context } = await openPage(browser, server.url);
    try {
      await page.goto(`${freshServer.url}/projects/shop`);
      await page.getByLabel('API token', { exact: true }).fill((JSON.parse(created.stdout) as { token: string }).token);
      await page.getByRole('button', { name: 'Use this token' }).click();
      await page.getByRole('heading', { name: 'Nothing promoted yet' }).waitFor();
      await page.getByText('lockstep release create --set COMPONENT=VERSION').waitFor();
      await page.getByText('lockstep promote RELEASE --to dev').waitFor();
      await page.getByRole('link', { name: 'Audit' }).click();
      await page.getByRole('status', { name: 'Hash chain' }).getByText('chain intact').waitFor();
      expect(problems.filter((p) => !p.includes('401'))).toEqual([]);
    } finally {
      await context.close();
      await stopServe(freshServer);
      fresh.cleanup();
    }
  });
});
