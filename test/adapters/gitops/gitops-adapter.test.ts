import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gitopsAdapter } from '../../../src/adapters/gitops/gitops-adapter.js';
import { gitopsSpec, type GitopsSpec } from '../../../src/adapters/gitops/gitops-spec.js';
import type { StepContext } from '../../../src/core/adapter.js';
import { StepFailure } from '../../../src/core/errors.js';
import { knownAfter } from '../../../src/core/plan.js';
import { stepContext, type TestStepContext } from '../../helpers/step-context.js';
import { gitFixture, overlay, VALUES, type GitFixture } from './git-fixture.js';
import { failure } from '../../helpers/step-failure.js';

// Real git throughout: a bare remote in a temp directory, reached by path, and the adapter's own
// clone cache. "Outside" pushes and merges are made with the git CLI, as a person would.

const PROD = 'apps/api/overlays/prod';

let fx: GitFixture;
let cacheDir: string;

beforeEach(() => {
  fx = gitFixture({
    'apps/api/base/kustomization.yaml': 'resources: [deployment.yaml]\n',
    [`${PROD}/kustomization.yaml`]: overlay('prod', '1.4.1'),
    [`${PROD}/values.yaml`]: VALUES,
    'apps/api/overlays/staging/kustomization.yaml': overlay('staging', '1.4.1'),
    'README.md': '# deploy\n',
  });
  cacheDir = fx.cacheDir;
});

afterEach(() => fx.cleanup());

function spec(overrides: Record<string, unknown> = {}, version = '1.4.2'): GitopsSpec {
  return gitopsSpec.parse({
    repo: fx.remote,
    path: PROD,
    set: [
      { kustomizeImage: 'acme/api', tag: version },
      { file: 'values.yaml', path: 'image.tag', value: version },
    ],
    ...overrides,
  });
}

function context(overrides: Partial<StepContext> = {}): TestStepContext {
  return stepContext({
    cacheDir,
    projectDir: fx.root,
    component: 'api',
    environment: { name: 'prod', vars: {} },
    release: { id: 'rel-0123abcd', versions: { api: '1.4.2' } },
    promotionId: 'promo-1',
    version: '1.4.2',
    previousVersion: '1.4.1',
    ...overrides,
  });
}

async function applied(s: GitopsSpec, c: TestStepContext = context()): Promise<Record<string, unknown>> {
  const plan = await gitopsAdapter.plan(s, c.ctx);
  return gitopsAdapter.apply(s, plan, c.ctx);
}

