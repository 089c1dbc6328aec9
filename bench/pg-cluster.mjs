// A throwaway PostgreSQL cluster for the chaos test and the replicas benchmark (types: pg-cluster.d.mts).
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway PostgreSQL cluster of its own (initdb + pg_ctl from this machine's PostgreSQL
 * binaries): a temporary data directory, a free port on 127.0.0.1, its unix socket in that
 * directory, trust authentication, fsync off. A test can stop, start and restart it without touching
 * any other PostgreSQL on the machine. initdb and postgres refuse to run as root: as root, they run as
 * the `postgres` OS user (`runuser`), which owns the directory.
 *
 * Used by the replicas benchmark and, through test/helpers/pg-cluster.ts, by the tests.
 */

/** The newest PostgreSQL binaries under /usr/lib/postgresql/VERSION/bin, or PG_BIN when set. */
export function postgresBin() {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/** Starts a cluster; see pg-cluster.d.mts for what it returns. */
export async function startPgCluster() {
  const bin = postgresBin();
  if (bin === undefined) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql/*/bin (or PG_BIN): install the postgresql package');
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-pg-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  if (asRoot) {
    const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gids = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (ids.status !== 0) throw new Error('running as root needs a `postgres` OS user to run PostgreSQL as (initdb refuses root)');
    chownSync(dir, Number(ids.stdout.trim()), Number(gids.stdout.trim()));
  }
  const run = (program, args) => {
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]] : [join(bin, program), args];
    const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}\n${existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : ''}`);
  };
  run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const options = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=200'].join(' ');
  const started = { running: false };
  const start = () => {
    run('pg_ctl', ['start', '-w', '-t', '60', '-D', data, '-l', logFile, '-o', options]);
    started.running = true;
  };
  start();
  return {
    port,
    dir,
    url: (schema) => `postgres://postgres@127.0.0.1:${port}/postgres${schema === undefined ? '' : `?schema=${schema}`}`,
    start,
    stop() {
      run('pg_ctl', ['stop', '-w', '-t', '60', '-m', 'fast', '-D', data]);
      started.running = false;
    },
    restart() {
      run('pg_ctl', ['restart', '-w', '-t', '60', '-m', 'fast', '-D', data, '-l', logFile, '-o', options]);
      started.running = true;
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    destroy() {
      if (started.running) {
        try {
          run('pg_ctl', ['stop', '-w', '-t', '30', '-m', 'immediate', '-D', data]);
        } catch {
          // Already gone: the directory goes anyway.
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

