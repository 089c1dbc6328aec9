import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { holdsUnknown } from '../../core/plan.js';

export const DEFAULT_INTERVAL = '1m';

/** Lambda's own rules: function name, partial or full ARN; alias names are letters, digits, - and _. */
const FUNCTION_NAME = /^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[a-zA-Z0-9-_]+$/;
const ALIAS_NAME = /^(?!^[0-9]+$)[a-zA-Z0-9-_]{1,128}$/;
const ENV_NAME = /^[a-zA-Z][a-zA-Z0-9_]*$/;
/** Lambda's own patterns for an execution role and a layer version ARN. */
const ROLE_ARN = /^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role\/?[a-zA-Z_0-9+=,.@\-_/]+$/;
const LAYER_VERSION_ARN = /^arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+$/;
const RUNTIME = /^[a-z][a-z0-9.]*$/;

/**
 * A string of Lambda's format. These fields are often handed over from another component (a role
 * from Terraform); when that component is applied in the same promotion, the planner renders the
 * value as "(known after X applies)" until it exists, and the spec is parsed again with the real value.
 */
function handedOver(pattern: RegExp, error: string): z.ZodType<string> {
  return z.string().refine((value) => holdsUnknown(value) || pattern.test(value), { error });
}

const role = handedOver(ROLE_ARN, 'expected an IAM role ARN such as arn:aws:iam::123456789012:role/billing-worker');
const runtime = handedOver(RUNTIME, 'expected a Lambda runtime identifier such as nodejs20.x or python3.12');
const handler = handedOver(/^[^\s]{1,128}$/, 'expected a handler such as index.handler (no spaces, at most 128 characters)');

const envValue = z.union([z.string(), z.number(), z.boolean()], {
  error: 'expected a string, number or boolean',
});

/**
 * Where the code comes from: exactly one of an S3 object, a zip file in the project, or a container
 * image. All fields sit in one object so that a mix is reported on the field that does not belong.
 */
const code = z
  .strictObject({
    s3Bucket: z.string().min(1).optional(),
    s3Key: z.string().min(1).optional(),
    s3ObjectVersion: z.string().min(1).optional(),
    /** Relative to the project directory. */
    zipFile: z.string().min(1).optional(),
    imageUri: z.string().min(1).optional(),
  })
  .superRefine((value, ctx) => {
    const kinds = [
      value.s3Bucket !== undefined || value.s3Key !== undefined ? 's3' : undefined,
      value.zipFile !== undefined ? 'zipFile' : undefined,
      value.imageUri !== undefined ? 'imageUri' : undefined,
    ].filter((k) => k !== undefined);
    if (kinds.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'expected one of s3Bucket + s3Key, zipFile or imageUri' });
    } else if (kinds.length > 1) {
      ctx.addIssue({ code: 'custom', message: `give only one code source, not ${kinds.join(' and ')}` });
    }
    if (kinds.includes('s3')) {
      if (value.s3Bucket === undefined) ctx.addIssue({ code: 'custom', path: ['s3Bucket'], message: 's3Key needs s3Bucket' });
      if (value.s3Key === undefined) ctx.addIssue({ code: 'custom', path: ['s3Key'], message: 's3Bucket needs s3Key' });
    }
    if (value.s3ObjectVersion !== undefined && !kinds.includes('s3')) {
      ctx.addIssue({ code: 'custom', path: ['s3ObjectVersion'], message: 's3ObjectVersion only goes with s3Bucket + s3Key' });
    }
  });

/** Canary percentages: increasing, each 1–100. The last step is always 100 (added when left out). */
const traffic = z
  .array(
    z
      .number()
      .int({ error: 'expected a whole percentage such as 10' })
      .min(1, { error: 'a canary step sends at least 1 %' })
      .max(100, { error: 'a canary step sends at most 100 %' }),
  )
  .min(1, { error: 'leave traffic out to move the alias in one step' })
  .superRefine((steps, ctx) => {
    steps.forEach((step, i) => {
      const before = steps[i - 1];
      if (before !== undefined && step <= before) {
        ctx.addIssue({ code: 'custom', path: [i], message: `each step must send more than the one before (${before} %)` });
      }
    });
  })
  .transform((steps) => (steps[steps.length - 1] === 100 ? steps : [...steps, 100]));

