import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { afterEach, describe, expect, it } from 'vitest';
import type { PlannedStep } from '../../src/core/model.js';
import { readMigrations } from '../../src/adapters/sql-migrations/migration-files.js';
import {
  describePlan as describeMigrations,
  migrationSteps,
  resolveTarget,
} from '../../src/adapters/sql-migrations/migration-plan.js';
import { describePlan as describeTerraform, parsePlan } from '../../src/adapters/terraform/terraform-plan.js';
import { PlanDetails } from '../../web/src/pages/promotion/plan-details.js';

/**
 * The promotion page shows each adapter's plan details as what they are. The details here are made by
 * the adapters' own functions (terraform-plan.ts, migration-plan.ts) from a `terraform show -json`
 * document and real migration files, so a change in what an adapter writes shows up here.
 */
function step(type: string, details: string, summary = ''): PlannedStep {
  return {
    component: 'c',
    type,
    toVersion: '2',
    action: 'apply',
    reason: '',
    reversible: true,
    summary,
    details,
    risk: 'low',
    dependsOn: [],
    level: 0,
    configDigest: '',
  };
}

const html = (s: PlannedStep): string => renderToStaticMarkup(createElement(PlanDetails, { step: s }));

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('plan details, rendered per adapter', () => {
  it('terraform: one row per resource change; replace and delete marked as destroying, create and update not', () => {
    const change = (address: string, actions: string[]) => ({
      address,
      type: 'terraform_data',
      name: address.split('.')[1],
      change: { actions },
    });
    const plan = parsePlan({
      format_version: '1.2',
      resource_changes: [
        change('terraform_data.role', ['delete', 'create']),
        change('terraform_data.settings', ['update']),
        change('terraform_data.queue', ['create']),
        change('terraform_data.old', ['delete']),
      ],
    });
    const out = html(step('terraform', describeTerraform(plan)));
    const rows = [...out.matchAll(/<tr( class="tf-destroys")?><td><span class="badge tf-(\w+)">/g)].map(
      (m) => `${m[2]}${m[1] ? '!' : ''}`,
    );
    expect(rows.sort()).toEqual(['create', 'delete!', 'replace!', 'update']);
    expect(out).toContain('terraform_data.role');
  });

  it('sql-migrations: each migration with its file and its statements', async () => {
    dir = mkdtempSync(join(tmpdir(), 'lockstep-ui-sql-'));
    writeFileSync(join(dir, '001_orders.up.sql'), 'CREATE TABLE orders (id INTEGER PRIMARY KEY);\n');
    writeFileSync(join(dir, '001_orders.down.sql'), 'DROP TABLE orders;\n');
    writeFileSync(join(dir, '002_total.up.sql'), 'ALTER TABLE orders ADD COLUMN total INTEGER;\n');
    const files = await readMigrations(dir, 'db');
    const to = resolveTarget('002', files, { dir: 'db', table: 'schema_migrations' });
    const plan = describeMigrations({ steps: migrationSteps(files, 0, to), from: '0', to, database: 'app', notes: [] });
    const out = html(step('sql-migrations', plan.details ?? ''));
    const figures = [...out.matchAll(/<figcaption[^>]*>([^<]*)<\/figcaption><pre[^>]*>([^<]*)<\/pre>/g)].map((m) => [
      m[1],
      m[2],
    ]);
    expect(figures).toHaveLength(2);
    expect(figures[0]?.[0]).toContain('up 001_orders');
    expect(figures[0]?.[1]).toBe('CREATE TABLE orders (id INTEGER PRIMARY KEY);');
    expect(figures[1]?.[0]).toContain('no down file');
    expect(figures[1]?.[1]).toBe('ALTER TABLE orders ADD COLUMN total INTEGER;');
  });

  it('gitops: a unified diff with its added and removed lines told apart', () => {
    const out = html(step('gitops', '--- a/values.yaml\n+++ b/values.yaml\n@@ -1 +1 @@\n-tag: 1\n+tag: 2\n'));
    expect(out).toContain('<span class="diff-del">-tag: 1\n</span>');
    expect(out).toContain('<span class="diff-add">+tag: 2\n</span>');
    expect(out).toContain('<span class="diff-file">--- a/values.yaml\n</span>');
  });
});
