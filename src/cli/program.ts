import { Command, CommanderError, Option } from 'commander';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { ConfigError, errorMessage, formatProblem, GateBlocked, InputError } from '../core/errors.js';
import { printableKeepingColour, printableLines } from '../core/printable.js';
import { configJsonSchema } from '../core/config/config-schema.js';
import { initTemplate } from '../core/config/init-template.js';
import { formatLabels, parseLabelAssignments } from '../core/labels.js';
import type { PromotionRecord } from '../core/model.js';
import { builtinAdapters } from '../adapters/registry.js';
import { promote, resume, rollbackEnvironment } from '../engine/promote.js';
import { rejectRelease, tick } from '../engine/tick.js';
import { waitToEnd } from '../engine/follow.js';
import { auditExport } from '../engine/audit-export.js';
import type { PromotionRunner } from '../engine/runner.js';
import type { EngineDeps } from '../engine/deps.js';
import type { Backend, RunHooks as BackendRunHooks } from './backend.js';
import { collect, globals, outputOption, print, printJson, withBackend, withProject } from './command-kit.js';
import { addTokenCommands } from './commands/token.js';
import { addLoginCommands } from './commands/login.js';
import { addNotifyCommands } from './commands/notify.js';
import { DEFAULT_CONFIG, openStore, readConfig } from './context.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { renderGates, renderPlan, renderRelease, renderSummary, renderWaiting, shortId, stepProblem, table } from './format.js';
import { Progress } from './progress.js';
import { serveCommand } from './commands/serve.js';
import { cancelCommand } from './commands/cancel.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface RunHooks extends BackendRunHooks {
  /** Another process runs the promotion and may be gone: say whose it is, then show its steps as this one's. */
  onFollow: (promotion: PromotionRecord) => void;
}

/** 1 when a promotion failed or needs a decision; 3 when one waits on (or was refused by) its gates; else 0. */
function exitFor(results: readonly PromotionRecord[]): number {
  if (results.some((p) => p.state === 'failed' || p.state === 'interrupted' || p.state === 'cancelled')) return EXIT.failed;
  if (results.some((p) => p.state === 'pending' || p.state === 'rejected')) return EXIT.waiting;
  return results.every((p) => p.state === 'succeeded') ? EXIT.ok : EXIT.failed;
}

/** Runs a promotion-like action with live progress and Ctrl-C handling; returns the exit code. */
async function runWithProgress(
  cmd: Command,
  action: (backend: Backend, hooks: RunHooks) => Promise<PromotionRecord[]>,
  many = false,
): Promise<number> {
  const opts = globals(cmd);
  const json = opts.output === 'json';
  const live = !json && process.stdout.isTTY === true && process.env.CI === undefined;
  // With --output json, stdout carries one JSON document; progress goes to stderr.
  const progress = new Progress(json ? process.stderr : process.stdout, live);
  let runner: PromotionRunner | undefined;
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1 && runner) {
      process.stderr.write('\ncancelling: running steps are stopped, then the failure policy applies (Ctrl-C again stops the rollback too; a third time exits at once, and `lockstep resume` continues)\n');
      runner.cancel('cancelled by the user (Ctrl-C)');
    } else if (interrupts === 2 && runner) {
      runner.cancel('rollback cancelled by the user (Ctrl-C)');
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  try {
    return await withBackend(cmd, 'write', async (backend) => {
      const results = await action(backend, {
        onRunner: (r) => {
          runner = r;
          progress.start(r.record.plan.steps.map((s) => s.component));
        },
        onFollow: (p) => {
          if (!json) print(`Promotion ${shortId(p.id)} is being run by process ${p.owner?.pid ?? '?'} on ${p.owner?.host ?? '?'}: following it until it ends (Ctrl-C stops following, not the promotion)`);
          progress.start(p.plan.steps.map((s) => s.component));
        },
        onWatch: (p) => progress.start(p.plan.steps.map((s) => s.component)),
        onCreated: (p, planned) => {
          if (!json) {
            if (planned) print(renderPlan(planned.plan, planned.release) + '\n');
            if (p.state === 'running') print(`Promotion ${shortId(p.id)}: release ${shortId(p.releaseId)} → ${p.environment} (concurrency ${p.concurrency}, on failure: ${p.onFailure})`);
          }
        },
      });
      progress.stop();
      const out: unknown[] = [];
      for (const p of results) {
        const { steps } = await backend.promotion(p.id);
        if (json) out.push({ promotion: p, steps });
        else if (p.state === 'pending' || (p.state === 'rejected' && p.startedAt === undefined)) {
          print('\n' + renderWaiting(p));
        } else {
          print('\n' + renderSummary(p, steps));
          if (p.state !== 'succeeded') print(`What the steps printed: lockstep logs ${shortId(p.id)}${p.state === 'interrupted' ? `\nTo continue: lockstep resume ${shortId(p.id)} --retry-step C | --mark-done C` : ''}`);
        }
      }
      if (json) printJson(out.length === 1 && !many ? out[0] : out);
      return exitFor(results);
    }, progress);
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
  }
}