/** `with:` of an `aws-lambda` component. Templates are rendered by the engine before the adapter sees it. */
const lambdaFields = z.strictObject({
  /** Often created by Terraform in the same promotion: then the plan cannot read it (see planUnseen). */
  function: handedOver(FUNCTION_NAME, 'expected a function name, such as billing-worker-prod, or its ARN'),
  /** Leave out to use the SDK's default (AWS_REGION, the profile). */
  region: handedOver(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region such as eu-west-1').optional(),
  alias: z.string().regex(ALIAS_NAME, {
    error: 'expected an alias name (letters, digits, - and _, not only digits), such as live',
  }),
  code,
  /** Replaces the function's environment variables. Leave out to keep them as they are. */
  environment: z
    .record(z.string().regex(ENV_NAME, { error: 'an environment variable name: letters, digits and _, starting with a letter' }), envValue)
    .transform((vars) => Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, String(v)])))
    .optional(),
  /** The execution role (UpdateFunctionConfiguration Role); often a Terraform output. */
  role: role.optional(),
  /** Memory in MB, 128–10240. */
  memory: z
    .number()
    .int({ error: 'expected whole megabytes such as 512' })
    .min(128, { error: 'Lambda gives a function at least 128 MB' })
    .max(10240, { error: 'Lambda gives a function at most 10240 MB' })
    .optional(),
  /** The function's own time limit: whole seconds (30) or a duration (30s, 2m), at most 15 minutes. */
  timeout: z
    .union([z.number(), z.string()], { error: 'expected seconds such as 30, or a duration such as 2m' })
    .transform((value, ctx) => {
      const seconds = typeof value === 'number' ? value : (parseDuration(value) ?? NaN) / 1000;
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > 900) {
        ctx.addIssue({ code: 'custom', message: 'expected whole seconds from 1 to 900 (15m), such as 30 or 2m' });
        return z.NEVER;
      }
      return seconds;
    })
    .optional(),
  handler: handler.optional(),
  runtime: runtime.optional(),
  /** Layer version ARNs, in order; an empty list removes every layer. */
  layers: z
    .array(handedOver(LAYER_VERSION_ARN, 'expected a layer version ARN such as arn:aws:lambda:eu-west-1:123456789012:layer:deps:3'))
    .max(5, { error: 'Lambda allows at most 5 layers' })
    .optional(),
  /**
   * Create the function when it does not exist, with what CreateFunction needs beyond the fields above
   * (which win when both are given). Without it, a missing function is an error.
   */
  create: z
    .strictObject({
      role: role.optional(),
      runtime: runtime.optional(),
      handler: handler.optional(),
    })
    .optional(),
  traffic: traffic.optional(),
  /**
   * Between canary steps, invoke the new version directly with this payload; a function error stops
   * the canary. Left out, nothing is invoked.
   */
  check: z
    .strictObject({
      payload: z.json().default({}),
    })
    .optional(),
  /** Time on each canary step before the next. */
  interval: z
    .string()
    .refine((text) => parseDuration(text) !== undefined, { error: 'expected a duration such as 30s, 2m or 1h' })
    .default(DEFAULT_INTERVAL),
  /** A Lambda-compatible endpoint (LocalStack and the like); leave out for AWS itself. */
  endpoint: z
    .string()
    .refine((value) => holdsUnknown(value) || z.url().safeParse(value).success, { error: 'expected a URL such as http://localhost:4566' })
    .optional(),
});

/** The fields' schema with the checks that span fields (an image has no runtime; create needs a role). */
export const lambdaSpec = lambdaFields.superRefine((spec, ctx) => {
  const image = spec.code.imageUri !== undefined;
  if (image) {
    for (const field of ['handler', 'runtime', 'layers'] as const) {
      if (spec[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `a container image function has no ${field}; leave it out` });
    }
  }
  if (spec.create === undefined) return;
  if ((spec.role ?? spec.create.role) === undefined) {
    ctx.addIssue({ code: 'custom', path: ['create', 'role'], message: 'creating the function needs its execution role (create.role or role)' });
  }
  if (image) return;
  for (const field of ['runtime', 'handler'] as const) {
    if ((spec[field] ?? spec.create[field]) === undefined) {
      ctx.addIssue({ code: 'custom', path: ['create', field], message: `creating a function from a zip needs its ${field} (create.${field} or ${field})` });
    }
  }
});

export type LambdaSpec = z.output<typeof lambdaSpec>;
export type LambdaCode = LambdaSpec['code'];
