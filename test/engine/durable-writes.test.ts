import { afterEach, describe, expect, it } from 'vitest';
import type { EngineDeps } from '../../src/engine/deps.js';
import { createRelease, promote } from '../../src/engine/promote.js';
import type { Store, StoreChange } from '../../src/store/store.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

const ENVS = `project: shop
environments:
  dev: {}
`;

let project: TestProject | undefined;
afterEach(() => project?.cleanup());

/** The real SQLite store, with every commit also kept in order, to check what was on disk when. */
function recording(store: Store): { store: Store; commits: StoreChange[] } {
  const commits: StoreChange[] = [];
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      if (key === 'commit') {
        return async (change: StoreChange) => {
          const entries = await target.commit(change);
          commits.push(structuredClone(change));
          return entries;
        };
      }
      const value: unknown = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: proxy, commits };
}

async function promoteAll(deps: EngineDeps, names: string[]): Promise<string> {
  const { release } = await createRelease(deps, { set: names.map((n) => `${n}=1`) });
  return (await promote(deps, release.id, 'dev')).state;
}

/** Index of the first commit that writes `component` in `phase` (or, with `state`, in that state). */
function firstCommit(commits: StoreChange[], component: string, match: { phase?: string; state?: string }): number {
  return commits.findIndex((c) =>
    (c.steps ?? []).some(
      (s) =>
        s.component === component &&
        (match.phase === undefined || s.phase === match.phase) &&
        (match.state === undefined || s.state === match.state),
    ),
  );
}

describe('durable writes per step', () => {
  it('commits the start together with the apply phase, before apply runs, and no separate plan phase', async () => {
    project = testProject(`${ENVS}components:
  a:
${commandComponent()}
  b:
${commandComponent({ dependsOn: ['a'] })}
`);
    const base = await project.deps();
    const { store, commits } = recording(base.store);
    expect(await promoteAll({ ...base, store }, ['a', 'b'])).toBe('succeeded');

    for (const name of ['a', 'b']) {
      expect(firstCommit(commits, name, { phase: 'plan' }), `${name}: plan phase committed`).toBe(-1);
      const applying = commits[firstCommit(commits, name, { phase: 'apply' })];
      const step = applying?.steps?.find((s) => s.component === name);
      expect(step).toMatchObject({ state: 'running', phase: 'apply', applyStarted: true, attempts: 1 });
      expect(applying?.audit.filter((e) => e.component === name).map((e) => e.kind)).toEqual(['step.started']);
    }
    // A dependent starts only once its dependency's success is on disk.
    expect(firstCommit(commits, 'a', { state: 'succeeded' })).toBeLessThan(
      firstCommit(commits, 'b', { phase: 'apply' }),
    );
    expect(project.applies()).toHaveLength(2);
  });

  it('a step that fails while planning records its start and its failure together, and never applies', async () => {
    project = testProject(`${ENVS}components:
  a:
${commandComponent({ extra: `      plan: ["sh", "-c", "if [ -e planned ]; then exit 3; fi; touch planned"]` })}
`);
    // The plan shown at promote time succeeds; the step's own plan fails.
    const base = await project.deps();
    const { store, commits } = recording(base.store);
    expect(await promoteAll({ ...base, store }, ['a'])).toBe('failed');

    const kinds = (await base.store.auditPage(0, 1000)).filter((e) => e.component === 'a').map((e) => e.kind);
    expect(kinds).toEqual(['step.started', 'step.failed']);
    const failed = commits.find((c) => c.audit.some((e) => e.kind === 'step.failed'));
    expect(failed?.steps?.[0]).toMatchObject({ state: 'failed', phase: 'plan', applyStarted: false, attempts: 1 });
    expect(project.applies()).toEqual([]);
  });

  it('steps that finish together may share a commit; each step still reaches the store apply, verify, succeeded', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    project = testProject(`${ENVS}components:
${names.map((n) => `  ${n}:\n${commandComponent()}`).join('\n')}
`);
    const base = await project.deps();
    const { store, commits } = recording(base.store);
    expect(await promoteAll({ ...base, store }, names)).toBe('succeeded');
    // Every step's records reached the store, in its own order: apply, then verify, then succeeded.
    for (const n of names) {
      const apply = firstCommit(commits, n, { phase: 'apply' });
      const verify = firstCommit(commits, n, { phase: 'verify' });
      const done = firstCommit(commits, n, { state: 'succeeded' });
      expect(apply).toBeGreaterThanOrEqual(0);
      expect(verify).toBeGreaterThan(apply);
      expect(done).toBeGreaterThanOrEqual(verify);
    }
    // No commit mixes in a promotion record with other steps' changes.
    for (const c of commits) if (c.promotion) expect(c.steps ?? []).toEqual([]);
    expect((await base.store.listSteps((await base.store.listPromotions())[0]!.id)).map((s) => s.state)).toEqual(
      names.map(() => 'succeeded'),
    );
  });

  it('a step with nothing to verify writes the end of its apply and its success in one commit', async () => {
    project = testProject(`${ENVS}components:
  a:
    type: command
    with:
      apply: ["./deploy.sh", "\${{ version }}"]
`);
    const base = await project.deps();
    const { store, commits } = recording(base.store);
    expect(await promoteAll({ ...base, store }, ['a'])).toBe('succeeded');
    const mine = commits.filter((c) => (c.steps ?? []).some((s) => s.component === 'a'));
    expect(mine.map((c) => c.steps?.map((s) => `${s.state} ${s.phase ?? '-'}`))).toEqual([
      ['pending -'],
      ['running apply'],
      ['running verify', 'succeeded -'],
    ]);
  });
});
