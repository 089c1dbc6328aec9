// Benchmark 2: `validate` and `plan` of generated configs with thousands of components and several
// environments, each through the CLI as a user runs it: wall time and peak memory of the process.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, RUNS, lockstep, log, median, must, removeDir, round, tempDir, timed } from './lib.mjs';

const ENVIRONMENTS = ['dev', 'staging', 'prod-eu', 'prod-us'];
const WIDTH = 20;

/**
 * `handoffs`: every component also declares an output, and each one below the first level consumes
 * the output of the component it depends on. No component predicts its outputs, so each consumer is
 * planned with the "(known after X applies)" stand-in in place and listed among the plan's unknowns:
 * the most work the planner does for handoffs.
 */
function writeConfig(dir, count, handoffs) {
  const lines = ['project: bench', 'environments:'];
  lines.push('  dev:', '    vars: { replicas: 1 }');
  lines.push('  staging:', '    after: [dev]', '    vars: { replicas: 2 }');
  lines.push('  prod-eu:', '    after: [staging]', '    onFailure: rollback', '    vars: { replicas: 3 }');
  lines.push('  prod-us:', '    after: [staging]', '    onFailure: rollback', '    vars: { replicas: 3 }');
  lines.push('components:');
  for (let i = 0; i < count; i++) {
    lines.push(`  c${i}:`, '    type: command');
    if (i >= WIDTH) lines.push(`    dependsOn: [c${i - WIDTH}]`);
    lines.push(
      '    with:',
      `      apply: ["./deploy.sh", "c${i}", "\${{ version }}"]`,
      `      rollback: ["./deploy.sh", "c${i}", "\${{ previousVersion }}"]`,
      '      env:',
      '        REPLICAS: "${{ env.vars.replicas }}"',
    );
    if (handoffs && i >= WIDTH) lines.push(`        UPSTREAM: "\${{ components.c${i - WIDTH}.outputs.url }}"`);
    if (handoffs) lines.push('    outputs:', '      url: { type: string }');
  }
  writeFileSync(join(dir, 'lockstep.yaml'), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'deploy.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
}

async function measure(count, handoffs) {
  const dir = tempDir(`plan-${count}`);
  try {
    writeConfig(dir, count, handoffs);
    const state = join(dir, 'state.db');
    const sets = Array.from({ length: count }, (_, i) => ['--set', `c${i}=1.0.${i}`]).flat();
    const created = must(process.execPath, [CLI, '--state', state, 'release', 'create', ...sets, '--output', 'json'], {
      cwd: dir,
    });
    const releaseId = JSON.parse(created).release.id;
    const validate = [];
    const plan = [];
    const nodeStart = [];
    for (let run = 0; run < RUNS; run++) {
      validate.push(await lockstep(['--state', state, 'validate'], { cwd: dir, memory: true }));
      plan.push(
        await lockstep(['--state', state, 'plan', releaseId, '--to', 'dev', '--output', 'json'], {
          cwd: dir,
          memory: true,
        }),
      );
      nodeStart.push((await timed(process.execPath, ['-e', '0'])).seconds);
    }
    const v = median(validate.map((r) => r.seconds));
    const p = median(plan.map((r) => r.seconds));
    const vMb = Math.max(...validate.map((r) => r.maxRssMb ?? NaN));
    const pMb = Math.max(...plan.map((r) => r.maxRssMb ?? NaN));
    return {
      components: count,
      handoffs,
      environments: ENVIRONMENTS.length,
      validateS: round(v, 3),
      validateMb: round(vMb, 0),
      planS: round(p, 3),
      planMb: round(pMb, 0),
      validatePlusPlanS: round(v + p, 3),
      peakMb: round(Math.max(vMb, pMb), 0),
      nodeStartS: round(median(nodeStart), 3),
    };
  } finally {
    removeDir(dir);
  }
}

export async function benchValidatePlan() {
  const results = [];
  for (const count of [1000, 5000]) {
    for (const handoffs of [false, true]) {
      log(`validate/plan: ${count} components${handoffs ? ', each consuming an output known only after its producer applies' : ''}`);
      results.push(await measure(count, handoffs));
      log(`  -> ${JSON.stringify(results.at(-1))}`);
    }
    // The cost of planning handoffs, as a ratio to the same plan without them, measured in this run.
    const [plain, withHandoffs] = results.slice(-2);
    withHandoffs.planVsNoHandoffs = round(withHandoffs.planS / plain.planS, 2);
  }
  return results;
}
