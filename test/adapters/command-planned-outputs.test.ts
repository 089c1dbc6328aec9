import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { commandAdapter } from '../../src/adapters/command/command-adapter.js';
import { commandSpec } from '../../src/adapters/command/command-spec.js';
import type { CommandSpec } from '../../src/adapters/command/command-spec.js';
import { createRelease, promote } from '../../src/engine/promote.js';
import { stepContext } from '../helpers/step-context.js';
import { testProject, type TestProject } from '../helpers/project.js';
import { failure } from '../helpers/step-failure.js';

// A command component's plan script predicts outputs by writing them to $LOCKSTEP_OUTPUTS, as its
// apply does. Real shell scripts in a temp project directory throughout.

let dir: string;
let project: TestProject | undefined;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'lockstep-command-plan-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  project?.cleanup();
  project = undefined;
});

async function script(name: string, body: string): Promise<string> {
  const file = path.join(dir, name);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return `./${path.basename(name)}`;
}

function spec(input: Record<string, unknown>): CommandSpec {
  return commandSpec.parse(input);
}

describe('command adapter: planned outputs', () => {
  it('takes what the plan command writes to $LOCKSTEP_OUTPUTS as the known planned outputs', async () => {
    // One script for both: the plan predicts the image from the same env, cwd and version its apply
    // uses, and leaves out the endpoint, which only the apply learns.
    const deploy = await script(
      'deploy/api.sh',
      `set -eu
image="$REGISTRY/api:$LOCKSTEP_VERSION"
if [ "\${1:-}" = "--plan" ]; then
  echo "would set image $image"
  printf '{"image": "%s", "dir": "%s"}' "$image" "$(basename "$PWD")" > "$LOCKSTEP_OUTPUTS"
  exit 0
fi
printf '{"image": "%s", "dir": "%s", "endpoint": "https://api.%s.example.com"}' "$image" "$(basename "$PWD")" "$LOCKSTEP_ENVIRONMENT" > "$LOCKSTEP_OUTPUTS"`,
    );
    const component = spec({
      apply: [deploy],
      plan: [deploy, '--plan'],
      cwd: 'deploy',
      env: { REGISTRY: 'registry.example.com' },
    });
    const { ctx } = stepContext({ projectDir: dir });

    const plan = await commandAdapter.plan(component, ctx);
    expect(plan).toEqual({
      summary: 'run ./api.sh',
      details: 'would set image registry.example.com/api:1.4.2\n',
      risk: 'low',
      outputs: { known: { image: 'registry.example.com/api:1.4.2', dir: 'deploy' }, unknown: [] },
    });
    // What the plan predicted is what the apply then reports, read the same way.
    const applied = await commandAdapter.apply(component, plan, ctx);
    expect(applied).toEqual({ ...plan.outputs?.known, endpoint: 'https://api.staging.example.com' });
  });

  it('has no planned outputs when the plan command writes nothing, even after a plan that did', async () => {
    // Each run gets a fresh, empty file: a second plan does not see what the first one wrote.
    const marker = path.join(dir, 'planned-once');
    const plan = await script(
      'plan.sh',
      `if [ ! -e "${marker}" ]; then touch "${marker}"; echo '{"image": "api:1"}' > "$LOCKSTEP_OUTPUTS"; fi
echo "dry run"`,
    );
    const component = spec({ apply: ['true'], plan: [plan] });
    const { ctx } = stepContext({ projectDir: dir });

    expect((await commandAdapter.plan(component, ctx)).outputs).toEqual({ known: { image: 'api:1' }, unknown: [] });
    const second = await commandAdapter.plan(component, ctx);
    expect(second).toEqual({ summary: 'run true', details: 'dry run\n', risk: 'low' });
  });

  it('fails the plan, not retryable, when the plan command writes bad JSON, without quoting it', async () => {
    const plan = await script('plan.sh', `printf '{"token": "s3cr3t-planned",' > "$LOCKSTEP_OUTPUTS"`);
    const { ctx } = stepContext({ projectDir: dir });
    const error = await failure(commandAdapter.plan(spec({ apply: ['true'], plan: [plan] }), ctx));
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(
      /^plan: the outputs file \(\$LOCKSTEP_OUTPUTS\) is not valid JSON \(at position \d+\); write one JSON object/,
    );
    expect(error.message).not.toContain('s3cr3t');
  });

  it('fails the plan when the plan command writes JSON that is not an object', async () => {
    const plan = await script('plan.sh', `echo '"api:1"' > "$LOCKSTEP_OUTPUTS"`);
    const { ctx } = stepContext({ projectDir: dir });
    const error = await failure(commandAdapter.plan(spec({ apply: ['true'], plan: [plan] }), ctx));
    expect(error.message).toBe(
      'plan: the outputs file ($LOCKSTEP_OUTPUTS) must hold one JSON object of outputs, but holds a string',
    );
  });

  it('a promotion whose plan command writes bad JSON stops before anything runs, naming the component', async () => {
    project = testProject(`project: shop
environments:
  prod:
    vars: {}
components:
  api:
    type: command
    with:
      apply: ["./deploy.sh", "\${{ version }}"]
      plan: ["./plan.sh"]
    outputs:
      image: { type: string }
`);
    project.write('plan.sh', `#!/bin/sh\nprintf '{"image": ' > "$LOCKSTEP_OUTPUTS"\n`, true);
    const deps = await project.deps();
    const { release } = await createRelease(deps, { set: ['api=1.0.0'] });
    await expect(promote(deps, release.id, 'prod')).rejects.toThrow(
      /components\.api: plan failed: plan: the outputs file \(\$LOCKSTEP_OUTPUTS\) is not valid JSON/,
    );
    expect(project.applies()).toEqual([]);
  });
});
