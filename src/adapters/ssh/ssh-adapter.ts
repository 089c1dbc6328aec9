import type { Adapter, AdapterPlan, Observed, ObservedDifference, Outputs, StepContext } from '../../core/adapter.js';
import { parseDuration } from '../../core/duration.js';
import { errorMessage, StepFailure } from '../../core/errors.js';
import { artifactSource, checkLocalArtifact, prepareArtifact } from './artifact.js';
import type { LocalArtifact } from './artifact.js';
import { batchSize, Fleet, hostTargets, inBatches, plannedTargets, settleAll } from './fleet.js';
import type { TransportWrapper } from './fleet.js';
import { versionProblem } from './host-release.js';
import type { HostRelease } from './host-release.js';
import { commandName } from './shell.js';
import { DEFAULT_HEALTH_INTERVAL, DEFAULT_HEALTH_TIMEOUT, sshSpec } from './ssh-spec.js';
import type { SshSpec } from './ssh-spec.js';
import { SwitchRecord } from './switch-record.js';
import type { HostTarget } from './transport.js';

/** Hosts read at once by plan and observe (which change nothing, so need no batches). */
const READ_CONCURRENCY = 8;

export interface SshAdapterOptions {
  /** Wraps each transport the adapter opens. */
  readonly wrapTransport?: TransportWrapper;
}

/**
 * Services on VMs: uploads a release to every host over SFTP into `<dir>/releases/<version>/`, checks
 * its SHA-256 there, runs `before` hooks, switches the `current` symlink atomically, restarts and
 * checks health, host by host or in batches. `host: local` does the same on this machine.
 *
 * - Convergent: a host whose `current` already points at the version is left alone.
 * - Rollback switches back every host this step switched, to what that host ran before (remembered
 *   in memory at apply time; after a restart of Lockstep, hosts on the version being undone go back
 *   to `ctx.previousVersion`). The port has no place to persist adapter data between apply and
 *   rollback, so this is the fallback.
 * - Failures name the host; the first failed host stops the rollout.
 */
