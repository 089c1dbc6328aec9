import { Option, type Command } from 'commander';
import { InputError } from '../../core/errors.js';
import { printable } from '../../core/printable.js';
import type { DeliveryView } from '../../engine/notifications.js';
import { DELIVERY_STATUSES, type DeliveryStatus } from '../../store/store.js';
import { globals, outputOption, print, printJson, withBackend } from '../command-kit.js';
import { table } from '../format.js';

/** How long `notify send` keeps sending what is due. */
const SEND_BUDGET_MS = 30_000;

/**
 * `lockstep notify log | send | test`: the notification outbox (docs/notifications.md). `log` reads
 * it here or through the server; `send` and `test` send from this machine (a server sends by itself).
 */
export function addNotifyCommands(program: Command): void {
  const notify = program.command('notify').description('webhook notifications: what was sent where, and sending now');
  notify
    .command('log')
    .description('deliveries, newest first: target, event, status, attempts, the last answer')
    .option('--target <name>', 'only this notify target')
    .addOption(new Option('--status <status>', 'only deliveries in this status').choices([...DELIVERY_STATUSES]))
    .option('-n, --limit <n>', 'how many', '50')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  lockstep notify log\n  lockstep notify log --target sre-chat --status pending -o json')
    .action(async (o: { target?: string; status?: DeliveryStatus; limit: string }, cmd: Command) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new InputError('--limit must be a whole number ≥ 1', '--limit');
      await withBackend(cmd, 'read', async (backend, opts) => {
        const deliveries = await backend.deliveries({ ...(o.target === undefined ? {} : { target: o.target }), ...(o.status === undefined ? {} : { status: o.status }), limit });
        if (opts.output === 'json') return printJson(deliveries);
        if (deliveries.length === 0) return print('no deliveries yet (notify: targets in lockstep.yaml receive events; see docs/notifications.md)');
        print(table(['QUEUED', 'TARGET', 'EVENT', 'STATUS', 'ATTEMPTS', 'LAST ANSWER', 'DELIVERY'], deliveries.map(row)));
      });
    });

  notify
    .command('send')
    .description('send pending notifications now, without waiting for their next retry (a server sends by itself)')
    .addOption(outputOption())
    .addHelpText('after', '\nExample (from cron, beside lockstep tick):\n  lockstep notify send')
    .action(async (_o: unknown, cmd: Command) => {
      await withBackend(cmd, 'write', async (backend, opts) => {
        const sent = await backend.sendNotifications(SEND_BUDGET_MS);
        if (opts.output === 'json') return printJson(sent);
        print(`queued ${sent.queued}, delivered ${sent.delivered}, failed ${sent.failed}, to retry ${sent.retrying}${sent.nextAttemptAt ? ` (next attempt at ${sent.nextAttemptAt})` : ''}`);
      });
    });

  notify
    .command('test')
    .description('send a test event to a notify target (after what it has pending) and show how it went')
    .argument('<target>', 'the notify target name')
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  lockstep notify test sre-chat')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await withBackend(cmd, 'write', async (backend) => {
        const delivery = await backend.testNotification(name);
        if (globals(cmd).output === 'json') return printJson(delivery);
        print(table(['QUEUED', 'TARGET', 'EVENT', 'STATUS', 'ATTEMPTS', 'LAST ANSWER', 'DELIVERY'], [row(delivery)]));
        // Exit 1: a test that did not get through is what the command is there to tell.
        if (delivery.status !== 'delivered') throw new Error(`the test notification to ${name} was not delivered (${delivery.status}): ${delivery.lastAttempt?.error ?? 'see lockstep notify log'}`);
      });
    });
}

function row(d: DeliveryView): string[] {
  const last = d.lastAttempt;
  const answer = last === undefined ? '-' : last.httpStatus !== undefined && last.error === undefined ? `HTTP ${last.httpStatus}` : (last.error ?? '-');
  const status = d.status === 'pending' && d.nextAttemptAt !== undefined && d.attempts > 0 ? `pending (next ${d.nextAttemptAt})` : d.status;
  return [d.createdAt, d.target, d.cloudEventType ?? d.event, status, String(d.attempts), answer, d.deliveryId].map((cell) => printable(cell));
}
