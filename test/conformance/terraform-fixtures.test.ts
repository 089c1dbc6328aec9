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
      });
    }

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
