import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { limitText } from '../../core/duration.js';
import { StepFailure } from '../../core/errors.js';
import type { LocalArtifact } from './artifact.js';
import { commandName, commandText, exportLines, quote } from './shell.js';
import type { HealthSpec, SshCommand } from './ssh-spec.js';
import type { RunResult, Transport } from './transport.js';
import { sleepOrThrow } from '../../core/sleep.js';

/**
 * The release layout on one host, over any Transport:
 *
 *   <dir>/releases/<version>/   one directory per version, unpacked from the artifact
 *   <dir>/current               a symlink to releases/<version>, switched atomically
 *
 * Every method names the host in its failures and logs through `log` (which prefixes the host).
 */
export interface HostReleaseOptions {
  readonly transport: Transport;
  /** The deploy directory as written in the spec (relative: to the login directory, or the project directory locally). */
  readonly dir: string;
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
  readonly heartbeat: () => void;
  /** For one upload, hook or restart. */
  readonly timeoutMs: number;
  /** LOCKSTEP_ENVIRONMENT and friends, and the spec's `env`: exported to every command. */
  readonly env: Readonly<Record<string, string>>;
}

/** What `current` points at. `version` is unset when it points somewhere outside `releases/`. */
export interface CurrentRelease {
  readonly version: string | undefined;
  readonly target: string | undefined;
}

/** A version becomes a directory name: it must be one safe path segment. */
export function versionProblem(version: string): string | undefined {
  if (version === '') return 'the version is empty';
  if (version.startsWith('.')) return `version "${version}" starts with "." (it names a directory on the host)`;
  if (/[/\\\0\n\r\t]/.test(version)) return `version "${version}" contains a character that cannot be in a directory name`;
  if (version.length > 200) return 'the version is longer than 200 characters';
  return undefined;
}

/** The version a `current` symlink target names: the last segment of `…releases/<version>`. */
export function versionOfTarget(target: string): string | undefined {
  const parts = target.replace(/\/+$/, '').split('/');
  const version = parts.at(-1);
  if (parts.length < 2 || parts.at(-2) !== 'releases' || version === undefined) return undefined;
  return versionProblem(version) === undefined ? version : undefined;
}

/** Exit code our scripts use for "a tool this needs is not on the host". */
const MISSING_TOOL = 127;
const MISSING_MARKER = 'lockstep: missing tool:';
/** The longest one health attempt may take, whatever the health timeout. */
const MAX_HEALTH_ATTEMPT_MS = 30_000;

export class HostRelease {
  private readonly t: Transport;
  readonly name: string;

  constructor(private readonly o: HostReleaseOptions) {
    this.t = o.transport;
    this.name = o.transport.host.name;
  }

  private get releases(): string {
    return path.posix.join(this.o.dir, 'releases');
  }

  private releaseDir(version: string): string {
    return path.posix.join(this.releases, version);
  }

  async current(): Promise<CurrentRelease> {
    const target = await this.t.readlink(path.posix.join(this.o.dir, 'current'));
    return { target, version: target === undefined ? undefined : versionOfTarget(target) };
  }

  async hasRelease(version: string): Promise<boolean> {
    const result = await this.script(`test -d ${quote(this.releaseDir(version))}`);
    return result.kind === 'exited' && result.code === 0;
  }

