import type { Command } from 'commander';
import { printable } from '../../core/printable.js';
import type { TokenView } from '../../core/tokens.js';
import { collect, outputOption, print, printJson, withBackend } from '../command-kit.js';
import { table } from '../format.js';

/**
 * `lockstep token create | list | revoke`: API tokens for the team server, on the machine that holds
 * the state or through the server. Admin operations: once lockstep.yaml has `access:`, the actor (the
 * claimed one locally, the token's through a server) must be an admin there (see docs/access.md).
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
      // 'create': a team may make its first tokens before its first release.
      await withBackend(cmd, 'create', async (backend, opts) => {
        const { token: text, record } = await backend.createToken(input);
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
      await withBackend(cmd, 'read', async (backend, opts) => {
        const tokens = await backend.listTokens();
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
      await withBackend(cmd, 'write', async (backend, opts) => {
        const revoked = await backend.revokeToken(name);
        if (opts.output === 'json') return printJson(revoked);
        print(`revoked token ${describe(revoked)}`);
      });
    });
}

function describe(t: TokenView): string {
  const limits = [t.role === undefined ? undefined : `role ${t.role}`, t.environments === undefined ? undefined : `environments ${t.environments.join(', ')}`, t.expiresAt === undefined ? 'no expiry' : `expires ${t.expiresAt}`];
  return printable(`${t.name} for ${t.identity} (${limits.filter((l) => l !== undefined).join('; ')})`);
}

function stateText(t: TokenView): string {
  if (t.state === 'revoked') return `revoked ${t.revokedAt ?? ''}`;
  return t.state;
}
