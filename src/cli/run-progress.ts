import type { Command } from 'commander';
import { InputError } from '../core/errors.js';
import type { PromotionRecord } from '../core/model.js';
import type { PromotionRunner } from '../engine/runner.js';
import type { Backend, WaitHooks, WindowOverride } from './backend.js';
import { globals, print, printJson, withBackend } from './command-kit.js';
import { EXIT } from './exit-codes.js';
import { renderPlan, renderSummary, renderWaiting, shortId } from './format.js';
import { Progress } from './progress.js';

/** What the promotion-running commands hear: a backend's hooks, and those of `promote --wait`. */
export type RunHooks = WaitHooks;

/** 1 when a promotion failed or needs a decision; 3 when one waits on (or was refused by) its gates; else 0. */
export function exitFor(results: readonly PromotionRecord[]): number {
  if (results.some((p) => p.state === 'failed' || p.state === 'interrupted' || p.state === 'cancelled')) return EXIT.failed;
  if (results.some((p) => p.state === 'pending' || p.state === 'rejected')) return EXIT.waiting;
  return results.every((p) => p.state === 'succeeded') ? EXIT.ok : EXIT.failed;
}

/**
 * Runs a promotion-like action (promote, approve, resume, rollback, tick) with live progress and
 * Ctrl-C handling, then prints each promotion's summary; returns the exit code. Whether the run is in
 * this process or in a server, the same hooks print the same lines.
 */
export async function runWithProgress(
  cmd: Command,
  action: (backend: Backend, hooks: RunHooks) => Promise<PromotionRecord[]>,
  many = false,
): Promise<number> {
  const opts = globals(cmd);
  const json = opts.output === 'json';
  const live = !json && process.stdout.isTTY === true && process.env.CI === undefined;
  // With --output json, stdout carries one JSON document; progress goes to stderr.
  const out = json ? process.stderr : process.stdout;
  const progress = new Progress(out, live);
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
  let first = true;
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
        onWaiting: (p) => {
          // The first time, the whole picture: the gates, and the command approvers need (with the id).
          if (first && !json) out.write(`${renderWaiting(p)}\n\n`);
          first = false;
          out.write(`${new Date().toISOString()} waiting: ${p.reason ?? ''}\n`);
        },
      });
      progress.stop();
      const printed: unknown[] = [];
      for (const p of results) {
        const { steps } = await backend.promotion(p.id);
        if (json) printed.push({ promotion: p, steps });
        else if (p.state === 'pending' || (p.state === 'rejected' && p.startedAt === undefined)) {
          print('\n' + renderWaiting(p));
        } else {
          print('\n' + renderSummary(p, steps));
          if (p.state !== 'succeeded') print(`What the steps printed: lockstep logs ${shortId(p.id)}${p.state === 'interrupted' ? `\nTo continue: lockstep resume ${shortId(p.id)} --retry-step C | --mark-done C` : ''}`);
        }
      }
      if (json) printJson(printed.length === 1 && !many ? printed[0] : printed);
      return exitFor(results);
    }, progress);
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
  }
}

/** `--override-window --reason TEXT`, checked: the reason is required with it and means nothing without it. */
export function overrideOption(o: { overrideWindow?: boolean; reason?: string }): WindowOverride | undefined {
  if (!o.overrideWindow) {
    if (o.reason !== undefined) throw new InputError('--reason goes with --override-window', '--reason');
    return undefined;
  }
  if (o.reason === undefined || o.reason.trim() === '') throw new InputError('--override-window needs --reason: say why this cannot wait for the window', '--reason');
  return { reason: o.reason };
}

/**
 * `promote --wait`: prints what the promotion waits for whenever that changes, then follows it to its
 * end, also when another process runs it (the approval that completed its gates, a server). Returns
 * it with the exit code: its outcome's, or 3 when Ctrl-C stopped the waiting (it goes on, or stays pending).
 */
export async function waitForEnd(backend: Backend, pending: PromotionRecord, hooks: RunHooks): Promise<{ promotion: PromotionRecord; code?: number }> {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  try {
    const { promotion, end } = await backend.waitToEnd(pending, hooks, controller.signal);
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
