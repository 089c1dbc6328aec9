import type { Command } from 'commander';
import { printable } from '../../core/printable.js';
import type { WhoAmI } from '../../core/whoami.js';
import { outputOption, print, printJson, withBackend } from '../command-kit.js';

/** `whoami`: whom commands act as, how that is known, and the roles held, per project (and environment where they differ). */
export function addWhoamiCommand(program: Command): void {
  program
    .command('whoami')
    .description('who you act as: through a server, whom LOCKSTEP_TOKEN stands for and its roles per project; here, the claimed actor')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  lockstep whoami\n  LOCKSTEP_SERVER=http://127.0.0.1:8417 LOCKSTEP_TOKEN=… lockstep whoami -o json')
    .action(async (_o: unknown, cmd: Command) => {
      await withBackend(cmd, 'read', async (backend, opts) => {
        const who = await backend.whoami();
        if (opts.output === 'json') return printJson(who);
        print(renderWhoAmI(who));
      });
    });
}

const HOW: Record<WhoAmI['via'], string> = {
  token: 'authenticated by token',
  oidc: 'authenticated by the identity provider',
  claimed: 'claimed, not proven (--actor, LOCKSTEP_ACTOR, git user.email or the OS user)',
};

function renderWhoAmI(who: WhoAmI): string {
  const lines = [printable(`${who.actor}: ${HOW[who.via]}${who.token === undefined ? '' : ` ${who.token}`}`)];
  if (who.projects.length === 0) lines.push('no project here (no lockstep.yaml): no roles to show');
  for (const p of who.projects) {
    const roles = (list: readonly string[]) => (list.length === 0 ? 'no role' : list.join(', '));
    const envs = Object.entries(p.environments).map(([env, list]) => `${env}: ${roles(list)}`);
    lines.push(printable(`${p.project}: ${roles(p.roles)}${envs.length === 0 ? '' : ` (${envs.join('; ')})`}`));
  }
  return lines.join('\n');
}
