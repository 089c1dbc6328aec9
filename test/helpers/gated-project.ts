import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createToken } from '../../src/engine/tokens.js';
import { testProject, type TestProject } from './project.js';

/**
 * A project whose steps wait for the test: `gated.sh VERSION` records that it applies (applies.log,
 * one line per real apply), then waits until the file `gates/COMPONENT-VERSION` exists before it
 * finishes. So a test can stop a server, or cancel a promotion, while a step surely runs, without
 * relying on how long anything takes. Three components in a chain: a, then b, then c.
 */
export const GATED_SH = `#!/bin/sh
set -eu
v="$1"
echo "apply $LOCKSTEP_COMPONENT $v" >> applies.log
while [ ! -e "gates/$LOCKSTEP_COMPONENT-$v" ]; do sleep 0.05; done
mkdir -p "systems/$LOCKSTEP_ENVIRONMENT"
printf '%s\\n' "$v" > "systems/$LOCKSTEP_ENVIRONMENT/$LOCKSTEP_COMPONENT"
echo "deployed $LOCKSTEP_COMPONENT $v"
`;

const component = (dependsOn?: string): string =>
  [
    '    type: command',
    ...(dependsOn ? [`    dependsOn: [${dependsOn}]`] : []),
    '    with:',
    '      apply: ["./gated.sh", "${{ version }}"]',
    '      rollback: ["./gated.sh", "${{ previousVersion }}"]',
  ].join('\n');

export const GATED_CONFIG = `project: shop
environments:
  dev: {}
components:
  a:
${component()}
  b:
${component('a')}
  c:
${component('b')}
`;

export interface GatedProject extends TestProject {
  /** Lets the step of `component` at `version` finish (or never wait, when opened before it starts). */
  open(component: string, version: string): void;
  /** A releaser's API token (for alice@example.com), stored as `lockstep token create` stores it. */
  token(): Promise<string>;
}

export function gatedProject(): GatedProject {
  const project = testProject(GATED_CONFIG);
  project.write('gated.sh', GATED_SH, true);
  mkdirSync(join(project.dir, 'gates'), { recursive: true });
  return {
    ...project,
    open(name, version) {
      writeFileSync(join(project.dir, 'gates', `${name}-${version}`), '');
    },
    async token() {
      const deps = await project.deps({ actor: 'admin@example.com' });
      try {
        const admin = { name: 'admin@example.com', via: { kind: 'claimed' as const } };
        return (await createToken(deps, admin, { name: 'alice-ci', for: 'alice@example.com', role: 'releaser' })).token;
      } finally {
        await deps.store.close();
      }
    },
  };
}

/** Polls until `probe` gives a value (the test's own timeout bounds it); never asserts how long that took. */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (let i = 0; i < 1200; i++) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}
