// Benchmark 9: the web UI at scale, in Debian's Chromium (playwright-core) against a real
// `lockstep serve` fed a generated state (releases promoted by the built engine, in-process, into a
// real SQLite store; nothing of our API is mocked). Figures:
//   - the pipeline board with 200 environments × 50 components: first render (navigation start to
//     every card drawn), against a board of 4 environments × 3 components in the same run, and against
//     GET /environments alone (what the server takes to answer the board's one read);
//   - an update: a promotion finishing in one environment, from its `promotion.finished` entry to the
//     card showing the new release, and the part of it spent rendering (after the re-read arrived);
//   - a promotion of 1,000 steps: its page drawing the graph (every step a node), and elkjs laying
//     out the same graph in Node (the layout the promotion page uses), for scale.
// The functions passed to page.evaluate and page.waitForFunction run in the page, with its globals.
/* global document, window, MutationObserver, requestAnimationFrame */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { CLI, ROOT, RUNS, log, median, must, removeDir, round, tempDir } from './lib.mjs';

const CHROMIUM = '/usr/bin/chromium';
const require = createRequire(import.meta.url);

/** 200 environments in layers of 10 (each after one of the layer before), `components` zero-work components. */
function boardConfig(envs, components, width) {
  const lines = ['project: bench', 'environments:'];
  for (let i = 0; i < envs; i++) {
    const layer = Math.floor(i / width);
    const after = layer === 0 ? '' : ` after: [e${(layer - 1) * width + (i % width)}] `;
    lines.push(`  e${i}: {${after}}`);
  }
  lines.push('components:');
  for (let c = 0; c < components; c++) lines.push(`  c${c}:`, '    type: command', '    with:', '      apply: ["true"]');
  return lines.join('\n') + '\n';
}

/** The same layered DAG as the DAG benchmark: component i of layer L depends on two of layer L-1. */
function graphConfig(steps, width = 20) {
  const lines = ['project: bench', 'environments:', '  dev: {}', 'components:'];
  for (let i = 0; i < steps; i++) {
    const layer = Math.floor(i / width);
    const slot = i % width;
    const deps = layer === 0 ? [] : [...new Set([`c${(layer - 1) * width + slot}`, `c${(layer - 1) * width + ((slot + 1) % width)}`])];
    lines.push(`  c${i}:`, '    type: command');
    if (deps.length > 0) lines.push(`    dependsOn: [${deps.join(', ')}]`);
    lines.push('    with:', '      apply: ["true"]');
  }
  // A last step that waits while the file `hold` exists (never, for the first promotion): the live
  // update of one node in a drawn 1,000-step graph is measured on it.
  lines.push('  hold:', '    type: command', `    dependsOn: [c${steps - 1}]`, '    with:', '      apply: ["sh", "-c", "while [ -f hold ]; do sleep 0.02; done"]');
  return lines.join('\n') + '\n';
}

/** Opens the project with the built engine (as the CLI does) for seeding. */
async function engine(dir) {
  const { openProject } = await import('../dist/cli/context.js');
  const { createRelease, promote } = await import('../dist/engine/promote.js');
  const deps = await openProject({ config: join(dir, 'lockstep.yaml'), state: join(dir, '.lockstep', 'state.db'), actor: 'bench@example.com', output: 'json' }, 'create');
  return { deps, createRelease, promote };
}

/**
 * One release promoted for real into the first environment (every step run by the engine), then the
 * store filled for the others from that promotion's records: a copy per environment of the promotion,
 * its steps and the versions it left, committed through the store's own API with an audit entry each
 * (`promotion.finished`, marked `generated`). Running 10,000 steps for real would only slow the seeding.
 */
async function seedBoard(dir, envs, components) {
  const { deps, createRelease, promote } = await engine(dir);
  try {
    const { release } = await createRelease(deps, { set: Array.from({ length: components }, (_, c) => `c${c}=1.0.${c}`) });
    const first = await promote(deps, release.id, 'e0', { concurrency: 16 });
    if (first.state !== 'succeeded') throw new Error(`seeding: the first promotion ended ${first.state}`);
    const steps = await deps.store.listSteps(first.id);
    const states = await deps.store.environmentState('e0');
    for (let i = 1; i < envs; i++) {
      const environment = `e${i}`;
      const id = randomBytes(16).toString('hex');
      await deps.store.commit({
        createPromotion: { record: { ...first, id, environment }, lock: false },
        steps: steps.map((step) => ({ ...step, promotionId: id, environment })),
        componentStates: states.map((state) => ({ ...state, environment, promotionId: id })),
        audit: [
          {
            kind: 'promotion.finished',
            time: new Date().toISOString(),
            actor: 'bench@example.com',
            project: 'bench',
            environment,
            releaseId: release.id,
            promotionId: id,
            data: { state: 'succeeded', generated: true },
          },
        ],
      });
    }
    return release.id;
  } finally {
    await deps.store.close();
  }
}

