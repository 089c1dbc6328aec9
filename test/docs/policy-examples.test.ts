import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { checkCel } from '../../src/core/gates/cel.js';
import { evaluateGates } from '../../src/core/gates/evaluate.js';
import type { ApprovalRecord, PromotionPlan, ReleaseRecord } from '../../src/core/model.js';
import type { EngineDeps } from '../../src/engine/deps.js';
import { planPromotion } from '../../src/engine/planner.js';
import { createRelease } from '../../src/engine/promote.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

/*
 * Every policy the docs show is evaluated here, through evaluateGates (the function `plan`, `promote`
 * and `status` use) on a real release (with and without labels), a real plan (with and without the
 * irreversible `db` component changing), 0 or 3 approvals, in the morning and in the afternoon in
 * Berlin. An expression added to the docs fails the test until its expected result is written below.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC_FILES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

interface Variant {
  risk: 'high' | 'low' | undefined;
  /** The irreversible `db` component is part of the change (else only `api`, which can roll back). */
  dbChanged: boolean;
  approvals: number;
  /** 09:00 in Berlin; else 15:00. */
  morning: boolean;
}

/** Each policy the docs show, and when it holds. */
const POLICIES: Readonly<Record<string, (v: Variant) => boolean>> = {
  '!plan.irreversible || approvals.count >= 3': (v) => !v.dbChanged || v.approvals >= 3,
  "release.labels[?'risk'].orValue('low') != 'high'": (v) => v.risk !== 'high',
  // A `command` step is never of high risk: its plan cannot be destructive.
  '!plan.destructive || approvals.count >= 3': () => true,
  'size(plan.changed) <= 10': () => true,
  "!('db' in plan.changed) || now.getHours('Europe/Berlin') < 12": (v) => !v.dbChanged || v.morning,
  "'risk' in release.labels && release.labels['risk'] == 'high'": (v) => v.risk === 'high',
  // docs/terraform.md names the variable a policy can test.
  'plan.irreversible': (v) => v.dbChanged,
  // No component of this project consumes another's outputs, so its plans have no unknowns
  // (test/cli/complete-plan.test.ts runs this policy on plans that have some).
  'size(plan.unknowns) == 0 || approvals.count >= 3': () => true,
};

/** Parts of policies the docs show that are not bool on their own, with the value they give. */
const FRAGMENTS: Readonly<Record<string, (v: Variant) => string>> = {
  "release.labels[?'risk'].orValue('low')": (v) => v.risk ?? 'low',
};

/**
 * `expr:` values in the docs' ```yaml blocks, and inline code that is a CEL policy (or names release
 * labels). Prometheus files (observability.md) are ```yml blocks: their `expr:` is PromQL.
 */
