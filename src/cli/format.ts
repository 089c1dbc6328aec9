import { formatDuration } from '../core/duration.js';
import { formatLabels } from '../core/labels.js';
import { describeInput, knownAfter } from '../core/plan.js';
import { describeInputChanges } from '../engine/replan.js';
import { printable, printableLines } from '../core/printable.js';

/*
 * Everything here prints user text (names, versions, release messages, reasons): each goes through
 * printable() (src/core/printable.ts), so a line break or an escape sequence in it is shown as
 * `\n` or `\x1b` instead of forging a line or moving the cursor. JSON output keeps the text as is.
 */
import type { PlannedGate, PromotionPlan, PromotionRecord, ReleaseRecord, StepRecord } from '../core/model.js';

/** Left-aligned columns, two spaces apart; one line per row, whatever the cells hold. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows].map((r) => r.map(printable));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

export function renderPlan(plan: PromotionPlan, release: ReleaseRecord): string {
  const lines: string[] = [];
  lines.push(`Plan: release ${shortId(release.id)}${release.message ? ` (${printable(release.message)})` : ''} → ${plan.environment}`);
  const changes = plan.steps.filter((s) => s.action === 'apply').length;
  lines.push(`${changes} to apply, ${plan.steps.length - changes} unchanged${plan.irreversible ? '; IRREVERSIBLE: some changes cannot be rolled back' : ''}`);
  lines.push('');
  lines.push(
    table(
      ['LEVEL', 'COMPONENT', 'TYPE', 'CURRENT → TARGET', 'ACTION', 'ROLLBACK', 'DEPENDS ON'],
      plan.steps.map((s) => [
        String(s.level),
        s.component,
        s.type,
        `${s.fromVersion ?? '(none)'} → ${s.toVersion}`,
        s.action,
        s.action === 'unchanged' ? '-' : s.reversible ? 'reversible' : s.notReversible !== undefined ? 'not reversible' : 'forward-only',
        s.dependsOn.join(', ') || '-',
      ]),
    ),
  );
  const described = plan.steps.filter((s) => s.action === 'apply');
  if (described.length > 0) {
    lines.push('');
    for (const s of described) {
      lines.push(`  ${s.component}: ${printable(`${s.reason}; ${s.summary}`)}`);
      if (s.notReversible !== undefined) lines.push(`      not reversible, because ${printable(s.notReversible)}`);
      if (s.inputs !== undefined && s.inputs.length > 0) {
        lines.push(`      inputs: ${printable(s.inputs.map((i) => `${i.producer}.outputs.${i.output} = ${describeInput(i)}`).join(', '))}`);
      }
      if (s.details) for (const d of printableLines(s.details.trimEnd()).split('\n')) lines.push(`      ${d}`);
    }
  }
  const unknowns = plan.unknowns ?? [];
  if (unknowns.length > 0) {
    lines.push('');
    lines.push(`Known only after their producers apply (${unknowns.length}): checked against their declared types before each consumer applies`);
    lines.push(table(['  CONSUMER', 'FIELD', 'VALUE'], unknowns.map((u) => [`  ${u.consumer}`, u.field, `${u.producer}.outputs.${u.output} ${knownAfter(u.producer)}`])));
  }
  lines.push('');
  lines.push(`Order: ${plan.levels.map((l, i) => `[${i}] ${l.join(' ')}`).join('  →  ')}`);
  lines.push(plan.gates.length === 0 ? 'Gates: none' : `Gates:\n${renderGates(plan.gates)}`);
  lines.push(`Plan digest: ${plan.digest}`);
  return lines.join('\n');
}

function stepDuration(s: StepRecord): string {
  if (!s.startedAt) return '';
  const end = s.finishedAt ? Date.parse(s.finishedAt) : Date.now();
  return formatDuration(end - Date.parse(s.startedAt));
}

/** Why a step failed and, separately, why its rollback failed: neither hides the other. */
export function stepProblem(s: StepRecord): string {
  const rollback = s.rollbackError !== undefined ? `rollback failed: ${s.rollbackError.replace(/^rollback: /, '')}` : '';
  return [s.error ?? '', rollback].filter((t) => t !== '').join('; then ');
}

