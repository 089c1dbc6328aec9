import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  checkFormatVersion,
  isPlanDocument,
  parseJsonText,
  parsePlan,
  TerraformFormatError,
} from '../../src/adapters/terraform/terraform-plan.js';

/*
 * Our plan parser against real `terraform show -json` documents captured from Terraform 0.12 to 1.15,
 * kept outside the repository (they are not ours; see the fixtures' SOURCES.md). Every valid plan must
 * parse; state and provider-schema documents (no resource_changes, planned_values or output_changes)
 * are not plans, so only their format_version is checked; everything under invalid/ must be refused.
 */
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'terraform');

function jsonFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const full = path.join(dir, name);
      return statSync(full).isDirectory() ? jsonFiles(full) : name.endsWith('.json') ? [full] : [];
    })
    .sort();
}

if (!existsSync(FIXTURES)) {
  describe('Terraform fixtures', () => {
    it(`are not here (${path.relative(repoRoot, FIXTURES)} does not exist); in CI that is a failure`, () => {
      // Outside CI a checkout without the shared fixtures may skip them; CI must always have them.
      expect(process.env.CI, 'the Terraform fixtures folder is missing, and CI must run these tests').toBeFalsy();
    });
  });
} else {
  const files = jsonFiles(FIXTURES);
  const invalid = files.filter((f) => path.relative(FIXTURES, f).split(path.sep)[0] === 'invalid');
  const valid = files.filter((f) => !invalid.includes(f));

  describe('Terraform fixtures: valid documents', () => {
    it('there are some of each kind', () => {
      expect(valid.length).toBeGreaterThan(5);
      expect(invalid.length).toBeGreaterThan(0);
    });

    for (const file of valid) {
      const name = path.relative(FIXTURES, file);
      it(`reads ${name}`, () => {
        const doc = parseJsonText(readFileSync(file, 'utf8'), name);
        if (!isPlanDocument(doc)) {
          // A state (`values`) or provider-schema document: not a plan; its format version must still be one we read.
          expect(checkFormatVersion(doc, name)).toMatch(/^[01]\.\d+$/);
          return;
        }
        const plan = parsePlan(doc, name);
        expect(plan.formatVersion).toMatch(/^[01]\.\d+$/);
        for (const change of plan.changes) {
          expect(change.address).not.toBe('');
          expect(change.actions.length).toBeGreaterThan(0);
        }
        // Every output the plan lists (and does not delete) ends up known or unknown, never both.
        const outputChanges = (doc as { output_changes?: Record<string, { actions: string[] }> }).output_changes;
        const listed = Object.entries(outputChanges ?? {})
          .filter(([, change]) => change.actions.join() !== 'delete')
          .map(([n]) => n);
        const { known, unknown } = plan.outputs;
        expect([...Object.keys(known), ...unknown].sort()).toEqual(expect.arrayContaining(listed.sort()));
        expect(unknown.filter((n) => Object.hasOwn(known, n))).toEqual([]);
      });
    }

    // The same module's plan as printed by Terraform 0.12, 1.1 and 1.2: outputs from constants are
    // known, those referencing a resource being created are not, and `foo` is `sensitive = true`
    // (0.12 says so only in planned_values and the configuration, later ones in after_sensitive too).
    for (const dir of ['basic', '110_basic', '110_sensitive_values', '120_basic']) {
      it(`reads the planned outputs of ${dir}/plan.json`, () => {
        const file = path.join(FIXTURES, dir, 'plan.json');
        const { outputs } = parsePlan(readFileSync(file, 'utf8'), dir);
        expect(outputs.known).toEqual({
          foo: 'bar',
          list: ['foo', 'bar'],
          map: { foo: 'bar', number: 42 },
          string: 'foo',
        });
        expect([...outputs.unknown].sort()).toEqual([
          'interpolated',
          'interpolated_deep',
          'referenced',
          'referenced_deep',
        ]);
        expect(outputs.sensitive).toEqual(['foo']);
      });
    }

    it('reads outputs known from state in has_changes/plan.json, and one unknown in output_depends_on/plan.json', () => {
      const changed = parsePlan(readFileSync(path.join(FIXTURES, 'has_changes', 'plan.json'), 'utf8')).outputs;
      expect(changed.unknown).toEqual([]);
      expect(changed.known.interpolated_deep).toEqual({
        foo: 'bar',
        map: { bar: 'baz', id: '424881806176056736' },
        number: 42,
      });
      const dependent = parsePlan(readFileSync(path.join(FIXTURES, 'output_depends_on', 'plan.json'), 'utf8')).outputs;
      expect(dependent).toEqual({ known: {}, unknown: ['id'], sensitive: [] });
    });

    it('finds the replacement and its reason in action_reason/plan.json', () => {
      const file = path.join(FIXTURES, 'action_reason', 'plan.json');
      if (!existsSync(file)) return;
      const plan = parsePlan(readFileSync(file, 'utf8'));
      expect(plan.changes.some((c) => c.kind === 'replace' && c.reason !== undefined)).toBe(true);
    });
  });

  describe('Terraform fixtures: invalid documents are refused', () => {
    for (const file of invalid) {
      const name = path.relative(FIXTURES, file);
      it(`refuses ${name} with a clear error that quotes nothing of it`, () => {
        const text = readFileSync(file, 'utf8');
        let error: unknown;
        try {
          parsePlan(text, name);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(TerraformFormatError);
        const message = (error as Error).message;
        expect(message).toContain(name);
        // The documents hold variable values (one is a password): a message must never carry them.
        expect(message).not.toMatch(/PASSWORD|"value"/);
      });
    }
  });
}
