import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STATE_OVERRIDE_FILE } from '../../../src/adapters/terraform/state-location.js';
import { terraformAdapter } from '../../../src/adapters/terraform/terraform-adapter.js';
import { terraformSpec } from '../../../src/adapters/terraform/terraform-spec.js';
import type { TerraformSpec } from '../../../src/adapters/terraform/terraform-spec.js';
import { sensitiveOutputNames, type AdapterPlan, type StepContext } from '../../../src/core/adapter.js';
import { stepContext } from '../../helpers/step-context.js';
import { FAKE_TERRAFORM, fakeProject } from './fake.js';
import type { FakeModule, FakeProject } from './fake.js';
import { failure } from '../../helpers/step-failure.js';

// Every test drives the executable FAKE terraform CLI (fake-terraform.mjs) through the adapter.

let p: FakeProject;

beforeEach(() => {
  p = fakeProject();
});

afterEach(() => {
  p.cleanup();
});

const ROLE: FakeModule = {
  resources: { 'aws_iam_role.app': { value: 'role-${var.account}-${var.app_version}' } },
  outputs: {
    role_arn: { value: 'arn:aws:iam::${var.account}:role/${res.aws_iam_role.app}', type: 'string' },
    db_password: { value: 'pw-very-secret-1', type: 'string', sensitive: true },
  },
};

function spec(input: Record<string, unknown> = {}): TerraformSpec {
  return terraformSpec.parse({
    binary: FAKE_TERRAFORM,
    dir: 'infra/iam',
    versionVariable: 'app_version',
    vars: { account: '123456789012' },
    env: { FAKE_TERRAFORM_STATE: p.stateFile, FAKE_TERRAFORM_LOG: p.logFile },
    ...input,
  });
}

function context(overrides: Partial<StepContext> = {}): ReturnType<typeof stepContext> {
  return stepContext({
    projectDir: p.dir,
    cacheDir: p.cacheDir,
    stateDir: p.stateDir,
    component: 'iam',
    version: '1.0.0',
    previousVersion: undefined,
    ...overrides,
  });
}

function planFileOf(plan: AdapterPlan): string {
  return (plan.data as { planFile: string }).planFile;
}