function serve(dir) {
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--project', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.resume();
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d.toString();
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve({ child, url });
    });
    child.once('exit', (code) => reject(new Error(`lockstep serve exited ${code} before listening`)));
  });
}

function adminToken(dir) {
  return JSON.parse(must(process.execPath, [CLI, 'token', 'create', '--name', `bench-${Date.now()}`, '--role', 'admin', '--output', 'json'], { cwd: dir })).token;
}

async function launch() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
}

async function signedInPage(browser, token) {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  await context.addInitScript((t) => localStorage.setItem('lockstep.token', t), token);
  return { context, page: await context.newPage() };
}

/** ms from navigation start until `count` environment cards are in the page, a frame painted after. */
async function firstRender(browser, token, url, count) {
  const { context, page } = await signedInPage(browser, token);
  try {
    await page.goto(`${url}/projects/bench`);
    await page.waitForFunction((n) => document.querySelectorAll('article.env-card').length === n, count, { timeout: 120_000, polling: 'raf' });
    const painted = await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve(performance.now()))));
    const read = await page.evaluate(() => performance.getEntriesByType('resource').find((r) => r.name.endsWith('/environments')));
    return { ms: painted, readStartMs: read.requestStart, readEndMs: read.responseEnd };
  } finally {
    await context.close();
  }
}

/** GET /environments from here: the server's part of a board render. */
async function apiRead(url, token) {
  const t0 = performance.now();
  const response = await fetch(`${url}/api/v1/projects/bench/environments`, { headers: { Authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
  return performance.now() - t0;
}

/**
 * A promotion of a new release (one component changed) into the last environment while the board is
 * open: ms from its `promotion.finished` audit entry (the server's clock, the same machine) to the
 * card showing the new release, and the part after the browser had the re-read board in hand.
 */
async function update(browser, token, url, envs, components, run) {
  const { context, page } = await signedInPage(browser, token);
  try {
    await page.goto(`${url}/projects/bench`);
    await page.waitForFunction((n) => document.querySelectorAll('article.env-card').length === n, envs, { timeout: 120_000 });
    await page.getByText('Live', { exact: true }).waitFor();
    // A first-layer environment: it comes after none, so the promotion passes its gates at once.
    const target = 'e0';
    const set = Array.from({ length: components }, (_, c) => `c${c}=${c === 0 ? `2.${run}.0` : `1.0.${c}`}`);
    const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    const { release } = await (await fetch(`${url}/api/v1/projects/bench/releases`, { method: 'POST', headers, body: JSON.stringify({ set }) })).json();
    const short = release.id.slice(0, 12);
    await page.evaluate(({ target, short }) => {
      const card = document.querySelector(`article[aria-labelledby="env-${target}"]`);
      window.__shown = new Promise((resolve) => {
        const observer = new MutationObserver(() => {
          // The card's Release fact (not its "Running now" note, which names the release earlier).
          if (card?.querySelector('.facts dd')?.textContent?.includes(short)) {
            observer.disconnect();
            resolve(performance.timeOrigin + performance.now());
          }
        });
        observer.observe(card, { subtree: true, childList: true, characterData: true });
      });
    }, { target, short });
    const { promotion } = await (await fetch(`${url}/api/v1/projects/bench/promotions`, { method: 'POST', headers, body: JSON.stringify({ release: release.id, to: target }) })).json();
    const shownAt = await page.evaluate(() => window.__shown);
    const entries = await auditOf(url, token, promotion.id);
    const finished = entries.find((e) => e.kind === 'promotion.finished');
    if (finished === undefined) throw new Error(`promotion ${promotion.id} did not finish: ${entries.map((e) => e.kind).join(', ')}`);
    // The board's reads: the whole board, or (after an event) the environments it names.
    const reads = await page.evaluate(() => performance.getEntriesByType('resource').filter((r) => /\/environments(\/[^/]+)?$/.test(new URL(r.name).pathname)).map((r) => performance.timeOrigin + r.responseEnd));
    const lastRead = Math.max(...reads.filter((t) => t <= shownAt));
    return { eventToShownMs: shownAt - Date.parse(finished.time), renderMs: shownAt - lastRead };
  } finally {
    await context.close();
  }
}

async function auditOf(url, token, promotionId) {
  const text = await (await fetch(`${url}/api/v1/projects/bench/audit/export`, { headers: { Authorization: `Bearer ${token}` } })).text();
  return text.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.promotionId === promotionId);
}

/**
 * The promotion page of a 1,000-step promotion: ms from navigation start to every step drawn as a
 * graph node (the whole graph fits the viewport, so React Flow draws every node).
 */
async function graphRender(browser, token, url, promotionId, steps) {
  const { context, page } = await signedInPage(browser, token);
  try {
    await page.goto(`${url}/projects/bench/promotions/${promotionId}`);
    // A promotion page without a graph (no React Flow pane at all) is reported, not waited for.
    try {
      await page.waitForSelector('.react-flow', { timeout: 15_000 });
    } catch {
      return { drawn: 0, ms: undefined };
    }
    try {
      await page.waitForFunction((n) => document.querySelectorAll('.react-flow__node').length >= n, steps, { timeout: 120_000, polling: 500 });
    } catch {
      const nodes = await page.evaluate(() => document.querySelectorAll('.react-flow__node').length);
      return { drawn: nodes, ms: undefined };
    }
    return { drawn: steps, ms: await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve(performance.now())))) };
  } finally {
    await context.close();
  }
}

