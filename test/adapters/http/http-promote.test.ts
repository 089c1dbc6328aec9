import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRelease, promote } from '../../../src/engine/promote.js';
import { testProject, type TestProject } from '../../helpers/project.js';
import { startFakeCiServer } from './fake-ci-server.js';
import type { FakeCiServer } from './fake-ci-server.js';

// A whole promotion through the engine: an http component triggers a run on the FAKE CI server,
// polls it with `${{ response.id }}`, and its typed output reaches a command component.

let ci: FakeCiServer;
let project: TestProject;

beforeEach(async () => {
  ci = await startFakeCiServer();
  project = testProject(`project: shop
environments:
  staging:
    vars: { ci: "${ci.url}" }
components:
  pipeline:
    type: http
    with:
      request:
        url: "\${{ env.vars.ci }}/api/jobs/deploy/runs"
        headers: { Authorization: "Bearer \${{ secrets.CI_TOKEN }}" }
        body: { ref: "\${{ version }}", environment: "\${{ env.name }}" }
      poll:
        url: "\${{ env.vars.ci }}/api/runs/\${{ response.id }}"
        interval: 20ms
        timeout: 10s
        success: "response.status == 'completed' && response.conclusion == 'success'"
        failure: "response.status == 'completed' && response.conclusion != 'success'"
      outputs: { artifact: "response.artifact.name", size: "response.artifact.size" }
    outputs:
      artifact: { type: string, pattern: "^app-.+\\\\.tar\\\\.gz$" }
      size: { type: integer }
  api:
    type: command
    with:
      apply: ["./consume.sh", "\${{ components.pipeline.outputs.artifact }}"]
`);
  project.write('consume.sh', '#!/bin/sh\nprintf "%s\\n" "$1" > consumed\n', true);
});

afterEach(async () => {
  project.cleanup();
  await ci.close();
});

describe('http component in a promotion (fake CI server)', () => {
  it('triggers, polls to success, hands its typed output on, and keeps the token out of every log and record', async () => {
    const lines: string[] = [];
    const deps = await project.deps({
      env: { CI_TOKEN: 'ci-token-very-secret' },
      observer: { log: (_c, line) => lines.push(line) },
    });
    const { release } = await createRelease(deps, { set: ['pipeline=1.4.2', 'api=1'] });
    const done = await promote(deps, release.id, 'staging');
    expect(done.state).toBe('succeeded');
    expect(ci.deployed).toBe('1.4.2');
    expect(JSON.parse(ci.requests[0]?.body ?? '')).toEqual({ ref: '1.4.2', environment: 'staging' });
    expect(readFileSync(join(project.dir, 'consumed'), 'utf8').trim()).toBe('app-1.4.2.tar.gz');

    const stored = (await deps.store.stepLogs(done.id)).map((l) => l.line);
    expect(stored).toContain(`POST ${ci.url}/api/jobs/deploy/runs → 201`);
    const database = ['state.db', 'state.db-wal']
      .map((f) => join(project.dir, '.lockstep', f))
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
    for (const line of [...lines, ...stored]) expect(line).not.toContain('ci-token-very-secret');
    expect(database).not.toContain('ci-token-very-secret');
  });

  it('a failed run fails the promotion before the consumer runs', async () => {
    ci.conclusion = 'failure';
    const deps = await project.deps({ env: { CI_TOKEN: 'ci-token-very-secret' } });
    const { release } = await createRelease(deps, { set: ['pipeline=1.4.3', 'api=2'] });
    const failed = await promote(deps, release.id, 'staging');
    expect(failed.state).toBe('failed');
    expect(failed.reason).toContain('poll: the job failed');
    expect(existsSync(join(project.dir, 'consumed'))).toBe(false);
  });
});
