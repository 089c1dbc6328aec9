import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import type { PromotionRecord, ReleaseRecord } from '../../src/core/model.js';
import { lockstep, lockstepAsync, type CliResult } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// What the CLI says when something is wrong or in the way: each message names the cause and the
// way on, through the built CLI.

const projects: TestProject[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.cleanup();
});

function newProject(config: string): TestProject {
  const p = testProject(config);
  projects.push(p);
  return p;
}

function run(p: TestProject, args: string[], status: number, env: NodeJS.ProcessEnv = {}): CliResult {
  const r = lockstep(p.dir, args, env);
  expect(r.status, `lockstep ${args.join(' ')}\nexit ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(status);
  return r;
}

function release(p: TestProject, versions: Record<string, string>): string {
  const set = Object.entries(versions).flatMap(([c, v]) => ['--set', `${c}=${v}`]);
  return (JSON.parse(run(p, ['release', 'create', ...set, '-o', 'json'], 0).stdout) as { release: ReleaseRecord }).release.id;
}

function audit(p: TestProject): AuditEntry[] {
  return run(p, ['audit', 'export'], 0).stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
}

describe('a missing secret', () => {
  it('is reported with the var that needs it and the fields that use that var; the plain literals beside it are fine', () => {
    const p = newProject(`project: shop
environments:
  dev:
    vars: { account: "111111111111", db: "\${{ secrets.DEV_DB_URL }}", region: eu-west-1 }
components:
  api:
${commandComponent({ extra: '      env:\n        ACCOUNT: "${{ env.vars.account }}"\n        DB: "${{ env.vars.db }}"\n        REGION: "${{ env.vars.region }}"' })}
  worker:
${commandComponent({ extra: '      env:\n        DATABASE_URL: "${{ env.vars.db }}"' })}
`);
    const id = release(p, { api: '1', worker: '1' });
    const r = run(p, ['plan', id, '--to', 'dev'], 2);
    expect(r.stderr).toContain('environments.dev.vars.db: secret DEV_DB_URL is not set (used by components.api.with.env.DB, components.worker.with.env.DATABASE_URL)');
    expect(r.stderr).not.toMatch(/env\.vars\.(account|region) is not available/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    // With the secret set, the same project plans.
    run(p, ['plan', id, '--to', 'dev'], 0, { DEV_DB_URL: 'postgres://db.example/app' });
  });
});

describe('a policy', () => {
  const config = (expr: string): string => `project: shop
environments:
  dev:
    gates:
      policy:
        - expr: "${expr}"
          message: "irreversible changes need two approvals"
components:
  api:
${commandComponent()}
`;

  it('that holds shows the expression that holds, not the message written for its failure', () => {
    const p = newProject(config('!plan.irreversible || approvals.count >= 2'));
    const plan = run(p, ['plan', release(p, { api: '1' }), '--to', 'dev'], 0).stdout;
    const row = plan.split('\n').find((l) => /^\s+policy\[0\]/.test(l)) ?? '';
    expect(row).toMatch(/passed\s+holds: !plan\.irreversible \|\| approvals\.count >= 2$/);
    expect(plan).not.toContain('irreversible changes need two approvals');
  });

  it('that is false shows its message', () => {
    const p = newProject(config('plan.irreversible'));
    const plan = run(p, ['plan', release(p, { api: '1' }), '--to', 'dev'], 0).stdout;
    const row = plan.split('\n').find((l) => /^\s+policy\[0\]/.test(l)) ?? '';
    expect(row).toMatch(/BLOCKED\s+irreversible changes need two approvals$/);
  });
});

describe('a release that has not succeeded upstream', () => {
  it('is refused (not "waiting"), exit 3, and the refusal is in the audit log', () => {
    const p = newProject(`project: shop
environments:
  dev: {}
  staging: { after: [dev] }
components:
  api:
${commandComponent()}
`);
    const id = release(p, { api: '1' });
    const r = run(p, ['promote', id, '--to', 'staging', '--actor', 'alice@example.com'], 3);
    expect(r.stderr).toBe(`lockstep: refused: release ${id.slice(0, 12)} has not succeeded in dev yet; staging comes after dev\n`);
    const refusal = audit(p).find((e) => e.kind === 'gate.blocked');
    expect(refusal).toMatchObject({ actor: 'alice@example.com', environment: 'staging', releaseId: id, data: { gate: 'promotion-path', reason: expect.stringContaining('has not succeeded in dev') as unknown } });
    expect(JSON.parse(run(p, ['history', '-o', 'json'], 0).stdout)).toEqual([]);
  });
});

describe('a busy environment', () => {
  it('names the live process that runs the promotion; once that process is dead, says to resume it', async () => {
    const p = newProject(`project: shop
environments:
  dev: {}
components:
  api:
${commandComponent()}
`);
    const first = release(p, { api: '1' });
    const second = release(p, { api: '2' });
    const runner = lockstepAsync(p.dir, ['promote', first, '--to', 'dev'], { STEP_SLEEP: '30' });
    const exited = once(runner, 'exit');
    try {
      let active: PromotionRecord | undefined;
      for (let i = 0; i < 200 && !active; i++) {
        const status = JSON.parse(run(p, ['status', '--env', 'dev', '-o', 'json'], 0).stdout) as { activePromotion?: PromotionRecord }[];
        active = status[0]?.activePromotion ?? undefined;
        if (!active) await new Promise((res) => setTimeout(res, 50));
      }
      expect(active).toBeDefined();
      const id = active?.id.slice(0, 12) ?? '';
      const alive = run(p, ['promote', second, '--to', 'dev'], 4);
      expect(alive.stderr).toMatch(new RegExp(`busy: promotion ${id} \\(running\\).*; it is being run by process \\d+ on \\S+ \\(lease until `));

      runner.kill('SIGKILL');
      await exited;
      const dead = run(p, ['promote', second, '--to', 'dev'], 4);
      expect(dead.stderr).toMatch(new RegExp(`busy: promotion ${id} \\(running\\).*; the process that ran it \\(\\d+ on \\S+\\) is gone: continue it with lockstep resume ${id}\\n`));
    } finally {
      if (runner.exitCode === null && runner.signalCode === null) runner.kill('SIGKILL');
    }
  });
});

describe('did you mean', () => {
  const config = (type = 'command'): string => `project: shop
environments:
  dev: {}
  prod: { after: [dev] }
components:
  api:
${commandComponent().replace('type: command', `type: ${type}`)}
`;

  it('--to with a mistyped environment, --set with a mistyped component', () => {
    const p = newProject(config());
    const id = release(p, { api: '1' });
    expect(run(p, ['plan', id, '--to', 'prd'], 2).stderr).toContain('unknown environment prd (known: dev, prod); did you mean prod?');
    expect(run(p, ['promote', id, '--to', 'prd'], 2).stderr).toContain('did you mean prod?');
    expect(run(p, ['promote', id, '--to', 'qa'], 2).stderr).not.toContain('did you mean');
    expect(run(p, ['release', 'create', '--set', 'apu=2'], 2).stderr).toContain('--set names unknown components: apu (did you mean api?) (known: api)');
  });

  it('an unknown component type', () => {
    const p = newProject(config('sql-migration'));
    expect(run(p, ['validate'], 2).stderr).toMatch(/components\.api\.type: unknown component type sql-migration \(known types: [^)]*\); did you mean sql-migrations\?/);
  });
});
