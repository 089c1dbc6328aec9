import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STATE_OVERRIDE_FILE } from '../../../src/adapters/terraform/state-location.js';
import { terraformAdapter } from '../../../src/adapters/terraform/terraform-adapter.js';
import { dataDir } from '../../../src/adapters/terraform/terraform-cli.js';
import { terraformSpec } from '../../../src/adapters/terraform/terraform-spec.js';
import type { TerraformSpec } from '../../../src/adapters/terraform/terraform-spec.js';
import type { StepContext } from '../../../src/core/adapter.js';
import { stepContext } from '../../helpers/step-context.js';

// REAL Terraform (1.11, on PATH on our machines): `terraform_data` needs no provider download.
// Where local state lives for a module checked out from a git ref: beside the state database, never in
// the cache, so that clearing the cache does not make the next plan create everything again.

let root: string;
let project: string;
let lockstepDir: string;

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: project, encoding: 'utf8' }).trim();
}

beforeEach(() => {
  execFileSync('terraform', ['version'], { stdio: 'ignore' }); // a clear failure when Terraform is missing
  root = mkdtempSync(path.join(tmpdir(), 'lockstep-tfstate-'));
  project = path.join(root, 'project');
  lockstepDir = path.join(project, '.lockstep');
  mkdirSync(path.join(project, 'infra/app'), { recursive: true });
  writeFileSync(
    path.join(project, 'infra/app/main.tf'),
    'resource "terraform_data" "app" {\n  input = "v1"\n}\n\noutput "id" {\n  value = terraform_data.app.id\n}\n',
  );
  writeFileSync(path.join(project, '.gitignore'), '.lockstep/\n');
  git('init', '--quiet');
  git('config', 'user.email', 'test@example.com');
  git('config', 'user.name', 'test');
  git('add', '.');
  git('commit', '--quiet', '-m', 'v1');
  git('tag', 'v1');
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const spec: TerraformSpec = terraformSpec.parse({ dir: 'infra/app', workspace: 'staging' });

function context(): ReturnType<typeof stepContext> {
  return stepContext({
    projectDir: project,
    cacheDir: path.join(lockstepDir, 'cache'),
    stateDir: lockstepDir,
    project: 'shop',
    component: 'app',
    environment: { name: 'staging', vars: {} },
    version: 'v1',
    previousVersion: undefined,
  });
}

const STATE_FILE = '.lockstep/terraform-state/app/staging/workspaces/staging/terraform.tfstate';

async function applyV1(ctx: StepContext): Promise<string> {
  const plan = await terraformAdapter.plan(spec, ctx);
  expect(plan.summary).toMatch(/^1 to create \(terraform_data\.app\)/);
  const outputs = await terraformAdapter.apply(spec, plan, ctx);
  expect(typeof outputs.id).toBe('string');
  return outputs.id as string;
}

/** Every file below `dir` whose name starts with terraform.tfstate. */
function stateFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => path.basename(f).startsWith('terraform.tfstate') && !f.includes('/.terraform') && !f.startsWith('terraform/data/'));
}

/** The checked-out module directory in the cache (the one holding our override file). */
function checkoutDir(): string {
  const cache = path.join(lockstepDir, 'cache');
  const found = (readdirSync(cache, { recursive: true }) as string[]).find((f) => path.basename(f) === STATE_OVERRIDE_FILE);
  if (found === undefined) throw new Error('no checkout with the override file in the cache');
  return path.dirname(path.join(cache, found));
}

describe('terraform state of a git-sourced module (real Terraform)', () => {
  it('keeps the local state beside the state database: clearing the cache changes nothing', async () => {
    const { ctx } = context();
    const id = await applyV1(ctx);
    expect(JSON.parse(readFileSync(path.join(project, STATE_FILE), 'utf8'))).toMatchObject({ resources: [{ type: 'terraform_data', name: 'app' }] });
    expect(stateFilesIn(path.join(lockstepDir, 'cache'))).toEqual([]);

    rmSync(path.join(lockstepDir, 'cache'), { recursive: true, force: true });
    const again = context();
    const plan = await terraformAdapter.plan(spec, again.ctx);
    expect(plan.summary).toBe(`no changes at ${git('rev-parse', 'v1').slice(0, 12)}`);
    expect(plan.details?.split('\n')[0]).toBe(`state: local at ${STATE_FILE}`);
    expect(await terraformAdapter.apply(spec, plan, again.ctx)).toEqual({ id });
  });

  it('moves a state an earlier Lockstep left in the checkout, so an upgrade does not recreate everything', async () => {
    const { ctx } = context();
    const id = await applyV1(ctx);
    // Put everything back as Lockstep before this change left it: the state in the checkout, no
    // override, and a data directory initialised for Terraform's implicit local backend.
    const checkout = checkoutDir();
    mkdirSync(path.join(checkout, 'terraform.tfstate.d/staging'), { recursive: true });
    renameSync(path.join(project, STATE_FILE), path.join(checkout, 'terraform.tfstate.d/staging/terraform.tfstate'));
    rmSync(path.join(lockstepDir, 'terraform-state'), { recursive: true, force: true });
    rmSync(path.join(checkout, STATE_OVERRIDE_FILE));
    rmSync(dataDir(ctx), { recursive: true, force: true });
    const env = { ...process.env, TF_DATA_DIR: dataDir(ctx), TF_IN_AUTOMATION: '1' };
    execFileSync('terraform', ['init', '-input=false', '-no-color'], { cwd: checkout, env, stdio: 'ignore' });
    execFileSync('terraform', ['workspace', 'select', '-no-color', 'staging'], { cwd: checkout, env, stdio: 'ignore' });

    const again = context();
    const plan = await terraformAdapter.plan(spec, again.ctx);
    expect(plan.summary).toMatch(/^no changes at /);
    expect(again.lines.some((l) => l.startsWith('state: moved ') && l.endsWith(path.join(project, STATE_FILE)))).toBe(true);
    expect(existsSync(path.join(checkout, 'terraform.tfstate.d'))).toBe(false);
    expect(await terraformAdapter.apply(spec, plan, again.ctx)).toEqual({ id });
  });

  it('stops, naming both files, when the cache and the state directory each hold a state', async () => {
    const { ctx } = context();
    await applyV1(ctx);
    const checkout = checkoutDir();
    mkdirSync(path.join(checkout, 'terraform.tfstate.d/staging'), { recursive: true });
    writeFileSync(path.join(checkout, 'terraform.tfstate.d/staging/terraform.tfstate'), '{"version":4,"serial":99,"lineage":"other"}');
    const before = readFileSync(path.join(project, STATE_FILE), 'utf8');

    const error = await terraformAdapter.plan(spec, context().ctx).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain(`two states for this component: ${path.join(project, STATE_FILE)} (where Lockstep keeps it) and ${path.join(checkout, 'terraform.tfstate.d/staging/terraform.tfstate')}`);
    expect(readFileSync(path.join(project, STATE_FILE), 'utf8')).toBe(before);
  });
});
