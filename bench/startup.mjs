// Start-up of the CLI: `lockstep --version` and `lockstep validate` of a one-component project,
// against `node -e 0` (Node's own start-up, the floor for any Node CLI), interleaved so that noise
// on a shared machine hits all three alike. Every command pays this before doing its work.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lockstep, log, median, removeDir, round, RUNS, tempDir, timed } from './lib.mjs';

/** Start-up is short and noisy: more samples than the other benchmarks take. */
const SAMPLES = Math.max(10, RUNS * 3);

const CONFIG = [
  'project: startup',
  'environments:',
  '  dev: {}',
  'components:',
  '  api:',
  '    type: command',
  '    with:',
  '      apply: ["true"]',
  '',
].join('\n');

export async function benchStartup() {
  const dir = tempDir('startup');
  try {
    writeFileSync(join(dir, 'lockstep.yaml'), CONFIG);
    const node = [];
    const version = [];
    const validate = [];
    for (let run = 0; run < SAMPLES; run++) {
      node.push(await timed(process.execPath, ['-e', '0'], { memory: true }));
      version.push(await lockstep(['--version'], { cwd: dir, memory: true }));
      validate.push(await lockstep(['validate'], { cwd: dir, memory: true }));
    }
    const seconds = (samples) => median(samples.map((r) => r.seconds));
    const peak = (samples) => round(median(samples.map((r) => r.maxRssMb ?? NaN)), 0);
    const nodeS = seconds(node);
    const result = {
      samples: SAMPLES,
      nodeS: round(nodeS, 3),
      nodeMb: peak(node),
      versionS: round(seconds(version), 3),
      versionMb: peak(version),
      versionVsNode: round(seconds(version) / nodeS, 1),
      validateS: round(seconds(validate), 3),
      validateMb: peak(validate),
      validateVsNode: round(seconds(validate) / nodeS, 1),
    };
    log(`start-up: ${JSON.stringify(result)}`);
    return result;
  } finally {
    removeDir(dir);
  }
}
