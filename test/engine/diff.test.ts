import { afterEach, describe, expect, it } from 'vitest';
import { InputError, NotFoundError } from '../../src/core/errors.js';
import { diff, type EnvironmentDiff, type ReleaseDiff } from '../../src/engine/diff.js';
import { DIFF_CONFIG, IAM_SH, NEVER_SHOWN, SECRETS, stagingAheadOfProd } from '../helpers/diff-project.js';
import { testProject, type TestProject } from '../helpers/project.js';

// `diff` on a real project (real SQLite, real scripts): staging and prod at different releases,
// bound to different databases (secrets), regions and gates. iam hands api a role (plain) and a
// token (sensitive) that differs per environment.

let project: TestProject | undefined;
afterEach(() => project?.cleanup());

describe('diff', () => {
  it('two environments: per component the versions, the inputs as resolved there (secrets as changed or not), the outputs and the gates', async () => {
    project = testProject(DIFF_CONFIG);
    project.write('iam.sh', IAM_SH, true);
    const deps = await project.deps({ env: SECRETS });
    const { r1, r2 } = await stagingAheadOfProd(deps);

    const d = (await diff(deps, { left: 'staging', right: 'prod' })) as EnvironmentDiff;
    expect(d.kind).toBe('environments');
    expect(d.left).toEqual({ environment: 'staging', release: r2 });
    expect(d.right).toEqual({ environment: 'prod', release: r1 });
    // The gates (and onFailure) prod's config has and staging's has not.
    expect(d.gates).toEqual([
      { path: 'after', left: [], right: ['staging'], changed: true },
      { path: 'gates.policy.0.expr', right: 'true', changed: true },
      { path: 'gates.soak', right: '0s', changed: true },
      { path: 'onFailure', left: 'rollback', right: 'halt', changed: true },
    ]);

    const api = d.components.find((c) => c.component === 'api');
    expect(api?.left.version).toBe('2');
    expect(api?.right.version).toBe('1');
    expect(api?.versionChanged).toBe(true);
    expect(api?.same).toBe(false);
    expect(api?.inputs).toEqual([
      { path: 'with.apply', left: ['./deploy.sh', '2'], right: ['./deploy.sh', '1'], changed: true },
      // Another database in each: changed, and nothing of either URL.
      { path: 'with.env.DB_URL', secret: true, changed: true },
      { path: 'with.env.REGION', left: 'eu-west-1', right: 'eu-central-1', changed: true },
      { path: 'with.env.ROLE', left: 'arn:aws:iam::123456789012:role/shop-staging', right: 'arn:aws:iam::123456789012:role/shop-prod', changed: true },
      // The same secret in both: shown as unchanged, never as a value.
      { path: 'with.env.SHARED', secret: true, changed: false },
      // A sensitive output of iam, compared by the fingerprint api recorded of it.
      { path: 'with.env.TOKEN', secret: true, changed: true },
    ]);

    const iam = d.components.find((c) => c.component === 'iam');
    expect(iam?.versionChanged).toBe(true);
    expect(iam?.inputs).toEqual([]);
    expect(iam?.outputs).toEqual([
      { path: 'role', left: 'arn:aws:iam::123456789012:role/shop-staging', right: 'arn:aws:iam::123456789012:role/shop-prod', changed: true },
      { path: 'token', secret: true, changed: true },
    ]);
    expect(iam?.same).toBe(false);

    // web runs the same version with the same inputs in both: said briefly.
    const web = d.components.find((c) => c.component === 'web');
    expect(web).toMatchObject({ same: true, versionChanged: false, inputs: [], outputs: [] });
    expect(d.same).toEqual(['web']);

    const text = JSON.stringify(d);
    for (const secret of NEVER_SHOWN) expect(text).not.toContain(secret);
  });

  it('a secret this process does not have is shown as "cannot tell", never as unchanged', async () => {
    project = testProject(DIFF_CONFIG);
    project.write('iam.sh', IAM_SH, true);
    await stagingAheadOfProd(await project.deps({ env: SECRETS }));
    const deps = await project.deps({ env: { STAGING_DB: SECRETS.STAGING_DB, SHARED_KEY: SECRETS.SHARED_KEY } });
    const d = (await diff(deps, { left: 'staging', right: 'prod' })) as EnvironmentDiff;
    const api = d.components.find((c) => c.component === 'api');
    expect(api?.inputs.find((i) => i.path === 'with.env.DB_URL')).toEqual({ path: 'with.env.DB_URL', secret: true, changed: null });
    expect(api?.inputs.find((i) => i.path === 'with.env.SHARED')).toEqual({ path: 'with.env.SHARED', secret: true, changed: false });
  });

  it('two releases: versions and labels; environment names first, --releases to force, a mix refused', async () => {
    project = testProject(DIFF_CONFIG);
    project.write('iam.sh', IAM_SH, true);
    const deps = await project.deps({ env: SECRETS });
    const { r1, r2 } = await stagingAheadOfProd(deps);

    const d = (await diff(deps, { left: r1.slice(0, 7), right: r2.slice(0, 9) })) as ReleaseDiff;
    expect(d.kind).toBe('releases');
    expect(d.left.id).toBe(r1);
    expect(d.left.message).toBe('first');
    expect(d.right.id).toBe(r2);
    expect(d.components).toEqual([
      { component: 'api', left: '1', right: '2', same: false },
      { component: 'iam', left: '1', right: '2', same: false },
      { component: 'web', left: '1', right: '1', same: true },
    ]);
    expect(d.labels).toEqual([{ path: 'risk', right: 'high', changed: true }]);
    expect(d.same).toEqual(['web']);

    // `--releases`: "staging" is taken as a release prefix, and there is none.
    await expect(diff(deps, { left: 'staging', right: 'prod', releases: true })).rejects.toThrow(new NotFoundError('release staging not found'));
    await expect(diff(deps, { left: 'fffffff', right: r1, releases: true })).rejects.toBeInstanceOf(NotFoundError);
    // An environment and a release: refused, naming the argument that is not an environment.
    const mixed = await diff(deps, { left: 'staging', right: r1 }).catch((e: unknown) => e);
    expect(mixed).toBeInstanceOf(InputError);
    expect((mixed as InputError).field).toBe('right');
    expect((mixed as Error).message).toContain('staging is an environment');
  });
});
