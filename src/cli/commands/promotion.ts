import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';
import { collect, globals, outputOption, print, ReportedError } from '../command-kit.js';
import { EXIT } from '../exit-codes.js';
import { shortId } from '../format.js';
import { overrideOption, runWithProgress, waitForEnd } from '../run-progress.js';

/** The environment of `promote`: --to or --env (one, or both the same); a RELEASE unless --reapply. */
function promoteTarget(ref: string | undefined, o: { to?: string; env?: string; reapply: string[] }): string {
  if (o.to !== undefined && o.env !== undefined && o.to !== o.env) throw new InputError(`--to ${o.to} and --env ${o.env} name different environments: give one`, '--to');
  const to = o.to ?? o.env;
  if (to === undefined) throw new InputError("promote needs the target environment: --to ENV (or --env ENV)", '--to');
  if (ref === undefined && o.reapply.length === 0) throw new InputError('promote needs a RELEASE (or --reapply COMPONENT to apply one again at the version it runs)', 'release');
  return to;
}

/**
 * The commands that run promotions: `promote`, `approve`, `resume`, `rollback`, `tick`. Each shows the
 * run's progress and summary, whether it runs here or in a server (followed through its event stream).
 */
export function addPromotionCommands(program: Command): void {
  program
    .command('promote')
    .description('promote RELEASE to ENV: runs the DAG, rolls back on failure; with --reapply, apply components again at the version they run, to correct drift')
    .argument('[release]', 'release id or a unique prefix (with --reapply: default, the release ENV runs now)')
    .option('-t, --to <env>', 'target environment')
    .option('-e, --env <env>', 'the same as --to (reads better with --reapply)')
    .option('--reapply <component>', 're-apply this component at the version it runs in ENV, behind the same gates (repeatable)', collect, [] as string[])
    .option('-j, --concurrency <n>', 'steps at once', '8')
    .option('--wait', 'when gates are pending, wait for them (approvals, soak, window) instead of exiting 3')
    .option('--override-window', 'emergency: promote outside the change windows (only people in gates.overrideBy; needs --reason)')
    .option('--reason <text>', 'why the override cannot wait (recorded in the audit log)')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  lockstep promote 3f2a1c9 --to staging\n  lockstep promote 3f2a1c9 --to prod --concurrency 4 --actor alice@example.com\n  lockstep promote 3f2a1c9 --to prod --override-window --reason "INC-123: payment outage fix"\n  lockstep promote --reapply billing --env prod     # correct drift that lockstep drift found')
    .action(async (ref: string | undefined, o: { to?: string; env?: string; reapply: string[]; concurrency: string; wait?: boolean; overrideWindow?: boolean; reason?: string }, cmd: Command) => {
      let waited: number | undefined;
      const code = await runWithProgress(cmd, async (backend, hooks) => {
        const overrideWindow = overrideOption(o);
        const to = promoteTarget(ref, o);
        const reapply = o.reapply.length > 0 ? o.reapply : undefined;
        const result = await backend.promote({ release: ref, to, concurrency: Number(o.concurrency), overrideWindow, reapply }, hooks);
        if (!o.wait || result.state !== 'pending') return [result];
        const end = await waitForEnd(backend, result, hooks);
        waited = end.code;
        return [end.promotion];
      });
      throw new ReportedError(waited ?? code);
    });

  program
    .command('approve')
    .description('approve (or --reject) a pending promotion; the approval binds to the plan as it stands')
    .argument('<promotion>', 'promotion id or a unique prefix (≥ 7 characters)')
    .option('-m, --comment <text>', 'why (required with --reject)')
    .option('--reject', 'reject instead: the promotion ends')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  lockstep approve 9c1e2f3 --comment "plan reviewed" --actor bob@example.com\n  lockstep approve 9c1e2f3 --reject --comment "drops the orders table"')
    .action(async (ref: string, o: { comment?: string; reject?: boolean }, cmd: Command) => {
      const code = await runWithProgress(cmd, async (backend, hooks) => [
        await backend.decide({ promotion: ref, comment: o.comment, reject: o.reject }, hooks),
      ]);
      throw new ReportedError(code);
    });

  program
    .command('tick')
    .description('one round of background work: re-evaluate pending promotions (run those whose gates pass) and start auto-promotions; through a server, nothing (its worker does this continuously)')
    .addOption(outputOption())
    .addHelpText('after', '\nExample (every minute from cron or a CI schedule):\n  lockstep tick --output json')
    .action(async (_o: unknown, cmd: Command) => {
      let tickFailed = false;
      const code = await runWithProgress(
        cmd,
        async (backend, hooks) => {
          const outcome = await backend.tick(hooks);
          if (outcome.kind === 'server') {
            process.stderr.write(`lockstep: ${outcome.note}\n`);
            return [];
          }
          const result = outcome.result;
          const all = [...result.pending, ...result.automatic];
          for (const e of result.errors) process.stderr.write(`lockstep: error: tick: ${e.environment}${e.promotionId ? ` (promotion ${shortId(e.promotionId)})` : ''}: ${e.message}\n`);
          tickFailed = result.errors.length > 0;
          if (all.length === 0 && result.errors.length === 0 && globals(cmd).output !== 'json') print('nothing to do: no pending promotion, no auto-promotion due');
          return all;
        },
        true,
      );
      // A tick that leaves promotions waiting did its job: only a failure is an error.
      throw new ReportedError(tickFailed ? EXIT.failed : code === EXIT.waiting ? EXIT.ok : code);
    });

  program
    .command('resume')
    .description('continue unfinished promotions (all, or PROMOTION) after a crash or an interruption')
    .argument('[promotion]')
    .option('--retry-step <component>', 'interrupted: apply this step again (repeatable)', collect, [] as string[])
    .option('--mark-done <component>', 'interrupted: you checked, it finished; carry on (repeatable)', collect, [] as string[])
    .option('--stop-running', 'stop step commands still running from before a crash instead of waiting for them')
    .option('--override-window', 'pending: run it outside the change windows (only people in gates.overrideBy; needs --reason)')
    .option('--reason <text>', 'why the override cannot wait')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  lockstep resume\n  lockstep resume 9c1e2f3 --retry-step billing\n  lockstep resume 9c1e2f3          # a pending promotion: evaluate its gates again')
    .action(async (ref: string | undefined, o: { retryStep: string[]; markDone: string[]; stopRunning?: boolean; overrideWindow?: boolean; reason?: string }, cmd: Command) => {
      const code = await runWithProgress(cmd, async (backend, hooks) => {
        const results = await backend.resume({ promotion: ref, retryStep: o.retryStep, markDone: o.markDone, stopRunning: o.stopRunning, overrideWindow: overrideOption(o) }, hooks);
        if (results.length === 0 && globals(cmd).output !== 'json') print('nothing to resume');
        return results;
      });
      throw new ReportedError(code);
    });

  program
    .command('rollback')
    .description('promote the release that ran in ENV before the current one (recorded as a rollback)')
    .requiredOption('-e, --env <env>', 'environment')
    .option('-j, --concurrency <n>', 'steps at once', '8')
    .option('--override-window', 'emergency: roll back outside the change windows (only people in gates.overrideBy; needs --reason)')
    .option('--reason <text>', 'why the override cannot wait')
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  lockstep rollback --env prod')
    .action(async (o: { env: string; concurrency: string; overrideWindow?: boolean; reason?: string }, cmd: Command) => {
      const code = await runWithProgress(cmd, async (backend, hooks) => [
        await backend.rollback(
          { environment: o.env, concurrency: Number(o.concurrency), overrideWindow: overrideOption(o) },
          {
            ...hooks,
            onCreated: (p, planned) => {
              if (globals(cmd).output !== 'json') print(`rolling ${o.env} back to release ${shortId(p.releaseId)}`);
              hooks.onCreated(p, planned);
            },
          },
        ),
      ]);
      throw new ReportedError(code);
    });
}