describe('gitops plan', () => {
  it('shows the unified diff it will commit, and changes nothing', async () => {
    const before = fx.head();
    const plan = await gitopsAdapter.plan(spec(), context().ctx);
    expect(plan.summary).toBe(`commit 2 edits to ${PROD} in ${fx.remote} (main at ${before.slice(0, 12)})`);
    expect(plan.action).toBeUndefined();
    expect(plan.details).toBe(
      [
        `--- a/${PROD}/kustomization.yaml`,
        `+++ b/${PROD}/kustomization.yaml`,
        '@@ -5,6 +5,6 @@ resources:',
        '   - ../../base',
        ' images:',
        '   - name: acme/api   # built by CI',
        '-    newTag: "1.4.1"',
        '+    newTag: "1.4.2"',
        '   - name: acme/web',
        '     newTag: 5.0.0',
        `--- a/${PROD}/values.yaml`,
        `+++ b/${PROD}/values.yaml`,
        '@@ -3,7 +3,7 @@ replicaCount: 2',
        ' ',
        ' image:',
        '   repository: registry.example.com/acme/api',
        "-  tag: '1.4.1'   # keep quoted",
        "+  tag: '1.4.2'   # keep quoted",
        ' ',
        ' serviceAccount:',
        '   roleArn: arn:aws:iam::111111111111:role/api   # from the iam component',
        '',
      ].join('\n'),
    );
    expect(fx.head()).toBe(before);
    expect(fx.git(fx.remote, 'branch', '--list').trim()).toBe('* main');
  });

  it('says unchanged when the files already hold the target values', async () => {
    const plan = await gitopsAdapter.plan(spec({}, '1.4.1'), context({ version: '1.4.1' }).ctx);
    expect(plan.action).toBe('unchanged');
    expect(plan.summary).toMatch(/already holds the target values/);
  });

  it('shows a value known only after its producer applies in place, in YAML values and Kustomize images alike', async () => {
    const unknown = knownAfter('infra');
    const before = fx.head();
    const s = spec({
      set: [
        { kustomizeImage: 'acme/api', newName: `${unknown}/acme/api`, tag: unknown },
        { file: 'values.yaml', path: 'serviceAccount.roleArn', value: unknown },
      ],
      argocd: { server: `https://${unknown}`, app: 'api-prod' },
    });
    const plan = await gitopsAdapter.plan(s, context().ctx);
    expect(plan.summary).toBe(`commit 2 edits to ${PROD} in ${fx.remote} (main at ${before.slice(0, 12)}), then wait for Argo CD api-prod`);
    const added = (plan.details ?? '').split('\n').filter((line) => line.startsWith('+') && !line.startsWith('+++'));
    expect(added).toEqual([
      '+    newTag: "(known after infra applies)"',
      // Written plain where YAML reads it back as the same string, quoted where the file quoted it.
      '+    newName: (known after infra applies)/acme/api',
      '+  roleArn: (known after infra applies)   # from the iam component',
    ]);
    expect(fx.head()).toBe(before);
  });

  it('plans the edits to a repository known only after its producer applies without fetching anything', async () => {
    const unknown = knownAfter('infra');
    const c = context({ isSensitive: (value) => value.includes('very-secret') });
    const s = spec({
      repo: `https://bot:tok-very-secret@${unknown}/acme/deploy.git`,
      set: [
        { kustomizeImage: 'acme/api', newName: `${unknown}/acme/api`, tag: '1.4.2' },
        { file: 'values.yaml', path: 'serviceAccount.roleArn', value: unknown },
        { file: 'values.yaml', path: 'db.password', value: 'pw-very-secret' },
      ],
      argocd: { server: `https://${unknown}`, app: 'api-prod' },
    });
    const plan = await gitopsAdapter.plan(s, c.ctx);
    expect(plan.summary).toBe(
      `commit 3 edits to ${PROD} in https://${unknown}/acme/deploy.git (main), then wait for Argo CD api-prod; ` +
        'what the files hold now is read once the repository is known',
    );
    expect(plan.details?.split('\n')).toEqual([
      `kustomization images[acme/api].newName: ${unknown}/acme/api`,
      'kustomization images[acme/api].newTag: 1.4.2',
      `values.yaml serviceAccount.roleArn: ${unknown}`,
      'values.yaml db.password: (sensitive)',
    ]);
    expect(plan.data).toBeUndefined();
    expect(JSON.stringify(plan)).not.toContain('very-secret');
    expect(existsSync(c.ctx.cacheDir)).toBe(false);
  });

  it('fails clearly, before anything is written, on a missing file, path or image', async () => {
    const missingFile = await failure(gitopsAdapter.plan(spec({ set: [{ file: 'nope.yaml', path: 'a', value: '1' }] }), context().ctx));
    expect(missingFile.message).toBe(
      `${PROD}/nope.yaml does not exist at main (${fx.head().slice(0, 12)}); check path and file in the spec, or set create: true to create it`,
    );
    expect(missingFile.untouched).toBe(true);
    const missingPath = await failure(gitopsAdapter.plan(spec({ set: [{ file: 'values.yaml', path: 'image.digest', value: 'x' }] }), context().ctx));
    expect(missingPath.message).toMatch(/values\.yaml at main \([0-9a-f]{12}\), image\.digest: image\.digest does not exist \(set create: true to add it\)$/);
    const missingImage = await failure(gitopsAdapter.plan(spec({ set: [{ kustomizeImage: 'acme/db', tag: '1' }] }), context().ctx));
    expect(missingImage.message).toMatch(/has no images entry with name: acme\/db \(it has acme\/api, acme\/web\)/);
    const noDir = await failure(gitopsAdapter.plan(spec({ path: 'apps/nope' }), context().ctx));
    expect(noDir.message).toMatch(/^no kustomization in apps\/nope at main/);
    const noBranch = await failure(gitopsAdapter.plan(spec({ branch: 'release' }), context().ctx));
    expect(noBranch.message).toBe(`${fx.remote} has no branch release`);
  });
});

