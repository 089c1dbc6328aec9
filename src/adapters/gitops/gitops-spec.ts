import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { holdsUnknown } from '../../core/plan.js';
import { parseYamlPath, type ScalarValue, type YamlPath } from './yaml-edit.js';

/** Who commits when the spec does not say. */
export const DEFAULT_IDENTITY = { name: 'Lockstep', email: 'lockstep@localhost' } as const;
export const MODES = ['push', 'pull-request'] as const;
export const FORGES = ['github', 'gitea'] as const;
export const REFRESH_KINDS = ['normal', 'hard'] as const;

/** One edit, as the adapter works with it (the `set:` entry after parsing). */
export type SetEntry = KustomizeImageSet | YamlValueSet;

/** A Kustomize `images:` entry, found by its `name`. `null` in a field means: remove that key. */
export interface KustomizeImageSet {
  kind: 'kustomize-image';
  image: string;
  /** The kustomization file, relative to `path`; found by its usual names when absent. */
  file: string | undefined;
  newTag?: string | null;
  digest?: string | null;
  newName?: string | null;
  create: boolean;
}

/** One scalar in a YAML file, found by its path. */
export interface YamlValueSet {
  kind: 'yaml';
  file: string;
  path: YamlPath;
  /** The path as the user wrote it, for messages. */
  pathText: string;
  value: ScalarValue;
  create: boolean;
  /** Which document of a multi-document file (0 = the first). */
  document: number;
}

const duration = (fallback: string) =>
  z
    .string()
    .refine((text) => (parseDuration(text) ?? 0) > 0, { error: 'expected a duration such as 30s, 10m or 1h30m' })
    .default(fallback);

const zeroOrDuration = (fallback: string) =>
  z
    .string()
    .refine((text) => parseDuration(text) !== undefined, { error: 'expected a duration such as 0s, 5s or 1m' })
    .default(fallback);

/** A path inside the repository: relative, and never above its root. */
const repoPath = (what: string) =>
  z
    .string()
    .min(1, { error: `expected ${what}, relative to the repository root` })
    .refine((text) => !text.startsWith('/'), { error: `${what} is relative to the repository root: drop the leading /` })
    .refine((text) => !text.split('/').includes('..'), { error: `${what} may not contain ..: it stays inside the repository` });

const identity = z.strictObject({
  name: z
    .string()
    .min(1, { error: 'expected a name, such as "Release Bot"' })
    .refine((s) => !/[<>\n]/.test(s), { error: 'a name may not contain <, > or a line break' }),
  email: z
    .string()
    .min(1, { error: 'expected an email address, such as "release-bot@example.com"' })
    .refine((s) => !/[<>\s]/.test(s), { error: 'an email address may not contain <, > or spaces' }),
});

const scalarValue = z.union([z.string(), z.number(), z.boolean()], {
  error: 'expected the value to write: a string, number or boolean',
});

/**
 * A non-empty string without spaces (image names, tags, digests). A value holding the stand-in of an
 * output known only after its producer applies passes: the plan shows it in place (its own text has
 * spaces), and at apply time the real value is checked.
 */
const word = (what: string) =>
  z
    .string()
    .min(1, { error: `expected ${what}` })
    .refine((s) => holdsUnknown(s) || !/\s/.test(s), { error: `${what} may not contain spaces` });

/** An http(s) URL, or (at plan time) one holding a stand-in: the plan contacts neither server. */
const httpUrl = (error: string) =>
  z.string().refine((s) => holdsUnknown(s) || z.url({ protocol: /^https?$/ }).safeParse(s).success, { error });

/**
 * One `set:` entry as written. Both kinds share one object schema so that a mistake gets a message
 * naming the field (a union would only say "invalid input"); the superRefine says which fields go
 * together, and the transform turns it into a SetEntry.
 */
const setEntryInput = z
  .strictObject({
    kustomizeImage: word('the image name as it appears under images: in the kustomization, such as acme/api').optional(),
    tag: word('a tag, such as "1.4.2"').optional(),
    digest: z
      .string()
      .refine((s) => holdsUnknown(s) || /^sha256:[0-9a-f]{64}$/.test(s), {
        error: 'expected a digest: sha256: followed by 64 lower-case hex digits',
      })
      .optional(),
    newName: word('the image name to use instead, such as registry.example.com/acme/api').optional(),
    file: repoPath('a file').optional(),
    path: z
      .union([z.string(), z.array(z.union([z.string(), z.number().int().min(0)]))], {
        error: 'expected a YAML path such as image.tag or containers[0].image (or a list of keys and indexes)',
      })
      .optional(),
    value: scalarValue.optional(),
    create: z.boolean().default(false),
    document: z.number().int().min(0, { error: 'documents count from 0' }).optional(),
  })
  .superRefine(checkSetEntry, {
    when: (payload) => typeof payload.value === 'object' && payload.value !== null,
  })
  .transform(toSetEntry);

