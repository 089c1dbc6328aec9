import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockstep, requireBuild } from '../helpers/cli.js';
import { launchChromium, openPage } from '../helpers/chromium.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';
import { startServe, stopServe, type ServeProcess } from '../helpers/serve-process.js';

/**
 * `lockstep serve` serves the built web UI at `/`, and Chromium loads it under the strict
 * Content-Security-Policy: index and hashed assets with their content types, index.html for the UI's
 * own routes, the API's JSON 404 under /api, and signing in with a pasted API token.
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
  prod-eu:
    after: [staging]
  prod-us:
    after: [staging]
components:
  api:
${commandComponent()}
`;

let project: TestProject;
let server: ServeProcess;
let browser: Browser;
let token: string;

beforeAll(async () => {
  requireBuild();
  project = testProject(CONFIG);
  const created = lockstep(
    project.dir,
    ['token', 'create', '--name', 'viewer-laptop', '--for', 'viewer@example.com', '--output', 'json'],
    {
      LOCKSTEP_ACTOR: 'admin@example.com',
    },
  );
  expect(created.status, created.stderr).toBe(0);
  token = (JSON.parse(created.stdout) as { token: string }).token;
  server = await startServe(project.dir);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await stopServe(server);
  project?.cleanup();
});

describe('the web UI, served by lockstep serve', () => {
  it('serves index.html at / and for client routes, with a strict Content-Security-Policy', async () => {
    for (const path of ['/', '/projects/shop', '/projects/shop/promotions/0123456789ab']) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(response.headers.get('cache-control')).toBe('no-cache');
      const html = await response.text();
      expect(html).toContain('<div id="root"></div>');
      // Nothing inline and nothing from elsewhere: only the server's own /assets.
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/(src|href)="https?:/);
    }
  });

  it('serves the hashed assets with their content types, cached for good', async () => {
    const html = await (await fetch(server.url)).text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    const style = /href="(\/assets\/[^"]+\.css)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();
    const js = await fetch(`${server.url}${script ?? ''}`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect(await js.text()).toBe(readFileSync(new URL(`../../dist/web${script ?? ''}`, import.meta.url), 'utf8'));
    const css = await fetch(`${server.url}${style ?? ''}`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('keeps the API and missing files out of the fallback: JSON 404s, nothing outside the UI folder', async () => {
    const api = await fetch(`${server.url}/api/v1/nothing-here`);
    expect(api.status).toBe(404);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('not-found');
    const asset = await fetch(`${server.url}/assets/missing-0000.js`);
    expect(asset.status).toBe(404);
    expect(asset.headers.get('content-type')).toContain('application/json');
    const escape = await fetch(`${server.url}/%2e%2e/%2e%2e/package.json`);
    expect(escape.status).toBe(404);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
  });

  it('in Chromium: asks to sign in, takes a pasted API token, and shows the board with no CSP violation', async () => {
    const { page, problems, context } = await openPage(browser, server.url);
    try {
      await page.goto(`${server.url}/projects/shop`);
      await page.getByRole('heading', { name: 'Sign in to Lockstep' }).waitFor();
      // This server has no identity provider: the page says so and offers the token.
      await page.getByText('no identity provider set up').waitFor();
      await page.getByLabel('API token', { exact: true }).fill('not-a-token');
      await page.getByRole('button', { name: 'Use this token' }).click();
      await page.getByRole('alert').filter({ hasText: 'does not accept this token' }).waitFor();

      // With the keyboard only: Tab reaches the token field, Enter sends the form.
      await page.reload();
      await page.getByRole('heading', { name: 'Sign in to Lockstep' }).waitFor();
      await page.keyboard.press('Tab');
      await expect(page.evaluate('document.activeElement.id')).resolves.toBe('api-token');
      await page.keyboard.type(token);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Pipeline' }).waitFor();
      for (const env of ['dev', 'staging', 'prod-eu', 'prod-us'])
        await page.getByRole('article', { name: env, exact: true }).waitFor();
      await page.getByRole('heading', { name: 'Nothing promoted yet' }).waitFor();
      // LOCKSTEP_UI_SCREENSHOTS=DIR: the new project's board for docs/ui.md.
      const screenshots = process.env.LOCKSTEP_UI_SCREENSHOTS;
      if (screenshots !== undefined) await page.screenshot({ path: join(screenshots, 'ui-board-empty.png') });
      await page.getByText('Live', { exact: true }).waitFor();
      await page.getByText('Signed in as viewer@example.com').waitFor();

      // The token is kept: a reload stays signed in; signing out forgets it.
      await page.reload();
      await page.getByRole('article', { name: 'prod-us', exact: true }).waitFor();
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'Sign in to Lockstep' }).waitFor();
      expect(await page.evaluate('localStorage.length')).toBe(0);
      expect(problems.filter((p) => !p.includes('401'))).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
