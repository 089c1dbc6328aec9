import type { Command } from 'commander';
import type { ComponentDrift, DriftReport } from '../../core/drift.js';
import { printable } from '../../core/printable.js';
import { outputOption, print, printJson, ReportedError, withBackend } from '../command-kit.js';
import { EXIT } from '../exit-codes.js';
import { table } from '../format.js';

/** `drift`: what runs now against what Lockstep recorded, per environment and component. */
export function addDriftCommand(program: Command): void {
  program
    .command('drift')
    .description('ask every component that can be observed what runs now and compare it with what Lockstep recorded; exit 1 when anything differs (or could not be observed)')
    .option('-e, --env <env>', 'one environment (default: every environment)')
    .option('--component <name>', 'one component')
    .addOption(outputOption())
    .addHelpText(
      'after',
      '\nExit codes: 0 no drift, 1 drift found (listed) or a component could not be observed, 2 invalid input or config.\n\nExamples:\n  lockstep drift --env prod\n  lockstep drift --env prod --component billing --output json\n  lockstep promote --reapply billing --env prod     # put it back as recorded',
    )
    .action(async (o: { env?: string; component?: string }, cmd: Command) => {
      const code = await withBackend(cmd, 'write', async (backend, opts) => {
        const reports = await backend.drift({ environment: o.env, component: o.component });
        if (opts.output === 'json') printJson(reports);
        else print(renderDrift(reports));
        return driftExitCode(reports);
      });
      throw new ReportedError(code);
    });
}

/** 0 when nothing drifted and everything that can be observed was; 1 otherwise. */
export function driftExitCode(reports: readonly DriftReport[]): number {
  const failed = reports.some((r) => r.drifted || r.components.some((c) => c.state === 'error'));
  return failed ? EXIT.failed : EXIT.ok;
}

function renderDrift(reports: readonly DriftReport[]): string {
  const out: string[] = [];
  for (const r of reports) {
    if (r.skipped !== undefined) {
      out.push(`${r.environment}: not checked: ${r.skipped}`, '');
      continue;
    }
    const drifted = r.components.filter((c) => c.state === 'drifted');
    out.push(`${r.environment}: ${drifted.length === 0 ? 'no drift' : `DRIFT in ${drifted.map((c) => c.component).join(', ')}`} (checked ${r.checkedAt})`);
    if (r.components.length > 0) {
      out.push(table(['  COMPONENT', 'TYPE', 'STATE', 'RECORDED', 'NOTE'], r.components.map((c) => [`  ${c.component}`, c.type, c.state, c.recordedVersion ?? '', printable(c.note ?? '')])));
    }
    const findings = drifted.flatMap((c: ComponentDrift) => c.findings);
    if (findings.length > 0) {
      out.push(table(['  COMPONENT', 'FIELD', 'EXPECTED', 'FOUND'], findings.map((f) => [`  ${f.component}`, printable(f.field), printable(f.expected), printable(f.found)])));
      out.push(`  to put it back as recorded: ${drifted.map((c) => `lockstep promote --reapply ${c.component} --env ${r.environment}`).join('; ')}`);
    }
    out.push('');
  }
  return out.join('\n');
}
