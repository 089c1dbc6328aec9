/**
 * The AWS SDK for JavaScript v3 prints a seven-line `NodeVersionSupportWarning` through
 * `process.emitWarning` when it builds a client on a Node version it is about to drop (Node 20 since
 * May 2026). Lockstep supports that Node version on purpose (README, "Supported Node versions"), so the
 * warning is noise in every `plan` and `promote` that touches AWS. The SDK documents one switch for it
 * (aws/aws-sdk-js-v3#7983): this environment variable set to `true` when the client is built.
 */
export const SDK_NODE_WARNING_SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/**
 * Builds an AWS SDK client with the SDK's Node version warning switched off, and only that warning:
 * every other warning still shows. The switch is set for the synchronous call of `make` and removed
 * afterwards, so the programs Lockstep runs (a `command` step, a verification) inherit the user's
 * environment unchanged. A value the user set themselves is left alone, whatever it is.
 */
export function buildQuietly<T>(make: () => T): T {
  if (process.env[SDK_NODE_WARNING_SWITCH] !== undefined) return make();
  process.env[SDK_NODE_WARNING_SWITCH] = 'true';
  try {
    return make();
  } finally {
    delete process.env[SDK_NODE_WARNING_SWITCH];
  }
}