function checkSetEntry(input: unknown, ctx: z.RefinementCtx): void {
  const entry = input as Partial<Record<string, unknown>>;
  if (entry.kustomizeImage !== undefined) {
    for (const field of ['path', 'value', 'document'] as const) {
      if (entry[field] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `${field} belongs to a YAML edit ({ file, path, value }); a kustomizeImage entry takes tag, digest or newName`,
        });
      }
    }
    if (entry.tag === undefined && entry.digest === undefined && entry.newName === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['kustomizeImage'],
        message: 'say what to set for this image: tag, digest or newName, such as { kustomizeImage: acme/api, tag: "${{ version }}" }',
      });
    }
    return;
  }
  for (const field of ['tag', 'digest', 'newName'] as const) {
    if (entry[field] !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message: `${field} belongs to a kustomizeImage entry, such as { kustomizeImage: acme/api, ${field}: … }`,
      });
    }
  }
  const missing = (['file', 'path', 'value'] as const).filter((f) => entry[f] === undefined);
  if (missing.length === 3 && entry.tag === undefined && entry.digest === undefined && entry.newName === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: [],
      message:
        'expected an edit: { kustomizeImage: acme/api, tag: "${{ version }}" } or { file: values.yaml, path: image.tag, value: "${{ version }}" }',
    });
    return;
  }
  for (const field of missing) {
    ctx.addIssue({
      code: 'custom',
      path: [field],
      message: `a YAML edit needs ${field}: { file: values.yaml, path: image.tag, value: "\${{ version }}" }`,
    });
  }
  if (typeof entry.path === 'string') {
    try {
      parseYamlPath(entry.path);
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['path'], message: (error as Error).message });
    }
  } else if (Array.isArray(entry.path) && entry.path.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['path'], message: 'the path is empty: name at least one key' });
  }
}

function toSetEntry(entry: {
  kustomizeImage?: string | undefined;
  tag?: string | undefined;
  digest?: string | undefined;
  newName?: string | undefined;
  file?: string | undefined;
  path?: string | (string | number)[] | undefined;
  value?: ScalarValue | undefined;
  create: boolean;
  document?: number | undefined;
}): SetEntry {
  if (entry.kustomizeImage !== undefined) {
    const set: KustomizeImageSet = { kind: 'kustomize-image', image: entry.kustomizeImage, file: entry.file, create: entry.create };
    if (entry.newName !== undefined) set.newName = entry.newName;
    if (entry.tag !== undefined) set.newTag = entry.tag;
    if (entry.digest !== undefined) set.digest = entry.digest;
    // A new tag under an old digest would be ignored by Kustomize; `kustomize edit set image` drops
    // the digest too.
    else if (entry.tag !== undefined) set.digest = null;
    return set;
  }
  // checkSetEntry guarantees file, path and value; this transform only runs when it found nothing.
  const rawPath = entry.path ?? [];
  const path = typeof rawPath === 'string' ? parseYamlPath(rawPath) : rawPath;
  return {
    kind: 'yaml',
    file: entry.file ?? '',
    path,
    pathText: typeof rawPath === 'string' ? rawPath : JSON.stringify(rawPath),
    value: entry.value ?? '',
    create: entry.create,
    document: entry.document ?? 0,
  };
}