describe('gitops apply', () => {
  it('commits the surgical edits with trailers, keeping every other byte, and outputs the commit', async () => {
    const parent = fx.head();
    const outputs = await applied(spec());
    const head = fx.head();
    expect(outputs).toEqual({ commit: head, changed: true, pullRequest: '' });
    expect(fx.git(fx.remote, 'rev-parse', 'main^').trim()).toBe(parent);
    expect(fx.show(`${PROD}/kustomization.yaml`)).toBe(overlay('prod', '1.4.2'));
    expect(fx.show(`${PROD}/values.yaml`)).toBe(VALUES.replace("tag: '1.4.1'", "tag: '1.4.2'"));
    expect(fx.git(fx.remote, 'diff', '--name-only', parent, head).trim().split('\n')).toEqual([
      `${PROD}/kustomization.yaml`,
      `${PROD}/values.yaml`,
    ]);
    expect(fx.git(fx.remote, 'log', '-1', '--format=%an <%ae>|%cn <%ce>').trim()).toBe('Lockstep <lockstep@localhost>|Lockstep <lockstep@localhost>');
    expect(fx.git(fx.remote, 'log', '-1', '--format=%B')).toBe(
      [
        'Deploy api 1.4.2 to prod',
        '',
        'Lockstep promotion promo-1 of release rel-0123abcd sets:',
        `- ${PROD}/kustomization.yaml: images[acme/api].newTag`,
        `- ${PROD}/values.yaml: image.tag`,
        '',
        'Lockstep-Release: rel-0123abcd',
        'Lockstep-Environment: prod',
        'Lockstep-Promotion: promo-1',
        'Lockstep-Component: api',
        'Lockstep-Version: 1.4.2',
        '',
        '',
      ].join('\n'),
    );
    // git itself reads them as trailers.
    expect(fx.git(fx.remote, 'log', '-1', '--format=%(trailers:key=Lockstep-Promotion,valueonly)').trim()).toBe('promo-1');
  });

  it('commits nothing when run again (idempotent), and says so', async () => {
    await applied(spec());
    const head = fx.head();
    const again = context();
    const outputs = await applied(spec(), again);
    expect(outputs).toEqual({ commit: head, changed: false, pullRequest: '' });
    expect(fx.head()).toBe(head);
    expect(again.lines.join('\n')).toMatch(/already holds the target values .*nothing to commit/);
    expect(gitopsAdapter.capabilities(spec())).toEqual({ reversible: true, idempotentApply: true, observe: true });
  });

  it('uses the configured author and committer', async () => {
    await applied(
      spec({ commit: { author: { name: 'Release Bot', email: 'bot@example.com' }, committer: { name: 'CI', email: 'ci@example.com' } } }),
    );
    expect(fx.git(fx.remote, 'log', '-1', '--format=%an <%ae>|%cn <%ce>').trim()).toBe('Release Bot <bot@example.com>|CI <ci@example.com>');
  });

  it('signs only when asked (with the signing set up in git config), and a signing failure pushes nothing', async () => {
    await applied(spec());
    expect(fx.git(fx.remote, 'cat-file', 'commit', 'main')).not.toContain('gpgsig');
    // The user's git config, as git reads it from the environment: SSH signing with a fresh key.
    const key = join(fx.root, 'signing-key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'release-bot', '-f', key]);
    const withConfig = async <T>(config: Record<string, string>, fn: () => Promise<T>): Promise<T> => {
      const vars: Record<string, string> = { GIT_CONFIG_COUNT: String(Object.keys(config).length) };
      Object.entries(config).forEach(([k, v], i) => {
        vars[`GIT_CONFIG_KEY_${i}`] = k;
        vars[`GIT_CONFIG_VALUE_${i}`] = v;
      });
      const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
      Object.assign(process.env, vars);
      try {
        return await fn();
      } finally {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    };
    await withConfig({ 'gpg.format': 'ssh', 'user.signingKey': key }, () => applied(spec({ commit: { sign: true } }, '1.4.3'), context({ version: '1.4.3' })));
    expect(fx.git(fx.remote, 'cat-file', 'commit', 'main')).toContain('gpgsig -----BEGIN SSH SIGNATURE-----');

    const before = fx.head();
    const error = await withConfig({ 'gpg.program': 'false' }, () => failure(applied(spec({ commit: { sign: true } }, '1.4.4'), context({ version: '1.4.4' }))));
    expect(error.message).toMatch(/^could not create the commit: git commit-tree failed .*\(commit\.sign is on: is a signing key set up in git config\?\)$/);
    expect(error.untouched).toBe(true);
    expect(fx.head()).toBe(before);
  });

  it('creates a missing file or key only with create: true', async () => {
    await applied(spec({ set: [{ file: 'extra/config.yaml', path: 'api.version', value: '1.4.2', create: true }] }));
    expect(fx.show(`${PROD}/extra/config.yaml`)).toBe('api:\n  version: 1.4.2\n');
  });

  it('keeps one clone per repository in the cache, fetching into it on later steps', async () => {
    await applied(spec());
    await applied(spec({ path: 'apps/api/overlays/staging', set: [{ kustomizeImage: 'acme/api', tag: '1.4.2' }] }), context({ environment: { name: 'staging', vars: {} } }));
    const clones = readdirSync(join(cacheDir, 'gitops')).filter((f) => f.endsWith('.git'));
    expect(clones).toHaveLength(1);
    expect(existsSync(join(cacheDir, 'gitops', `${clones[0] ?? ''}.lock`))).toBe(false);
  });

  it('works from a blobless clone when the server allows it, reading only the blobs it needs', async () => {
    fx.git(fx.remote, 'config', 'uploadpack.allowFilter', 'true');
    await applied(spec());
    const clone = readdirSync(join(cacheDir, 'gitops')).find((f) => f.endsWith('.git')) ?? '';
    const git = (...args: string[]) => fx.git(join(cacheDir, 'gitops', clone), ...args);
    expect(git('config', 'remote.origin.promisor').trim()).toBe('true');
    // The base overlay and the README were never read, so their contents were never fetched.
    const missing = git('rev-list', '--objects', '--missing=print', 'refs/remotes/origin/main').split('\n').filter((l) => l.startsWith('?'));
    expect(missing.length).toBeGreaterThanOrEqual(3);
    expect(fx.show(`${PROD}/kustomization.yaml`)).toBe(overlay('prod', '1.4.2'));
  });

  it('lands both commits when two components edit the same repository in parallel', async () => {
    const web = gitopsSpec.parse({ repo: fx.remote, path: PROD, set: [{ kustomizeImage: 'acme/web', tag: '5.1.0' }] });
    const [api, webOut] = await Promise.all([
      applied(spec()),
      applied(web, context({ component: 'web', version: '5.1.0' })),
    ]);
    expect(api.changed).toBe(true);
    expect(webOut.changed).toBe(true);
    const kustomization = fx.show(`${PROD}/kustomization.yaml`);
    expect(kustomization).toBe(overlay('prod', '1.4.2').replace('newTag: 5.0.0', 'newTag: 5.1.0'));
    expect(fx.git(fx.remote, 'log', '--format=%s', '-2').trim().split('\n').sort()).toEqual(['Deploy api 1.4.2 to prod', 'Deploy web 5.1.0 to prod']);
  });

  it('lands both when they run from separate clone caches (two machines): the rejected push is re-applied on the new head', async () => {
    const web = gitopsSpec.parse({ repo: fx.remote, path: PROD, set: [{ kustomizeImage: 'acme/web', tag: '5.1.0' }] });
    const other = context({ component: 'web', version: '5.1.0', cacheDir: fx.cacheDir });
    await Promise.all([applied(spec()), applied(web, other)]);
    expect(fx.show(`${PROD}/kustomization.yaml`)).toBe(overlay('prod', '1.4.2').replace('newTag: 5.0.0', 'newTag: 5.1.0'));
  });

  it('survives an outside push between its fetch and its push', async () => {
    // The remote's pre-receive hook pushes someone else's commit (made on the same base) the first
    // time it runs, so our push loses the race exactly there.
    const outside = fx.clone();
    writeFileSync(join(outside, 'README.md'), '# deploy\nchanged by a person\n');
    fx.git(outside, 'commit', '--quiet', '-am', 'a person edits the README');
    const hook = join(fx.remote, 'hooks', 'pre-receive');
    writeFileSync(
      hook,
      `#!/bin/sh
cat >/dev/null
if [ ! -e "${fx.root}/raced" ]; then
  touch "${fx.root}/raced"
  env -u GIT_DIR -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES \\
    git -C "${outside}" push --quiet origin HEAD:main >/dev/null 2>&1
fi
exit 0
`,
    );
    chmodSync(hook, 0o755);
    const c = context();
    const outputs = await applied(spec(), c);
    expect(existsSync(join(fx.root, 'raced'))).toBe(true);
    expect(c.lines.join('\n')).toMatch(/push to main rejected \(.*\): someone pushed first; fetching and applying the edits again \(attempt 2 of 5\)/);
    expect(outputs.commit).toBe(fx.head());
    expect(fx.git(fx.remote, 'log', '--format=%s', '-2').trim().split('\n')).toEqual(['Deploy api 1.4.2 to prod', 'a person edits the README']);
    expect(fx.show('README.md')).toBe('# deploy\nchanged by a person\n');
    expect(fx.show(`${PROD}/kustomization.yaml`)).toBe(overlay('prod', '1.4.2'));
  });

  it('applies right after its plan without fetching again, and hands the planned head to the engine', async () => {
    const s = spec();
    const c = context();
    const plan = await gitopsAdapter.plan(s, c.ctx);
    expect(plan.data).toEqual({ head: fx.head() });
    // A fetch would fail now: apply builds on the head the plan fetched a moment ago.
    const hidden = `${fx.remote}-moved`;
    renameSync(fx.remote, hidden);
    const error = await gitopsAdapter.apply(s, plan, c.ctx).then(
      () => undefined,
      (e: unknown) => e,
    );
    renameSync(hidden, fx.remote);
    // It got as far as the push (the only network step left), so it did not fetch first.
    expect(error).toBeInstanceOf(StepFailure);
    expect((error as StepFailure).message).toMatch(/refused the push to main/);
  });

  it('re-applies on the new head when the branch moved between plan and apply', async () => {
    const s = spec();
    const c = context();
    const plan = await gitopsAdapter.plan(s, c.ctx);
    await fx.commitOutside({ 'README.md': '# deploy\nchanged after the plan\n' }, 'a person edits the README');
    const outputs = await gitopsAdapter.apply(s, plan, c.ctx);
    expect(outputs.changed).toBe(true);
    expect(outputs.commit).toBe(fx.head());
    expect(fx.git(fx.remote, 'log', '--format=%s', '-2').trim().split('\n')).toEqual(['Deploy api 1.4.2 to prod', 'a person edits the README']);
    expect(fx.show('README.md')).toBe('# deploy\nchanged after the plan\n');
    expect(fx.show(`${PROD}/kustomization.yaml`)).toBe(overlay('prod', '1.4.2'));
  });

  it('believes "nothing to change" only from a fresh fetch', async () => {
    const s = spec();
    const c = context();
    const plan = await gitopsAdapter.plan(s, c.ctx);
    // Someone else lands exactly this change after the plan: apply must find the branch as it is now.
    const theirs = await fx.commitOutside(
      { [`${PROD}/kustomization.yaml`]: overlay('prod', '1.4.2'), [`${PROD}/values.yaml`]: VALUES.replace('1.4.1', '1.4.2') },
      'someone deploys 1.4.2 by hand',
    );
    const outputs = await gitopsAdapter.apply(s, plan, c.ctx);
    expect(outputs).toMatchObject({ changed: false, commit: theirs });
  });

  it('fails without retrying when the remote refuses the push for another reason', async () => {
    const hook = join(fx.remote, 'hooks', 'pre-receive');
    writeFileSync(hook, '#!/bin/sh\necho "main is protected" >&2\nexit 1\n');
    chmodSync(hook, 0o755);
    const error = await failure(applied(spec()));
    expect(error.message).toMatch(/refused the push to main: \[remote rejected\] \(pre-receive hook declined\)/);
    expect(error.retryable).toBe(false);
    expect(error.untouched).toBe(true);
  });

  it('stops before doing anything when cancelled', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled by the test'));
    const before = fx.head();
    await expect(gitopsAdapter.apply(spec(), { summary: '' }, context({ signal: controller.signal }).ctx)).rejects.toThrow('cancelled by the test');
    expect(fx.head()).toBe(before);
  });
});

describe('gitops rollback', () => {
  it('makes a new forward commit restoring the values from before this promotion’s commit', async () => {
    await applied(spec({}, '1.4.2'), context({ promotionId: 'promo-1', version: '1.4.2', previousVersion: '1.4.1' }));
    const first = fx.head();
    const c = context({ promotionId: 'promo-2', version: '1.5.0', previousVersion: '1.4.2' });
    await applied(spec({}, '1.5.0'), c);
    const deployed = fx.head();
    // Someone else's commit lands on top: rollback must not rewrite or revert it.
    await fx.commitOutside({ 'README.md': 'unrelated\n' }, 'unrelated change');
    const top = fx.head();

    // The engine renders the spec for the version being undone: the values name 1.5.0.
    await gitopsAdapter.rollback?.(spec({}, '1.5.0'), c.ctx);
    const head = fx.head();
    expect(fx.git(fx.remote, 'rev-parse', 'main^').trim()).toBe(top);
    expect(fx.git(fx.remote, 'merge-base', '--is-ancestor', deployed, head)).toBe('');
    expect(fx.show(`${PROD}/kustomization.yaml`)).toBe(overlay('prod', '1.4.2'));
    expect(fx.show(`${PROD}/kustomization.yaml`)).toBe(fx.show(`${PROD}/kustomization.yaml`, first));
    expect(fx.show(`${PROD}/values.yaml`)).toBe(VALUES.replace("'1.4.1'", "'1.4.2'"));
    expect(fx.show('README.md')).toBe('unrelated\n');
    const message = fx.git(fx.remote, 'log', '-1', '--format=%B');
    expect(message).toMatch(/^Roll back api in prod to 1\.4\.2\n/);
    expect(message).toContain(`Lockstep-Rollback-Of: ${deployed}`);
    expect(message).toContain('Lockstep-Promotion: promo-2');
    expect(c.lines.join('\n')).toContain(`restoring the values from before ${deployed.slice(0, 12)}`);

    // Running it again (crash recovery) changes nothing more.
    await gitopsAdapter.rollback?.(spec({}, '1.5.0'), c.ctx);
    expect(fx.head()).toBe(head);
  });

  it('without a commit of this promotion, puts the previous version where the version stands', async () => {
    // The repository was brought to 1.5.0 by someone else; this promotion committed nothing.
    await fx.commitOutside({ [`${PROD}/kustomization.yaml`]: overlay('prod', '1.5.0') }, 'manual bump');
    const c = context({ promotionId: 'promo-9', version: '1.5.0', previousVersion: '1.4.1' });
    await gitopsAdapter.rollback?.(spec({ set: [{ kustomizeImage: 'acme/api', tag: '1.5.0' }] }, '1.5.0'), c.ctx);
    expect(fx.show(`${PROD}/kustomization.yaml`)).toBe(overlay('prod', '1.4.1'));
    expect(c.lines.join('\n')).toMatch(/no commit of promotion promo-9 for api on main: setting the configured values with 1\.5\.0 replaced by 1\.4\.1/);
  });
});

describe('gitops observe', () => {
  it('reads the version from the files, and reports drift when they disagree', async () => {
    const observed = await gitopsAdapter.observe?.(spec({}, '1.4.1'), context({ version: '1.4.1' }).ctx);
    expect(observed).toEqual({ version: '1.4.1', differences: [], details: { repo: fx.remote, branch: 'main', commit: fx.head() } });
    // A person bumps only the values file: the two disagree.
    await fx.commitOutside({ [`${PROD}/values.yaml`]: VALUES.replace("'1.4.1'", "'1.4.3'") }, 'hotfix by hand');
    const drifted = await gitopsAdapter.observe?.(spec({}, '1.4.2'), context({ version: '1.4.2' }).ctx);
    expect(drifted?.version).toBe('1.4.1');
    expect(drifted?.drift).toEqual([
      'the files disagree on the version: kustomization images[acme/api].newTag holds 1.4.1, values.yaml image.tag holds 1.4.3',
    ]);
  });

  it('finds the version inside a longer value; names values that differ, showing a secret one as changed only', async () => {
    const s = spec({
      set: [
        { file: 'values.yaml', path: 'image.repository', value: 'registry.example.com/acme/api' },
        { file: 'values.yaml', path: 'serviceAccount.roleArn', value: 'arn:aws:iam::222222222222:role/api' },
        { file: 'values.yaml', path: 'image.tag', value: 'v1.4.2-linux' },
      ],
    });
    await fx.commitOutside({ [`${PROD}/values.yaml`]: VALUES.replace("'1.4.1'", "'v1.4.1-linux'") }, 'tag form');
    const observed = await gitopsAdapter.observe?.(s, context().ctx);
    expect(observed?.version).toBe('1.4.1');
    // Free text (recovery after a crash reads it) never holds a value.
    expect(observed?.drift).toEqual(['values.yaml serviceAccount.roleArn differs from the configured value']);
    expect(observed?.differences).toEqual([
      { field: 'values.yaml serviceAccount.roleArn', expected: 'arn:aws:iam::222222222222:role/api', found: 'arn:aws:iam::111111111111:role/api', sensitive: false },
      { field: 'values.yaml image.tag', expected: 'v1.4.2-linux', found: 'v1.4.1-linux', sensitive: false },
    ]);
    // The configured value comes from a secret: the difference is marked, for `lockstep drift` to show it as changed only.
    const secret = await gitopsAdapter.observe?.(s, context({ isSensitive: (v) => v.includes('222222222222') }).ctx);
    expect(secret?.differences?.[0]).toMatchObject({ field: 'values.yaml serviceAccount.roleArn', sensitive: true });
  });
});

describe('gitops pull-request mode', () => {
  const prSpec = (extra: Record<string, unknown> = {}): GitopsSpec =>
    spec({ mode: 'pull-request', pullRequest: { interval: '50ms', timeout: '20s', ...extra } });

  async function waitForBranch(name: string): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const out = await fx.gitAsync(fx.remote, 'branch', '--list', name);
      if (out.trim() !== '') return (await fx.gitAsync(fx.remote, 'rev-parse', name)).trim();
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`branch ${name} never appeared`);
  }

  it('pushes lockstep/<env>/<component> and completes only after the test merges it', async () => {
    const before = fx.head();
    let done = false;
    const c = context();
    const applying = applied(prSpec(), c).then((out) => {
      done = true;
      return out;
    });
    const proposed = await waitForBranch('lockstep/prod/api');
    expect(fx.head()).toBe(before);
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);

    const work = fx.clone();
    await fx.gitAsync(work, 'merge', '--quiet', '--no-ff', '-m', 'Merge pull request', 'origin/lockstep/prod/api');
    await fx.gitAsync(work, 'push', '--quiet', 'origin', 'main');
    const outputs = await applying;
    expect(outputs).toEqual({ commit: proposed, changed: true, pullRequest: '' });
    expect(fx.show(`${PROD}/kustomization.yaml`)).toBe(overlay('prod', '1.4.2'));
    expect(fx.git(fx.remote, 'log', '-1', '--format=%(trailers:key=Lockstep-Promotion,valueonly)', proposed).trim()).toBe('promo-1');
    expect(c.lines.join('\n')).toMatch(/waiting for lockstep\/prod\/api to be merged into main/);
  });

  it('opens the pull request through a FAKE GitHub API (and reuses one already open)', async () => {
    const received: { method: string; url: string; auth: string | undefined; body: unknown }[] = [];
    const api = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        received.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body: raw ? JSON.parse(raw) : undefined });
        res.setHeader('Content-Type', 'application/json');
        if (req.method === 'POST' && received.filter((r) => r.method === 'POST').length === 1) {
          res.writeHead(201).end(JSON.stringify({ number: 7, html_url: 'https://github.example.com/acme/deploy/pull/7' }));
        } else if (req.method === 'POST') {
          res.writeHead(422).end(JSON.stringify({ message: 'Validation Failed', errors: [{ message: 'A pull request already exists for acme:lockstep/prod/api.' }] }));
        } else {
          res.writeHead(200).end(JSON.stringify([{ html_url: 'https://github.example.com/acme/deploy/pull/7', head: { ref: 'lockstep/prod/api' }, base: { ref: 'main' } }]));
        }
      });
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    try {
      const forge = { type: 'github', api: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, token: 'ghs_forgetoken', repository: 'acme/deploy' };
      /** Merges the proposal branch once it holds a commit other than `previous`, as a reviewer would. */
      const mergeWhenProposed = async (previous?: string): Promise<void> => {
        let sha = await waitForBranch('lockstep/prod/api');
        while (sha === previous) {
          await new Promise((r) => setTimeout(r, 25));
          sha = await waitForBranch('lockstep/prod/api');
        }
        const work = fx.clone();
        await fx.gitAsync(work, 'merge', '--quiet', '--no-ff', '-m', 'Merge pull request #7', sha);
        await fx.gitAsync(work, 'push', '--quiet', 'origin', 'main');
      };
      const c = context();
      const [outputs] = await Promise.all([applied(prSpec({ forge }), c), mergeWhenProposed()]);
      expect(outputs.pullRequest).toBe('https://github.example.com/acme/deploy/pull/7');
      expect(c.lines).toContain('opened pull request https://github.example.com/acme/deploy/pull/7');
      expect(received[0]).toMatchObject({
        method: 'POST',
        url: '/repos/acme/deploy/pulls',
        auth: 'token ghs_forgetoken',
        body: { title: 'Deploy api 1.4.2 to prod', head: 'lockstep/prod/api', base: 'main' },
      });
      expect((received[0]?.body as { body: string }).body).toContain('Lockstep promotes release `rel-0123abcd` to **prod** (promotion `promo-1`)');

      // The next proposal while the forge still lists one as open: it answers 422, and that one is used.
      const proposed = fx.git(fx.remote, 'rev-parse', 'lockstep/prod/api').trim();
      const again = context({ version: '1.4.3' });
      const next = spec({ mode: 'pull-request', pullRequest: { interval: '50ms', timeout: '20s', forge } }, '1.4.3');
      const [second] = await Promise.all([applied(next, again), mergeWhenProposed(proposed)]);
      expect(second.pullRequest).toBe('https://github.example.com/acme/deploy/pull/7');
      expect(again.lines).toContain('found the open pull request https://github.example.com/acme/deploy/pull/7');
      expect(received.map((r) => `${r.method} ${r.url.split('?')[0] ?? ''}`)).toEqual([
        'POST /repos/acme/deploy/pulls',
        'POST /repos/acme/deploy/pulls',
        'GET /repos/acme/deploy/pulls',
      ]);
    } finally {
      await new Promise<void>((resolve) => api.close(() => resolve()));
    }
  });

  it('recognises a squash merge by content', async () => {
    const applying = applied(prSpec({ branch: 'deploy/api' }));
    await waitForBranch('deploy/api');
    const work = fx.clone();
    await fx.gitAsync(work, 'merge', '--quiet', '--squash', 'origin/deploy/api');
    await fx.gitAsync(work, 'commit', '--quiet', '-m', 'Deploy api (#12)');
    await fx.gitAsync(work, 'push', '--quiet', 'origin', 'main', ':deploy/api');
    const outputs = await applying;
    expect(outputs.commit).toBe(fx.head());
    expect(fx.git(fx.remote, 'log', '-1', '--format=%s').trim()).toBe('Deploy api (#12)');
  });

  it('fails when the branch is deleted unmerged, and deletes its branch when it times out', async () => {
    const closing = applied(prSpec());
    await waitForBranch('lockstep/prod/api');
    await fx.gitAsync(fx.remote, 'branch', '-D', 'lockstep/prod/api');
    const closed = await failure(closing);
    expect(closed.message).toBe('branch lockstep/prod/api was deleted before its change reached main (was the pull request closed?)');

    const c = context();
    const timedOut = await failure(applied(prSpec({ timeout: '300ms' }), c));
    expect(timedOut.message).toBe('main did not receive the change from lockstep/prod/api within 300ms');
    expect(timedOut.untouched).toBe(true);
    expect(fx.git(fx.remote, 'branch', '--list', 'lockstep/*').trim()).toBe('');
    expect(c.lines.join('\n')).toContain('deleted branch lockstep/prod/api, so the unmerged change cannot be merged later');
  });

  it('rolls back through a pull request too, restoring the values from before the merged change', async () => {
    const c = context({ promotionId: 'promo-pr' });
    const applying = applied(prSpec(), c);
    await waitForBranch('lockstep/prod/api');
    const work = fx.clone();
    await fx.gitAsync(work, 'merge', '--quiet', '--squash', 'origin/lockstep/prod/api');
    await fx.gitAsync(work, 'commit', '--quiet', '-m', 'squashed');
    await fx.gitAsync(work, 'push', '--quiet', 'origin', 'main');
    await applying;
    const rolling = gitopsAdapter.rollback?.(prSpec(), c.ctx);
    // The squash lost the trailers; the commit is found through the ref the apply kept in the cache.
    const proposed = await (async () => {
      for (let i = 0; i < 200; i++) {
        const sha = (await fx.gitAsync(fx.remote, 'rev-parse', 'lockstep/prod/api')).trim();
        const message = await fx.gitAsync(fx.remote, 'log', '-1', '--format=%s', sha);
        if (message.startsWith('Roll back')) return sha;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error('no rollback branch');
    })();
    await fx.gitAsync(work, 'fetch', '--quiet');
    await fx.gitAsync(work, 'merge', '--quiet', '--ff-only', proposed);
    await fx.gitAsync(work, 'push', '--quiet', 'origin', 'main');
    await rolling;
    expect(fx.show(`${PROD}/kustomization.yaml`)).toBe(overlay('prod', '1.4.1'));
    expect(fx.show(`${PROD}/values.yaml`)).toBe(VALUES);
  });
});

describe('gitops credentials', () => {
  it('never puts the token of an https URL in the clone’s config, a message or a log line', async () => {
    const token = 'ghp_SECRETSECRETSECRET';
    const s = gitopsSpec.parse({
      repo: `https://bot:${token}@127.0.0.1:9/acme/deploy.git`,
      set: [{ kustomizeImage: 'acme/api', tag: '1.4.2' }],
    });
    const c = context();
    const error = await failure(gitopsAdapter.plan(s, c.ctx));
    expect(error.message).toMatch(/^git fetch from https:\/\/127\.0\.0\.1:9\/acme\/deploy\.git failed: /);
    expect(error.message).not.toContain(token);
    expect(error.retryable).toBe(true);
    const clones = readdirSync(join(cacheDir, 'gitops')).filter((f) => f.endsWith('.git'));
    const config = readFileSync(join(cacheDir, 'gitops', clones[0] ?? '', 'config'), 'utf8');
    expect(config).toContain('url = https://127.0.0.1:9/acme/deploy.git');
    expect(config).not.toContain(token);
    expect(c.lines.join('\n')).not.toContain(token);
  });
});
