import type { Command } from 'commander';
import { formatLabels, parseLabelAssignments } from '../../core/labels.js';
import { collect, outputOption, print, printJson, withBackend } from '../command-kit.js';
import { renderPlan, renderRelease, shortId, table } from '../format.js';

/** `release create | reject | list | show` and `plan`: releases, and what promoting one would do. */
export function addReleaseCommands(program: Command): void {
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
      await withBackend(cmd, 'write', async (backend, opts) => {
        const result = await backend.rejectRelease(ref, o.reason);
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
}
