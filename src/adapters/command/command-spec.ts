import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';

/** The commands a `command` component can have; only `apply` is required. */
export const COMMAND_KINDS = ['apply', 'plan', 'verify', 'rollback', 'observe'] as const;
export type CommandKind = (typeof COMMAND_KINDS)[number];

/** Set by the adapter for every run; a component's `env` may not set them. */
export const RESERVED_ENV = [
  'LOCKSTEP_ENVIRONMENT',
  'LOCKSTEP_COMPONENT',
  'LOCKSTEP_VERSION',
  'LOCKSTEP_PREVIOUS_VERSION',
  'LOCKSTEP_RELEASE',
  'LOCKSTEP_PROMOTION',
  'LOCKSTEP_IDEMPOTENCY_KEY',
  'LOCKSTEP_PROJECT',
  'LOCKSTEP_OUTPUTS',
] as const;

export const DEFAULT_TIMEOUT = '10m';

/**
 * A command as written: an argv array (`shell: false`, the default) or one string for `/bin/sh -c`
 * (`shell: true`). Which of the two is allowed depends on `shell`, so that is checked below, once the
 * whole object is known.
 */
const commandLine = z.union([z.string(), z.array(z.string())], {
  error:
    'expected a command: an argv array of strings such as ["./deploy.sh", "1.4.2"] (or one string with shell: true)',
});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const envValue = z.union([z.string(), z.number(), z.boolean()], {
  error: 'expected a string, number or boolean',
});

/** `with:` of a `command` component. Templates are rendered by the engine before the adapter sees it. */
export const commandSpec = z
  .strictObject({
    apply: commandLine,
    plan: commandLine.optional(),
    verify: commandLine.optional(),
    rollback: commandLine.optional(),
    observe: commandLine.optional(),
    idempotent: z.boolean().default(false),
    env: z
      .record(
        z
          .string()
          .regex(ENV_NAME, { error: 'an environment variable name: letters, digits and _, not starting with a digit' }),
        envValue,
      )
      .default({}),
    /** Relative to the project directory. */
    cwd: z.string().min(1, { error: 'expected a directory; leave cwd out to run in the project directory' }).optional(),
    timeout: z
      .string()
      .refine((text) => (parseDuration(text) ?? 0) > 0, {
        error: 'expected a duration such as 30s, 10m or 1h30m',
      })
      .default(DEFAULT_TIMEOUT),
    shell: z.boolean().default(false),
  })
  .superRefine(checkSpec, {
    // Runs even when other fields failed, so one pass reports every problem. The value may therefore be
    // partly invalid: the checks only look at fields that have the expected shape.
    when: (payload) => typeof payload.value === 'object' && payload.value !== null,
  });

export type CommandSpec = z.output<typeof commandSpec>;
export type CommandLine = z.output<typeof commandLine>;

function checkSpec(input: unknown, ctx: z.RefinementCtx): void {
  const value = input as Partial<Record<string, unknown>>;
  const shell = value.shell ?? false;
  // A shell that is not a boolean has its own issue; which form the commands need is then unknown.
  if (typeof shell === 'boolean') checkCommandForms(value, shell, ctx);
  checkReservedEnv(value.env, ctx);
}

/** Each command has the form `shell` asks for. */
function checkCommandForms(value: Partial<Record<string, unknown>>, shell: boolean, ctx: z.RefinementCtx): void {
  for (const kind of COMMAND_KINDS) {
    const command = value[kind];
    if (typeof command === 'string') {
      if (!shell) {
        ctx.addIssue({
          code: 'custom',
          path: [kind],
          message:
            'with shell: false a command is an argv array, such as ["./deploy.sh", "1.4.2"]; ' +
            'set shell: true to run one string through /bin/sh -c',
        });
      } else if (command.trim() === '') {
        ctx.addIssue({ code: 'custom', path: [kind], message: 'the command is empty' });
      }
    } else if (Array.isArray(command)) {
      if (shell) {
        ctx.addIssue({
          code: 'custom',
          path: [kind],
          message:
            'with shell: true a command is one string run by /bin/sh -c, such as "./deploy.sh 1.4.2 && ./notify.sh"; ' +
            'write it as one string, or set shell: false',
        });
      } else if (command.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: [kind],
          message: 'the argv array is empty; it needs at least the program, such as ["./deploy.sh"]',
        });
      } else if (command[0] === '') {
        ctx.addIssue({ code: 'custom', path: [kind, 0], message: 'the program (the first element) is empty' });
      }
    }
  }
}

/** `env` does not set what Lockstep sets for every run. */
function checkReservedEnv(env: unknown, ctx: z.RefinementCtx): void {
  if (typeof env === 'object' && env !== null) {
    for (const name of Object.keys(env)) {
      if ((RESERVED_ENV as readonly string[]).includes(name)) {
        ctx.addIssue({ code: 'custom', path: ['env', name], message: `${name} is set by Lockstep for every run` });
      }
    }
  }
}
