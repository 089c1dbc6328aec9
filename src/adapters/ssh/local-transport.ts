import { copyFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { StepFailure } from '../../core/errors.js';
import { runRecorded } from '../command/run-journal.js';
import { runProcess } from '../command/run-process.js';
import { notASymlink } from './transport.js';
import type { HostTarget, RunOptions, RunResult, TransferOptions, Transport } from './transport.js';

/**
 * `host: local`: the same layout and the same scripts as over SSH, on this machine. Relative paths are
 * relative to `baseDir` (the project directory). Scripts run through /bin/sh in their own process group,
 * so a timeout or an abort stops everything they started.
 */
export function localTransport(host: HostTarget, baseDir: string, nextRecordDir: () => string | undefined = () => undefined): Transport {
  const resolve = (p: string): string => path.resolve(baseDir, p);
  return {
    host,

    async run(script: string, options: RunOptions): Promise<RunResult> {
      const request = {
        file: '/bin/sh',
        args: ['-c', script],
        cwd: baseDir,
        env: process.env,
        timeoutMs: options.timeoutMs,
        signal: options.signal,
        onLine: (line: string, stream: 'stdout' | 'stderr') => options.onLine?.(line, stream),
        onAlive: options.onAlive,
      };
      // In apply and rollback each script is recorded, so that after a crash one that finished is not
      // run again and one still running is waited for (over SSH the remote side ends with the connection).
      const recordDir = nextRecordDir();
      const result = recordDir === undefined ? await runProcess(request) : await runRecorded({ ...request, recordDir });
      if (result.kind === 'aborted') throw result.reason;
      if (result.kind === 'vanished') {
        throw new StepFailure(`host ${host.name}: a script started before Lockstep stopped ended without recording how (killed from outside, or the machine restarted)`, false);
      }
      if (result.kind === 'spawn-failed') {
        throw new StepFailure(`host ${host.name}: could not start /bin/sh in ${baseDir}: ${result.error.message}`, false, {
          cause: result.error,
        });
      }
      const output = {
        stdout: result.output.stdout,
        lastLine: result.output.lastStderrLine ?? result.output.lastStdoutLine,
      };
      if (result.kind === 'exited') return { kind: 'exited', code: result.code, output };
      if (result.kind === 'signalled') return { kind: 'signalled', signal: result.signal, output };
      return { kind: 'timed-out', output };
    },

    async upload(localFile: string, target: string, options: TransferOptions): Promise<void> {
      if (options.signal.aborted) throw options.signal.reason;
      await copyFile(localFile, resolve(target));
      options.onAlive();
    },

    async readlink(link: string): Promise<string | undefined> {
      try {
        return await readlink(resolve(link));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return undefined;
        if (code === 'EINVAL') throw new StepFailure(notASymlink(host, link), false, { cause: error, untouched: true });
        throw error;
      }
    },

    async switchSymlink(link: string, target: string): Promise<void> {
      const temporary = `${resolve(link)}.tmp`;
      await rm(temporary, { force: true });
      await symlink(target, temporary);
      await rename(temporary, resolve(link));
    },

    close(): void {
      // Nothing held open.
    },
  };
}