/**
 * A step event on a drawn graph of `steps` + 1 nodes: a second promotion (c0 and `hold` changed, the
 * other steps unchanged) whose last step waits for the file `hold` to go, its page open; ms from that step's `step.succeeded` entry to its
 * node showing `succeeded`, and the part after the page had the promotion's re-read in hand.
 */
async function graphUpdate(browser, token, url, dir, steps, run) {
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  const holdFile = join(dir, 'hold');
  writeFileSync(holdFile, '');
  // Two components changed (a release of more than 1,000 versions is refused), the rest from dev.
  const set = [`c0=${run + 1}`, `hold=${run + 1}`];
  const post = async (path, body) => {
    const response = await fetch(`${url}/api/v1/projects/bench/${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`POST ${path}: HTTP ${response.status} ${await response.text()}`);
    return response.json();
  };
  const { release } = await post('releases', { set, from: 'dev' });
  const { promotion } = await post('promotions', { release: release.id, to: 'dev' });
  const { context, page } = await signedInPage(browser, token);
  try {
    await page.goto(`${url}/projects/bench/promotions/${promotion.id}`);
    await page.waitForSelector('.react-flow__node [data-component="hold"][data-step-state="running"]', { timeout: 180_000 });
    await page.evaluate(() => {
      const node = document.querySelector('.react-flow__node [data-component="hold"]');
      window.__shown = new Promise((resolve) => {
        const observer = new MutationObserver(() => {
          if (node?.getAttribute('data-step-state') === 'succeeded') {
            observer.disconnect();
            resolve(performance.timeOrigin + performance.now());
          }
        });
        observer.observe(node, { attributes: true });
      });
    });
    rmSync(holdFile);
    const shownAt = await page.evaluate(() => window.__shown);
    const entries = await auditOf(url, token, promotion.id);
    const done = entries.find((e) => e.kind === 'step.succeeded' && e.component === 'hold');
    if (done === undefined) throw new Error(`step hold of ${promotion.id} did not succeed: ${entries.map((e) => e.kind).join(', ')}`);
    // The page's reads of the promotion (after each burst of events): the last one before the node changed.
    const reads = await page.evaluate((id) => performance.getEntriesByType('resource').filter((r) => new URL(r.name).pathname.endsWith(`/promotions/${id}`)).map((r) => performance.timeOrigin + r.responseEnd), promotion.id);
    const lastRead = Math.max(...reads.filter((t) => t <= shownAt));
    return { eventToShownMs: shownAt - Date.parse(done.time), renderMs: shownAt - lastRead };
  } finally {
    await context.close();
    rmSync(holdFile, { force: true });
  }
}

/** elkjs (layered, left to right) over the promotion's DAG, in Node: the layout part of drawing it. */
async function elkLayout(steps, width = 20) {
  const ELK = require(join(ROOT, 'node_modules', 'elkjs', 'lib', 'elk.bundled.js'));
  const elk = new ELK();
  // ELK's first call pays for its own start-up (a compiled-to-JavaScript Java runtime): not layout.
  await elk.layout({ id: 'warm', children: [{ id: 'a', width: 1, height: 1 }], edges: [] });
  const children = [];
  const edges = [];
  for (let i = 0; i < steps; i++) {
    children.push({ id: `c${i}`, width: 180, height: 56 });
    const layer = Math.floor(i / width);
    if (layer === 0) continue;
    const slot = i % width;
    for (const d of new Set([(layer - 1) * width + slot, (layer - 1) * width + ((slot + 1) % width)])) edges.push({ id: `e${d}-${i}`, sources: [`c${d}`], targets: [`c${i}`] });
  }
  const t0 = performance.now();
  await elk.layout({ id: 'root', layoutOptions: { 'elk.algorithm': 'layered', 'elk.direction': 'RIGHT' }, children, edges });
  return performance.now() - t0;
}

export async function benchUi() {
  const envs = Number(process.env.BENCH_UI_ENVS ?? 200);
  const components = Number(process.env.BENCH_UI_COMPONENTS ?? 50);
  const steps = Number(process.env.BENCH_UI_STEPS ?? 1000);
  const runs = RUNS;
  const browser = await launch();
  const dirs = [];
  const children = [];
  try {
    // The baseline board: 4 environments × 3 components.
    const small = tempDir('ui-small');
    dirs.push(small);
    writeFileSync(join(small, 'lockstep.yaml'), boardConfig(4, 3, 2));
    log('ui: seeding a board of 4 environments × 3 components');
    await seedBoard(small, 4, 3);
    const smallToken = adminToken(small);
    const smallServer = await serve(small);
    children.push(smallServer.child);

    const big = tempDir('ui-board');
    dirs.push(big);
    writeFileSync(join(big, 'lockstep.yaml'), boardConfig(envs, components, 10));
    log(`ui: seeding a board of ${envs} environments × ${components} components (${envs * components} steps)`);
    const t0 = performance.now();
    await seedBoard(big, envs, components);
    const seedSeconds = (performance.now() - t0) / 1000;
    const token = adminToken(big);
    const server = await serve(big);
    children.push(server.child);

    log('ui: first render of both boards, and the board read alone');
    const smallFirst = [];
    const bigFirst = [];
    const reads = [];
    for (let r = 0; r < runs; r++) {
      smallFirst.push(await firstRender(browser, smallToken, smallServer.url, 4));
      bigFirst.push(await firstRender(browser, token, server.url, envs));
      reads.push(await apiRead(server.url, token));
    }
    log('ui: updates (a promotion finishing while the board is open)');
    const updates = [];
    for (let r = 0; r < runs; r++) updates.push(await update(browser, token, server.url, envs, components, r + 1));

    const graphDir = tempDir('ui-graph');
    dirs.push(graphDir);
    writeFileSync(join(graphDir, 'lockstep.yaml'), graphConfig(steps));
    log(`ui: a promotion of ${steps} steps`);
    const { deps, createRelease, promote } = await engine(graphDir);
    let promotionId;
    try {
      const { release } = await createRelease(deps, { set: [...Array.from({ length: steps }, (_, c) => `c${c}=1`), 'hold=1'] });
      promotionId = (await promote(deps, release.id, 'dev', { concurrency: 16 })).id;
    } finally {
      await deps.store.close();
    }
    const graphToken = adminToken(graphDir);
    const graphServer = await serve(graphDir);
    children.push(graphServer.child);
    const graph = await graphRender(browser, graphToken, graphServer.url, promotionId, steps + 1);
    log(`ui: a step event on the drawn ${steps}-step graph`);
    const graphUpdates = [];
    for (let r = 0; r < runs; r++) graphUpdates.push(await graphUpdate(browser, graphToken, graphServer.url, graphDir, steps, r + 1));
    const layouts = [];
    for (let r = 0; r < runs; r++) layouts.push(await elkLayout(steps));

    const smallMs = median(smallFirst.map((f) => f.ms));
    const bigMs = median(bigFirst.map((f) => f.ms));
    return {
      environments: envs,
      componentsEach: components,
      seedSeconds: round(seedSeconds, 1),
      boardFirstRenderMs: round(bigMs, 0),
      smallBoardFirstRenderMs: round(smallMs, 0),
      firstRenderVsSmall: round(bigMs / smallMs, 2),
      boardReadMs: round(median(reads), 0),
      // Of the first render: waiting for GET /environments in the browser, and what came after it.
      boardReadInBrowserMs: round(median(bigFirst.map((f) => f.readEndMs - f.readStartMs)), 0),
      boardRenderAfterReadMs: round(median(bigFirst.map((f) => f.ms - f.readEndMs)), 0),
      updateEventToShownMs: round(median(updates.map((u) => u.eventToShownMs)), 0),
      updateRenderMs: round(median(updates.map((u) => u.renderMs)), 0),
      graphSteps: steps,
      graphNodesDrawn: graph.drawn,
      graphRenderMs: graph.ms === undefined ? null : round(graph.ms, 0),
      graphStepEventToShownMs: round(median(graphUpdates.map((u) => u.eventToShownMs)), 0),
      graphStepRenderMs: round(median(graphUpdates.map((u) => u.renderMs)), 0),
      elkLayoutMs: round(median(layouts), 0),
    };
  } finally {
    await browser.close();
    for (const child of children) child.kill('SIGTERM');
    for (const dir of dirs) removeDir(dir);
  }
}
