import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import { lockstep, lockstepAsync } from '../helpers/cli.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';

// Half the components can be observed and re-applied (idempotent); the others cannot, so a kill during
// their apply must end in `interrupted` and a person's --retry-step.
const CONFIG = `project: crashy
environments:
  dev: {}
components:
  a:
${commandComponent({ idempotent: true, observe: true })}
  b:
${commandComponent()}
  c:
${commandComponent({ dependsOn: ['a'], idempotent: true, observe: true })}
  d:
${commandComponent({ dependsOn: ['a', 'b'] })}
  e:
${commandComponent({ dependsOn: ['c'], idempotent: true, observe: true })}
  f:
${commandComponent({ dependsOn: ['d'] })}
  g:
${commandComponent({ dependsOn: ['e', 'f'], idempotent: true, observe: true })}
  h:
${commandComponent()}
`;
const NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
const ENV = { STEP_SLEEP: '0.15', CI: 'true' };

/** A deterministic pseudo-random sequence, so a failure can be reproduced from its seed. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

async function runAndKill(dir: string, args: string[], afterMs: number): Promise<boolean> {
  const child = lockstepAsync(dir, args, ENV);
  const exited = once(child, 'exit');
  const timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
  const [code] = (await exited) as [number | null];
  clearTimeout(timer);
  return code === null; // killed
}

let project: TestProject | undefined;
afterEach(() => project?.cleanup());

describe('crash safety (SIGKILL at random moments, then resume)', () => {
  for (const seed of (process.env.CRASH_SEEDS ?? "1,2,3,4").split(",").map(Number)) {
    it(`ends with every component at the target version, no finished step applied twice, an intact audit log (seed ${seed})`, async () => {
      project = testProject(CONFIG);
      const next = random(seed);
      const set = NAMES.flatMap((n) => ['--set', `${n}=2`]);
      const created = lockstep(project.dir, ['release', 'create', ...set, '--output', 'json']);
      expect(created.status, created.stderr).toBe(0);
      const releaseId = (JSON.parse(created.stdout) as { release: { id: string } }).release.id;

      let kills = 0;
      if (await runAndKill(project.dir, ['promote', releaseId.slice(0, 7), '--to', 'dev'], 100 + next() * 900)) kills++;
      // Keep resuming (and sometimes killing the resume too) until the promotion is finished.
      for (let round = 0; round < 30; round++) {
        const history = lockstep(project.dir, ['history', '--env', 'dev', '--output', 'json']);
        const [promotion] = JSON.parse(history.stdout) as { id: string; state: string; steps: { component: string; state: string }[] }[];
        // Killed before the promotion was recorded: nothing happened, so the user runs promote again.
        let args = ['promote', releaseId.slice(0, 7), '--to', 'dev'];
        if (promotion) {
          if (promotion.state === 'succeeded') break;
          expect(promotion.state, JSON.stringify(promotion.steps.filter((s) => s.state !== 'succeeded'))).not.toBe('failed');
          // A person checks each interrupted step and decides to apply it again.
          const interrupted = promotion.steps.filter((s) => s.state === 'interrupted').map((s) => s.component);
          args = interrupted.length > 0 ? ['resume', promotion.id.slice(0, 10), ...interrupted.flatMap((c) => ['--retry-step', c])] : ['resume'];
        }
        if (round < 3 && next() < 0.5) {
          if (await runAndKill(project.dir, args, 100 + next() * 600)) kills++;
        } else {
          const r = lockstep(project.dir, args, ENV);
          expect([0, 1], `${args.join(' ')}: ${r.stdout}\n${r.stderr}`).toContain(r.status);
        }
      }

      const history = JSON.parse(lockstep(project.dir, ['history', '--env', 'dev', '--output', 'json']).stdout) as { id: string; state: string }[];
      expect(history).toHaveLength(1);
      expect(history[0]?.state).toBe('succeeded');
      for (const n of NAMES) expect(project.running('dev', n)).toBe('2');

      const verify = lockstep(project.dir, ['audit', 'verify']);
      expect(verify.status, verify.stdout).toBe(0);

      // No finished step applied again: after a step.succeeded, no further step.started for it, and
      // the scripts ran at most as often as the engine recorded a start.
      const entries = lockstep(project.dir, ['audit', 'export', '--format', 'jsonl']).stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
      const applies = project.applies();
      for (const n of NAMES) {
        const mine = entries.filter((e) => e.component === n);
        const succeeded = mine.findIndex((e) => e.kind === 'step.succeeded');
        expect(succeeded, `${n} succeeded`).toBeGreaterThanOrEqual(0);
        expect(mine.slice(succeeded + 1).filter((e) => e.kind === 'step.started'), `${n} started after it succeeded`).toEqual([]);
        const started = mine.filter((e) => e.kind === 'step.started').length;
        expect(applies.filter((l) => l.split(' ')[2] === n).length).toBeLessThanOrEqual(started);
      }
      expect(kills).toBeGreaterThan(0);
    });
  }
});