export function createSshAdapter(options: SshAdapterOptions = {}): Adapter<SshSpec> {
  const switches = new SwitchRecord();
  const fleet = (spec: SshSpec, ctx: StepContext): Fleet => new Fleet(spec, ctx, options.wrapTransport);

  return {
    type: 'ssh',
    description:
      'Deploys a release to VMs over SSH (or locally): releases/<version> and an atomically switched current symlink, rolling host by host with health checks.',
    spec: sshSpec,

    capabilities() {
      return { reversible: true, idempotentApply: true, observe: true };
    },

    async plan(spec, ctx): Promise<AdapterPlan> {
      throwIfAborted(ctx);
      checkVersion(ctx.version);
      const source = artifactSource(spec.artifact);
      const missing = await checkLocalArtifact(source, ctx.projectDir);
      if (missing !== undefined) throw new StepFailure(missing, false, { untouched: true });
      // A host named by a value known only after its producer applies is shown as written and never
      // contacted; the hosts the plan can name are read as always.
      const planned = plannedTargets(spec);
      const targets = planned.filter((t): t is HostTarget => typeof t !== 'string');
      const unknown = planned.filter((t): t is string => typeof t === 'string');
      const hosts = fleet(spec, ctx);
      try {
        const read = await readAll(hosts, targets, ctx);
        const current = new Map(targets.map((h, i) => [h, read[i]]));
        const moving = targets.filter((h) => current.get(h) !== ctx.version);
        const lines = planned.map((h) => {
          if (typeof h === 'string') return `${h}: → ${ctx.version} (what it runs now is read once it is known)`;
          const now = current.get(h);
          return now === ctx.version ? `${h.name}: already on ${ctx.version}` : `${h.name}: ${now ?? 'nothing'} → ${ctx.version}`;
        });
        lines.push(`artifact: ${source.location}${source.sha256 ? ` (sha256 ${source.sha256.slice(0, 12)}…)` : ''}`);
        if (spec.before.length > 0) lines.push(`before: ${spec.before.map(commandName).join('; ')}`);
        if (spec.restart !== undefined) lines.push(`restart: ${commandName(spec.restart)}`);
        lines.push(spec.health === undefined ? 'health: none' : `health: ${spec.health.http !== undefined ? `GET ${spec.health.http}` : commandName(spec.health.command ?? '')}`);
        let summary: string;
        if (unknown.length > 0) {
          // How many hosts the stand-ins are is not known, so neither is the size of a percentage batch.
          const known = targets.length > 0 ? `${moving.length} of ${targets.length} host(s) and ` : '';
          summary = `switch ${known}${unknown.join(', ')} to ${ctx.version}, ${spec.parallel} at a time`;
        } else if (moving.length === 0) {
          summary = `all ${targets.length} host(s) already run ${ctx.version}`;
        } else {
          summary = `switch ${moving.length} of ${targets.length} host(s) to ${ctx.version}, ${batchSize(spec.parallel, targets.length)} at a time`;
        }
        return { summary, details: lines.join('\n'), risk: spec.health === undefined ? 'medium' : 'low' };
      } finally {
        await hosts.close();
      }
    },

    async apply(spec, _plan, ctx): Promise<Outputs> {
      throwIfAborted(ctx);
      checkVersion(ctx.version);
      const targets = hostTargets(spec);
      const hosts = fleet(spec, ctx);
      const source = artifactSource(spec.artifact);
      let artifact: Promise<LocalArtifact> | undefined;
      const switched = switches.forStep(ctx);
      const rollout: Rollout = { touched: false, switched: [], unchanged: [], failed: [] };
      const size = batchSize(spec.parallel, targets.length);
      ctx.log(`rolling out ${ctx.version} to ${targets.length} host(s), ${size} at a time`);

      const deployHost = async (host: HostTarget): Promise<void> => {
        const log = hosts.log(host);
        const release = await hosts.release(host);
        const { version: previous, target } = await release.current();
        if (previous === ctx.version) {
          log(`already on ${ctx.version}: left alone`);
          rollout.unchanged.push(host.name);
          return;
        }
        log(`deploying ${ctx.version} (runs ${previous ?? target ?? 'nothing'} now)`);
        artifact ??= prepareArtifact(source, ctx, ctx.log);
        await release.install(await artifact, ctx.version);
        if (spec.before.length > 0) rollout.touched = true; // hooks may change things outside the release
        await release.runHooks(spec.before, ctx.version, previous);
        // Recorded before the switch, so a rollback knows where this host goes back to whatever happens next.
        switched.set(host.name, previous ?? null);
        rollout.touched = true;
        await release.switchTo(ctx.version);
        rollout.switched.push(host.name);
        log(`switched current → releases/${ctx.version}`);
        await restartAndCheck(spec, release, ctx.version, previous);
        await release.prune(spec.keep, ctx.version, [previous]);
      };

      try {
        // Every host is reached before the first one changes: an unreachable host or an unknown host
        // key stops the rollout while nothing is touched, instead of halfway through.
        await readAll(hosts, targets, ctx);
        for (const batch of inBatches(targets, size)) {
          const results = await Promise.allSettled(batch.map(deployHost));
          throwIfAborted(ctx);
          results.forEach((r, i) => {
            if (r.status === 'rejected') rollout.failed.push({ host: batch[i] as HostTarget, error: r.reason });
          });
          if (rollout.failed.length > 0) throw rolloutFailure(rollout, targets, ctx.version);
        }
        ctx.log(
          `${ctx.version} runs on all ${targets.length} host(s)` +
            (rollout.unchanged.length > 0 ? ` (${rollout.unchanged.length} were on it already)` : ''),
        );
        return { version: ctx.version, hosts: targets.map((h) => h.name) };
      } finally {
        await hosts.close();
        const prepared = await artifact?.catch(() => undefined);
        await prepared?.cleanup();
      }
    },

    async verify(spec, _outputs, ctx): Promise<void> {
      throwIfAborted(ctx);
      const targets = hostTargets(spec);
      const hosts = fleet(spec, ctx);
      try {
        const results = await settleAll(targets, batchSize(spec.parallel, targets.length), async (host) => {
          const release = await hosts.release(host);
          const { version } = await release.current();
          if (version !== ctx.version) throw new StepFailure(`host ${host.name} runs ${version ?? 'nothing'}, not ${ctx.version}`, false);
          if (spec.health !== undefined) await checkHealth(spec, release, ctx.version, undefined);
        });
        throwIfAborted(ctx);
        const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [hostError(targets[i] as HostTarget, r.reason)] : []));
        if (failures.length > 0) throw new StepFailure(`verify: ${failures.join('; ')}`, false);
      } finally {
        await hosts.close();
      }
    },

    async rollback(spec, ctx): Promise<void> {
      throwIfAborted(ctx);
      const targets = hostTargets(spec);
      const hosts = fleet(spec, ctx);
      const record = switches.get(ctx);
      ctx.log(
        record !== undefined
          ? `rolling back ${record.size} host(s) switched to ${ctx.version} by this step`
          : `rolling back hosts on ${ctx.version} to ${ctx.previousVersion ?? '(no previous version)'} (this process did not run the apply)`,
      );
      const rollbackHost = async (host: HostTarget): Promise<void> => {
        const log = hosts.log(host);
        const release = await hosts.release(host);
        const { version: running } = await release.current();
        let back: string | null | undefined;
        if (record !== undefined) {
          if (!record.has(host.name)) return log(`not switched by this step: left on ${running ?? 'nothing'}`);
          back = record.get(host.name);
        } else {
          if (running !== ctx.version) return log(`runs ${running ?? 'nothing'}, not ${ctx.version}: left alone`);
          back = ctx.previousVersion;
        }
        if (back === null || back === undefined) {
          throw new StepFailure(`host ${host.name} ran no release before this promotion, so there is none to go back to; it stays on ${running ?? 'nothing'}`, false);
        }
        if (running === back) return log(`already on ${back}`);
        if (!(await release.hasRelease(back))) {
          throw new StepFailure(`host ${host.name}: releases/${back} is no longer on the host (removed by hand?), so current cannot be switched back to it`, false);
        }
        await release.switchTo(back);
        log(`rolled back: current → releases/${back} (was ${running ?? 'nothing'})`);
        await restartAndCheck(spec, release, back, running);
      };
      try {
        const results = await settleAll(targets, batchSize(spec.parallel, targets.length), rollbackHost);
        throwIfAborted(ctx);
        const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [hostError(targets[i] as HostTarget, r.reason)] : []));
        if (failures.length > 0) throw new StepFailure(`rollback: ${failures.join('; ')}`, false);
      } finally {
        await hosts.close();
      }
    },

    async observe(spec, ctx): Promise<Observed> {
      throwIfAborted(ctx);
      const targets = hostTargets(spec);
      const hosts = fleet(spec, ctx);
      try {
        const results = await settleAll(targets, READ_CONCURRENCY, async (host) => (await hosts.release(host)).current());
        throwIfAborted(ctx);
        const perHost: Record<string, string | null> = {};
        const errors: Record<string, string> = {};
        const links: Record<string, string | null> = {};
        results.forEach((r, i) => {
          const name = (targets[i] as HostTarget).name;
          if (r.status === 'fulfilled') {
            perHost[name] = r.value.version ?? r.value.target ?? null;
            links[name] = r.value.version !== undefined ? `releases/${r.value.version}` : (r.value.target ?? null);
          } else errors[name] = errorMessage(r.reason);
        });
        return { ...summarise(perHost, errors), differences: hostDifferences(ctx.version, links, errors) };
      } finally {
        await hosts.close();
      }
    },
  };
}