  /**
   * Uploads the artifact, checks its SHA-256 on the host against the local file, and unpacks it into
   * `releases/<version>/` (replacing an older copy there: the host does not run it, since `current`
   * points elsewhere). Until the final rename nothing in `releases/<version>` changes.
   */
  async install(artifact: LocalArtifact, version: string): Promise<void> {
    const nonce = randomBytes(6).toString('hex');
    const upload = path.posix.join(this.releases, `.upload-${nonce}`);
    const incoming = `.incoming-${nonce}`;
    // `--` before every operand: a version or a directory starting with `-` is a name, not an option.
    this.check('prepare', await this.script(`mkdir -p -- ${quote(this.releases)}`));
    this.o.log(`uploading ${artifact.format === 'file' ? artifact.name : `${artifact.format} archive`} (SHA-256 ${artifact.sha256.slice(0, 12)}…)`);
    await this.t.upload(artifact.file, upload, { signal: this.o.signal, onAlive: this.o.heartbeat });
    try {
      const remote = await this.sha256(upload);
      if (remote !== artifact.sha256) {
        throw new StepFailure(
          `host ${this.name}: the uploaded artifact's SHA-256 is ${remote}, but the local file's is ${artifact.sha256}: ` +
            'the upload was damaged or changed on the way; nothing was switched',
          true,
        );
      }
      this.o.log(`checksum verified on the host: ${remote}`);
      // The script runs inside releases/, where the upload is.
      const uploaded = path.posix.basename(upload);
      const unpack =
        artifact.format === 'file'
          ? `mv -- ${uploaded} ${quote(`${incoming}/${artifact.name}`)}\nchmod ${(artifact.mode & 0o777).toString(8)} -- ${quote(`${incoming}/${artifact.name}`)}`
          : // -o: files belong to the deploy user, not to the ids in the archive.
            `tar -x${artifact.format === 'tar.gz' ? 'z' : ''}of ${uploaded} -C ${incoming}`;
      const script = [
        'set -eu',
        `cd -- ${quote(this.releases)}`,
        `rm -rf -- ${incoming}`,
        `mkdir -- ${incoming}`,
        unpack,
        `rm -rf -- ${quote(version)}`,
        `mv -- ${incoming} ${quote(version)}`,
      ].join('\n');
      this.check('unpacking the artifact', await this.script(script));
    } finally {
      await this.script(`rm -rf -- ${quote(upload)} ${quote(path.posix.join(this.releases, incoming))}`).catch(() => undefined);
    }
  }

  private async sha256(file: string): Promise<string> {
    const f = quote(file);
    const script = [
      `if command -v sha256sum >/dev/null 2>&1; then sha256sum ${f}`,
      `elif command -v shasum >/dev/null 2>&1; then shasum -a 256 ${f}`,
      `elif command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r ${f}`,
      `else echo "${MISSING_MARKER} sha256sum, shasum or openssl (to check the upload)" >&2; exit ${MISSING_TOOL}; fi`,
    ].join('\n');
    const result = await this.script(script);
    const output = this.check('checking the upload', result);
    const digest = /^([0-9a-fA-F]{64})\b/.exec(output.trim())?.[1];
    if (digest === undefined) throw new StepFailure(`host ${this.name}: could not read the upload's SHA-256 from "${output.trim().slice(0, 100)}"`, false);
    return digest.toLowerCase();
  }

  /** Runs the `before` hooks in the new release directory, in order; the first failure stops. */
  async runHooks(hooks: readonly SshCommand[], version: string, previous: string | undefined): Promise<void> {
    for (const hook of hooks) {
      this.o.log(`before: ${commandName(hook)}`);
      const result = await this.command(hook, this.releaseDir(version), version, previous);
      this.check(`before hook ${commandName(hook)}`, result);
    }
  }

  /** Points `current` at `releases/<version>` with one rename; touches the release so pruning sees it as newest. */
  async switchTo(version: string): Promise<void> {
    this.check('marking the release', await this.script(`touch -- ${quote(this.releaseDir(version))}`));
    await this.t.switchSymlink(path.posix.join(this.o.dir, 'current'), `releases/${version}`);
  }

  async restart(restart: SshCommand, version: string, previous: string | undefined): Promise<void> {
    this.o.log(`restart: ${commandName(restart)}`);
    const result = await this.command(restart, path.posix.join(this.o.dir, 'current'), version, previous);
    this.check(`restart (${commandName(restart)})`, result);
  }

