import type { Command } from 'commander';
import type { ValueDiff } from '../../core/diff.js';
import { printable } from '../../core/printable.js';
import type { ComponentSide, EnvironmentDiff, ReleaseDiff } from '../../engine/diff.js';
import { outputOption, print, printJson, withBackend } from '../command-kit.js';
import { shortId, table } from '../format.js';

/** `diff`: what differs between two environments, or two releases. */
export function addDiffCommand(program: Command): void {
  program
    .command('diff')
    .description('what differs between two environments (versions, resolved inputs, outputs, gates) or two releases (versions, labels); secrets only as changed or unchanged')
    .argument('<left>', 'an environment, or a release id or unique prefix (≥ 7 characters)')
    .argument('<right>', 'an environment, or a release id or unique prefix')
    .option('--releases', 'take both as releases, even where an environment has that name')
    .addOption(outputOption())
    .addHelpText(
      'after',
      '\nTwo environments of the config compare the environments; two release ids (or prefixes) the releases;\none of each is refused. --releases takes both as releases, even one named like an environment.\n\nExamples:\n  lockstep diff staging prod\n  lockstep diff 3f2a1c9 9c1e2f3 --output json',
    )
    .action(async (left: string, right: string, o: { releases?: boolean }, cmd: Command) => {
      await withBackend(cmd, 'read', async (backend, opts) => {
        const result = await backend.diff({ left, right, releases: o.releases === true });
        if (opts.output === 'json') return printJson(result);
        print(result.kind === 'environments' ? renderEnvironmentDiff(result) : renderReleaseDiff(result));
      });
    });
}

function renderEnvironmentDiff(d: EnvironmentDiff): string {
  const l = d.left.environment;
  const r = d.right.environment;
  const lines: string[] = [];
  const release = (x: string | undefined) => (x === undefined ? 'nothing promoted yet' : `release ${shortId(x)}`);
  lines.push(printable(`${l} (${release(d.left.release)})  vs  ${r} (${release(d.right.release)})`));
  lines.push('');
  if (d.gates.length === 0) lines.push('gates: the same');
  else {
    lines.push('gates:');
    lines.push(indent(valueTable(d.gates, l, r)));
  }
  for (const c of d.components) {
    if (c.same) continue;
    lines.push('');
    if (c.left.version === undefined && c.right.version === undefined) {
      lines.push(printable(`${c.component}: not deployed in either`));
      continue;
    }
    lines.push(printable(`${c.component}: ${version(c.left)} in ${l}, ${version(c.right)} in ${r}${c.versionChanged ? '' : ' (same version)'}`));
    for (const [side, s] of [[l, c.left], [r, c.right]] as const) if (s.problem !== undefined) lines.push(printable(`  inputs in ${side} could not be resolved: ${s.problem}`));
    if (c.inputs.length > 0) {
      lines.push('  inputs:');
      lines.push(indent(valueTable(c.inputs, l, r), 4));
    }
    if (c.outputs.length > 0) {
      lines.push('  outputs:');
      lines.push(indent(valueTable(c.outputs, l, r), 4));
    }
    if (c.inputs.length + c.outputs.length === 0 && c.left.version !== undefined && c.right.version !== undefined && c.versionChanged)
      lines.push('  inputs and outputs: the same (but for the version)');
  }
  lines.push('');
  lines.push(d.same.length > 0 ? printable(`the same in both: ${d.same.join(', ')}`) : 'no component is the same in both');
  return lines.join('\n');
}

function renderReleaseDiff(d: ReleaseDiff): string {
  const lines: string[] = [];
  const l = shortId(d.left.id);
  const r = shortId(d.right.id);
  lines.push(printable(`release ${l}${d.left.message ? ` (${d.left.message})` : ''}  vs  release ${r}${d.right.message ? ` (${d.right.message})` : ''}`));
  lines.push('');
  const differing = d.components.filter((c) => !c.same);
  if (differing.length === 0) lines.push('versions: the same');
  else lines.push(table(['COMPONENT', l, r], differing.map((c) => [c.component, c.left ?? '(absent)', c.right ?? '(absent)'])));
  if (d.labels.length > 0) {
    lines.push('');
    lines.push('labels:');
    lines.push(indent(valueTable(d.labels, l, r)));
  }
  lines.push('');
  lines.push(d.same.length > 0 ? printable(`the same in both: ${d.same.join(', ')}`) : 'no component is the same in both');
  return lines.join('\n');
}

function version(s: ComponentSide): string {
  return s.version ?? 'not deployed';
}

/** A secret shows only whether it changed; anything else its two values. */
function valueTable(diffs: readonly ValueDiff[], left: string, right: string): string {
  return table(
    ['FIELD', left, right],
    diffs.map((d) =>
      d.secret === true
        ? [d.path, d.left !== undefined ? shown(d.left) : '(secret)', `${d.right !== undefined ? `${shown(d.right)} ` : ''}${d.changed === null ? '(secret: cannot tell whether it changed)' : d.changed ? '(secret: changed)' : '(secret: unchanged)'}`]
        : [d.path, 'left' in d ? shown(d.left) : '(absent)', 'right' in d ? shown(d.right) : '(absent)'],
    ),
  );
}

function shown(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? 'null';
}

function indent(text: string, n = 2): string {
  return text.replace(/^/gm, ' '.repeat(n));
}
