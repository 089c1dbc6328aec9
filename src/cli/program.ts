import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { ConfigError, errorMessage, formatProblem, GateBlocked } from '../core/errors.js';
import { printableLines } from '../core/printable.js';
import { ReportedError } from './command-kit.js';
import { addAuditCommands } from './commands/audit.js';
import { cancelCommand } from './commands/cancel.js';
import { addDiffCommand } from './commands/diff.js';
import { addEvidenceCommands } from './commands/evidence.js';
import { addKeysCommands } from './commands/keys.js';
import { addLoginCommands } from './commands/login.js';
import { addMetricsCommand } from './commands/metrics.js';
import { addNotifyCommands } from './commands/notify.js';
import { addProjectCommands } from './commands/project.js';
import { addPromotionCommands } from './commands/promotion.js';
import { addReleaseCommands } from './commands/release.js';
import { serveCommand } from './commands/serve.js';
import { addStateCommands } from './commands/state.js';
import { addDriftCommand } from './commands/drift.js';
import { addStatusCommands } from './commands/status.js';
import { addTokenCommands } from './commands/token.js';
import { addWhoamiCommand } from './commands/whoami.js';
import { DEFAULT_CONFIG } from './context.js';
import { EXIT, exitCodeFor } from './exit-codes.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * Every command group, in the order `--help` lists them; each adds its commands (src/cli/commands/).
 * A new group is one line here.
 */
const COMMANDS: readonly ((program: Command) => void)[] = [
  addProjectCommands,
  addReleaseCommands,
  addPromotionCommands,
  cancelCommand,
  addStatusCommands,
  addDiffCommand,
  addMetricsCommand,
  addDriftCommand,
  addAuditCommands,
  addEvidenceCommands,
  addKeysCommands,
  addNotifyCommands,
  addTokenCommands,
  addWhoamiCommand,
  addLoginCommands,
  serveCommand,
  addStateCommands,
];

export function buildProgram(): Command {
  const program = new Command('lockstep')
    .description('Promote one release across Kubernetes and everything around it: in order, behind one set of gates, with one tamper-evident record.')
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'the project config', process.env.LOCKSTEP_CONFIG ?? DEFAULT_CONFIG)
    .option(
      '--state <path|url>',
      'the state: a directory or .db file (SQLite), or postgres://user@host:5432/db (docs/state.md); also LOCKSTEP_STATE or ${{ secrets.NAME }} (default: .lockstep/ beside the config)',
    )
    .option('--actor <who>', 'who is acting (default: $LOCKSTEP_ACTOR, git user.email, OS user); not with --server')
    .option('--server <url>', 'talk to a team server (lockstep serve) instead of the files here (also $LOCKSTEP_SERVER; needs $LOCKSTEP_TOKEN or a lockstep login; the project is $LOCKSTEP_PROJECT, the lockstep.yaml here, or the one the token is known to)')
    .option('--secrets-file <file>', 'NAME=value lines for ${{ secrets.NAME }} (also $LOCKSTEP_SECRETS_FILE); the environment wins')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.addHelpText(
    'after',
    `
Exit codes: 0 done, 1 failed, 2 invalid input or config, 3 waiting on a gate, 4 conflict (environment busy).

Examples:
  lockstep init && lockstep validate
  lockstep release create --set api=1.4.2 --set schema=20261101 --message "checkout v42"
  lockstep plan 3f2a1c9 --to staging
  lockstep promote 3f2a1c9 --to staging
  lockstep status --env prod --output json`,
  );

  for (const add of COMMANDS) add(program);
  return program;
}

/** The one top-level catch: errors become messages and exit codes here and nowhere else. */
export async function runCli(argv: readonly string[]): Promise<number> {
  // `lockstep status | head -1`: a closed pipe ends the output, not the process with a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof ReportedError) return error.code;
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT.ok;
      return EXIT.invalid;
    }
    if (error instanceof ConfigError) {
      for (const p of error.problems) process.stderr.write(`${formatProblem(p)}\n`);
      process.stderr.write(`${error.problems.length} problem${error.problems.length === 1 ? '' : 's'}\n`);
      return EXIT.invalid;
    }
    const code = exitCodeFor(error);
    // A gate a person or time can still satisfy waits; one nothing can satisfy (the promotion path) refuses.
    const prefix = error instanceof GateBlocked ? (error.waiting ? 'waiting' : 'refused') : 'error';
    process.stderr.write(`lockstep: ${prefix}: ${printableLines(errorMessage(error))}\n`);
    if (code === EXIT.failed && !(error instanceof Error && 'retryable' in error) && process.env.LOCKSTEP_DEBUG) {
      process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    }
    return code;
  }
}
