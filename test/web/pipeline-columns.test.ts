import { describe, expect, it } from 'vitest';
import { pipelineColumns } from '../../web/src/pages/board/pipeline-columns.js';

const env = (environment: string, after: string[] = []) => ({ environment, after });
const names = (columns: { environment: string }[][]) => columns.map((c) => c.map((e) => e.environment));

describe('the board: environments in columns along `after`', () => {
  it('dev → staging → prod-eu / prod-us: the two prods share a column, in the config order', () => {
    const columns = pipelineColumns([
      env('prod-us', ['staging']),
      env('dev'),
      env('staging', ['dev']),
      env('prod-eu', ['staging']),
    ]);
    expect(names(columns)).toEqual([['dev'], ['staging'], ['prod-us', 'prod-eu']]);
  });

  it('an environment after several goes after the furthest of them', () => {
    const columns = pipelineColumns([
      env('dev'),
      env('qa', ['dev']),
      env('perf', ['qa']),
      env('prod', ['qa', 'perf']),
      env('sandbox'),
    ]);
    expect(names(columns)).toEqual([['dev', 'sandbox'], ['qa'], ['perf'], ['prod']]);
  });

  it('an `after` naming no listed environment (one the caller may not see) counts as none, and never loops', () => {
    expect(names(pipelineColumns([env('a', ['hidden']), env('b', ['a'])]))).toEqual([['a'], ['b']]);
    expect(
      names(pipelineColumns([env('a', ['b']), env('b', ['a'])]))
        .flat()
        .sort(),
    ).toEqual(['a', 'b']);
  });
});