const argocdSpec = z
  .strictObject({
    server: httpUrl('expected the Argo CD server URL, such as https://argocd.example.com'),
    app: z.string().min(1, { error: 'expected the Application name, such as api-prod' }),
    appNamespace: z.string().min(1).optional(),
    token: z.string().min(1, { error: 'the token is empty: is the secret set?' }).optional(),
    username: z.string().min(1).optional(),
    password: z.string().min(1, { error: 'the password is empty: is the secret set?' }).optional(),
    timeout: duration('10m'),
    interval: duration('2s'),
    /** How long Healthy must hold before it is believed: health can flap while pods start. */
    stableFor: zeroOrDuration('5s'),
    sync: z.boolean().default(true),
    refresh: z.enum(REFRESH_KINDS, { error: 'expected normal or hard' }).default('normal'),
    prune: z.boolean().default(false),
  })
  .superRefine((input, ctx) => {
    const a = input as Partial<Record<string, unknown>>;
    if (a.token !== undefined && (a.username !== undefined || a.password !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'give either token, or username and password, not both' });
    }
    if ((a.username === undefined) !== (a.password === undefined)) {
      const field = a.username === undefined ? 'username' : 'password';
      ctx.addIssue({ code: 'custom', path: [field], message: 'username and password go together' });
    }
  }, { when: (payload) => typeof payload.value === 'object' && payload.value !== null });

const forgeSpec = z.strictObject({
  type: z.enum(FORGES, { error: 'expected github or gitea' }),
  /** https://api.github.com, https://github.example.com/api/v3, https://gitea.example.com/api/v1 */
  api: httpUrl('expected the API base URL, such as https://api.github.com'),
  token: z.string().min(1, { error: 'the token is empty: is the secret set?' }),
  /** owner/name; taken from the repo URL when absent. */
  repository: z
    .string()
    .regex(/^[^/\s]+\/[^/\s]+$/, { error: 'expected owner/name, such as acme/deploy' })
    .optional(),
});

const pullRequestSpec = z.strictObject({
  /** The branch the change is pushed to; default lockstep/<environment>/<component>. */
  branch: z
    .string()
    .min(1)
    .refine((s) => !/[\s~^:?*[\\]|\.\.|^\/|\/$|\.lock$|@\{/.test(s), { error: 'not a valid branch name' })
    .optional(),
  timeout: duration('1h'),
  interval: duration('15s'),
  forge: forgeSpec.optional(),
});

/** `with:` of a `gitops` component. Templates are rendered by the engine before the adapter sees it. */
export const gitopsSpec = z.strictObject({
  repo: z
    .string()
    .min(1, { error: 'expected a git URL (https, ssh, file://) or a path to a repository' })
    // A repository known only after its producer applies is planned without fetching (see planUnseen).
    .refine((s) => holdsUnknown(s) || !/^[a-z][a-z0-9+.-]*:\/\//i.test(s) || URL.canParse(s), {
      error: 'not a valid URL; expected https://host/owner/repo.git, ssh://git@host/owner/repo.git, file:///path or a path',
    }),
  branch: z
    .string()
    .min(1, { error: 'expected a branch name, such as main' })
    .refine((s) => !s.startsWith('refs/') && !/[\s~^:?*[\\]|\.\./.test(s), {
      error: 'expected a branch name such as main (without refs/heads/)',
    })
    .default('main'),
  path: z
    .string()
    .refine((text) => !text.startsWith('/'), { error: 'path is relative to the repository root: drop the leading /' })
    .refine((text) => !text.split('/').includes('..'), { error: 'path may not contain ..: it stays inside the repository' })
    .default('.'),
  set: z.array(setEntryInput).min(1, { error: 'expected at least one edit under set:' }),
  mode: z.enum(MODES, { error: 'expected push or pull-request' }).default('push'),
  /** Credentials for an https repository; user:token in the URL works too. */
  auth: z
    .strictObject({
      username: z.string().min(1).default('x-access-token'),
      token: z.string().min(1, { error: 'the token is empty: is the secret set?' }),
    })
    .optional(),
  commit: z
    .strictObject({
      author: identity.default({ ...DEFAULT_IDENTITY }),
      committer: identity.optional(),
      /** Sign with the user's git setup (user.signingKey, gpg.format): git commit-tree -S. */
      sign: z.boolean().default(false),
    })
    .default({ author: { ...DEFAULT_IDENTITY }, sign: false }),
  /** How often a rejected push (someone pushed first) is fetched, re-applied and pushed again. */
  pushAttempts: z.number().int().min(1).max(20).default(5),
  pullRequest: pullRequestSpec.optional(),
  argocd: argocdSpec.optional(),
});

export type GitopsSpec = z.output<typeof gitopsSpec>;
export type ArgoCdSpec = z.output<typeof argocdSpec>;
export type PullRequestSpec = z.output<typeof pullRequestSpec>;
export type ForgeSpec = z.output<typeof forgeSpec>;
