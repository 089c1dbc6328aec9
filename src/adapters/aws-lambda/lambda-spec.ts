import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';

export const DEFAULT_INTERVAL = '1m';

/** Lambda's own rules: function name, partial or full ARN; alias names are letters, digits, - and _. */
const FUNCTION_NAME = /^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[a-zA-Z0-9-_]+$/;
const ALIAS_NAME = /^(?!^[0-9]+$)[a-zA-Z0-9-_]{1,128}$/;
const ENV_NAME = /^[a-zA-Z][a-zA-Z0-9_]*$/;

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
export const lambdaSpec = z.strictObject({
  function: z.string().regex(FUNCTION_NAME, { error: 'expected a function name, such as billing-worker-prod, or its ARN' }),
  /** Leave out to use the SDK's default (AWS_REGION, the profile). */
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: 'expected an AWS region such as eu-west-1' })
    .optional(),
  alias: z.string().regex(ALIAS_NAME, {
    error: 'expected an alias name (letters, digits, - and _, not only digits), such as live',
  }),
  code,
  /** Replaces the function's environment variables. Leave out to keep them as they are. */
  environment: z
    .record(z.string().regex(ENV_NAME, { error: 'an environment variable name: letters, digits and _, starting with a letter' }), envValue)
    .transform((vars) => Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, String(v)])))
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
  endpoint: z.url({ error: 'expected a URL such as http://localhost:4566' }).optional(),
});

export type LambdaSpec = z.output<typeof lambdaSpec>;
export type LambdaCode = LambdaSpec['code'];
