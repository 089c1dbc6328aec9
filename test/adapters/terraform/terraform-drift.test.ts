import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkDrift } from '../../../src/engine/drift.js';
import { createRelease, promote, reapplyComponents } from '../../../src/engine/promote.js';
import { testProject, type TestProject } from '../../helpers/project.js';
import { expectRealTerraform, TF_ENV } from '../../helpers/terraform.js';

// Drift of a Terraform component with REAL Terraform 1.11 from the PATH (`terraform_data` needs no
// provider download): the state changed behind Lockstep's back makes `plan` show a change, which a
// drift check names by resource address; `promote --reapply` applies the recorded version again.

let project: TestProject | undefined;
const saved = { ...process.env };

beforeAll(() => {
  expectRealTerraform();
  Object.assign(process.env, TF_ENV);
});

afterEach(() => {
  project?.cleanup();
});

afterAll(() => {
  process.env = saved;
});

function stateFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...stateFiles(full));
    else if (name.endsWith('.tfstate')) out.push(full);
  }
  return out;
}

describe('drift of a terraform component (real terraform)', () => {
  it('a resource changed behind its back is named by address; --reapply converges it and drift is clean', async () => {
    project = testProject(`project: shop
environments:
  prod: {}
components:
  infra:
    type: terraform
    with:
      dir: infra
      versionVariable: app_version
`);
    project.write(
      'infra/main.tf',
      `variable "app_version" { type = string }
resource "terraform_data" "app" {
  input = var.app_version
}
`,
    );
    const deps = await project.deps();
    const release = (await createRelease(deps, { set: ['infra=1.0.0'] })).release.id;
    expect((await promote(deps, release, 'prod')).state).toBe('succeeded');
    expect((await checkDrift(deps, { environment: 'prod' }))[0]?.drifted).toBe(false);

    // Behind Lockstep's back: the resource now holds another value.
    // A module used from the project keeps Terraform's default local state, in the module directory.
    const [file] = stateFiles(join(project.dir, 'infra'));
    expect(file).toBeDefined();
    const state = readFileSync(file ?? '', 'utf8');
    expect(state).toContain('"1.0.0"');
    writeFileSync(file ?? '', state.replaceAll('"1.0.0"', '"0.9.9-by-hand"'));

    const [found] = await checkDrift(deps, { environment: 'prod' });
    expect(found?.drifted).toBe(true);
    expect(found?.components[0]?.findings).toEqual([
      { component: 'infra', field: 'terraform_data.app', expected: 'as applied (no change)', found: 'plan would update' },
    ]);

    const reapplied = await reapplyComponents(deps, 'prod', ['infra']);
    expect(reapplied.state, reapplied.reason).toBe('succeeded');
    expect(readFileSync(file ?? '', 'utf8')).not.toContain('0.9.9-by-hand');
    expect((await checkDrift(deps, { environment: 'prod' }))[0]?.drifted).toBe(false);
  }, 120_000);
});
