import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import type {
  ComponentState,
  PlannedGate,
  PromotionPlan,
  PromotionRecord,
  ReleaseRecord,
  StepRecord,
} from '../../src/core/model.js';
import { lockstep, type CliResult } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// Gates through the built CLI: real processes, real SQLite, real scripts. Every command names its
// actor with --actor, as people on a shared machine would; alice requests, the sre group approves.
const GATED = `project: shop
groups:
  sre: [bob@example.com, carol@example.com]
environments:
  staging: {}
  prod:
    after: [staging]
    gates:
      approvals: { count: 2, from: [group:sre] }
components:
  api:
${commandComponent()}
`;

// Two environments that promote themselves, one after the other, when `lockstep tick` runs.
const AUTO = `project: flow
environments:
  dev:
    gates: { auto: true }
  staging:
    after: [dev]
    gates: { auto: true }
components:
  api:
${commandComponent()}
`;

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const CAROL = 'carol@example.com';

const projects: TestProject[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.cleanup();
});

function newProject(config = GATED): TestProject {
  const p = testProject(config);
  projects.push(p);
  return p;
}

function show(r: CliResult): string {
  return `exit ${String(r.status)}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** Runs the CLI as `actor` and expects the exit code. */
function run(p: TestProject, args: string[], status: number, actor = ALICE): CliResult {
  const r = lockstep(p.dir, [...args, '--actor', actor]);
  expect(r.status, `lockstep ${args.join(' ')} --actor ${actor}\n${show(r)}`).toBe(status);
  return r;
}

function json<T>(p: TestProject, args: string[], status = 0, actor = ALICE): T {
  return JSON.parse(run(p, [...args, '--output', 'json'], status, actor).stdout) as T;
}

function createRelease(p: TestProject, version: string): ReleaseRecord {
  return json<{ release: ReleaseRecord }>(p, ['release', 'create', '--set', `api=${version}`]).release;
}

/** The promotion id in the hint a pending promotion prints: `lockstep approve <id>`. */
function approveHint(r: CliResult): string {
  const id = /: lockstep approve ([0-9a-f]{7,}) /.exec(r.stdout)?.[1];
  expect(id, show(r)).toBeDefined();
  return id ?? '';
}

/** The row of a gate in a printed gates table, e.g. `approvals  WAITING  0 of 2 approvals; …`. */
function gateRow(text: string, gate: string): string | undefined {
  return text.split('\n').find((l) => new RegExp(`^\\s+${gate}\\s`).test(l));
}

function gates(plan: PromotionPlan): [string, string][] {
  return plan.gates.map((g) => [g.gate, g.status]);
}

type HistoryEntry = PromotionRecord & { steps: StepRecord[] };
interface EnvStatus {
  environment: string;
  release?: string;
  activePromotion?: PromotionRecord | null;
  pending: { promotion: PromotionRecord; gates: PlannedGate[] }[];
  components: ComponentState[];
}

describe('lockstep promote and approve: a promotion waits for two approvals from a group', () => {
  it('pending (exit 3) with the hint and the approvers; refusals exit 2; the second approval runs it; the audit log records who did what', () => {
    const p = newProject();
    const release = createRelease(p, '1');
    run(p, ['promote', release.id, '--to', 'staging'], 0);

    const pending = run(p, ['promote', release.id, '--to', 'prod'], 3);
    expect(pending.stdout).toMatch(
      /Promotion [0-9a-f]{12} PENDING: release [0-9a-f]{12} → prod, requested by alice@example\.com/,
    );
    expect(gateRow(pending.stdout, 'approvals')).toMatch(
      /WAITING\s+0 of 2 approvals; 2 more from: bob@example\.com, carol@example\.com$/,
    );
    expect(pending.stdout).toMatch(
      /To approve \(as one of bob@example\.com, carol@example\.com\): lockstep approve [0-9a-f]{12} /,
    );
    const id = approveHint(pending);
    expect(p.applies().filter((l) => l.startsWith('apply prod '))).toEqual([]);

    // Promoting the same release again evaluates the same pending promotion: stdout is one JSON document.
    const again = json<{ promotion: PromotionRecord; steps: StepRecord[] }>(
      p,
      ['promote', release.id, '--to', 'prod'],
      3,
    );
    expect(again.promotion.id.startsWith(id)).toBe(true);
    expect(again.promotion).toMatchObject({
      state: 'pending',
      environment: 'prod',
      releaseId: release.id,
      requestedBy: ALICE,
    });
    expect(again.promotion.plan.gates.find((g) => g.gate === 'approvals')).toMatchObject({
      status: 'waiting',
      who: [BOB, CAROL],
    });
    expect(again.steps.map((s) => [s.component, s.state])).toEqual([['api', 'pending']]);

    const status = run(p, ['status'], 0);
    const prodStatus = status.stdout.slice(status.stdout.indexOf('\nprod: '));
    expect(prodStatus).toMatch(
      new RegExp(`PENDING promotion ${id} of release ${release.id.slice(0, 12)}, requested by alice@example\\.com`),
    );
    expect(gateRow(prodStatus, 'approvals')).toMatch(/WAITING\s+0 of 2 approvals/);
    expect(gateRow(prodStatus, 'promotion-path')).toMatch(/passed\s+succeeded in staging/);

    // alice requested it and is not in the group.
    const requester = run(p, ['approve', id], 2, ALICE);
    expect(requester.stderr).toMatch(
      /alice@example\.com is not allowed to approve promotions to prod \(approvals\.from: group:sre\)/,
    );

    const first = run(p, ['approve', id, '--comment', 'ok'], 3, BOB);
    expect(first.stdout).toMatch(new RegExp(`Promotion ${id} PENDING`));
    expect(gateRow(first.stdout, 'approvals')).toMatch(
      /WAITING\s+1 of 2 approvals \(bob@example\.com\); 1 more from: carol@example\.com$/,
    );

    const twice = run(p, ['approve', id], 2, BOB);
    expect(twice.stderr).toMatch(/bob@example\.com already approved this plan/);

    const second = run(p, ['approve', id], 0, CAROL);
    expect(second.stdout).toMatch(new RegExp(`Promotion ${id} SUCCEEDED`));
    expect(p.running('prod', 'api')).toBe('1');

    const [prod] = json<EnvStatus[]>(p, ['status', '--env', 'prod']);
    expect(prod?.release).toBe(release.id);
    expect(prod?.pending).toEqual([]);
    expect(prod?.activePromotion ?? null).toBeNull();
    expect(prod?.components.map((c) => [c.component, c.version])).toEqual([['api', '1']]);

    const verify = run(p, ['audit', 'verify'], 0);
    expect(verify.stdout).toMatch(/audit log intact/);
    const entries = run(p, ['audit', 'export'], 0)
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEntry)
      .filter((e) => e.promotionId?.startsWith(id));
    const of = (kind: string): AuditEntry[] => entries.filter((e) => e.kind === kind);
    expect(of('approval.refused').map((e) => [e.actor, e.data.reason])).toEqual([
      [ALICE, expect.stringContaining('not allowed to approve')],
      [BOB, expect.stringContaining('already approved')],
    ]);
    expect(of('approval.given').map((e) => [e.actor, e.data.comment, e.data.planDigest])).toEqual([
      [BOB, 'ok', again.promotion.plan.digest],
      [CAROL, undefined, again.promotion.plan.digest],
    ]);
    expect(of('gate.waiting').map((e) => [e.actor, e.data.gate])).toEqual([[ALICE, 'approvals']]);
    expect(of('gate.passed').map((e) => [e.actor, e.data.gate])).toEqual([
      [ALICE, 'promotion-path'],
      [CAROL, 'approvals'],
    ]);
    expect(of('promotion.finished').map((e) => [e.actor, e.data.state])).toEqual([[CAROL, 'succeeded']]);
  });

  it('approve --reject needs --comment (exit 2); a rejection ends the promotion (exit 3, rejected), which cannot be approved afterwards', () => {
    const p = newProject();
    const release = createRelease(p, '1');
    run(p, ['promote', release.id, '--to', 'staging'], 0);
    const id = approveHint(run(p, ['promote', release.id, '--to', 'prod'], 3));

    const bare = run(p, ['approve', id, '--reject'], 2, BOB);
    expect(bare.stderr).toMatch(/a rejection needs --comment/);

    const rejected = run(p, ['approve', id, '--reject', '--comment', 'no'], 3, BOB);
    expect(rejected.stdout).toMatch(new RegExp(`Promotion ${id} REJECTED`));
    expect(rejected.stdout).toMatch(/Reason: rejected by bob@example\.com: no/);

    const late = run(p, ['approve', id], 4, CAROL);
    expect(late.stderr).toMatch(/is rejected: only a pending promotion can be approved or rejected/);

    const [last] = json<HistoryEntry[]>(p, ['history', '--env', 'prod']);
    expect(last?.id.startsWith(id)).toBe(true);
    expect(last).toMatchObject({ state: 'rejected', reason: 'rejected by bob@example.com: no' });
    expect(last?.steps.map((s) => s.state)).toEqual(['pending']);
    expect(p.running('prod', 'api')).toBeUndefined();
  });
});

describe('lockstep plan: the gates as they stand', () => {
  it('--output json lists the approvals gate waiting with who may approve; text prints a Gates: table; nothing runs', () => {
    const p = newProject();
    const release = createRelease(p, '1');

    const plan = json<PromotionPlan>(p, ['plan', release.id, '--to', 'prod']);
    expect(gates(plan)).toEqual([
      ['promotion-path', 'blocked'],
      ['approvals', 'waiting'],
    ]);
    expect(plan.gates[1]).toMatchObject({
      message: '0 of 2 approvals; 2 more from: bob@example.com, carol@example.com',
      who: [BOB, CAROL],
    });

    const text = run(p, ['plan', release.id, '--to', 'prod'], 0).stdout;
    const table = text.slice(text.indexOf('\nGates:\n'));
    expect(table).toMatch(/^\nGates:\n\s+GATE\s+STATUS\s+DETAIL\n/);
    expect(gateRow(table, 'promotion-path')).toMatch(/BLOCKED\s+not yet succeeded in staging/);
    expect(gateRow(table, 'approvals')).toMatch(/WAITING\s+0 of 2 approvals/);
    expect(p.applies()).toEqual([]);
  });
});

describe('lockstep release reject', () => {
  it('rejects the pending promotions of the release; promoting it again anywhere exits 3 naming the rejection; release list marks it', () => {
    const p = newProject();
    const release = createRelease(p, '1');
    run(p, ['promote', release.id, '--to', 'staging'], 0);
    const id = approveHint(run(p, ['promote', release.id, '--to', 'prod'], 3));

    const reject = run(p, ['release', 'reject', release.id.slice(0, 7), '--reason', 'bad'], 0);
    expect(reject.stdout).toContain(`release ${release.id} rejected: bad`);
    expect(reject.stdout).toMatch(new RegExp(`pending promotion ${id} to prod: rejected`));

    // It has run in staging already: promoting it there again is refused by the release gate.
    const before = p.applies().length;
    const again = run(p, ['promote', release.id, '--to', 'staging'], 3);
    expect(again.stdout).toMatch(/Promotion [0-9a-f]{12} REJECTED: release [0-9a-f]{12} → staging/);
    expect(gateRow(again.stdout, 'release')).toMatch(/BLOCKED\s+release rejected by alice@example\.com at \S+: bad$/);
    expect(p.applies()).toHaveLength(before);

    const list = run(p, ['release', 'list'], 0).stdout;
    expect(list).toMatch(new RegExp(`^${release.id.slice(0, 12)} REJECTED\\s`, 'm'));
  });

  // The plan promote prints must carry the gates it was evaluated against, not only the promotion
  // path the planner knows (it once printed "Gates: none" right above "REJECTED … release BLOCKED").
  it('the plan printed by promote lists the gates the promotion was evaluated against', () => {
    const p = newProject();
    const release = createRelease(p, '1');
    run(p, ['release', 'reject', release.id, '--reason', 'bad'], 0);
    const out = run(p, ['promote', release.id, '--to', 'staging'], 3).stdout;
    const printedPlan = out.slice(0, out.indexOf('\nPromotion '));
    expect(printedPlan).toContain('Plan: release');
    expect(printedPlan, 'the plan promote prints omits the release gate that rejects it').toMatch(
      /Gates:\n.*\n\s+release\s+BLOCKED/,
    );
  });
});

describe('lockstep promote --override-window and --reason', () => {
  it('each without the other is invalid input (exit 2), and nothing is recorded', () => {
    const p = newProject();
    const release = createRelease(p, '1');
    const noReason = run(p, ['promote', release.id, '--to', 'staging', '--override-window'], 2);
    expect(noReason.stderr).toMatch(/--override-window needs --reason/);
    const noOverride = run(p, ['promote', release.id, '--to', 'staging', '--reason', 'INC-1'], 2);
    expect(noOverride.stderr).toMatch(/--reason goes with --override-window/);
    expect(json<HistoryEntry[]>(p, ['history'])).toEqual([]);
  });
});

describe('lockstep tick: auto-promotion', () => {
  it('one tick promotes a new release through dev and then staging; the next has nothing to do', () => {
    const p = newProject(AUTO);
    const release = createRelease(p, '1');

    const tick = run(p, ['tick'], 0);
    expect(tick.stdout.match(/Promotion [0-9a-f]{12} SUCCEEDED/g)).toHaveLength(2);
    expect(p.running('dev', 'api')).toBe('1');
    expect(p.running('staging', 'api')).toBe('1');
    const history = json<HistoryEntry[]>(p, ['history']);
    expect(history.map((h) => [h.environment, h.state, h.releaseId, h.requestedBy])).toEqual([
      ['staging', 'succeeded', release.id, 'lockstep:auto'],
      ['dev', 'succeeded', release.id, 'lockstep:auto'],
    ]);

    const idle = run(p, ['tick'], 0);
    expect(idle.stdout).toMatch(/nothing to do/);
    expect(p.applies()).toHaveLength(2);
  });
});