  /**
   * Repeats the check on the host until it passes or `health.timeout` runs out. HTTP uses curl, else
   * wget, on the host itself (the service may listen only on localhost); with neither, it fails at once.
   */
  async checkHealth(health: HealthSpec, timeoutMs: number, intervalMs: number, version: string, previous: string | undefined): Promise<void> {
    const started = Date.now();
    const deadline = started + timeoutMs;
    const what = health.http !== undefined ? `GET ${health.http}` : commandName(health.command ?? '');
    let toolNoted = false;
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      const attemptMs = Math.max(1_000, Math.min(remaining, MAX_HEALTH_ATTEMPT_MS));
      const result =
        health.http !== undefined
          ? await this.script(httpCheckScript(health.http, attemptMs), {
              onLine: (line) => {
                if (!toolNoted && line.startsWith('lockstep: curl is not installed')) {
                  toolNoted = true;
                  this.o.log(line.replace(/^lockstep: /, ''));
                }
              },
              timeoutMs: attemptMs + 5_000,
            })
          : // Not streamed: a check repeated every second would flood the log; its last line is in the messages.
            await this.command(health.command ?? '', path.posix.join(this.o.dir, 'current'), version, previous, { timeoutMs: attemptMs, quiet: true });
      this.o.heartbeat();
      if (result.kind === 'exited' && result.code === 0) {
        this.o.log(`healthy: ${what} (attempt ${attempt}, ${((Date.now() - started) / 1000).toFixed(1)}s)`);
        return;
      }
      if (result.kind === 'exited' && result.code === MISSING_TOOL && result.output.lastLine?.startsWith(MISSING_MARKER)) {
        throw new StepFailure(
          `host ${this.name}: the http health check needs curl or wget on the host, and neither is installed: ` +
            'install one, or check with health: { command: [...] }',
          false,
        );
      }
      const reason = describe(result, attemptMs);
      const last = Date.now() + intervalMs >= deadline;
      // Every attempt is logged, with its result and what comes next: a person reading the step log
      // sees the whole wait, not only its first attempt.
      this.o.log(
        `not healthy yet (attempt ${attempt}, ${((Date.now() - started) / 1000).toFixed(1)}s): ${reason}; ` +
          (last ? 'no time left for another attempt' : `next attempt in ${limitText(intervalMs)}`),
      );
      if (last) {
        throw new StepFailure(
          `host ${this.name}: health check failed after ${((Date.now() - started) / 1000).toFixed(1)}s and ${attempt} attempt(s): ${what}: ${reason}`,
          false,
        );
      }
      await sleep(intervalMs, this.o.signal);
    }
  }

  /**
   * Removes old releases beyond `keep`, newest kept first (by the time each was switched to). Never
   * the current one, nor any in `protect` (the one a rollback would go back to).
   */
  async prune(keep: number, current: string, protect: readonly (string | undefined)[]): Promise<void> {
    const listed = this.check('listing releases', await this.script(`cd -- ${quote(this.releases)} && ls -1t`));
    const old = listed
      .split('\n')
      .map((line) => line.trim())
      .filter((name) => name !== '' && name !== current && versionProblem(name) === undefined);
    const doomed = old.slice(keep).filter((name) => !protect.includes(name));
    if (doomed.length === 0) return;
    const result = await this.script(`cd -- ${quote(this.releases)} && rm -rf -- ${doomed.map((d) => quote(`./${d}`)).join(' ')}`);
    this.check('pruning old releases', result);
    this.o.log(`pruned ${doomed.length} old release(s): ${doomed.join(', ')}`);
  }

  /** A user command (hook, restart, health) in `cwd`, with the LOCKSTEP_ variables exported. */
  private command(
    command: SshCommand,
    cwd: string,
    version: string,
    previous: string | undefined,
    options: { timeoutMs?: number; quiet?: boolean } = {},
  ): Promise<RunResult> {
    const script = [
      `cd -- ${quote(this.o.dir)} || exit 1`,
      'LOCKSTEP_DIR=$(pwd -P); export LOCKSTEP_DIR',
      `LOCKSTEP_RELEASE_DIR="$LOCKSTEP_DIR"/releases/${quote(version)}; export LOCKSTEP_RELEASE_DIR`,
      exportLines({
        ...this.o.env,
        LOCKSTEP_HOST: this.name,
        LOCKSTEP_VERSION: version,
        LOCKSTEP_PREVIOUS_VERSION: previous ?? '',
      }),
      `cd -- "$LOCKSTEP_DIR"/${quote(path.posix.relative(this.o.dir, cwd))} || exit 1`,
      commandText(command),
    ].join('\n');
    return this.script(script, {
      ...(options.quiet ? {} : { onLine: (line: string) => this.o.log(`  ${line}`) }),
      timeoutMs: options.timeoutMs ?? this.o.timeoutMs,
    });
  }

  private script(script: string, options: { onLine?: (line: string) => void; timeoutMs?: number } = {}): Promise<RunResult> {
    return this.t.run(script, {
      signal: this.o.signal,
      timeoutMs: options.timeoutMs ?? this.o.timeoutMs,
      onAlive: this.o.heartbeat,
      ...(options.onLine !== undefined ? { onLine: options.onLine } : {}),
    });
  }

  /** The stdout of a successful run; otherwise a StepFailure naming the host and what was being done. */
  private check(what: string, result: RunResult): string {
    if (result.kind === 'exited' && result.code === 0) return result.output.stdout;
    const line = result.output.lastLine === undefined ? '' : `: ${result.output.lastLine.trim()}`;
    if (result.kind === 'exited' && result.code === MISSING_TOOL && result.output.lastLine?.startsWith(MISSING_MARKER)) {
      throw new StepFailure(`host ${this.name}: ${what}: ${result.output.lastLine.slice(MISSING_MARKER.length).trim()} is needed on the host and is not installed`, false);
    }
    if (result.kind === 'timed-out') throw new StepFailure(`host ${this.name}: ${what} timed out${line}`, false);
    if (result.kind === 'signalled') throw new StepFailure(`host ${this.name}: ${what} was killed by signal ${result.signal}${line}`, false);
    throw new StepFailure(`host ${this.name}: ${what} exited with code ${result.code}${line}`, false);
  }
}

