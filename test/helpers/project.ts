import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinAdapters } from '../../src/adapters/registry.js';
import { loadConfig } from '../../src/core/config/load-config.js';
import { systemClock, type Clock } from '../../src/engine/clock.js';
import type { EngineDeps, RunObserver } from '../../src/engine/deps.js';
import { secretSource } from '../../src/engine/secrets.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

/**
 * A real project on disk for engine and CLI tests: a lockstep.yaml, executable scripts, a real
 * SQLite store. `deploy.sh` records each apply in `applies.log` and the running version under
 * `systems/<env>/<component>`; `check.sh` fails for versions ending in `-broken`.
 */
export interface TestProject {
  dir: string;
  write(path: string, text: string, executable?: boolean): void;
  deps(options?: { observer?: RunObserver; env?: NodeJS.ProcessEnv; actor?: string; clock?: Clock }): Promise<EngineDeps>;
  running(env: string, component: string): string | undefined;
  applies(): string[];
  cleanup(): void;
}

export const DEPLOY_SH = `#!/bin/sh
set -eu
v="$1"
echo "apply $LOCKSTEP_ENVIRONMENT $LOCKSTEP_COMPONENT $v $(date +%s%N)" >> applies.log
echo "start $LOCKSTEP_COMPONENT $(date +%s%N)" >> timeline.log
sleep "\${STEP_SLEEP:-0}"
mkdir -p "systems/$LOCKSTEP_ENVIRONMENT"
printf '%s\\n' "$v" > "systems/$LOCKSTEP_ENVIRONMENT/$LOCKSTEP_COMPONENT"
echo "end $LOCKSTEP_COMPONENT $(date +%s%N)" >> timeline.log
echo "deployed $LOCKSTEP_COMPONENT $v"
`;

export const CHECK_SH = `#!/bin/sh
set -eu
v=$(cat "systems/$LOCKSTEP_ENVIRONMENT/$LOCKSTEP_COMPONENT")
case "$v" in *-broken) echo "unhealthy: $v" >&2; exit 1 ;; esac
echo healthy
`;

export const OBSERVE_SH = `#!/bin/sh
cat "systems/$LOCKSTEP_ENVIRONMENT/$LOCKSTEP_COMPONENT" 2>/dev/null || true
`;

export function testProject(config: string): TestProject {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-test-'));
  const write = (path: string, text: string, executable = false): void => {
    const full = join(dir, path);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, text);
    if (executable) chmodSync(full, 0o755);
  };
  write('lockstep.yaml', config);
  write('deploy.sh', DEPLOY_SH, true);
  write('check.sh', CHECK_SH, true);
  write('observe.sh', OBSERVE_SH, true);
  const stores: SqliteStore[] = [];
  return {
    dir,
    write,
    async deps(options = {}) {
      const file = join(dir, 'lockstep.yaml');
      const loaded = loadConfig(readFileSync(file, 'utf8'), file, builtinAdapters());
      mkdirSync(join(dir, '.lockstep'), { recursive: true });
      const store = SqliteStore.open(join(dir, '.lockstep', 'state.db'));
      stores.push(store);
      await store.migrate();
      return {
        store,
        adapters: builtinAdapters(),
        clock: options.clock ?? systemClock,
        loaded,
        projectDir: dir,
        cacheDir: join(dir, '.lockstep', 'cache'),
        stateDir: join(dir, '.lockstep'),
        secrets: secretSource(options.env ?? {}),
        actor: options.actor ?? 'tester@example.com',
        observer: options.observer,
      };
    },
    running(env, component) {
      const f = join(dir, 'systems', env, component);
      return existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined;
    },
    applies() {
      const f = join(dir, 'applies.log');
      return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : [];
    },
    cleanup() {
      for (const s of stores) void s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A `command` component block that deploys with deploy.sh, checks with check.sh, and can roll back. */
export function commandComponent(options: { dependsOn?: string[]; rollback?: boolean; idempotent?: boolean; observe?: boolean; extra?: string } = {}): string {
  const lines = [
    '    type: command',
    ...(options.dependsOn ? [`    dependsOn: [${options.dependsOn.join(', ')}]`] : []),
    '    with:',
    '      apply: ["./deploy.sh", "${{ version }}"]',
    '      verify: ["./check.sh"]',
    ...(options.rollback === false ? [] : ['      rollback: ["./deploy.sh", "${{ previousVersion }}"]']),
    ...(options.observe ? ['      observe: ["./observe.sh"]'] : []),
    ...(options.idempotent ? ['      idempotent: true'] : []),
    ...(options.extra ? [options.extra] : []),
  ];
  return lines.join('\n');
}