describe('terraform adapter (fake terraform CLI): plan and apply', () => {
  it('plans with init, the workspace and a saved plan, then applies exactly that file', async () => {
    p.writeModule('infra/iam', ROLE);
    const s = spec({ workspace: 'staging', backendConfig: { key: 'iam/staging.tfstate' } });
    const { ctx } = context();
    const plan = await terraformAdapter.plan(s, ctx);
    expect(plan.summary).toBe('1 to create (aws_iam_role.app)');
    expect(plan.irreversible).toBe(false);
    const planFile = planFileOf(plan);
    expect(planFile.startsWith(p.cacheDir)).toBe(true);
    expect(existsSync(planFile)).toBe(true);
    // The saved plan's digest, for the promotion's evidence (docs/evidence.md).
    expect((plan.data as { planSha256?: string }).planSha256).toBe(createHash('sha256').update(readFileSync(planFile)).digest('hex'));
    expect(p.state('staging')?.resources).toEqual({});

    const outputs = await terraformAdapter.apply(s, plan, ctx);
    expect(outputs.role_arn).toBe('arn:aws:iam::123456789012:role/role-123456789012-1.0.0');
    expect(p.state('staging')?.resources['aws_iam_role.app']).toBe('role-123456789012-1.0.0');

    const calls = p.calls().map((argv) => argv.slice(0, 2).join(' '));
    expect(calls).toEqual([
      'init -input=false',
      'workspace select',
      'workspace new',
      'plan -input=false',
      'show -json',
      'apply -input=false',
      'output -json',
    ]);
    expect(p.calls()).toContainEqual(['init', '-input=false', '-no-color', '-backend-config=key=iam/staging.tfstate']);
    expect(p.calls()).toContainEqual(['apply', '-input=false', '-no-color', planFile]);
    // Applied and removed: a saved plan is applied once.
    expect(existsSync(planFile)).toBe(false);
  });

  it("keeps each environment's backend and workspace apart, even when their plans interleave", async () => {
    p.writeModule('infra/iam', ROLE);
    const s = (env: string): TerraformSpec => spec({ workspace: env, backendConfig: { key: `iam/${env}.tfstate` } });
    const staging = context({ environment: { name: 'staging', vars: {} } }).ctx;
    const prod = context({ environment: { name: 'prod', vars: {} }, version: '2.0.0' }).ctx;
    const stagingPlan = await terraformAdapter.plan(s('staging'), staging);
    const prodPlan = await terraformAdapter.plan(s('prod'), prod);
    await terraformAdapter.apply(s('staging'), stagingPlan, staging);
    await terraformAdapter.apply(s('prod'), prodPlan, prod);
    expect(p.state('staging')?.resources['aws_iam_role.app']).toBe('role-123456789012-1.0.0');
    expect(p.state('prod')?.resources['aws_iam_role.app']).toBe('role-123456789012-2.0.0');
    // Nothing of Terraform's own lands in the project's module directory.
    expect(existsSync(path.join(p.dir, 'infra/iam/.terraform'))).toBe(false);
  });

  it("waits for another process holding the environment's lock, and takes over one left by a dead process", async () => {
    p.writeModule('infra/iam', ROLE);
    const lockDir = path.join(p.cacheDir, 'terraform', 'locks', 'checkout', 'iam', 'staging.lock');
    mkdirSync(lockDir, { recursive: true });
    writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
    const { ctx, lines } = context();
    const started = Date.now();
    setTimeout(() => rmSync(lockDir, { recursive: true, force: true }), 700);
    await terraformAdapter.plan(spec(), ctx);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(lines[0]).toBe(
      `waiting for another Lockstep process (pid ${process.pid}) using this component's Terraform directory`,
    );

    mkdirSync(lockDir, { recursive: true });
    writeFileSync(path.join(lockDir, 'pid'), '999999999');
    await terraformAdapter.plan(spec(), context().ctx);
    expect(existsSync(lockDir)).toBe(false);
  });

  it('keeps variable values off the command line and sensitive outputs out of the log', async () => {
    p.writeModule('infra/iam', ROLE);
    const s = spec({ vars: { account: '123456789012', api_token: 'token-very-secret-2' } });
    const { ctx, lines } = context();
    const outputs = await terraformAdapter.apply(s, await terraformAdapter.plan(s, ctx), ctx);
    expect(outputs.db_password).toBe('pw-very-secret-1');
    expect(JSON.stringify(p.calls())).not.toContain('token-very-secret-2');
    expect(lines.join('\n')).not.toContain('pw-very-secret-1');
    expect(lines.join('\n')).not.toContain('token-very-secret-2');
    expect(lines).toContain('outputs marked sensitive by Terraform (never stored): db_password');
    // Terraform's own flag reaches the engine, which then treats the output as declared sensitive.
    expect(sensitiveOutputNames(outputs)).toEqual(['db_password']);
  });

  it('reads the outputs back from the state without planning or applying, sensitive ones marked', async () => {
    p.writeModule('infra/iam', ROLE);
    const first = context();
    await terraformAdapter.apply(spec(), await terraformAdapter.plan(spec(), first.ctx), first.ctx);
    const before = p.calls().length;
    const { ctx, lines } = context();
    const outputs = await terraformAdapter.readOutputs?.(spec(), ctx);
    expect(outputs?.db_password).toBe('pw-very-secret-1');
    expect(sensitiveOutputNames(outputs ?? {})).toEqual(['db_password']);
    const subcommands = p.calls().slice(before).map((c) => c[0]);
    expect(subcommands).toContain('output');
    expect(subcommands).not.toContain('plan');
    expect(subcommands).not.toContain('apply');
    expect(lines.join('\n')).not.toContain('pw-very-secret-1');
  });

  it('refuses a plan that replaces or deletes anything unless allowDestroy is true', async () => {
    p.writeModule('infra/iam', {
      resources: {
        'aws_db_instance.main': { value: 'db-${var.app_version}', forceNew: true },
        'aws_s3_bucket.logs': { value: 'logs' },
      },
    });
    const first = context();
    await terraformAdapter.apply(spec(), await terraformAdapter.plan(spec(), first.ctx), first.ctx);
    p.writeModule('infra/iam', {
      resources: { 'aws_db_instance.main': { value: 'db-${var.app_version}', forceNew: true } },
    });
    const { ctx } = context({ version: '2.0.0', previousVersion: '1.0.0' });

    const refused = await failure(terraformAdapter.plan(spec(), ctx));
    expect(refused.message).toBe(
      'plan: the plan destroys aws_db_instance.main (replace: replace_because_cannot_update), aws_s3_bucket.logs (delete: delete_because_no_resource_config); ' +
        'refused because allowDestroy is false. Change the module so nothing is deleted or replaced, or set allowDestroy: true for this component',
    );
    expect(refused.untouched).toBe(true);
    expect(p.calls().filter((c) => c[0] === 'apply')).toHaveLength(1);

    const allowed = await terraformAdapter.plan(spec({ allowDestroy: true }), ctx);
    expect(allowed.irreversible).toBe(true);
    expect(allowed.risk).toBe('high');
    expect(allowed.summary).toContain(
      '1 to replace (aws_db_instance.main: replace_because_cannot_update), 1 to delete (aws_s3_bucket.logs',
    );
  });

  it('fails clearly, without planning again, when the saved plan file is gone', async () => {
    p.writeModule('infra/iam', ROLE);
    const { ctx } = context();
    const plan = await terraformAdapter.plan(spec(), ctx);
    const before = p.calls().length;
    writeFileSync(planFileOf(plan), '');
    execFileSync('rm', [planFileOf(plan)]);
    const error = await failure(terraformAdapter.apply(spec(), plan, ctx));
    expect(error.message).toMatch(
      /^apply: the saved plan .* is gone .* promote the release again to plan and show a new one$/,
    );
    expect(error.untouched).toBe(true);
    expect(p.calls().length).toBe(before);
  });

  it('reports a stale saved plan as untouched and says how to go on', async () => {
    p.writeModule('infra/iam', ROLE);
    const { ctx } = context();
    const stale = await terraformAdapter.plan(spec(), ctx);
    await terraformAdapter.apply(spec(), await terraformAdapter.plan(spec(), ctx), ctx);
    const error = await failure(terraformAdapter.apply(spec(), stale, ctx));
    expect(error.message).toMatch(/Saved plan is stale.*promote the release again to plan again/);
    expect(error.untouched).toBe(true);
  });

  it("reports a failing apply with Terraform's error", async () => {
    p.writeModule('infra/iam', ROLE);
    const s = spec({ env: { FAKE_TERRAFORM_STATE: p.stateFile, FAKE_TERRAFORM_FAIL_APPLY: '1' } });
    const { ctx } = context();
    const error = await failure(terraformAdapter.apply(s, await terraformAdapter.plan(s, ctx), ctx));
    expect(error.message).toBe(
      `apply: ${FAKE_TERRAFORM} apply exited with code 1: Error: creating fake resource: AccessDenied: the fake refused`,
    );
    expect(error.retryable).toBe(false);
    expect(error.untouched).toBe(false);
  });

  it('heartbeats through a slow apply and stops it when cancelled', async () => {
    p.writeModule('infra/iam', ROLE);
    const slow = spec({ env: { FAKE_TERRAFORM_STATE: p.stateFile, FAKE_TERRAFORM_APPLY_DELAY_MS: '30000' } });
    const controller = new AbortController();
    const { ctx, heartbeats, lines } = context({ signal: controller.signal });
    const plan = await terraformAdapter.plan(slow, ctx);
    const started = Date.now();
    const applying = terraformAdapter.apply(slow, plan, ctx);
    setTimeout(() => controller.abort(new Error('cancelled by the test')), 800);
    await expect(applying).rejects.toThrow('cancelled by the test');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(heartbeats()).toBeGreaterThan(2);
    expect(lines).toContain('fake_resource.app: Still creating...');
    expect(p.state()?.resources ?? {}).toEqual({});
  });

  it('refuses a plan document with an unknown format_version major', async () => {
    p.writeModule('infra/iam', ROLE);
    const s = spec({ env: { FAKE_TERRAFORM_STATE: p.stateFile, FAKE_TERRAFORM_FORMAT_VERSION: '2.0' } });
    const error = await failure(terraformAdapter.plan(s, context().ctx));
    expect(error.message).toMatch(
      /^plan: the plan \(terraform show -json\) has format_version 2.0; Lockstep reads majors 0 and 1 only/,
    );
  });

  it('refuses outputs whose values contradict their Terraform type, quoting no value', async () => {
    p.writeModule('infra/iam', ROLE);
    const outputs = JSON.stringify({
      token: { sensitive: true, type: ['list', 'string'], value: 'tok-very-secret-3' },
    });
    const s = spec({ env: { FAKE_TERRAFORM_STATE: p.stateFile, FAKE_TERRAFORM_OUTPUTS_JSON: outputs } });
    const { ctx } = context();
    const error = await failure(terraformAdapter.apply(s, await terraformAdapter.plan(s, ctx), ctx));
    expect(error.message).toBe(
      'outputs: terraform output -json: output token is not the ["list","string"] Terraform says it is (expected a list, got a string)',
    );
  });

  it('says so when the binary cannot be found', async () => {
    p.writeModule('infra/iam', ROLE);
    const error = await failure(terraformAdapter.plan(spec({ binary: 'no-such-terraform' }), context().ctx));
    expect(error.message).toBe(
      'plan: could not start no-such-terraform: not found (searched on PATH); install Terraform or OpenTofu, or set binary',
    );
    expect(error.untouched).toBe(true);
  });
});

