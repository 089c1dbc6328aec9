import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../../src/core/audit.js';
import type { EngineDeps } from '../../../src/engine/deps.js';
import { checkDrift } from '../../../src/engine/drift.js';
import { createRelease, promote, reapplyComponents } from '../../../src/engine/promote.js';
import { testProject, type TestProject } from '../../helpers/project.js';
import { fakeArgoCd, type FakeArgoCd } from './fake-argocd.js';
import { gitFixture, type GitFixture } from './git-fixture.js';

// Drift of a GitOps component: a real git repository edited by hand (as a person pushing a hotfix
// would), and Argo CD's sync state from a FAKE Argo CD server speaking its documented API.

const DIR = 'apps/api/prod';
const PASSWORD = 'correct-horse-battery-staple-42';
const VALUES = `# api values
image:
  tag: '0.0.0'
db:
  password: none
`;

let fx: GitFixture;
let argo: FakeArgoCd;
let project: TestProject;
let deps: EngineDeps;
/** What Argo CD says it runs: by default it follows the branch (auto-sync), Synced and Healthy. */
let argoState: (() => { status: string; revision: string }) | undefined;

beforeEach(async () => {
  fx = gitFixture({ [`${DIR}/values.yaml`]: VALUES });
  argo = await fakeArgoCd('api-prod', fx.head());
  argoState = undefined;
  argo.onGet = (app) => {
    const state = argoState?.() ?? { status: 'Synced', revision: fx.head() };
    app.status.sync = state;
    app.status.health = { status: 'Healthy' };
  };
  project = testProject(`project: shop
environments:
  prod: {}
components:
  api:
    type: gitops
    with:
      repo: ${fx.remote}
      path: ${DIR}
      set:
        - { file: values.yaml, path: image.tag, value: "\${{ version }}" }
        - { file: values.yaml, path: db.password, value: "\${{ secrets.DB_PASSWORD }}" }
      argocd: { server: ${argo.url}, app: api-prod, token: ${argo.token}, timeout: 5s, interval: 40ms, stableFor: 100ms }
`);
  deps = await project.deps({ env: { DB_PASSWORD: PASSWORD } });
});

afterEach(async () => {
  project.cleanup();
  await argo.close();
  fx.cleanup();
});

async function audit(): Promise<AuditEntry[]> {
  return deps.store.auditPage(null, 10_000);
}

describe('drift of a gitops component (real git, FAKE Argo CD)', () => {
  it('finds values edited by hand in the repository (a secret only as changed) and an Application out of sync; --reapply writes them back', async () => {
    const release = (await createRelease(deps, { set: ['api=1.4.2'] })).release.id;
    expect((await promote(deps, release, 'prod')).state).toBe('succeeded');
    expect(fx.show(`${DIR}/values.yaml`)).toContain("tag: '1.4.2'");

    const [clean] = await checkDrift(deps, { environment: 'prod' });
    expect(clean?.drifted).toBe(false);
    expect(clean?.components.map((c) => [c.component, c.state])).toEqual([['api', 'clean']]);

    // A hotfix pushed by hand: another tag, and another password.
    const edited = fx.show(`${DIR}/values.yaml`).replace("tag: '1.4.2'", "tag: '1.4.3-hotfix'").replace(PASSWORD, 'typed-by-hand-password-99');
    await fx.commitOutside({ [`${DIR}/values.yaml`]: edited }, 'hotfix');

    const [found] = await checkDrift(deps, { environment: 'prod' });
    expect(found?.drifted).toBe(true);
    const api = found?.components.find((c) => c.component === 'api');
    expect(api?.state).toBe('drifted');
    expect(api?.findings).toEqual(
      expect.arrayContaining([
        { component: 'api', field: 'values.yaml image.tag', expected: '1.4.2', found: '1.4.3-hotfix' },
        { component: 'api', field: 'values.yaml db.password', expected: '(secret)', found: '(secret, changed)' },
      ]),
    );
    // Neither password is shown or recorded.
    const recorded = JSON.stringify([found, await audit(), await deps.store.driftStates('prod')]);
    expect(recorded).not.toContain(PASSWORD);
    expect(recorded).not.toContain('typed-by-hand-password-99');
    expect((await audit()).filter((e) => e.kind === 'drift.detected').map((e) => e.component)).toEqual(['api']);

    // Argo CD stuck on an older commit, out of sync: named too.
    const old = fx.git(fx.remote, 'rev-parse', 'main~1').trim();
    argoState = () => ({ status: 'OutOfSync', revision: old });
    const [stuck] = await checkDrift(deps, { environment: 'prod' });
    const fields = stuck?.components[0]?.findings.map((f) => f.field);
    expect(fields).toEqual(expect.arrayContaining(['argocd.api-prod.sync', 'argocd.api-prod.revision']));
    expect(stuck?.components[0]?.findings.find((f) => f.field === 'argocd.api-prod.sync')).toMatchObject({ expected: 'Synced', found: 'OutOfSync' });
    argoState = undefined;

    const reapplied = await reapplyComponents(deps, 'prod', ['api']);
    expect(reapplied.state).toBe('succeeded');
    expect(reapplied.reapply).toEqual(['api']);
    expect(reapplied.plan.steps[0]).toMatchObject({ component: 'api', action: 'apply', fromVersion: '1.4.2', toVersion: '1.4.2' });
    const values = fx.show(`${DIR}/values.yaml`);
    expect(values).toContain("tag: '1.4.2'");
    expect(values).toContain(PASSWORD);

    const [after] = await checkDrift(deps, { environment: 'prod' });
    expect(after?.drifted).toBe(false);
    expect((await audit()).filter((e) => e.kind === 'drift.cleared').map((e) => e.component)).toEqual(['api']);
  });
});
