import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StepContext } from '../../src/core/adapter.js';

/** A StepContext for adapter tests, with what the adapter logged and how often it heartbeat. */
export interface TestStepContext {
  ctx: StepContext;
  lines: string[];
  heartbeats: () => number;
}

/** The port's input as a plain object: the engine's values, with a log and heartbeat that record. */
export function stepContext(overrides: Partial<StepContext> = {}): TestStepContext {
  const lines: string[] = [];
  let heartbeats = 0;
  const ctx: StepContext = {
    signal: new AbortController().signal,
    log: (line) => lines.push(line),
    heartbeat: () => {
      heartbeats += 1;
    },
    idempotencyKey: 'idem-key-1',
    project: 'checkout',
    projectDir: process.cwd(),
    cacheDir: join(tmpdir(), 'lockstep-test-cache'),
    stateDir: join(tmpdir(), 'lockstep-test-state'),
    isSensitive: () => false,
    environment: { name: 'staging', vars: {} },
    release: { id: 'rel-0123abcd', versions: { billing: '1.4.2' } },
    promotionId: 'promo-42',
    component: 'billing',
    version: '1.4.2',
    previousVersion: '1.4.1',
    ...overrides,
  };
  return { ctx, lines, heartbeats: () => heartbeats };
}
