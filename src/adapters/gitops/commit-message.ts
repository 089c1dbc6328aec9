import type { StepContext } from '../../core/adapter.js';
import type { FileEdit } from './change-set.js';

/**
 * Commit messages and their trailers. The trailers make `git log` trace every deployment commit
 * back to its promotion, and let rollback find the commit it undoes. Messages name what changed
 * but never the values: those may be secrets, and the engine does not see commit messages.
 */
export const TRAILER = {
  release: 'Lockstep-Release',
  environment: 'Lockstep-Environment',
  promotion: 'Lockstep-Promotion',
  component: 'Lockstep-Component',
  version: 'Lockstep-Version',
  rollbackOf: 'Lockstep-Rollback-Of',
} as const;

export const TRAILER_KEYS = Object.values(TRAILER);

type MessageContext = Pick<StepContext, 'component' | 'environment' | 'release' | 'promotionId' | 'version' | 'previousVersion'>;

export function applyMessage(ctx: MessageContext, files: readonly FileEdit[]): string {
  const subject = `Deploy ${ctx.component} ${ctx.version} to ${ctx.environment.name}`;
  const body = `Lockstep promotion ${ctx.promotionId} of release ${ctx.release.id} sets:`;
  return compose(subject, [body, ...editLines(files)], trailers(ctx, ctx.version));
}

/** `undone`: the commit whose values come back, when rollback found it. */
export function rollbackMessage(ctx: MessageContext, files: readonly FileEdit[], undone: string | undefined): string {
  const target = ctx.previousVersion ?? 'the previous values';
  const subject = `Roll back ${ctx.component} in ${ctx.environment.name} to ${target}`;
  const why = undone
    ? `Lockstep promotion ${ctx.promotionId} failed; this restores the values ${undone.slice(0, 12)} changed:`
    : `Lockstep promotion ${ctx.promotionId} failed; this sets the values of ${target}:`;
  const extra: [string, string][] = undone ? [[TRAILER.rollbackOf, undone]] : [];
  return compose(subject, [why, ...editLines(files)], [...trailers(ctx, ctx.previousVersion ?? ''), ...extra]);
}

function editLines(files: readonly FileEdit[]): string[] {
  return files.flatMap((f) => f.edits.map((e) => `- ${f.path}: ${e}`));
}

function trailers(ctx: MessageContext, version: string): [string, string][] {
  const list: [string, string][] = [
    [TRAILER.release, ctx.release.id],
    [TRAILER.environment, ctx.environment.name],
    [TRAILER.promotion, ctx.promotionId],
    [TRAILER.component, ctx.component],
  ];
  if (version !== '') list.push([TRAILER.version, version]);
  return list;
}

function compose(subject: string, body: string[], list: [string, string][]): string {
  const lines = list.map(([k, v]) => `${k}: ${oneLine(v)}`);
  return `${oneLine(subject)}\n\n${body.join('\n')}\n\n${lines.join('\n')}\n`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
