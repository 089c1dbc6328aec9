import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';

export const DEFAULT_TERRAFORM_TIMEOUT = '1h';

/** What `rollback:` may say. Forward-only is the default: undoing infrastructure is a decision, not a reflex. */
export const TERRAFORM_ROLLBACK = ['forward-only', 'reapply-previous'] as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Terraform's own rule for variable names. */
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

const scalar = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' });

/**
 * `with:` of a `terraform` component. Templates are rendered by the engine before the adapter sees it.
 *
 * How the component's version is used:
 * - without `versionVariable`, the version is a git ref (tag, branch, commit; a leading `git:` is
 *   dropped) of the repository holding `dir`; the module is checked out at that ref into a work
 *   directory under the cache, and run there;
 * - with `versionVariable: NAME`, `dir` is used as it is in the project and the version is passed as
 *   the input variable NAME (Terraform refuses variables in a module block's `version`, so this is
 *   how a configuration that uses a registry module, an image tag or an artifact key gets the version).
 */
export const terraformSpec = z.strictObject({
  /** `terraform`, `tofu`, or a path (relative to the project directory when it holds a slash). */
  binary: z.string().min(1, { error: 'expected a program: terraform, tofu or a path' }).default('terraform'),
  /** The root module, relative to the project directory. */
  dir: z.string().min(1, { error: 'expected the directory of the root module, relative to the project directory' }),
  workspace: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, { error: 'a workspace name: letters, digits, _, - and .' })
    .optional(),
  vars: z.record(z.string().regex(VARIABLE_NAME, { error: 'a Terraform variable name' }), z.unknown()).default({}),
  /** Relative to the module directory, as Terraform reads them. */
  varFiles: z.array(z.string().min(1, { error: 'expected a file name' })).default([]),
  backendConfig: z.record(z.string().min(1), scalar).default({}),
  allowDestroy: z.boolean().default(false),
  rollback: z.enum(TERRAFORM_ROLLBACK, { error: 'expected forward-only or reapply-previous' }).default('forward-only'),
  versionVariable: z.string().regex(VARIABLE_NAME, { error: 'a Terraform variable name' }).optional(),
  env: z
    .record(
      z
        .string()
        .regex(ENV_NAME, { error: 'an environment variable name: letters, digits and _, not starting with a digit' }),
      scalar,
    )
    .default({}),
  timeout: z
    .string()
    .refine((text) => (parseDuration(text) ?? 0) > 0, { error: 'expected a duration such as 30m or 1h' })
    .default(DEFAULT_TERRAFORM_TIMEOUT),
});

export type TerraformSpec = z.output<typeof terraformSpec>;
