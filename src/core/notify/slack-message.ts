import type { NotifyEvent } from './notify-events.js';

/** A Slack incoming-webhook message: `text` (notifications, clients without blocks) and Block Kit blocks. */
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

export type SlackBlock =
  | { type: 'section'; text: { type: 'mrkdwn'; text: string } }
  | { type: 'context'; elements: { type: 'mrkdwn'; text: string }[] };

/**
 * The Slack message for an event: who did what, to which release, in which environment, what waits
 * (and for whom), and a link when `server.url` is set. Anything from the outside (names, reasons,
 * versions) is escaped, so a reason cannot ping a channel or forge a link. Pure.
 */
export function slackMessage(event: NotifyEvent): SlackMessage {
  const headline = headlineOf(event);
  const lines: string[] = [`*${escape(headline)}*`];
  if (event.release) {
    const versions = Object.entries(event.release.versions)
      .map(([c, v]) => `${c} ${v}`)
      .join(', ');
    lines.push(`Release \`${short(event.release.id)}\`${versions === '' ? '' : `: ${escape(versions)}`}`);
  }
  const waiting = waitingText(event);
  if (waiting !== undefined) lines.push(escape(waiting));
  const reason = reasonOf(event);
  if (reason !== undefined) lines.push(`> ${escape(reason)}`);
  if (event.link !== undefined) lines.push(`<${escapeLink(event.link)}|${event.promotion ? `promotion ${short(event.promotion.id)}` : 'open in Lockstep'}>`);
  const context = [`${escape(event.project)}`, event.environment === undefined ? undefined : escape(event.environment), `by ${escape(event.actor)}`, event.time]
    .filter((part): part is string => part !== undefined)
    .join(' · ');
  return {
    text: `${headline}${event.environment === undefined ? '' : ` (${event.project}/${event.environment})`}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: context }] },
    ],
  };
}

function headlineOf(event: NotifyEvent): string {
  const env = event.environment ?? 'an environment';
  const release = event.release ? ` release ${short(event.release.id)}` : '';
  const state = typeof event.data.state === 'string' ? event.data.state : (event.promotion?.state ?? '');
  switch (event.type) {
    case 'promotion.requested':
      return `${event.actor} asked to promote${release} to ${env}`;
    case 'promotion.started':
      return `Promotion of${release} to ${env} started`;
    case 'promotion.finished':
      return `Promotion of${release} to ${env} ${state === '' ? 'finished' : state}`;
    case 'promotion.rolled-back':
      return `Promotion of${release} to ${env} was rolled back`;
    case 'approval.requested':
      return `Approval needed: promote${release} to ${env}`;
    case 'approval.given':
      return `${event.actor} approved promoting${release} to ${env}`;
    case 'approval.rejected':
      return `${event.actor} rejected promoting${release} to ${env}`;
    case 'gate.blocked':
      return `Gate ${typeof event.data.gate === 'string' ? event.data.gate : ''} blocked${release} from ${env}`;
    case 'verification.failed':
      return `Verification of${release} in ${env} failed`;
    case 'step.started':
      return `${event.component ?? 'A step'} started in ${env}`;
    case 'step.finished':
      return `${event.component ?? 'A step'} ${event.step?.outcome ?? 'finished'} in ${env}`;
    case 'step.rolled-back':
      return `${event.component ?? 'A step'} rolled back in ${env}`;
    case 'drift.detected': {
      const findings = Array.isArray(event.data.findings) ? event.data.findings.length : 0;
      return `Drift detected in ${event.component ?? 'a component'} in ${env}${findings > 0 ? ` (${findings} difference${findings === 1 ? '' : 's'}; lockstep drift --env ${env})` : ''}`;
    }
    case 'notify.test':
      return `Test notification from Lockstep (${event.project})`;
  }
}

/** For an approval: how many, from whom, and the command that gives one. */
function waitingText(event: NotifyEvent): string | undefined {
  if (event.type !== 'approval.requested' || event.promotion === undefined) return undefined;
  const who = Array.isArray(event.data.who) ? event.data.who.filter((w): w is string => typeof w === 'string') : (event.promotion.approvals?.from ?? []);
  const needed = event.promotion.approvals?.needed;
  const count = needed === undefined ? 'approval' : `${needed} approval${needed === 1 ? '' : 's'}`;
  return `Waiting for ${count}${who.length > 0 ? ` from ${who.join(', ')}` : ''}: lockstep approve ${short(event.promotion.id)}`;
}

function reasonOf(event: NotifyEvent): string | undefined {
  const reason = event.data.reason ?? event.data.message ?? event.data.error ?? event.data.comment ?? event.step?.error;
  return typeof reason === 'string' && reason !== '' ? oneLine(reason) : undefined;
}

function short(id: string): string {
  return id.slice(0, 12);
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 500 ? `${flat.slice(0, 500)}…` : flat;
}

/** Slack's mrkdwn escapes: the three characters it gives a meaning (links, mentions). */
function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** A URL inside `<…|…>`: `|` and `>` would end it early. */
function escapeLink(url: string): string {
  return url.replaceAll('|', '%7C').replaceAll('>', '%3E').replaceAll('<', '%3C');
}
