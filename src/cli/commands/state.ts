import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';
import { copyState } from '../../engine/state-copy.js';
import { openStateAt, type OpenedState } from '../../project/project-files.js';
import type { StateTarget } from '../../project/state-target.js';
import { describeCounts, STATE_TABLES } from '../../store/state-rows.js';
import { outputOption, print, printJson, ReportedError } from '../command-kit.js';
import { EXIT } from '../exit-codes.js';

interface StateGlobals {
  config: string;
  state?: string;
  secretsFile?: string;
  server?: string;
  output: 'text' | 'json';
}

/**
 * `lockstep state migrate | version | copy`: the state itself, on this machine (never through a
 * server: these act on the database, below any API). docs/state.md, docs/postgresql.md.
 */
export function addStateCommands(program: Command): void {
  const state = program.command('state').description('the state itself: its schema version, upgrading it, moving it to another store');
  state
    .command('migrate')
    .description('upgrade the state named by --state (or LOCKSTEP_STATE) to the schema this Lockstep reads; creates it when empty')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  lockstep state migrate --state postgres://lockstep_owner@db:5432/lockstep\n  LOCKSTEP_STATE=.lockstep lockstep state migrate -o json')
    .action(async (_o: unknown, cmd: Command) => {
      const opts = stateGlobals(cmd);
      await withState(opts, opts.state, true, async ({ store, label }) => {
        const result = await store.migrate();
        if (opts.output === 'json') return printJson({ state: label, ...result });
        if (result.applied.length === 0) return print(`${label}: schema version ${result.to}, up to date`);
        print(`${label}: schema version ${result.from} → ${result.to}`);
        for (const m of result.applied) print(`  applied ${m.version}: ${m.name}`);
      });
    });
  state
    .command('version')
    .description('the schema version of the state and the one this Lockstep reads; changes nothing')
    .addOption(outputOption())
    .action(async (_o: unknown, cmd: Command) => {
      const opts = stateGlobals(cmd);
      await withState(opts, opts.state, false, async ({ store, label }) => {
        const { current, newest } = await store.schemaVersion();
        const status = current === 0 ? 'empty' : current === newest ? 'current' : current < newest ? 'older' : 'newer';
        const words = {
          empty: 'nothing written yet (lockstep state migrate, or the first command that records something, creates the tables)',
          current: 'up to date',
          older: 'older: lockstep state migrate upgrades it (every command that opens it does too)',
          newer: 'written by a newer Lockstep: this one refuses it; upgrade Lockstep',
        }[status];
        if (opts.output === 'json') printJson({ state: label, version: current, reads: newest, status });
        else print(`${label}: schema version ${current}; this Lockstep reads ${newest}: ${words}`);
        if (status === 'newer') throw new ReportedError(EXIT.failed);
      }, true);
    });
  state
    .command('copy')
    .description('copy every record (the audit log with its hashes unchanged) from one state into another, empty one: SQLite or PostgreSQL, either way')
    .requiredOption('--from <state>', 'the state to copy: a directory or .db file, a postgres:// URL, or ${{ secrets.NAME }}')
    .requiredOption('--to <state>', 'the empty state to copy into (created when missing): the same forms')
    .addOption(outputOption())
    .addHelpText(
      'after',
      '\nExamples:\n  lockstep state copy --from .lockstep/state.db --to postgres://lockstep@db:5432/lockstep?schema=checkout\n  lockstep state copy --from \'${{ secrets.OLD_STATE }}\' --to backup.db -o json',
    )
    .action(async (o: { from: string; to: string }, cmd: Command) => {
      const opts = stateGlobals(cmd);
      // The source is only read (an older one is upgraded first, as any command would).
      await withState(opts, o.from, false, async (from) => {
        await withState(opts, o.to, true, async (to) => {
          if (sameState(from.target, to.target)) throw new InputError(`--from and --to name the same state (${to.label})`, '--to');
          const upgraded = await from.store.migrate();
          if (upgraded.from === 0) throw new InputError(`--from: ${from.label} holds no state: nothing to copy`, '--from');
          if (upgraded.applied.length > 0) process.stderr.write(`lockstep: upgraded ${from.label} from schema version ${upgraded.from} to ${upgraded.to} first\n`);
          await to.store.migrate();
          process.stderr.write(`lockstep: copying ${from.label} → ${to.label}\n`);
          const width = Math.max(...STATE_TABLES.map((t) => t.name.length));
          const result = await copyState(from.store, to.store, (progress) => {
            // A line per table when it is done; a big table also says how far it is every 10,000 rows.
            if (progress.done || progress.rows % 10_000 === 0) {
              process.stderr.write(`lockstep:   ${progress.table.padEnd(width)} ${String(progress.rows).padStart(8)} rows${progress.done ? '' : ' …'}\n`);
            }
          });
          if (opts.output === 'json') return printJson({ from: from.label, to: to.label, ...result });
          print(`copied ${result.total} rows (${describeCounts(result.rows)}) into ${to.label}`);
          print(`audit log intact on both: ${result.audit.entries} entries, head ${result.audit.head}`);
        });
      }, true);
    });
}

function stateGlobals(cmd: Command): StateGlobals {
  const o = cmd.optsWithGlobals<StateGlobals>();
  const server = o.server ?? (process.env.LOCKSTEP_SERVER || undefined);
  if (server !== undefined) {
    throw new InputError('lockstep state acts on the database on this machine, not through a server (unset LOCKSTEP_SERVER, or leave out --server)', '--server');
  }
  return o;
}

/** Opens the state `state` names (undefined: LOCKSTEP_STATE or the default), closes it after `work`. */
async function withState(opts: StateGlobals, state: string | undefined, create: boolean, work: (opened: OpenedState) => Promise<void>, readonly = false): Promise<void> {
  const opened = await openStateAt({ config: opts.config, state, secretsFile: opts.secretsFile }, { create, readonly });
  try {
    await work(opened);
  } finally {
    await opened.store.close();
  }
}

function sameState(a: StateTarget, b: StateTarget): boolean {
  if (a.kind === 'sqlite' && b.kind === 'sqlite') return a.path === b.path;
  if (a.kind === 'postgres' && b.kind === 'postgres') return a.label === b.label;
  return false;
}