function overrideOption(o: { overrideWindow?: boolean; reason?: string }): { reason: string } | undefined {
  if (!o.overrideWindow) {
    if (o.reason !== undefined) throw new InputError('--reason goes with --override-window', '--reason');
    return undefined;
  }
  if (o.reason === undefined || o.reason.trim() === '') throw new InputError('--override-window needs --reason: say why this cannot wait for the window', '--reason');
  return { reason: o.reason };
}

/**
 * `promote --wait`: prints what the promotion waits for whenever that changes, then follows it to its
 * end, also when another process runs it (the approval that completed its gates). Returns it with the
 * exit code: its outcome's, or 3 when Ctrl-C stopped the waiting (it goes on, or stays pending).
 */
async function waitForEnd(deps: EngineDeps, pending: PromotionRecord, hooks: RunHooks, json: boolean): Promise<{ promotion: PromotionRecord; code?: number }> {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  try {
    const out = json ? process.stderr : process.stdout;
    let first = true;
    const { promotion, end } = await waitToEnd(deps, pending, {
      signal: controller.signal,
      observer: deps.observer,
      onRunner: hooks.onRunner,
      onCreated: (p) => hooks.onCreated(p),
      onFollow: hooks.onFollow,
      onWaiting: (p) => {
        // The first time, the whole picture: the gates, and the command approvers need (with the id).
        if (first && !json) out.write(`${renderWaiting(p)}\n\n`);
        first = false;
        out.write(`${new Date().toISOString()} waiting: ${p.reason ?? ''}\n`);
      },
    });
    if (end === 'finished') return { promotion };
    const id = shortId(promotion.id);
    if (end === 'owner-gone') {
      process.stderr.write(`lockstep: error: the process running promotion ${id} (${promotion.owner?.pid ?? '?'} on ${promotion.owner?.host ?? '?'}) stopped before it ended; continue it with: lockstep resume ${id}\n`);
      return { promotion, code: EXIT.failed };
    }
    process.stderr.write(`lockstep: stopped waiting; promotion ${id} is ${promotion.state}${promotion.state === 'pending' ? '' : ' in another process'} (lockstep status shows how it goes on)\n`);
    return { promotion, code: EXIT.waiting };
  } finally {
    process.off('SIGINT', stop);
  }
}