describe('terraform adapter (fake terraform CLI): observe and rollback', () => {
  it('observe reports the version when nothing would change, and drift when something would', async () => {
    p.writeModule('infra/iam', ROLE);
    const { ctx } = context();
    await terraformAdapter.apply(spec(), await terraformAdapter.plan(spec(), ctx), ctx);
    expect(await terraformAdapter.observe?.(spec(), ctx)).toEqual({ version: '1.0.0', differences: [], details: {} });

    const state = JSON.parse(readFileSync(p.stateFile, 'utf8')) as {
      workspaces: { default: { resources: Record<string, string> } };
    };
    state.workspaces.default.resources['aws_iam_role.app'] = 'changed by hand';
    writeFileSync(p.stateFile, JSON.stringify(state));
    const observed = await terraformAdapter.observe?.(spec(), ctx);
    expect(observed?.version).toBeUndefined();
    expect(observed?.drift).toEqual(['aws_iam_role.app would update']);
    expect(observed?.differences).toEqual([{ field: 'aws_iam_role.app', expected: 'as applied (no change)', found: 'plan would update' }]);
    expect(readFileSync(p.stateFile, 'utf8')).toContain('changed by hand');
  });

  it('observe reports a missing workspace without creating it', async () => {
    p.writeModule('infra/iam', ROLE);
    const observed = await terraformAdapter.observe?.(spec({ workspace: 'prod' }), context().ctx);
    expect(observed?.drift).toEqual(['workspace prod does not exist']);
    expect(p.calls().some((c) => c[0] === 'workspace' && c[1] === 'new')).toBe(false);
  });

  it('is forward-only by default; reapply-previous plans the previous version, logs the plan and applies it', async () => {
    p.writeModule('infra/iam', ROLE);
    expect(terraformAdapter.capabilities(spec()).reversible).toBe(false);
    const s = spec({ rollback: 'reapply-previous' });
    expect(terraformAdapter.capabilities(s).reversible).toBe(true);
    const first = context();
    await terraformAdapter.apply(s, await terraformAdapter.plan(s, first.ctx), first.ctx);
    const second = context({ version: '2.0.0', previousVersion: '1.0.0' });
    await terraformAdapter.apply(s, await terraformAdapter.plan(s, second.ctx), second.ctx);
    expect(p.state()?.resources['aws_iam_role.app']).toBe('role-123456789012-2.0.0');
    await terraformAdapter.rollback?.(s, second.ctx);
    expect(p.state()?.resources['aws_iam_role.app']).toBe('role-123456789012-1.0.0');
    expect(second.lines).toContain('rollback plan: 1 to update (aws_iam_role.app)');
  });
});

