import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Adapter, StepContext } from '../../src/core/adapter.js';
import { stepContext } from '../helpers/step-context.js';

/**
 * What every adapter promises the engine, run against each adapter with a real (or, where the system
 * cannot run here, a protocol-level fake) system behind it. An adapter test file calls
 * `adapterContract(name, harness)` and adds its own type-specific tests.
 */
export interface AdapterHarness {
  adapter: Adapter<unknown>;
  /**
   * A valid `with:` block deploying to this harness's system, rendered as the engine would for a step
   * from `previous` to `version` (so `${{ version }}` and `${{ previousVersion }}` are filled in).
   */
  spec(version: string, previous: string | undefined): unknown;
  /** What the system runs now, read by the test itself (ground truth, not through the adapter). */
  running(): Promise<string | undefined>;
  /** `with:` blocks the spec must refuse, and the path (below `with`) the first issue must name. */
  invalid: { with: unknown; path: (string | number)[] }[];
  /** Context overrides for a step bringing the system from `previous` to `version`. */
  context?(version: string, previous: string | undefined): Partial<StepContext>;
  cleanup(): Promise<void>;
}

export function adapterContract(name: string, makeHarness: () => Promise<AdapterHarness>): void {
  describe(`Adapter contract: ${name}`, () => {
    let h: AdapterHarness;
    beforeEach(async () => {
      h = await makeHarness();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    const ctx = (version: string, previous: string | undefined): StepContext =>
      stepContext({ version, previousVersion: previous, ...(h.context?.(version, previous) ?? {}) }).ctx;
    const parse = (version = '2.0.0', previous: string | undefined = '1.0.0'): unknown => {
      const parsed = h.adapter.spec.safeParse(h.spec(version, previous));
      if (!parsed.success) throw new Error(`the harness spec is invalid: ${parsed.error.message}`);
      return parsed.data;
    };

    it('refuses invalid specs with the path of the field', () => {
      expect(h.invalid.length).toBeGreaterThan(0);
      for (const bad of h.invalid) {
        const parsed = h.adapter.spec.safeParse(bad.with);
        expect(parsed.success, JSON.stringify(bad.with)).toBe(false);
        if (!parsed.success) expect(parsed.error.issues.map((i) => i.path)).toContainEqual(bad.path);
      }
    });

    it('declares its capabilities as data', () => {
      const caps = h.adapter.capabilities(parse());
      for (const key of ['reversible', 'idempotentApply', 'observe'] as const) expect(typeof caps[key]).toBe('boolean');
      expect(h.adapter.type).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(h.adapter.description.length).toBeGreaterThan(10);
    });

    it('plans without changing anything', async () => {
      const before = await h.running();
      const spec = parse('2.0.0', before);
      const plan = await h.adapter.plan(spec, ctx('2.0.0', before));
      expect(typeof plan.summary).toBe('string');
      expect(await h.running()).toBe(before);
    });

    it('applies the target version, and applying it again converges to the same state', async () => {
      const previous = await h.running();
      const spec = parse('2.0.0', previous);
      const c = ctx('2.0.0', previous);
      await h.adapter.apply(spec, await h.adapter.plan(spec, c), c);
      expect(await h.running()).toBe('2.0.0');
      await h.adapter.apply(spec, await h.adapter.plan(spec, c), c);
      expect(await h.running()).toBe('2.0.0');
      if (h.adapter.capabilities(spec).observe) expect((await h.adapter.observe?.(spec, c))?.version).toBe('2.0.0');
    });

    it('rolls back to the previous version when it says it is reversible', async () => {
      const firstSpec = parse('1.0.0', undefined);
      const first = ctx('1.0.0', undefined);
      await h.adapter.apply(firstSpec, await h.adapter.plan(firstSpec, first), first);
      const spec = parse('2.0.0', '1.0.0');
      const second = ctx('2.0.0', '1.0.0');
      await h.adapter.apply(spec, await h.adapter.plan(spec, second), second);
      expect(await h.running()).toBe('2.0.0');
      if (!h.adapter.capabilities(spec).reversible) return;
      await h.adapter.rollback?.(spec, second);
      expect(await h.running()).toBe('1.0.0');
    });

    it('stops when its signal is aborted before it starts', async () => {
      const spec = parse('3.0.0', await h.running());
      const controller = new AbortController();
      controller.abort(new Error('cancelled by the contract test'));
      const c = { ...ctx('3.0.0', await h.running()), signal: controller.signal };
      const before = await h.running();
      await expect(h.adapter.apply(spec, { summary: '' }, c)).rejects.toThrow();
      expect(await h.running()).toBe(before);
    });
  });
}
