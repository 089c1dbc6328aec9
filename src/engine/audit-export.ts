import type { Store } from '../store/store.js';

const PAGE = 5000;

/**
 * The audit log as JSON lines, a page at a time (one entry per line, with its hashes: verifiable
 * offline). Every row, as verify reads them: an export verified offline must show a forged row too.
 * `lockstep audit export` writes these; the server streams them.
 */
export async function* auditExport(store: Pick<Store, 'auditPage'>): AsyncGenerator<string> {
  let after: number | null = null;
  for (;;) {
    const page = await store.auditPage(after, PAGE);
    if (page.length === 0) return;
    yield page.map((e) => JSON.stringify(e)).join('\n') + '\n';
    after = page[page.length - 1]?.seq ?? after;
  }
}
