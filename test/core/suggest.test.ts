import { describe, expect, it } from 'vitest';
import { closestName, didYouMean, editDistance } from '../../src/core/suggest.js';

describe('closestName (did you mean)', () => {
  it('suggests a known name one or a few edits away, ignoring case', () => {
    expect(closestName('prd', ['dev', 'staging', 'prod'])).toBe('prod');
    expect(closestName('sql-migration', ['command', 'sql-migrations', 'ssh'])).toBe('sql-migrations');
    expect(closestName('Stagign', ['dev', 'staging'])).toBe('staging');
    expect(didYouMean('prd', ['prod'])).toBe('; did you mean prod?');
  });

  it('suggests nothing when no name is close, or for the name itself', () => {
    expect(closestName('qa', ['dev', 'prod'])).toBeUndefined();
    expect(closestName('terraform', ['command', 'ssh'])).toBeUndefined();
    expect(closestName('prod', ['prod'])).toBeUndefined();
    expect(didYouMean('qa', ['dev'])).toBe('');
  });

  it('counts a swap of neighbouring characters as one edit, and stops at the cap', () => {
    expect(editDistance('pord', 'prod')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('a'.repeat(50), 'b'.repeat(50), 2)).toBe(2);
  });
});