function documentedExpressions(): { policies: Set<string>; fragments: Set<string> } {
  const policies = new Set<string>();
  const fragments = new Set<string>();
  for (const file of DOC_FILES) {
    let fence: string | undefined;
    for (const line of readFileSync(join(ROOT, file), 'utf8').split('\n')) {
      const marker = /^\s*```(\S*)/.exec(line);
      if (marker) {
        fence = fence === undefined ? (marker[1] ?? '') : undefined;
        continue;
      }
      if (fence !== undefined) {
        const expr = fence === 'yaml' ? /^\s*(?:-\s+)?expr:\s*(.+)$/.exec(line) : null;
        if (expr) policies.add(String(parseYaml(expr[1] ?? '')));
        continue;
      }
      for (const [, span = ''] of line.matchAll(/`([^`]+)`/g)) {
        const checked = checkCel('policy', span);
        if (checked.ok && checked.references.size > 0) policies.add(span);
        // `release.labels[…]`, `release.labels.?…`: a lookup that is part of a policy.
        else if (/release\.labels\s*(\[|\.\?)/.test(span)) fragments.add(span);
      }
    }
  }
  return { policies, fragments };
}

function variants(): Variant[] {
  const all: Variant[] = [];
  for (const risk of ['high', 'low', undefined] as const)
    for (const dbChanged of [true, false])
      for (const approvals of [0, 3]) for (const morning of [true, false]) all.push({ risk, dbChanged, approvals, morning });
  return all;
}

const documented = documentedExpressions();

describe('the policy examples in the docs', () => {
  it('are all known to this test, and this test knows no policy the docs dropped', () => {
    expect([...documented.policies].sort()).toEqual(Object.keys(POLICIES).sort());
    expect([...documented.fragments].sort()).toEqual(Object.keys(FRAGMENTS).sort());
  });

  let project: TestProject;
  let deps: EngineDeps;
  const releases = new Map<string, ReleaseRecord>();
  const plans = new Map<string, PromotionPlan>();

  beforeAll(async () => {
    // The fragments are compared with each possible value, so each gives one bool policy per value.
    const fragmentPolicies = Object.keys(FRAGMENTS).flatMap((fragment) => ['high', 'low'].map((value) => `${fragment} == '${value}'`));
    project = testProject(`project: policies
environments:
  prod:
    gates:
      approvals: { count: 1, from: [bob@example.com, carol@example.com, dave@example.com] }
      policy:
${[...Object.keys(POLICIES), ...fragmentPolicies].map((expr) => `        - expr: ${JSON.stringify(expr)}`).join('\n')}
components:
  db:
${commandComponent({ rollback: false })}
  api:
${commandComponent({ dependsOn: ['db'] })}
`);
    deps = await project.deps({ actor: 'erin@example.com' });
    for (const risk of ['high', 'low', undefined] as const) {
      const { release } = await createRelease(deps, { set: [`db=1-${risk ?? 'none'}`, `api=1-${risk ?? 'none'}`], labels: risk === undefined ? undefined : { risk } });
      releases.set(String(risk), release);
      const changed = await planPromotion(deps, release, 'prod');
      plans.set(`${String(risk)}/true`, changed.plan);
      // The same release with db already running in prod: only api changes.
      const db = changed.plan.steps.find((s) => s.component === 'db');
      await deps.store.commit({
        componentStates: [{ environment: 'prod', component: 'db', version: release.versions.db ?? '', releaseId: release.id, promotionId: 'none', configDigest: db?.configDigest ?? '', outputs: {}, updatedAt: '2026-11-24T00:00:00.000Z' }],
        audit: [],
      });
      const apiOnly = await planPromotion(deps, release, 'prod');
      expect(apiOnly.plan.steps.filter((s) => s.action === 'apply').map((s) => s.component)).toEqual(['api']);
      plans.set(`${String(risk)}/false`, apiOnly.plan);
    }
  });
  afterAll(() => project.cleanup());

  it.each(variants())('hold exactly when they should: risk=$risk, db changed=$dbChanged, $approvals approvals, morning=$morning', (v) => {
    const release = releases.get(String(v.risk));
    const plan = plans.get(`${String(v.risk)}/${String(v.dbChanged)}`);
    if (release === undefined || plan === undefined) throw new Error('set-up failed');
    expect(release.labels).toEqual(v.risk === undefined ? {} : { risk: v.risk });
    const now = new Date(v.morning ? '2026-11-24T08:00:00Z' : '2026-11-24T14:00:00Z');
    const approvals: ApprovalRecord[] = ['bob', 'carol', 'dave'].slice(0, v.approvals).map((name) => ({
      promotionId: 'p',
      actor: `${name}@example.com`,
      decision: 'approve',
      planDigest: plan.digest,
      at: now.toISOString(),
    }));
    const environment = deps.loaded.config.environments.prod;
    if (environment === undefined) throw new Error('no prod');
    const evaluation = evaluateGates({ environment, groups: {}, release, plan, kind: 'promotion', requestedBy: 'alice@example.com', approvals, upstream: [], now });

    const policies = environment.gates?.policy ?? [];
    const results = evaluation.gates.filter((g) => g.gate.startsWith('policy['));
    expect(results).toHaveLength(policies.length);
    const wanted: Record<string, string> = {};
    const got: Record<string, string> = {};
    policies.forEach((policy, i) => {
      const gate = results[i];
      const fragment = Object.keys(FRAGMENTS).find((f) => policy.expr.startsWith(`${f} == `));
      const holds = fragment === undefined ? (POLICIES[policy.expr]?.(v) ?? false) : policy.expr === `${fragment} == '${FRAGMENTS[fragment]?.(v) ?? ''}'`;
      // A false policy that reads approvals or now waits; any other false one rejects (docs/gates.md).
      wanted[policy.expr] = holds ? 'passed' : /\b(approvals|now)\b/.test(policy.expr) ? 'waiting' : 'blocked';
      got[policy.expr] = gate?.status ?? 'missing';
    });
    expect(got, JSON.stringify(v)).toEqual(wanted);
  });
});
