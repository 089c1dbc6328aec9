import { expect } from 'vitest';
import { StepFailure } from '../../src/core/errors.js';

/** The StepFailure a promise rejects with; fails the test when it resolves or rejects with anything else. */
export async function failure(promise: Promise<unknown>): Promise<StepFailure> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepFailure);
  return error as StepFailure;
}