export const sshAdapter: Adapter<SshSpec> = createSshAdapter();

interface Rollout {
  /** Something on a host changed beyond an upload into releases/ (a hook ran, a symlink switched). */
  touched: boolean;
  switched: string[];
  unchanged: string[];
  failed: { host: HostTarget; error: unknown }[];
}

async function restartAndCheck(spec: SshSpec, release: HostRelease, version: string, previous: string | undefined): Promise<void> {
  if (spec.restart !== undefined) await release.restart(spec.restart, version, previous);
  if (spec.health !== undefined) await checkHealth(spec, release, version, previous);
}

async function checkHealth(spec: SshSpec, release: HostRelease, version: string, previous: string | undefined): Promise<void> {
  const health = spec.health;
  if (health === undefined) return;
  const timeout = parseDuration(health.timeout) ?? parseDuration(DEFAULT_HEALTH_TIMEOUT) ?? 60_000;
  const interval = parseDuration(health.interval) ?? parseDuration(DEFAULT_HEALTH_INTERVAL) ?? 1_000;
  await release.checkHealth(health, timeout, interval, version, previous);
}

/** One message for a stopped rollout: what failed where, which hosts were switched, which never started. */
function rolloutFailure(rollout: Rollout, targets: readonly HostTarget[], version: string): StepFailure {
  const reasons = rollout.failed.map((f) => hostError(f.host, f.error));
  const reached = new Set([...rollout.switched, ...rollout.unchanged, ...rollout.failed.map((f) => f.host.name)]);
  const notStarted = targets.filter((h) => !reached.has(h.name)).map((h) => h.name);
  const parts = [`rollout of ${version} stopped: ${reasons.join('; ')}`];
  parts.push(`switched: ${rollout.switched.length > 0 ? rollout.switched.join(', ') : 'none'}`);
  if (notStarted.length > 0) parts.push(`not started: ${notStarted.join(', ')}`);
  const retryable = rollout.failed.every((f) => f.error instanceof StepFailure && f.error.retryable);
  const cause = rollout.failed[0]?.error;
  return new StepFailure(parts.join('; '), retryable, { cause, untouched: !rollout.touched });
}

