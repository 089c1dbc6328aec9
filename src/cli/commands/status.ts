import type { Command } from 'commander';
import type { DriftState } from '../../core/drift.js';
import { printableKeepingColour } from '../../core/printable.js';
import { outputOption, print, printJson, withBackend } from '../command-kit.js';
import { renderGates, renderPlan, renderSummary, renderWaiting, shortId, stepProblem, table } from '../format.js';

/** A component's last drift check in a word or two; a check older than the component's last apply says nothing any more. */
function driftText(d: DriftState | undefined, updatedAt: string): string {
  if (d === undefined || d.checkedAt < updatedAt) return 'not checked';
  if (d.state === 'drifted') return `DRIFTED (${d.findings.length} finding${d.findings.length === 1 ? '' : 's'}, ${d.checkedAt})`;
  return `${d.state} (${d.checkedAt})`;
}

/** `status`, `history`, `logs`: what runs where, what happened, what the steps printed. */
export function addStatusCommands(program: Command): void {
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
          const drift = new Map((e.drift ?? []).map((d) => [d.component, d]));
          if (e.components.length) {
            print(table(['  COMPONENT', 'VERSION', 'RELEASE', 'UPDATED', 'DRIFT'], e.components.map((c) => [`  ${c.component}`, c.version, shortId(c.releaseId), c.updatedAt, driftText(drift.get(c.component), c.updatedAt)])));
          }
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
          const steps = await backend.stepHistory({ environment: o.env, component: o.component, limit });
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
}
