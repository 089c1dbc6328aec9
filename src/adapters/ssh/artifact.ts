import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StepContext } from '../../core/adapter.js';
import { errorMessage, StepFailure } from '../../core/errors.js';
import { holdsUnknown } from '../../core/plan.js';
import type { ArtifactSpec } from './ssh-spec.js';

/**
 * The artifact of one deploy, as one local file ready to upload: a download (kept in the cache
 * directory), a file of the project, or a directory of the project packed into a tar.gz. Archives are
 * unpacked on the host; any other file is copied into the release directory under its own name.
 */
export interface LocalArtifact {
  readonly file: string;
  /** What the host does with it: unpack (tar.gz / tar), or keep as the file `name`. */
  readonly format: 'tar.gz' | 'tar' | 'file';
  /** The name a plain file gets in the release directory. */
  readonly name: string;
  /** The file's SHA-256 (hex): the upload is checked against it on every host. */
  readonly sha256: string;
  /** Permission bits of a plain file, kept on the host (an executable stays executable). */
  readonly mode: number;
  /** How messages name where it came from: the URL or the path as written. */
  readonly source: string;
  /** Removes what was made only for this deploy (a packed directory); downloads stay cached. */
  cleanup(): Promise<void>;
}

export interface ArtifactSource {
  readonly kind: 'url' | 'path';
  readonly location: string;
  readonly sha256: string | undefined;
}

export function artifactSource(spec: ArtifactSpec): ArtifactSource {
  if (typeof spec === 'string') {
    return /^https?:\/\//i.test(spec)
      ? { kind: 'url', location: spec, sha256: undefined }
      : { kind: 'path', location: spec, sha256: undefined };
  }
  if (spec.url !== undefined) return { kind: 'url', location: spec.url, sha256: spec.sha256?.toLowerCase() };
  return { kind: 'path', location: spec.path ?? '', sha256: spec.sha256?.toLowerCase() };
}

/** The format a file name says: `.tar.gz`/`.tgz` and `.tar` are unpacked. */
export function formatOf(name: string): LocalArtifact['format'] {
  if (/\.(?:tar\.gz|tgz)$/i.test(name)) return 'tar.gz';
  if (/\.tar$/i.test(name)) return 'tar';
  return 'file';
}

/**
 * Checks a local artifact exists, without reading or downloading anything: for plan, which must be
 * cheap and read-only. Returns a problem to report, or undefined.
 */
export async function checkLocalArtifact(source: ArtifactSource, projectDir: string): Promise<string | undefined> {
  // A location known only after its producer applies is checked by the step, which plans again.
  if (source.kind !== 'path' || holdsUnknown(source.location)) return undefined;
  const full = path.resolve(projectDir, source.location);
  const found = await stat(full).catch(() => undefined);
  if (found === undefined) return `artifact ${source.location} does not exist (looked for ${full}, relative to the project directory)`;
  if (!found.isFile() && !found.isDirectory()) return `artifact ${source.location} is neither a file nor a directory`;
  return undefined;
}

/** Makes the artifact ready to upload. Throws StepFailure (nothing touched yet) when it cannot. */
export async function prepareArtifact(
  source: ArtifactSource,
  ctx: StepContext,
  log: (line: string) => void,
): Promise<LocalArtifact> {
  const prepared = source.kind === 'url' ? await download(source, ctx, log) : await localFile(source, ctx, log);
  if (source.sha256 !== undefined && prepared.sha256 !== source.sha256) {
    await prepared.cleanup();
    throw new StepFailure(
      `artifact ${source.location} has SHA-256 ${prepared.sha256}, but the spec expects ${source.sha256}: ` +
        'it is not the artifact this release was made with; nothing was uploaded',
      false,
      { untouched: true },
    );
  }
  return prepared;
}

async function localFile(source: ArtifactSource, ctx: StepContext, log: (line: string) => void): Promise<LocalArtifact> {
  const problem = await checkLocalArtifact(source, ctx.projectDir);
  if (problem !== undefined) throw new StepFailure(problem, false, { untouched: true });
  const full = path.resolve(ctx.projectDir, source.location);
  const found = await stat(full);
  if (found.isDirectory()) {
    const packed = path.join(ctx.cacheDir, 'ssh', `packed-${randomBytes(8).toString('hex')}.tar.gz`);
    await mkdir(path.dirname(packed), { recursive: true });
    log(`packing directory ${source.location}`);
    // Loaded here, the one place that packs: most commands never do.
    const { create: createTar } = await import('tar');
    // portable: no owner names or ids, so the files belong to the deploy user on the host.
    await createTar({ gzip: true, file: packed, cwd: full, portable: true }, ['.']);
    return {
      file: packed,
      format: 'tar.gz',
      name: path.basename(full),
      sha256: await sha256File(packed),
      mode: 0o644,
      source: source.location,
      cleanup: () => rm(packed, { force: true }),
    };
  }
  return {
    file: full,
    format: formatOf(full),
    name: path.basename(full),
    sha256: await sha256File(full),
    mode: found.mode & 0o777,
    source: source.location,
    cleanup: () => Promise.resolve(),
  };
}

/**
 * Downloads into `<cacheDir>/ssh/downloads/`, keyed by the URL's hash (the URL may hold a token, so it is
 * never a file name). With a `sha256` in the spec a cached file that matches is used again; without
 * one every deploy downloads afresh, since the URL alone does not say the content is the same.
 */
async function download(source: ArtifactSource, ctx: StepContext, log: (line: string) => void): Promise<LocalArtifact> {
  const url = new URL(source.location);
  const name = path.posix.basename(decodeURIComponent(url.pathname)) || 'artifact';
  const dir = path.join(ctx.cacheDir, 'ssh', 'downloads', createHash('sha256').update(source.location).digest('hex').slice(0, 24));
  const file = path.join(dir, name.replace(/[^A-Za-z0-9._+-]/g, '_'));
  const result = (sha256: string): LocalArtifact => ({
    file,
    format: formatOf(name),
    name,
    sha256,
    mode: 0o644,
    source: source.location,
    cleanup: () => Promise.resolve(),
  });
  if (source.sha256 !== undefined) {
    const cached = await sha256File(file).catch(() => undefined);
    if (cached === source.sha256) {
      log(`artifact ${name}: using the cached download (SHA-256 matches)`);
      return result(cached);
    }
  }
  await mkdir(dir, { recursive: true });
  if (url.protocol === 'http:' && source.sha256 === undefined) {
    log(`warning: ${name} is downloaded over plain http without a sha256 to check it against`);
  }
  log(`downloading ${name}`);
  const partial = `${file}.${randomBytes(6).toString('hex')}.partial`;
  try {
    const response = await fetch(url, { signal: ctx.signal, redirect: 'follow' });
    if (!response.ok || response.body === null) {
      throw new StepFailure(`artifact download failed: HTTP ${response.status} ${response.statusText} for ${name}`, response.status >= 500, {
        untouched: true,
      });
    }
    const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
    body.on('data', () => ctx.heartbeat());
    await pipeline(body, createWriteStream(partial));
    // Renamed into place whole, so a concurrent deploy never reads half a download.
    await rename(partial, file);
  } catch (error) {
    await rm(partial, { force: true });
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (error instanceof StepFailure) throw error;
    throw new StepFailure(`artifact download of ${name} failed: ${errorMessage(error)}`, true, { cause: error, untouched: true });
  }
  return result(await sha256File(file));
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
