import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { AuditEventInput } from '../core/audit.js';
import { errorMessage } from '../core/errors.js';
import type { ActorProof } from '../engine/deps.js';
import type { ProjectHandle } from '../project/project-handle.js';

/** How long the file must stay quiet before it is read: an editor's save is several events (write, rename, chmod). */
export const CONFIG_DEBOUNCE_MS = 200;

export interface ConfigWatcherOptions {
  /** The server log. */
  log: (line: string) => void;
  /** Who the audit entries name: the server itself. */
  actor: string;
  actorProof: ActorProof;
  debounceMs?: number;
}

/**
 * Keeps a served project's config current: reads lockstep.yaml again when it changes on disk (and
 * when asked, on SIGHUP), puts a valid new config in force, refuses one with problems (the previous
 * one stays in force), and says which in the server log and the audit log. Reloads run one at a time,
 * so the audit log has them in the order they happened.
 */
export class ConfigWatcher {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly project: ProjectHandle,
    private readonly options: ConfigWatcherOptions,
  ) {}

  /**
   * Watches the config's directory, not the file: editors save by writing a new file and renaming it
   * over the old one, which a watch on the file itself would not survive.
   */
  start(): void {
    const file = this.project.loaded.file;
    const dir = dirname(file);
    const base = basename(file);
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, name) => {
        // No name (some platforms), or Kubernetes' `..data` symlink swap of a mounted ConfigMap: read and compare.
        if (name === null || name === base || name.startsWith('..')) this.soon();
      });
    } catch (error) {
      this.cannotWatch(dir, error);
      return;
    }
    this.watcher.on('error', (error) => this.cannotWatch(dir, error));
  }

  /**
   * Reads the config again now; resolves once the outcome is logged and audited. `asked`: a person
   * asked (SIGHUP), so an unchanged file or a refusal already reported is said again in the log.
   * Never rejects: what fails is logged.
   */
  reload(asked = false): Promise<void> {
    // After stop the store is closing: a late SIGHUP or file event has nothing to do.
    if (this.stopped) return this.queue;
    const next = this.queue.then(() => this.reloadNow(asked));
    this.queue = next;
    return next;
  }

  /** Stops watching and waits for a reload under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    await this.queue;
  }

  private soon(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload(), this.options.debounceMs ?? CONFIG_DEBOUNCE_MS);
    this.timer.unref();
  }

  private cannotWatch(dir: string, error: unknown): void {
    this.options.log(
      `${this.project.name}: cannot watch ${dir} for config changes (${errorMessage(error)}); SIGHUP still reloads`,
    );
  }

  private async reloadNow(asked: boolean): Promise<void> {
    const { project, options } = this;
    try {
      const deps = project.deps({ actor: options.actor, actorProof: options.actorProof });
      const now = deps.clock.now();
      const wasRefused = project.refused !== undefined;
      const result = project.reload(now);
      const event = (kind: AuditEventInput['kind'], data: Record<string, unknown>): AuditEventInput => ({
        kind,
        time: now.toISOString(),
        actor: options.actor,
        project: project.name,
        data,
      });
      if (result.changed) {
        const { digest, file } = project.loaded;
        options.log(`${project.name}: config reloaded (digest ${digest})`);
        await deps.store.commit({ audit: [event('config.reloaded', { digest, file })] });
      } else if (result.problems !== undefined) {
        if (result.repeated && !asked) return;
        options.log(
          `${project.name}: config ${result.repeated ? 'still refused' : 'refused'}, keeping the previous one: ${result.problems.join('; ')}`,
        );
        if (result.repeated) return;
        const refused = project.refused;
        await deps.store.commit({
          audit: [
            event('config.refused', {
              file: project.loaded.file,
              ...(refused?.digest === undefined ? {} : { digest: refused.digest }),
              problems: result.problems,
            }),
          ],
        });
      } else if (wasRefused) {
        options.log(
          `${project.name}: config is again the one in force (digest ${project.loaded.digest}); nothing refused any more`,
        );
      } else if (asked) {
        options.log(`${project.name}: config unchanged (digest ${project.loaded.digest})`);
      }
    } catch (error) {
      options.log(`${project.name}: config reload failed, keeping the config in force: ${errorMessage(error)}`);
    }
  }
}
