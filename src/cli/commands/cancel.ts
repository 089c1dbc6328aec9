import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';
import { printable } from '../../core/printable.js';
import { leaseRenewMs } from '../../engine/lease.js';
import { outputOption, print, printJson, withBackend } from '../command-kit.js';
import { shortId } from '../format.js';

/**
 * `lockstep cancel PROMOTION --reason TEXT`: a pending promotion ends cancelled at once; a running one
 * is asked to stop, and whoever runs it (this machine's CLI, another terminal, a server) stops its
 * running steps and applies its failure policy. Locally through the engine, or through the server's
 * API with LOCKSTEP_SERVER. Does not wait for the end: `lockstep history PROMOTION` shows it.
 */
export function cancelCommand(program: Command): void {
  program
    .command('cancel')
    .description('cancel a promotion: a pending one ends; a running one is stopped by whoever runs it, then its failure policy applies')
    .argument('<promotion>', 'promotion id or a unique prefix (≥ 7 characters)')
    .requiredOption('--reason <text>', 'why (recorded with the promotion and in the audit log)')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  lockstep cancel 9c1e2f3 --reason "INC-481: wrong config for prod"\n  lockstep cancel 9c1e2f3 --reason "superseded by 1.4.3" -o json')
    .action(async (ref: string, o: { reason: string }, cmd: Command) => {
      if (o.reason.trim() === '') throw new InputError('--reason must say why the promotion is cancelled', '--reason');
      await withBackend(cmd, 'write', async (backend, opts) => {
        const promotion = await backend.cancel(ref, o.reason);
        if (opts.output === 'json') return printJson({ promotion });
        const id = shortId(promotion.id);
        if (promotion.state === 'cancelled') return print(`Promotion ${id} CANCELLED: ${printable(promotion.reason ?? '')}`);
        const owner = promotion.owner;
        const who = owner === undefined ? undefined : `process ${owner.pid} on ${printable(owner.host)}`;
        print(
          who === undefined
            ? `Cancel requested for promotion ${id} (${promotion.state}). Nobody runs it now: the next process to resume it (a server's worker does so by itself, or lockstep resume ${id}) cancels it.`
            : `Cancel requested for promotion ${id} (${promotion.state}, run by ${who}): it stops its running steps within ${leaseRenewMs() / 1000} s, then applies its failure policy (onFailure: ${promotion.onFailure}).`,
        );
        print(`Follow it: lockstep history ${id}`);
      });
    });
}