function stepNote(s: StepRecord): string {
  const problem = stepProblem(s);
  if (problem !== '') return problem;
  return s.state === 'succeeded' && !s.reversible ? 'forward-only' : '';
}

export function renderSummary(promotion: PromotionRecord, steps: readonly StepRecord[]): string {
  const lines: string[] = [];
  lines.push(
    table(
      ['COMPONENT', 'RESULT', 'VERSION', 'TIME', 'NOTE'],
      steps.map((s) => [
        s.component,
        s.state,
        s.state === 'rolled-back' ? `${s.toVersion} → back to ${s.fromVersion ?? '?'}` : `${s.fromVersion ?? '(none)'} → ${s.toVersion}`,
        stepDuration(s),
        stepNote(s),
      ]),
    ),
  );
  lines.push('');
  const v = promotion.verification;
  if (v) lines.push(`Verification ${v.state.toUpperCase()}: ${v.message ?? ''}${v.checks.map((c) => `\n  ${c.name}: ${c.state}, ${c.measurements} measurement(s), ${c.failures} failed`).join('')}`);
  lines.push(`Promotion ${shortId(promotion.id)} ${promotion.state.toUpperCase()}${promotion.reason ? `: ${printable(promotion.reason)}` : ''}`);
  return lines.join('\n');
}

export function renderRelease(r: ReleaseRecord): string {
  const lines = [`release ${r.id}`, `created ${r.createdAt} by ${printable(r.createdBy)}${r.from ? `, from ${printable(r.from)}` : ''}`];
  if (r.message) lines.push(`message: ${printable(r.message)}`);
  if (Object.keys(r.labels).length > 0) lines.push(`labels: ${printable(formatLabels(r.labels))}`);
  lines.push('');
  lines.push(table(['COMPONENT', 'VERSION'], Object.entries(r.versions).map(([c, v]) => [c, v])));
  return lines.join('\n');
}

/** One row per gate, indented: its status and what it is waiting for. */
export function renderGates(gates: readonly PlannedGate[]): string {
  return table(
    ['  GATE', 'STATUS', 'DETAIL'],
    gates.map((g) => [`  ${g.gate}`, g.status === 'passed' ? 'passed' : g.status.toUpperCase(), g.message]),
  );
}

/** A promotion that did not run: pending on gates (what is missing, what to do) or rejected by them. */
export function renderWaiting(p: PromotionRecord): string {
  const lines = [`Promotion ${shortId(p.id)} ${p.state.toUpperCase()}: release ${shortId(p.releaseId)} → ${p.environment}, requested by ${printable(p.requestedBy)}`];
  if (p.plan.gates.length > 0) lines.push(renderGates(p.plan.gates));
  if (p.state === 'pending') {
    lines.push('');
    if (p.replanned !== undefined) {
      lines.push(`It ran in part, then stopped before applying a value nobody approved: ${printable(describeInputChanges(p.replanned.changes))}.`);
      lines.push(`The steps already applied stay applied. Approving the new plan (digest ${shortId(p.plan.digest)}; lockstep history ${shortId(p.id)} shows it) runs the rest; rejecting it applies onFailure (${p.onFailure}) to what ran.`);
    }
    const who = p.plan.gates.find((g) => g.status === 'waiting' && g.who !== undefined)?.who;
    if (who) lines.push(`To approve (as one of ${who.join(', ')}): lockstep approve ${shortId(p.id)} --comment "…"   (to reject: --reject --comment "why")`);
    const until = p.plan.gates.filter((g) => g.status === 'waiting' && g.until !== undefined).map((g) => g.until as string).sort().at(-1);
    if (until) lines.push(`Time-bound gates pass at ${until}; then: lockstep resume ${shortId(p.id)} (or lockstep tick)`);
  } else if (p.reason) {
    lines.push(`Reason: ${printable(p.reason)}`);
  }
  return lines.join('\n');
}