/** A host's failure as one phrase that names the host (StepFailures from this adapter already do). */
function hostError(host: HostTarget, error: unknown): string {
  const message = errorMessage(error);
  return message.includes(host.name) ? message : `host ${host.name}: ${message}`;
}

/** Reads `current` on every host; a host that cannot be read fails the whole read, naming it. */
async function readAll(hosts: Fleet, targets: readonly HostTarget[], ctx: StepContext): Promise<(string | undefined)[]> {
  const results = await settleAll(targets, READ_CONCURRENCY, async (host) => {
    const { version, target } = await (await hosts.release(host)).current();
    return version ?? (target === undefined ? undefined : `${target} (outside releases/)`);
  });
  throwIfAborted(ctx);
  const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [hostError(targets[i] as HostTarget, r.reason)] : []));
  if (failures.length > 0) {
    const retryable = results.every((r) => r.status === 'fulfilled' || (r.reason instanceof StepFailure && r.reason.retryable));
    throw new StepFailure(failures.join('; '), retryable, { untouched: true });
  }
  return results.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
}

/**
 * Observed from per-host versions: the version when every host runs the same one; otherwise drift
 * naming each host that differs from the most common version (or that could not be read).
 */
export function summarise(perHost: Record<string, string | null>, errors: Record<string, string>): Observed {
  const counts = new Map<string, number>();
  for (const v of Object.values(perHost)) if (v !== null) counts.set(v, (counts.get(v) ?? 0) + 1);
  const common = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const drift: string[] = [];
  for (const [host, v] of Object.entries(perHost)) {
    if (v !== common) drift.push(`${host} runs ${v ?? 'nothing'}${common !== undefined ? ` (others run ${common})` : ''}`);
  }
  for (const [host, error] of Object.entries(errors)) drift.push(`${host} could not be read: ${error}`);
  const details: Record<string, unknown> = { hosts: perHost };
  if (Object.keys(errors).length > 0) details.errors = errors;
  const observed: Observed = { details };
  if (drift.length === 0 && common !== undefined) observed.version = common;
  if (drift.length > 0) observed.drift = drift;
  return observed;
}

/**
 * Each host whose `current` does not point at `releases/<version>` (the version observed against),
 * or that could not be read. Pure.
 */
export function hostDifferences(version: string, links: Record<string, string | null>, errors: Record<string, string>): ObservedDifference[] {
  const expected = `releases/${version}`;
  const out: ObservedDifference[] = [];
  for (const [host, link] of Object.entries(links)) {
    if (link !== expected) out.push({ field: `hosts.${host}.current`, expected, found: link ?? '(no current link)' });
  }
  for (const [host, error] of Object.entries(errors)) out.push({ field: `hosts.${host}`, expected: 'readable', found: `could not be read: ${error}` });
  return out;
}

function checkVersion(version: string): void {
  const problem = versionProblem(version);
  if (problem !== undefined) throw new StepFailure(`${problem}; it becomes releases/<version> on each host`, false, { untouched: true });
}

function throwIfAborted(ctx: StepContext): void {
  if (!ctx.signal.aborted) return;
  const reason: unknown = ctx.signal.reason;
  throw reason instanceof Error ? reason : new StepFailure('cancelled', false, { cause: reason, untouched: true });
}
