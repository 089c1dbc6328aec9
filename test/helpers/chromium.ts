import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM } from './chromium-path.js';

export { CHROMIUM } from './chromium-path.js';

/**
 * Debian's Chromium, headless, driven by playwright-core: the web UI tests' browser. Never one that
 * playwright downloads (`npx playwright install` is not part of this project). Flags: no sandbox
 * (the tests run as root in a container), no GPU, nothing that reaches the network by itself.
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  /**
   * Console errors (Content-Security-Policy refusals among them) and uncaught errors of the pages of
   * `origin` (another site's, like an identity provider's login page, are not the UI's): a test expects none.
   */
  problems: string[];
}

/** A fresh context (its own cookies and storage: one person) with a page that records what went wrong. */
export async function openPage(
  browser: Browser,
  origin: string,
  options: { width?: number; height?: number } = {},
): Promise<WatchedPage> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1400, height: options.height ?? 900 },
    reducedMotion: 'reduce',
  });
  const page = await context.newPage();
  const problems: string[] = [];
  const ours = (): boolean => page.url().startsWith(origin);
  page.on('console', (message) => {
    if (message.type() === 'error' && ours()) problems.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => {
    if (ours()) problems.push(`page error: ${error.message}`);
  });
  return { context, page, problems };
}