describe('terraform adapter (fake terraform CLI): the version as a git ref', () => {
  function git(...args: string[]): string {
    return execFileSync('git', args, { cwd: p.dir, encoding: 'utf8' }).trim();
  }

  beforeEach(() => {
    git('init', '--quiet');
    git('config', 'user.email', 'test@example.com');
    git('config', 'user.name', 'test');
    p.writeModule('infra/iam', {
      resources: { 'aws_iam_role.app': { value: 'role-v1' } },
      outputs: { role: { value: '${res.aws_iam_role.app}' } },
    });
    git('add', '.');
    git('commit', '--quiet', '-m', 'v1');
    git('tag', 'v1');
    p.writeModule('infra/iam', {
      resources: { 'aws_iam_role.app': { value: 'role-v2' } },
      outputs: { role: { value: '${res.aws_iam_role.app}' } },
    });
    git('commit', '--quiet', '-am', 'v2');
    git('tag', 'v2');
    // The project's own checkout moves on; the release pins the module.
    p.writeModule('infra/iam', { resources: { 'aws_iam_role.app': { value: 'work in progress' } } });
  });

  function gitSpec(): TerraformSpec {
    return spec({ versionVariable: undefined, rollback: 'reapply-previous', vars: {} });
  }

  it('checks the module out at the version into the cache, leaving the project untouched', async () => {
    const s = gitSpec();
    const { ctx } = context({ version: 'v1' });
    const plan = await terraformAdapter.plan(s, ctx);
    const commit = git('rev-parse', 'v1');
    expect(plan.summary).toBe(`1 to create (aws_iam_role.app) at ${commit.slice(0, 12)}`);
    expect(await terraformAdapter.apply(s, plan, ctx)).toEqual({ role: 'role-v1' });

    const second = context({ version: 'git:v2', previousVersion: 'v1' });
    expect(await terraformAdapter.apply(s, await terraformAdapter.plan(s, second.ctx), second.ctx)).toEqual({
      role: 'role-v2',
    });
    expect(await terraformAdapter.observe?.(s, second.ctx)).toEqual({
      version: 'git:v2',
      differences: [],
      details: { commit: git('rev-parse', 'v2') },
    });
    await terraformAdapter.rollback?.(s, second.ctx);
    expect(p.state()?.resources['aws_iam_role.app']).toBe('role-v1');

    expect(git('status', '--porcelain')).toBe('M infra/iam/fake.tf.json');
    expect(readFileSync(path.join(p.dir, 'infra/iam/fake.tf.json'), 'utf8')).toContain('work in progress');
  });

  it('says which state a plan uses: a backend the module declares is left alone', async () => {
    writeFileSync(path.join(p.dir, 'infra/iam/backend.tf'), '# state in S3\nterraform {\n  backend "s3" {}\n}\n');
    git('add', '.');
    git('commit', '--quiet', '-m', 'v3: state in S3');
    git('tag', 'v3');
    const plan = await terraformAdapter.plan(gitSpec(), context({ version: 'v3' }).ctx);
    expect(plan.details?.split('\n')[0]).toBe('state: backend "s3"');
    const checkouts = path.join(p.cacheDir, 'terraform', 'checkouts');
    const files = (readdirSync(checkouts, { recursive: true }) as string[]).map((f) => path.basename(f));
    expect(files).toContain('backend.tf');
    expect(files).not.toContain(STATE_OVERRIDE_FILE);

    const local = await terraformAdapter.plan(gitSpec(), context({ version: 'v1' }).ctx);
    expect(local.details?.split('\n')[0]).toBe(
      `state: local at ${path.join(p.stateDir, 'terraform-state', 'iam', 'staging', 'terraform.tfstate')}`,
    );
  });

  it('refuses backendConfig that would move the local state of a checked-out module back into the cache', async () => {
    const error = await failure(
      terraformAdapter.plan({ ...gitSpec(), backendConfig: { path: 'terraform.tfstate' } }, context({ version: 'v1' }).ctx),
    );
    expect(error.message).toMatch(/^terraform: backendConfig\.path would move the local state of a module checked out from git/);
    expect(p.calls()).toEqual([]);
  });

  it('refuses a version that is no ref of the repository, before running terraform', async () => {
    const error = await failure(terraformAdapter.plan(gitSpec(), context({ version: 'v9' }).ctx));
    expect(error.message).toBe(
      'terraform: version v9 is not a commit, tag or branch of the repository holding infra/iam; create the tag (or fetch it) in that repository, or fix the release',
    );
    expect(p.calls()).toEqual([]);
  });
});
