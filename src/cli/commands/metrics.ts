import type { Command } from 'commander';
import type { DoraFigures } from '../../core/dora.js';
import { formatDuration } from '../../core/duration.js';
import { printable } from '../../core/printable.js';
import { DEFAULT_METRICS_WINDOW } from '../../engine/dora.js';
import { outputOption, print, printJson, withBackend } from '../command-kit.js';
import { table } from '../format.js';

/** `metrics`: DORA's four keys and rework rate, from the record. */
export function addMetricsCommand(program: Command): void {
  program
    .command('metrics')
    .description('DORA metrics from the record: deployment frequency, lead time, change failure rate, time to restore, rework rate; per environment and component')
    .option('-e, --env <env>', 'one environment')
    .option('--component <name>', 'one component (its own figures under each environment)')
    .option('--since <duration>', 'the window: a duration back from now', DEFAULT_METRICS_WINDOW)
    .addOption(outputOption())
    .addHelpText('after', '\nDefinitions: docs/metrics.md. Percentiles are nearest-rank.\n\nExamples:\n  lockstep metrics --env prod --since 90d\n  lockstep metrics --component api -o json')
    .action(async (o: { env?: string; component?: string; since: string }, cmd: Command) => {
      await withBackend(cmd, 'read', async (backend, opts) => {
        const result = await backend.metrics({ environment: o.env, component: o.component, since: o.since });
        if (opts.output === 'json') return printJson(result);
        print(`DORA metrics over the last ${printable(result.since)} (${result.window.from} to ${result.window.to}); percentiles are nearest-rank`);
        const rows: string[][] = [];
        for (const e of result.environments) {
          rows.push([e.environment, '', ...cells(e)]);
          for (const c of e.components) rows.push(['', c.component, ...cells(c)]);
        }
        print(table(['ENV', 'COMPONENT', 'DEPLOYS', 'PER DAY', 'LEAD TIME p50/p90', 'CHANGE FAILURE', 'RESTORE p50/p90', 'REWORK'], rows));
        for (const e of result.environments) {
          if (e.timeToRestore.failingSince !== null) print(printable(`${e.environment}: failing since ${e.timeToRestore.failingSince}, not restored yet`));
        }
      });
    });
}

function cells(f: DoraFigures): string[] {
  return [
    String(f.deploymentFrequency.count),
    f.deploymentFrequency.perDay.toFixed(2),
    `${seconds(f.leadTime.medianSeconds)} / ${seconds(f.leadTime.p90Seconds)}`,
    f.changeFailureRate === null ? '-' : `${percent(f.changeFailureRate)} (${f.changes.failed}/${f.changes.count})`,
    `${seconds(f.timeToRestore.medianSeconds)} / ${seconds(f.timeToRestore.p90Seconds)}`,
    f.reworkRate === null ? '-' : `${percent(f.reworkRate)} (${f.rework.count}/${f.deploymentFrequency.count})`,
  ];
}

function seconds(s: number | null): string {
  return s === null ? '-' : formatDuration(s * 1000);
}

function percent(rate: number): string {
  return `${Math.round(rate * 1000) / 10}%`;
}
