import type { Command } from 'commander';
import { dirname, resolve } from 'node:path';
import type { Identity } from '../../core/access.js';
import { printable } from '../../core/printable.js';
import type { TokenView } from '../../core/tokens.js';
import type { EngineDeps } from '../../engine/deps.js';
import { checkNewToken, createToken, listTokens, revokeToken } from '../../engine/tokens.js';
import { resolveActor } from '../actor.js';
import { collect, globals, outputOption, print, printJson, withProject } from '../command-kit.js';
import { readConfig } from '../context.js';
import { table } from '../format.js';

/**
 * `lockstep token create | list | revoke`: API tokens for the team server, managed on the machine
 * that holds the state. Admin operations: once lockstep.yaml has `access:`, the local actor must be
 * an admin there (see docs/access.md).
 */
export function addTokenCommands(program: Command): void {
  const token = program.command('token').description('API tokens for the team server (admin)');
  token
    .command('create')
    .description('make an API token; prints it once (only its hash is kept)')
    .requiredOption('--name <name>', 'what the token is called (token list, token revoke, the audit log)')
    .option('--for <identity>', 'whom it acts for: a person or a service (default: the name); the actor of what it does')
    .option('--role <role>', 'narrow it to this role: viewer, releaser, approver or admin')
    .option('--env <env>', 'narrow it to this environment (repeatable)', collect, [] as string[])
    .option('--expires <duration>', 'expire it after this long, e.g. 90d')
    .addOption(outputOption())
    .addHelpText(
      'after',
      '\nExamples:\n  lockstep token create --name alice --for alice@example.com --role releaser --expires 90d\n  lockstep token create --name deploy-bot --role releaser --env staging -o json',
    )
    .action(async (o: { name: string; for?: string; role?: string; env: string[]; expires?: string }, cmd: Command) => {
      const input = { name: o.name, for: o.for, role: o.role, environments: o.env, expires: o.expires };
      // Checked before the state is opened or created: a refused or mistyped command leaves no trace.
      const opts = globals(cmd);
      const loaded = readConfig(opts.config);
      checkNewToken({ loaded }, { name: resolveActor(opts.actor, process.env, dirname(resolve(opts.config))), via: { kind: 'claimed' } }, input);
      // 'create': a team may make its first tokens before its first release.
      await withProject(cmd, 'create', async (deps) => {
        const { token: text, record } = await createToken(deps, localCaller(deps), input);
        if (opts.output === 'json') {
          return printJson({
            name: record.name,
            token: text,
            identity: record.identity,
            role: record.role ?? null,
            environments: record.environments ?? null,
            expiresAt: record.expiresAt ?? null,
          });
        }
        // The token alone on stdout, so `TOKEN=$(lockstep token create …)` holds just it.
        print(text);
        process.stderr.write(`created token ${describe(record)}\nThis is the only time it is shown: Lockstep keeps only its hash.\n`);
      });
    });

  token
    .command('list')
    .description('list API tokens: name, whom they act for, role, environments, state (never the tokens)')
    .addOption(outputOption())
    .action(async (_o: unknown, cmd: Command) => {
      await withProject(cmd, 'read', async (deps, opts) => {
        const tokens = await listTokens(deps, localCaller(deps));
        if (opts.output === 'json') return printJson(tokens);
        if (tokens.length === 0) return print('no tokens yet (lockstep token create --name NAME makes one)');
        print(
          table(
            ['NAME', 'FOR', 'ROLE', 'ENVIRONMENTS', 'STATE', 'CREATED', 'BY', 'EXPIRES'],
            tokens.map((t) => [t.name, t.identity, t.role ?? '(any)', t.environments?.join(', ') ?? '(all)', stateText(t), t.createdAt, t.createdBy, t.expiresAt ?? 'never'].map((cell) => printable(cell))),
          ),
        );
      });
    });

  token
    .command('revoke')
    .description('revoke an API token: refused from now on')
    .argument('<name>', 'the token name')
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  lockstep token revoke deploy-bot')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await withProject(cmd, 'write', async (deps, opts) => {
        const revoked = await revokeToken(deps, localCaller(deps), name);
        if (opts.output === 'json') return printJson(revoked);
        print(`revoked token ${describe(revoked)}`);
      });
    });
}

/** Locally the actor is claimed (--actor, LOCKSTEP_ACTOR, git), as everywhere in local mode. */
function localCaller(deps: EngineDeps): Identity {
  return { name: deps.actor, via: { kind: 'claimed' } };
}

function describe(t: TokenView): string {
  const limits = [t.role === undefined ? undefined : `role ${t.role}`, t.environments === undefined ? undefined : `environments ${t.environments.join(', ')}`, t.expiresAt === undefined ? 'no expiry' : `expires ${t.expiresAt}`];
  return printable(`${t.name} for ${t.identity} (${limits.filter((l) => l !== undefined).join('; ')})`);
}

function stateText(t: TokenView): string {
  if (t.state === 'revoked') return `revoked ${t.revokedAt ?? ''}`;
  return t.state;
}