export function buildProgram(): Command {
  const program = new Command('lockstep')
    .description('Promote one release across Kubernetes and everything around it: in order, behind one set of gates, with one tamper-evident record.')
    .version(VERSION, '-V, --version')
    .option('-c, --config <file>', 'the project config', process.env.LOCKSTEP_CONFIG ?? DEFAULT_CONFIG)
    .option('--state <path>', 'state directory or .db file (default: .lockstep/ beside the config)')
    .option('--actor <who>', 'who is acting (default: $LOCKSTEP_ACTOR, git user.email, OS user); not with --server')
    .option('--server <url>', 'talk to a team server (lockstep serve) instead of the files here (also $LOCKSTEP_SERVER; needs $LOCKSTEP_TOKEN, and $LOCKSTEP_PROJECT away from the project\'s lockstep.yaml)')
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

  program
    .command('init')
    .description('write a commented example lockstep.yaml')
    .option('--force', 'overwrite an existing file')
    .addHelpText('after', '\nExample:\n  lockstep init && lockstep validate')
    .action(async (o: { force?: boolean }, cmd: Command) => {
      const opts = globals(cmd);
      const file = opts.config;
      if (existsSync(file) && !o.force) throw new InputError(`${file} exists already (use --force to overwrite)`, 'config');
      writeFileSync(file, initTemplate());
      // A project starts here: its state too (an existing one is left as it is). With a server set
      // too: a new project's files are made here whatever the CLI talks to afterwards.
      await (await openStore({ ...opts, server: undefined }, 'create')).close();
      print(`wrote ${file}; check it with: lockstep validate`);
    });

  program
    .command('validate')
    .description('check the config; prints every problem as FILE:LINE:COL: path: message')
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  lockstep validate --config deploy/lockstep.yaml')
    .action((_o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      try {
        const loaded = readConfig(opts.config);
        const c = loaded.config;
        if (opts.output === 'json') printJson({ valid: true, file: opts.config, digest: loaded.digest, environments: Object.keys(c.environments), components: Object.keys(c.components), problems: [] });
        else print(`${opts.config}: valid (${Object.keys(c.environments).length} environments, ${Object.keys(c.components).length} components)`);
      } catch (error) {
        if (error instanceof ConfigError && opts.output === 'json') {
          printJson({ valid: false, file: opts.config, problems: error.problems });
          throw new ReportedError(EXIT.invalid);
        }
        throw error;
      }
    });

  program
    .command('schema')
    .description('print the JSON Schema of lockstep.yaml (for editor completion)')
    .addHelpText('after', '\nExample:\n  lockstep schema > lockstep.schema.json   # then: # yaml-language-server: $schema=lockstep.schema.json')
    .action(() => printJson(configJsonSchema(builtinAdapters())));

  const release = program.command('release').description('create and inspect releases');
  release
    .command('create')
    .description('create an immutable release pinning a version for every component')
    .option('-s, --set <component=version>', 'a component version (repeatable)', collect, [] as string[])
    .option('--from <env>', 'take versions not given with --set from what ENV runs')
    .option('-m, --message <text>', 'a message for people')
    .option('-l, --label <key=value>', 'a label policies can read as release.labels (repeatable; fixed with the release)', collect, [] as string[])
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  lockstep release create --set api=1.4.2 --set schema=20261101 --set iam=git:4f2a1c\n  lockstep release create --from staging --set api=1.4.3 -m "hotfix" --label risk=high')
    .action(async (o: { set: string[]; from?: string; message?: string; label: string[] }, cmd: Command) => {
      // Labels are checked before the state is opened or created: a typo changes nothing.
      const labels = o.label.length > 0 ? parseLabelAssignments(o.label) : undefined;
      await withBackend(cmd, 'create', async (backend, opts) => {
        const { release: r, created } = await backend.createRelease({ set: o.set, from: o.from, message: o.message, labels });
        if (opts.output === 'json') printJson({ created, release: r });
        else print(`${created ? 'created' : 'exists already:'} release ${r.id}\n\n${renderRelease(r)}`);
      });
    });
  release
    .command('reject')
    .description('mark a release known-bad: it can never be promoted again, anywhere')
    .argument('<release>')
    .requiredOption('-r, --reason <text>', 'what is wrong with it (recorded in the audit log)')
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  lockstep release reject 3f2a1c9 --reason "corrupts invoices, see INC-4711"')
    .action(async (ref: string, o: { reason: string }, cmd: Command) => {
      await withProject(cmd, 'write', async (deps, opts) => {
        const result = await rejectRelease(deps, ref, o.reason);
        if (opts.output === 'json') return printJson(result);
        print(`release ${result.release.id} rejected: ${o.reason}`);
        for (const p of result.rejectedPromotions) print(`  pending promotion ${shortId(p.id)} to ${p.environment}: ${p.state}`);
      });
    });
  release
    .command('list')
    .description('list releases, newest first')
    .option('-n, --limit <n>', 'how many', '20')
    .addOption(outputOption())
    .action(async (o: { limit: string }, cmd: Command) => {
      await withBackend(cmd, 'read', async (backend, opts) => {
        const list = await backend.listReleases(Number(o.limit));
        if (opts.output === 'json') return printJson(list);
        if (list.length === 0) return print('no releases yet: lockstep release create --set COMPONENT=VERSION …');
        print(table(['ID', 'CREATED', 'BY', 'VERSIONS', 'LABELS', 'MESSAGE'], list.map((r) => [shortId(r.id) + (r.rejected ? ' REJECTED' : ''), r.createdAt, r.createdBy, Object.entries(r.versions).map(([c, v]) => `${c}=${v}`).join(' '), formatLabels(r.labels) || '-', r.message ?? ''])));
      });
    });
  release
    .command('show')
    .description('show one release (id or a unique prefix of ≥ 7 characters)')
    .argument('<release>')
    .addOption(outputOption())
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      await withBackend(cmd, 'read', async (backend, opts) => {
        const { release: r, promotions } = await backend.release(ref);
        if (opts.output === 'json') return printJson({ release: r, promotions });
        print(renderRelease(r));
        if (promotions.length) print('\n' + table(['PROMOTION', 'ENV', 'STATE', 'REQUESTED'], promotions.map((p) => [shortId(p.id), p.environment, p.state, p.requestedAt])));
      });
    });

  program
    .command('plan')
    .description('show what promoting RELEASE to ENV would do, per component, and the gates')
    .argument('<release>')
    .requiredOption('-t, --to <env>', 'target environment')
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  lockstep plan 3f2a1c9 --to prod --output json')
    .action(async (ref: string, o: { to: string }, cmd: Command) => {
      // Planning records nothing: a read-only state plans.
      await withBackend(cmd, 'read', async (backend, opts) => {
        const { release: r, plan } = await backend.plan(ref, o.to);
        if (opts.output === 'json') return printJson(plan);
        print(renderPlan(plan, r));
      });
    });

  program
    .command('promote')
    .description('promote RELEASE to ENV: runs the DAG, rolls back on failure')
    .argument('<release>')
    .requiredOption('-t, --to <env>', 'target environment')
    .option('-j, --concurrency <n>', 'steps at once', '8')
    .option('--wait', 'when gates are pending, wait for them (approvals, soak, window) instead of exiting 3')
    .option('--override-window', 'emergency: promote outside the change windows (only people in gates.overrideBy; needs --reason)')
    .option('--reason <text>', 'why the override cannot wait (recorded in the audit log)')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  lockstep promote 3f2a1c9 --to staging\n  lockstep promote 3f2a1c9 --to prod --concurrency 4 --actor alice@example.com\n  lockstep promote 3f2a1c9 --to prod --override-window --reason "INC-123: payment outage fix"')
    .action(async (ref: string, o: { to: string; concurrency: string; wait?: boolean; overrideWindow?: boolean; reason?: string }, cmd: Command) => {
      let waited: number | undefined;
      const code = await runWithProgress(cmd, async (backend, hooks) => {
        const concurrency = Number(o.concurrency);
        const overrideWindow = overrideOption(o);
        if (!o.wait && overrideWindow === undefined) return [await backend.promote({ release: ref, to: o.to, concurrency }, hooks)];
        // The API has no field for these yet: the engine here runs them (a server backend refuses).
        const deps = await backend.engine(o.wait ? '--wait' : '--override-window');
        const result = await promote(deps, ref, o.to, { concurrency, overrideWindow, onRunner: hooks.onRunner, onCreated: hooks.onCreated });
        if (!o.wait || result.state !== 'pending') return [result];
        const end = await waitForEnd(deps, result, hooks, globals(cmd).output === 'json');
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
    .description('one round of background work: re-evaluate pending promotions (run those whose gates pass) and start auto-promotions')
    .addOption(outputOption())
    .addHelpText('after', '\nExample (every minute from cron or a CI schedule):\n  lockstep tick --output json')
    .action(async (_o: unknown, cmd: Command) => {
      let tickFailed = false;
      const code = await runWithProgress(
        cmd,
        async (backend, hooks) => {
          const result = await tick(await backend.engine(), { onRunner: hooks.onRunner, onCreated: hooks.onCreated });
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
        const results = await resume(await backend.engine(), ref, { retryStep: o.retryStep, markDone: o.markDone, stopRunning: o.stopRunning, overrideWindow: overrideOption(o), onRunner: hooks.onRunner });
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
        await rollbackEnvironment(await backend.engine(), o.env, {
          concurrency: Number(o.concurrency),
          overrideWindow: overrideOption(o),
          onRunner: hooks.onRunner,
          onCreated: (p, planned) => {
            if (globals(cmd).output !== 'json') print(`rolling ${o.env} back to release ${shortId(p.releaseId)}`);
            hooks.onCreated(p, planned);
          },
        }),
      ]);
      throw new ReportedError(code);
    });

  program
    .command('status')
    .description('what runs where: per environment, the release, each component\'s version, the last promotion')
    .option('-e, --env <env>', 'one environment')
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  lockstep status --env prod --output json')
    .action(async (o: { env?: string }, cmd: Command) => {
      await withBackend(cmd, 'read', async (backend, opts) => {
        const result = await backend.status(o.env);
        if (opts.output === 'json') return printJson(result);
        for (const e of result) {
          const mixed = e.differsFromRelease.length > 0 ? ` (but ${e.differsFromRelease.join(', ')} run${e.differsFromRelease.length === 1 ? 's' : ''} other versions)` : '';
          print(`${e.environment}: ${e.release ? `release ${shortId(e.release)}${mixed}` : 'nothing promoted yet'}` +
            (e.lastPromotion ? `; last promotion ${shortId(e.lastPromotion.id)} ${e.lastPromotion.state} (${e.lastPromotion.kind}, ${e.lastPromotion.requestedAt} by ${e.lastPromotion.requestedBy})` : '') +
            (e.activePromotion ? `; BUSY with ${shortId(e.activePromotion.id)}` : ''));
          if (e.lastPromotion?.reason && ['failed', 'rejected', 'cancelled', 'interrupted'].includes(e.lastPromotion.state)) print(`  ${e.lastPromotion.state}: ${e.lastPromotion.reason}`);
          if (e.components.length) print(table(['  COMPONENT', 'VERSION', 'RELEASE', 'UPDATED'], e.components.map((c) => [`  ${c.component}`, c.version, shortId(c.releaseId), c.updatedAt])));
          for (const p of e.pending) {
            print(`  PENDING promotion ${shortId(p.promotion.id)} of release ${shortId(p.promotion.releaseId)}, requested by ${p.promotion.requestedBy} at ${p.promotion.requestedAt}:`);
            print(renderGates(p.gates).replace(/^/gm, '  '));
          }
          print('');
        }
      });
    });

  program
    .command('history')
    .description('promotions (and, with --component, their steps), newest first; with PROMOTION, that one in full: its plan, gates and steps')
    .argument('[promotion]', 'one promotion: id or a unique prefix (≥ 7 characters)')
    .option('-e, --env <env>', 'one environment')
    .option('--component <name>', 'steps of one component')
    .option('-n, --limit <n>', 'how many', '20')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  lockstep history --env prod\n  lockstep history --component api --output json\n  lockstep history 9c1e2f3        # the plan approvers are asked to approve, its gates and steps')
    .action(async (ref: string | undefined, o: { env?: string; component?: string; limit: string }, cmd: Command) => {
      await withBackend(cmd, 'read', async (backend, opts) => {
        if (ref !== undefined) {
          const { promotion, steps } = await backend.promotion(ref);
          if (opts.output === 'json') return printJson({ promotion, steps });
          print(renderPlan(promotion.plan, (await backend.release(promotion.releaseId)).release));
          print('');
          print(promotion.state === 'pending' || (promotion.state === 'rejected' && promotion.startedAt === undefined) ? renderWaiting(promotion) : renderSummary(promotion, steps));
          return;
        }
        const limit = Number(o.limit);
        if (o.component) {
          // No route for it yet: the store here (a server backend refuses, naming the option).
          const { store } = await backend.engine('--component');
          const steps = await store.listStepHistory({ environment: o.env, component: o.component, limit });
          if (opts.output === 'json') return printJson(steps);
          print(table(['PROMOTION', 'ENV', 'COMPONENT', 'STATE', 'VERSION', 'STARTED', 'ERROR'], steps.map((s) => [shortId(s.promotionId), s.environment, s.component, s.state, `${s.fromVersion ?? '(none)'} → ${s.toVersion}`, s.startedAt ?? '', stepProblem(s)])));
          return;
        }
        const promotions = await backend.promotions({ environment: o.env, limit });
        if (opts.output === 'json') {
          const out = [];
          for (const p of promotions) out.push({ ...p, steps: (await backend.promotion(p.id)).steps });
          return printJson(out);
        }
        if (promotions.length === 0) return print('no promotions yet');
        const rows = [];
        for (const p of promotions) {
          const { steps } = await backend.promotion(p.id);
          const counts = new Map<string, number>();
          for (const s of steps) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
          rows.push([shortId(p.id), p.environment, p.kind, p.state, shortId(p.releaseId), p.requestedAt, p.requestedBy, [...counts].map(([st, n]) => `${n} ${st}`).join(', ')]);
        }
        // A promotion that did not succeed says why on the line below its row: the cause is what people look for.
        const lines = table(['PROMOTION', 'ENV', 'KIND', 'STATE', 'RELEASE', 'REQUESTED', 'BY', 'STEPS'], rows).split('\n');
        const out = [lines[0] ?? ''];
        promotions.forEach((p, i) => {
          out.push(lines[i + 1] ?? '');
          if (p.state !== 'succeeded' && p.reason) out.push(`  ${p.reason}`);
        });
        print(out.join('\n'));
      });
    });

  program
    .command('logs')
    .description("what a promotion's steps printed (secrets redacted)")
    .argument('<promotion>', 'promotion id or a unique prefix (≥ 7 characters)')
    .option('--component <name>', 'one component')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  lockstep logs 9c1e2f3\n  lockstep logs 9c1e2f3 --component billing --output json')
    .action(async (ref: string, o: { component?: string }, cmd: Command) => {
      await withBackend(cmd, 'read', async (backend, opts) => {
        const lines = await backend.logs(ref, o.component);
        if (opts.output === 'json') return printJson(lines);
        const width = Math.max(0, ...lines.map((l) => l.component.length));
        for (const l of lines) print(`${l.time.slice(11, 23)} ${l.component.padEnd(width)} | ${printableKeepingColour(l.line)}`);
      });
    });

  const audit = program.command('audit').description('the tamper-evident audit log');
  audit
    .command('verify')
    .description('check the hash chain; exits 1 naming the first bad entry')
    .option('--head <hash>', 'a head hash recorded earlier: the chain must still contain it (detects a removed tail)')
    .addOption(outputOption())
    .action(async (o: { head?: string }, cmd: Command) => {
      await withBackend(cmd, 'read', async (backend, opts) => {
        const result = await backend.verifyAudit(o.head);
        if (opts.output === 'json') printJson(result);
        else if ('headMissing' in result) print(`audit log chain is intact (${result.entries} entries) but does not contain the expected head ${o.head ?? ''}: entries were removed from the end, or the log was rewritten`);
        else if (!result.ok) print(`audit log BROKEN at entry ${result.firstBad}: ${result.reason} (${result.entries} entries before it verified)`);
        else print(`audit log intact: ${result.entries} entries, head ${result.head}`);
        if (!result.ok) throw new ReportedError(EXIT.failed);
      });
    });
  audit
    .command('export')
    .description('write the audit log as JSON lines (one entry per line, with hashes: verifiable offline)')
    .addOption(new Option('--format <format>', 'format').choices(['jsonl']).default('jsonl'))
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (o: { out?: string }, cmd: Command) => {
      const store = await openStore(globals(cmd), 'read');
      const sink = o.out ? createWriteStream(o.out) : process.stdout;
      try {
        for await (const chunk of auditExport(store)) sink.write(chunk);
      } finally {
        if (o.out) await new Promise<void>((res) => (sink as ReturnType<typeof createWriteStream>).end(res));
        await store.close();
      }
    });

  addTokenCommands(program);
  addNotifyCommands(program);
  addLoginCommands(program);
  serveCommand(program);
  cancelCommand(program);

  return program;
}

/** Thrown by an action that has already printed its result, to set the exit code. */
class ReportedError extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
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
