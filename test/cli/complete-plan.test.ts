import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import type { PromotionPlan, PromotionRecord, ReleaseRecord, StepRecord } from '../../src/core/model.js';
import { lockstep, type CliResult } from '../helpers/cli.js';
import { testProject, type TestProject } from '../helpers/project.js';
import { expectRealTerraform, TF_ENV } from '../helpers/terraform.js';

// Issue 13, through the built CLI: approvers see the whole plan. A producer applied in the same
// promotion hands its consumers the values its plan predicts (REAL Terraform 1.11 from the PATH,
// `terraform_data` needs no provider download; `command` producers whose plan script writes its
// predicted outputs), what nobody can know is shown in place as "(known after X applies)", and a
// value that comes out different from the approved plan stops its consumer before it applies.


let project: TestProject;

afterEach(() => {
  project?.cleanup();
});

function run(args: string[], status = 0, actor?: string): CliResult {
  const r = lockstep(project.dir, args, { ...TF_ENV, ...(actor ? { LOCKSTEP_ACTOR: actor } : {}) });
  expect(r.status, `lockstep ${args.join(' ')}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(status);
  return r;
}

function json<T>(args: string[], status = 0): T {
  return JSON.parse(run([...args, '--output', 'json'], status).stdout) as T;
}

function release(versions: Record<string, string>): string {
  const set = Object.entries(versions).flatMap(([c, v]) => ['--set', `${c}=${v}`]);
  return json<{ release: ReleaseRecord }>(['release', 'create', ...set]).release.id;
}

function promotionOf(r: CliResult): PromotionRecord {
  return (JSON.parse(r.stdout) as { promotion: PromotionRecord }).promotion;
}

function steps(promotionId: string): StepRecord[] {
  return json<{ steps: StepRecord[] }>(['history', promotionId]).steps;
}

function audit(): AuditEntry[] {
  const file = join(project.dir, 'audit.jsonl');
  run(['audit', 'export', '--out', file]);
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
}

function applies(): string[] {
  const file = join(project.dir, 'applies.log');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
}

describe('planned outputs of a Terraform producer flow into its consumers\' plans (real terraform)', () => {
  const MODULE = `variable "app_version" { type = string }
variable "role_name" { type = string }

resource "terraform_data" "queue" {
  input = "orders"
}

output "role_arn" {
  value = "arn:aws:iam::123456789012:role/\${var.role_name}"
}

output "queue_url" {
  value = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-\${terraform_data.queue.id}"
}
`;

  const CONFIG = `project: shop
environments:
  prod:
    gates:
      approvals: { count: 1, from: [bob@example.com] }
components:
  infra:
    type: terraform
    with:
      dir: infra
      workspace: "\${{ env.name }}"
      versionVariable: app_version
      vars:
        role_name: "api-\${{ env.name }}"
    outputs:
      role_arn: { type: string, pattern: "^arn:aws:iam::" }
      queue_url: { type: string }
  api:
    type: command
    with:
      plan: ["./show.sh", "\${{ components.infra.outputs.role_arn }}", "\${{ components.infra.outputs.queue_url }}"]
      apply: ["./use.sh", "\${{ components.infra.outputs.role_arn }}", "\${{ components.infra.outputs.queue_url }}"]
`;

  beforeAll(expectRealTerraform);

  function setUp(): void {
    project = testProject(CONFIG);
    project.write('infra/main.tf', MODULE);
    project.write('show.sh', '#!/bin/sh\necho "would run api with role=$1 queue=$2"\n', true);
    project.write('use.sh', '#!/bin/sh\necho "apply api $1 $2" >> applies.log\n', true);
  }

  it('shows the consumer\'s plan with the planned ARN, marks the unknown queue URL in place, and lists it', () => {
    setUp();
    const first = release({ infra: '1', api: '1' });
    const plan = json<PromotionPlan>(['plan', first, '--to', 'prod']);
    const api = plan.steps.find((s) => s.component === 'api');
    expect(api?.action).toBe('apply');
    // The value Terraform's saved plan knows, in the consumer's own plan output.
    expect(api?.details).toContain('would run api with role=arn:aws:iam::123456789012:role/api-prod queue=(known after infra applies)');
    expect(api?.inputs).toEqual([
      { producer: 'infra', output: 'role_arn', state: 'known', value: 'arn:aws:iam::123456789012:role/api-prod' },
      { producer: 'infra', output: 'queue_url', state: 'unknown' },
    ]);
    expect(plan.unknowns).toEqual([
      { consumer: 'api', field: 'with.plan.2', producer: 'infra', output: 'queue_url' },
      { consumer: 'api', field: 'with.apply.2', producer: 'infra', output: 'queue_url' },
    ]);
    const text = run(['plan', first, '--to', 'prod']).stdout;
    expect(text).toContain('inputs: infra.outputs.role_arn = "arn:aws:iam::123456789012:role/api-prod", infra.outputs.queue_url = (known after infra applies)');
    expect(text).toContain('Known only after their producers apply (2)');
    expect(text).toMatch(/api\s+with\.apply\.2\s+infra\.outputs\.queue_url \(known after infra applies\)/);

    // Approved and run: the consumer gets the real values, the unknown one included.
    const pending = promotionOf(run(['promote', first, '--to', 'prod', '--output', 'json'], 3));
    expect(promotionOf(run(['approve', pending.id, '--output', 'json'], 0, 'bob@example.com')).state).toBe('succeeded');
    expect(applies()).toEqual([expect.stringMatching(/^apply api arn:aws:iam::123456789012:role\/api-prod https:\/\/sqs\.eu-west-1\.amazonaws\.com\/123456789012\/orders-[0-9a-f-]{36}$/)]);
  });

  it('a Terraform plan with no changes still hands every output over: the consumer\'s plan is complete', () => {
    setUp();
    const first = release({ infra: '1', api: '1' });
    const pending = promotionOf(run(['promote', first, '--to', 'prod', '--output', 'json'], 3));
    run(['approve', pending.id], 0, 'bob@example.com');
    const queue = applies()[0]?.split(' ')[3] ?? '';
    expect(queue).toMatch(/^https:/);

    // A new version of infra whose module changes nothing, and a new api.
    const second = release({ infra: '2', api: '2' });
    const plan = json<PromotionPlan>(['plan', second, '--to', 'prod']);
    const infra = plan.steps.find((s) => s.component === 'infra');
    const api = plan.steps.find((s) => s.component === 'api');
    expect(infra?.action).toBe('apply');
    expect(infra?.summary).toMatch(/^no changes/);
    expect(plan.unknowns).toBeUndefined();
    expect(api?.details).toContain(`would run api with role=arn:aws:iam::123456789012:role/api-prod queue=${queue}`);
    expect(api?.inputs?.every((i) => i.state === 'known')).toBe(true);
  });
});

describe('a value that comes out different from the approved plan stops its consumer', () => {
  function config(gates: string, extra = ''): string {
    return `project: keys
environments:
  prod:
${gates}
components:
  keys:
    type: command
    with:
      plan: ["./keys-plan.sh"]
      apply: ["./keys-apply.sh", "\${{ version }}"]
      rollback: ["./keys-rollback.sh"]
    outputs:
      token_id: { type: string, pattern: "^tok-" }
${extra}
  worker:
    type: command
    with:
      plan: ["sh", "-c", "echo would configure worker with $0", "\${{ components.keys.outputs.token_id }}"]
      apply: ["./worker.sh", "\${{ components.keys.outputs.token_id }}"]
`;
  }

  const APPROVALS = '    gates:\n      approvals: { count: 1, from: [bob@example.com, carol@example.com] }';

  function setUp(gates: string, extra = ''): void {
    project = testProject(config(gates, extra));
    // The plan script predicts what apply will output; the test makes apply output something else.
    project.write('keys-plan.sh', '#!/bin/sh\nt=$(cat predicted.txt)\necho "would issue $t"\nprintf \'{"token_id":"%s"}\' "$t" > "$LOCKSTEP_OUTPUTS"\n', true);
    project.write('keys-apply.sh', '#!/bin/sh\nt=$(cat actual.txt)\necho "apply keys $1 $t" >> applies.log\nprintf \'{"token_id":"%s"}\' "$t" > "$LOCKSTEP_OUTPUTS"\n', true);
    project.write('keys-rollback.sh', '#!/bin/sh\necho "rollback keys" >> applies.log\n', true);
    project.write('worker.sh', '#!/bin/sh\necho "apply worker $1" >> applies.log\n', true);
    project.write('predicted.txt', 'tok-A');
    project.write('actual.txt', 'tok-A');
  }

  it('with approvals: the promotion waits for a new approval naming the value; the old approval no longer counts; the new one runs the rest', () => {
    setUp(APPROVALS);
    const id = release({ keys: '1', worker: '1' });
    const plan = json<PromotionPlan>(['plan', id, '--to', 'prod']);
    expect(plan.steps.find((s) => s.component === 'worker')?.details).toContain('would configure worker with tok-A');
    const pending = promotionOf(run(['promote', id, '--to', 'prod', '--output', 'json'], 3));

    // Between approval and apply, the producer's system hands out another value.
    writeFileSync(join(project.dir, 'actual.txt'), 'tok-B');
    const stopped = run(['approve', pending.id], 3, 'bob@example.com');
    expect(stopped.stdout).toContain('keys.outputs.token_id was "tok-A" in the approved plan and is now "tok-B"');
    expect(applies()).toEqual(['apply keys 1 tok-B']);

    const record = json<{ promotion: PromotionRecord }>(['history', pending.id]).promotion;
    expect(record.state).toBe('pending');
    expect(record.replanned?.changes).toEqual([{ consumer: 'worker', producer: 'keys', output: 'token_id', approved: 'tok-A', now: 'tok-B' }]);
    expect(record.plan.digest).not.toBe(pending.plan.digest);
    // The new plan shows the value that will really be used.
    expect(record.plan.steps.find((s) => s.component === 'worker')?.details).toContain('would configure worker with tok-B');
    expect(record.plan.gates.find((g) => g.gate === 'approvals')?.status).toBe('waiting');
    // The environment stays held: a half-applied promotion is decided before anything else runs.
    expect(json<{ activePromotion?: PromotionRecord }[]>(['status', '--env', 'prod'])[0]?.activePromotion?.id).toBe(pending.id);
    const kinds = audit().map((e) => e.kind);
    expect(kinds).toContain('promotion.replanned');
    expect(kinds).toContain('approval.invalidated');

    // Bob may approve the new plan (his approval was for the old one); the rest runs, keys is not applied again.
    const done = promotionOf(run(['approve', pending.id, '--output', 'json'], 0, 'bob@example.com'));
    expect(done.state).toBe('succeeded');
    expect(applies()).toEqual(['apply keys 1 tok-B', 'apply worker tok-B']);
    const byComponent = new Map(steps(pending.id).map((s) => [s.component, s]));
    expect(byComponent.get('keys')?.state).toBe('succeeded');
    expect(byComponent.get('keys')?.attempts).toBe(1);
    expect(byComponent.get('worker')?.state).toBe('succeeded');
  });

  it('rejecting the new plan applies onFailure to what ran: the producer is rolled back', () => {
    setUp(APPROVALS);
    // A first release runs as planned, so the second has a previous version to roll back to.
    const first = promotionOf(run(['promote', release({ keys: '1', worker: '1' }), '--to', 'prod', '--output', 'json'], 3));
    run(['approve', first.id], 0, 'bob@example.com');
    const id = release({ keys: '2', worker: '1' });
    const pending = promotionOf(run(['promote', id, '--to', 'prod', '--output', 'json'], 3));
    writeFileSync(join(project.dir, 'actual.txt'), 'tok-B');
    run(['approve', pending.id], 3, 'bob@example.com');
    const rejected = promotionOf(run(['approve', pending.id, '--reject', '--comment', 'not this token', '--output', 'json'], 1, 'carol@example.com'));
    expect(rejected.state).toBe('failed');
    expect(rejected.reason).toContain('rejected by carol@example.com: not this token');
    expect(rejected.reason).toContain('rolled back: keys');
    expect(applies()).toEqual(['apply keys 1 tok-A', 'apply worker tok-A', 'apply keys 2 tok-B', 'rollback keys']);
    const byComponent = new Map(steps(pending.id).map((s) => [s.component, s]));
    expect(byComponent.get('keys')?.state).toBe('rolled-back');
    expect(byComponent.get('worker')?.state).toBe('skipped');
    expect(json<{ activePromotion?: PromotionRecord }[]>(['status', '--env', 'prod'])[0]?.activePromotion).toBeUndefined();
  });

  it('without approvals: the promotion is planned again and goes on, and the audit log says what changed', () => {
    setUp('    onFailure: rollback');
    const id = release({ keys: '1', worker: '1' });
    writeFileSync(join(project.dir, 'actual.txt'), 'tok-B');
    const done = promotionOf(run(['promote', id, '--to', 'prod', '--output', 'json']));
    expect(done.state).toBe('succeeded');
    expect(applies()).toEqual(['apply keys 1 tok-B', 'apply worker tok-B']);
    const replanned = audit().find((e) => e.kind === 'promotion.replanned');
    expect(replanned?.data).toMatchObject({
      inputs: [{ consumer: 'worker', producer: 'keys', output: 'token_id', approved: 'tok-A', now: 'tok-B' }],
      gates: 'passed',
    });
  });

  it('a sensitive value that changed is named as changed, never shown', () => {
    setUp('    onFailure: rollback', '      secret: { type: string, sensitive: true }');
    project.write('keys-plan.sh', '#!/bin/sh\nprintf \'{"token_id":"tok-A","secret":"%s-s3cr3t"}\' "$(cat predicted.txt)" > "$LOCKSTEP_OUTPUTS"\n', true);
    project.write('keys-apply.sh', '#!/bin/sh\necho "apply keys" >> applies.log\nprintf \'{"token_id":"tok-A","secret":"%s-s3cr3t"}\' "$(cat actual.txt)" > "$LOCKSTEP_OUTPUTS"\n', true);
    project.write('lockstep.yaml', config('    onFailure: rollback', '      secret: { type: string, sensitive: true }').replaceAll('components.keys.outputs.token_id', 'components.keys.outputs.secret'));
    const id = release({ keys: '1', worker: '1' });
    const plan = run(['plan', id, '--to', 'prod']).stdout;
    expect(plan).toContain('would configure worker with ***');
    writeFileSync(join(project.dir, 'actual.txt'), 'tok-B');
    const done = run(['promote', id, '--to', 'prod']);
    expect(applies()).toEqual(['apply keys', 'apply worker tok-B-s3cr3t']);
    const replanned = audit().find((e) => e.kind === 'promotion.replanned');
    expect(replanned?.data).toMatchObject({ reason: 'keys.outputs.secret (sensitive) changed since the plan was approved', inputs: [{ producer: 'keys', output: 'secret', sensitive: true }] });
    const [latest] = json<PromotionRecord[]>(['history']);
    const logs = run(['logs', latest?.id ?? '']).stdout;
    const everything = [done.stdout, done.stderr, JSON.stringify(audit()), logs, readFileSync(join(project.dir, '.lockstep', 'state.db')).toString('latin1')].join('\n');
    expect(everything).toContain('keys.outputs.secret');
    expect(everything).not.toContain('s3cr3t');
  });

  it('a policy on plan.unknowns asks for a second approval while a value is known only after its producer applies', () => {
    setUp(`    gates:
      approvals: { count: 1, from: [bob@example.com, carol@example.com] }
      policy:
        - expr: "size(plan.unknowns) == 0 || approvals.count >= 2"
          message: "values known only after apply need a second approver"`);
    // This plan script predicts nothing: the token is known only once keys applies.
    project.write('keys-plan.sh', '#!/bin/sh\necho "would issue a token"\n', true);
    const id = release({ keys: '1', worker: '1' });
    const plan = json<PromotionPlan>(['plan', id, '--to', 'prod']);
    expect(plan.unknowns?.map((u) => `${u.consumer} ${u.field} ${u.producer}.${u.output}`)).toEqual(['worker with.plan.3 keys.token_id', 'worker with.apply.1 keys.token_id']);
    const pending = promotionOf(run(['promote', id, '--to', 'prod', '--output', 'json'], 3));
    const once = promotionOf(run(['approve', pending.id, '--output', 'json'], 3, 'bob@example.com'));
    expect(once.state).toBe('pending');
    expect(once.plan.gates.find((g) => g.gate.startsWith('policy'))?.message).toBe('values known only after apply need a second approver');
    expect(promotionOf(run(['approve', pending.id, '--output', 'json'], 0, 'carol@example.com')).state).toBe('succeeded');
    expect(applies()).toEqual(['apply keys 1 tok-A', 'apply worker tok-A']);
  });
});