/** One HTTP check as a script: curl if the host has it, else wget; prints why it failed on stderr. */
function httpCheckScript(url: string, attemptMs: number): string {
  const seconds = Math.max(1, Math.ceil(attemptMs / 1000));
  const u = quote(url);
  return [
    'if command -v curl >/dev/null 2>&1; then',
    `  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time ${seconds} ${u}) || exit 1`,
    '  case "$code" in 2??|3??) exit 0 ;; esac',
    '  echo "HTTP $code" >&2; exit 1',
    'elif command -v wget >/dev/null 2>&1; then',
    '  echo "lockstep: curl is not installed on this host; checking with wget" >&2',
    `  wget -q -O /dev/null -T ${seconds} -t 1 ${u}; rc=$?`,
    '  [ "$rc" -eq 0 ] && exit 0',
    '  if [ "$rc" -eq 8 ]; then echo "the server answered with an error status (wget exit 8)" >&2; else echo "wget failed with exit code $rc" >&2; fi',
    '  exit 1',
    'else',
    `  echo "${MISSING_MARKER} curl or wget" >&2; exit ${MISSING_TOOL}`,
    'fi',
  ].join('\n');
}

function describe(result: RunResult, attemptMs: number): string {
  const line = result.output.lastLine?.trim();
  if (result.kind === 'timed-out') return `no answer within ${(attemptMs / 1000).toFixed(0)}s`;
  if (result.kind === 'signalled') return `killed by signal ${result.signal}${line ? `: ${line}` : ''}`;
  return line ?? `exit code ${result.code}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return sleepOrThrow(ms, signal, (aborted) => aborted.reason as Error);
}
