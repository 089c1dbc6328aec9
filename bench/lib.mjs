// Shared helpers for the benchmarks: timing child processes, medians, temp dirs.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(ROOT, 'bin', 'lockstep.js');
export const FULL = process.env.BENCH_FULL === '1';
/** How many times each timed case runs; the median is reported. */
export const RUNS = Number(process.env.BENCH_RUNS ?? (FULL ? 5 : 3));
const HAVE_GNU_TIME = existsSync('/usr/bin/time');

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), `lockstep-bench-${prefix}-`));
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export function round(value, digits = 2) {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Runs a command synchronously and throws with its output when it fails (setup steps). */
export function must(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...options });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.slice(0, 6).join(' ')} … exited ${r.status}: ${r.stderr?.slice(-2000)}`);
  }
  return r.stdout;
}

/**
 * Runs a command, output discarded, and returns wall seconds and peak RSS in MB (from GNU time
 * when installed, which sees the child itself rather than the sum of this process's children).
 */
export function timed(cmd, args, options = {}) {
  const env = { ...process.env, CI: 'true', ...(options.env ?? {}) };
  const useTime = HAVE_GNU_TIME && options.memory === true;
  const argv = useTime ? ['-f', '%M', cmd, ...args] : args;
  const program = useTime ? '/usr/bin/time' : cmd;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(program, argv, { cwd: options.cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0 && options.allowFailure !== true) {
        reject(new Error(`${cmd} ${args.slice(0, 6).join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
        return;
      }
      let maxRssMb;
      if (useTime) {
        const lines = stderr.trim().split('\n');
        maxRssMb = Number(lines[lines.length - 1]) / 1024;
      }
      resolve({ seconds, maxRssMb, code });
    });
  });
}

/** `node bin/lockstep.js ARGS` timed. */
export function lockstep(args, options = {}) {
  return timed(process.execPath, [CLI, ...args], options);
}

export function log(message) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
