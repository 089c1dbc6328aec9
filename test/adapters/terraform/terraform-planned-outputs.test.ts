import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { terraformAdapter } from '../../../src/adapters/terraform/terraform-adapter.js';
import { terraformSpec } from '../../../src/adapters/terraform/terraform-spec.js';
import type { TerraformSpec } from '../../../src/adapters/terraform/terraform-spec.js';
import type { StepContext } from '../../../src/core/adapter.js';
import { StepFailure } from '../../../src/core/errors.js';
import { stepContext } from '../../helpers/step-context.js';

// REAL Terraform (1.11, on PATH on our machines): `terraform_data` and outputs need no provider download.
// What a plan says its outputs will be (so consumers can be planned against them) and why a rollback
// of it would be refused.

const SECRET = 'pw-123456789012-very-secret';

// `role_arn` depends on a resource attribute Terraform knows only after applying; `region` is a
// literal, `release` comes from a variable, `db_password` is marked sensitive by the module. From
// 2.0.0 on, the module also creates `terraform_data.extra`.
const MODULE = `
variable "app_version" {
  type = string
}

variable "account" {
  type = string
}

resource "terraform_data" "role" {
  input = "app-\${var.app_version}"
}

resource "terraform_data" "extra" {
  count = startswith(var.app_version, "2.") ? 1 : 0
  input = "extra"
}

output "role_arn" {
  value = "arn:aws:iam::\${var.account}:role/\${terraform_data.role.output}"
}

output "region" {
  value = "eu-west-1"
}

output "release" {
  value = "v\${var.app_version}"
}

output "db_password" {
  value     = "pw-\${var.account}-very-secret"
  sensitive = true
}
`;

let root: string;
let project: string;

beforeEach(() => {
  execFileSync('terraform', ['version'], { stdio: 'ignore' }); // a clear failure when Terraform is missing
  root = mkdtempSync(path.join(tmpdir(), 'lockstep-tfout-'));
  project = path.join(root, 'project');
  mkdirSync(path.join(project, 'infra/iam'), { recursive: true });
  writeFileSync(path.join(project, 'infra/iam/main.tf'), MODULE);
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function spec(input: Record<string, unknown> = {}): TerraformSpec {
  return terraformSpec.parse({
    dir: 'infra/iam',
    versionVariable: 'app_version',
    vars: { account: '123456789012' },
    rollback: 'reapply-previous',
    ...input,
  });
}

function context(version: string, previousVersion: string | undefined): ReturnType<typeof stepContext> {
  return stepContext({
    projectDir: project,
    cacheDir: path.join(root, 'cache'),
    stateDir: path.join(root, 'state'),
    project: 'shop',
    component: 'iam',
    environment: { name: 'staging', vars: {} },
    version,
    previousVersion,
  });
}

async function applyVersion(s: TerraformSpec, ctx: StepContext): Promise<void> {
  await terraformAdapter.apply(s, await terraformAdapter.plan(s, ctx), ctx);
}

describe('terraform adapter (real terraform): planned outputs', () => {
  it('gives known values, names those known only after apply, and marks sensitive ones without printing them', async () => {
    const { ctx, lines } = context('1.0.0', undefined);
    const plan = await terraformAdapter.plan(spec(), ctx);
    expect(plan.summary).toBe('1 to create (terraform_data.role)');
    expect(plan.outputs?.known).toEqual({ region: 'eu-west-1', release: 'v1.0.0', db_password: SECRET });
    expect(plan.outputs?.unknown).toEqual(['role_arn']);
    expect(plan.outputs?.sensitive).toEqual(['db_password']);
    // The engine redacts sensitive known values; the adapter itself never shows them.
    expect(`${plan.summary}\n${plan.details ?? ''}\n${lines.join('\n')}`).not.toContain(SECRET);
    expect(JSON.stringify(plan.data)).not.toContain(SECRET);
  });

  it('gives the current values as known when the plan has no changes', async () => {
    await applyVersion(spec(), context('1.0.0', undefined).ctx);
    const { ctx } = context('1.0.0', '0.9.0');
    const plan = await terraformAdapter.plan(spec(), ctx);
    expect(plan.summary).toBe('no changes');
    expect(plan.outputs).toEqual({
      known: {
        db_password: SECRET,
        region: 'eu-west-1',
        release: 'v1.0.0',
        role_arn: 'arn:aws:iam::123456789012:role/app-1.0.0',
      },
      unknown: [],
      sensitive: ['db_password'],
    });
  });

  it('names an output unknown again when the resource it reads is updated', async () => {
    await applyVersion(spec(), context('1.0.0', undefined).ctx);
    const plan = await terraformAdapter.plan(spec(), context('1.1.0', '1.0.0').ctx);
    expect(plan.summary).toBe('1 to update (terraform_data.role)');
    expect(plan.outputs?.unknown).toEqual(['role_arn']);
    expect(plan.outputs?.known.release).toBe('v1.1.0');
    // An update is undone by re-applying the previous version: nothing stands in a rollback's way.
    expect(plan.notReversible).toBeUndefined();
  });
});

describe('terraform adapter (real terraform): when a rollback of the plan would be refused', () => {
  it('says a first install has no previous version to re-apply', async () => {
    const plan = await terraformAdapter.plan(spec(), context('1.0.0', undefined).ctx);
    expect(plan.notReversible).toBe(
      'this is the first version applied here, so there is no previous version for a rollback to re-apply',
    );
    // A forward-only component is not reversible at all: there is nothing to qualify.
    const forwardOnly = await terraformAdapter.plan(
      spec({ rollback: 'forward-only' }),
      context('1.0.0', undefined).ctx,
    );
    expect(forwardOnly.notReversible).toBeUndefined();
  });

  it('names what the plan creates when allowDestroy is false, and rollback really refuses it', async () => {
    await applyVersion(spec(), context('1.0.0', undefined).ctx);
    const { ctx } = context('2.0.0', '1.0.0');
    const plan = await terraformAdapter.plan(spec(), ctx);
    expect(plan.summary).toBe('1 to create (terraform_data.extra[0]), 1 to update (terraform_data.role)');
    expect(plan.notReversible).toBe(
      'a rollback would destroy terraform_data.extra[0] (created by this plan), and allowDestroy is false',
    );
    expect(plan.irreversible).toBe(false);
    // Allowed to destroy, the rollback would go through.
    const allowed = await terraformAdapter.plan(spec({ allowDestroy: true }), context('2.0.0', '1.0.0').ctx);
    expect(allowed.summary).toBe(plan.summary);
    expect(allowed.notReversible).toBeUndefined();

    await terraformAdapter.apply(spec(), plan, ctx);
    const refused: unknown = await terraformAdapter.rollback?.(spec(), ctx).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(StepFailure);
    expect((refused as StepFailure).message).toMatch(
      /^rollback: the plan destroys terraform_data\.extra\[0\] \(delete: delete_because_count_index\); refused because allowDestroy is false/,
    );
  });
});
