import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gitopsAdapter } from '../../../src/adapters/gitops/gitops-adapter.js';
import { gitopsSpec } from '../../../src/adapters/gitops/gitops-spec.js';
import { StepFailure } from '../../../src/core/errors.js';
import { stepContext } from '../../helpers/step-context.js';
import { gitFixture, overlay, type GitFixture } from './git-fixture.js';

// Git's smart HTTP protocol, served by git's own `git http-backend` (CGI) behind a small Node server
// that demands HTTP basic auth, as a forge does. The adapter must send the token as a header, never
// in a URL, a stored config or a message.

const TOKEN = 'glpat-TOKEN-VALUE-0123456789';

interface Seen {
  url: string;
  authorization: string | undefined;
}

let fx: GitFixture;
let server: Server;
let base: string;
let seen: Seen[];

beforeEach(async () => {
  fx = gitFixture({ 'prod/kustomization.yaml': overlay('prod', '1.4.1') });
  seen = [];
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    if (req.headers.authorization !== `Basic ${Buffer.from(`bot:${TOKEN}`).toString('base64')}`) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="deploy"' });
      res.end('authentication required');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://server');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: fx.root,
        GIT_HTTP_EXPORT_ALL: '1',
        REMOTE_USER: 'bot',
        REMOTE_ADDR: '127.0.0.1',
        REQUEST_METHOD: req.method,
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: (req.headers['git-protocol'] as string | undefined) ?? '',
      },
    });
    req.pipe(cgi.stdin);
    const chunks: Buffer[] = [];
    cgi.stdout.on('data', (c: Buffer) => chunks.push(c));
    cgi.on('close', () => {
      const out = Buffer.concat(chunks);
      const split = out.indexOf('\r\n\r\n');
      const head = out.subarray(0, split).toString('utf8');
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of head.split('\r\n')) {
        const [name = '', ...rest] = line.split(':');
        const value = rest.join(':').trim();
        if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else if (name !== '') headers[name] = value;
      }
      res.writeHead(status, headers);
      res.end(out.subarray(split + 4));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  fx.cleanup();
});

describe('gitops over authenticated HTTP (git http-backend)', () => {
  it('fetches and pushes with the token from the URL sent as a header only', async () => {
    const cacheDir = fx.cacheDir;
    const c = stepContext({ cacheDir, projectDir: fx.root, component: 'api', version: '1.4.2' });
    const spec = gitopsSpec.parse({
      repo: `${base.replace('http://', `http://bot:${TOKEN}@`)}/deploy.git`,
      path: 'prod',
      set: [{ kustomizeImage: 'acme/api', tag: '1.4.2' }],
    });
    const plan = await gitopsAdapter.plan(spec, c.ctx);
    expect(plan.summary).toBe(`commit 1 edit to prod in ${base}/deploy.git (main at ${fx.head().slice(0, 12)})`);
    const outputs = await gitopsAdapter.apply(spec, plan, c.ctx);
    expect(outputs.commit).toBe(fx.head());
    expect(fx.show('prod/kustomization.yaml')).toBe(overlay('prod', '1.4.2'));

    expect(seen.some((s) => s.url.includes('git-receive-pack'))).toBe(true);
    expect(seen.every((s) => s.authorization !== undefined && !s.url.includes(TOKEN))).toBe(true);
    const clone = readdirSync(join(cacheDir, 'gitops')).find((f) => f.endsWith('.git')) ?? '';
    expect(readFileSync(join(cacheDir, 'gitops', clone, 'config'), 'utf8')).not.toContain(TOKEN);
    expect(`${plan.summary}\n${c.lines.join('\n')}`).not.toContain(TOKEN);
  });

  it('takes the token from auth:, and a refused token fails without showing it', async () => {
    const c = stepContext({ cacheDir: fx.cacheDir, projectDir: fx.root, component: 'api', version: '1.4.2' });
    const input = { repo: `${base}/deploy.git`, path: 'prod', set: [{ kustomizeImage: 'acme/api', tag: '1.4.2' }] };
    const good = gitopsSpec.parse({ ...input, auth: { username: 'bot', token: TOKEN } });
    expect((await gitopsAdapter.plan(good, c.ctx)).action).toBeUndefined();
    const wrong = gitopsSpec.parse({ ...input, auth: { username: 'bot', token: 'wrong-token-987654321' } });
    const error: unknown = await gitopsAdapter.plan(wrong, c.ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepFailure);
    expect((error as StepFailure).message).toMatch(new RegExp(`^git fetch from ${base}/deploy.git failed: .*\\(the server refused the credentials: check the token\\)$`));
    expect((error as StepFailure).message).not.toContain('wrong-token-987654321');
  });
});
