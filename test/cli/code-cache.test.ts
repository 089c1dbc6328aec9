import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FakeLambda } from '../adapters/aws-lambda/fake-lambda.js';
import { CLI, lockstep, lockstepAwait, requireBuild } from '../helpers/cli.js';

// The CLI runs as one bundled CommonJS file compiled with V8's code cache (bin/load-cli.js); the
// build writes the cache (scripts/code-cache.mjs). A cache V8 refuses costs start-up time and nothing
// else, so the only way to notice a broken one is to ask V8.

const LOADER = fileURLToPath(new URL('../../bin/load-cli.js', import.meta.url));
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

describe('the bundled CLI and its code cache', () => {
  it('are accepted by this Node, in a fresh process as the CLI loads them', () => {
    requireBuild();
    const probe = `const { loadCli } = await import(${JSON.stringify(LOADER)});
const { cli, script } = loadCli();
process.stdout.write(JSON.stringify({ rejected: script.cachedDataRejected, runCli: typeof cli.runCli }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ rejected: false, runCli: 'function' });
  });

  it('runs with the version of package.json (the bundle reads it relative to itself)', () => {
    requireBuild();
    const r = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('loads a client the adapters import lazily: a promotion through the fake Lambda API', async () => {
    requireBuild();
    // The bundle turns the adapters' `import()` of their clients into `require()` (bin/load-cli.js):
    // the AWS SDK client is only loaded here, by the step, in the CLI's own process.
    const lambda = new FakeLambda();
    lambda.updatePolls = 0;
    await lambda.start();
    const dir = mkdtempSync(join(tmpdir(), 'lockstep-bundle-'));
    try {
      lambda.addFunction('worker-prod');
      writeFileSync(
        join(dir, 'lockstep.yaml'),
        `project: bundle
environments:
  prod: {}
components:
  worker:
    type: aws-lambda
    with:
      function: "worker-\${{ env.name }}"
      region: eu-west-1
      alias: live
      code: { s3Bucket: artifacts, s3Key: "worker/\${{ version }}.zip" }
      endpoint: ${lambda.endpoint}
`,
      );
      const env = { AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE', AWS_SECRET_ACCESS_KEY: 'fake-secret', CI: 'true' };
      const created = lockstep(dir, ['release', 'create', '--set', 'worker=1.2.0', '--output', 'json'], env);
      // The first release starts the state, and says only that: no warning from a client library.
      expect(created.stderr).toBe(`lockstep: created a new state at ${join(dir, '.lockstep', 'state.db')}\n`);
      const id = (JSON.parse(created.stdout) as { release: { id: string } }).release.id;
      const promoted = await lockstepAwait(dir, ['promote', id, '--to', 'prod', '--output', 'json'], env);
      expect(promoted.status, promoted.stderr).toBe(0);
      const codeUpdates = lambda.requests.filter((r) => r.method === 'PUT' && r.path.endsWith('/worker-prod/code'));
      expect(codeUpdates.map((r) => r.body.S3Key)).toEqual(['worker/1.2.0.zip']);
      // The alias now points at a version published from that code.
      const published = lambda.functions.get('worker-prod')?.latest.CodeSha256;
      expect(lambda.aliasVersion('worker-prod', 'live')?.CodeSha256).toBe(published);
    } finally {
      await lambda.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
