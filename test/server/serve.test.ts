import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { lockstep, lockstepAsync } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// `lockstep serve` as a user runs it: the built CLI in its own process, real HTTP on a free port.
const projects: TestProject[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.cleanup();
});

function newProject(name: string): TestProject {
  const p = testProject(`project: ${name}\nenvironments:\n  dev: {}\ncomponents:\n  api:\n${commandComponent()}\n`);
  projects.push(p);
  return p;
}

describe('lockstep serve', () => {
  it('prints where it listens first, answers over HTTP for every --project, and exits 0 on SIGTERM', async () => {
    const shop = newProject('shop');
    const payments = newProject('payments');
    const created = lockstep(shop.dir, ['token', 'create', '--name', 'viewer-bot', '--role', 'viewer', '-o', 'json']);
    const token = (JSON.parse(created.stdout) as { token: string }).token;
    const child = lockstepAsync(shop.dir, [
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--project',
      '.',
      '--project',
      payments.dir,
    ]);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: child.stdout! });
    const [first] = (await once(lines, 'line')) as [string];
    const match = /^listening on (http:\/\/127\.0\.0\.1:(\d+))$/.exec(first);
    expect(match, `${first}\n${stderr}`).not.toBeNull();
    expect(Number(match![2])).toBeGreaterThan(0);
    const url = match![1]!;

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(Object.keys(((await ready.json()) as { projects: object }).projects).sort()).toEqual(['payments', 'shop']);
    // No token store holds this token: refused, over real HTTP, with the challenge.
    const refused = await fetch(`${url}/api/v1/projects/payments/releases`, {
      headers: { Authorization: 'Bearer nope' },
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const listed = await fetch(`${url}/api/v1/projects/shop/releases?limit=5`, { headers: { Authorization: `Bearer ${token}` } });
    expect(listed.status).toBe(200);
    const doc = await fetch(`${url}/api/v1/openapi.json`);
    expect(((await doc.json()) as { openapi: string }).openapi).toMatch(/^3\.1\./);

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code, signal] = (await exited) as [number | null, string | null];
    expect({ code, signal, stderr }).toMatchObject({ code: 0, signal: null });
    // The access log: a line per request, with who asked when known; never the query or the token.
    expect(stderr).toMatch(/^\S+Z GET \/api\/v1\/projects\/shop\/releases 200 \d+ms viewer-bot$/m);
    expect(stderr).toMatch(/^\S+Z GET \/api\/v1\/projects\/payments\/releases 401 \d+ms$/m);
    expect(stderr).not.toContain('limit=5');
    expect(stderr).not.toContain(token);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('refuses a --listen it cannot read and two projects of one name, exit 2, naming the flag', () => {
    const shop = newProject('shop');
    const bad = lockstep(shop.dir, ['serve', '--listen', 'localhost']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--listen takes HOST:PORT/);
    const twin = newProject('shop');
    const twice = lockstep(shop.dir, ['serve', '--listen', '127.0.0.1:0', '--project', '.', '--project', twin.dir]);
    expect(twice.status).toBe(2);
    expect(twice.stderr).toMatch(/two projects are named shop/);
  });
});
