import type { Adapter } from '../core/adapter.js';
import { lambdaAdapter } from './aws-lambda/lambda-adapter.js';
import { cloudFormationAdapter } from './cloudformation/cfn-adapter.js';
import { commandAdapter } from './command/command-adapter.js';
import { gitopsAdapter } from './gitops/gitops-adapter.js';
import { httpAdapter } from './http/http-adapter.js';
import { sshAdapter } from './ssh/ssh-adapter.js';
import { sqlMigrationsAdapter } from './sql-migrations/migrations-adapter.js';
import { terraformAdapter } from './terraform/terraform-adapter.js';

/** Component type names as users write them in `type:`. */
const TYPE_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;

/**
 * Every built-in component type, listed here and nowhere else. Called at start; a broken list (a
 * duplicate type) throws then, not when a promotion first meets the type.
 */
export function builtinAdapters(): ReadonlyMap<string, Adapter<unknown>> {
  return adapterSet([
    commandAdapter,
    gitopsAdapter,
    sshAdapter,
    sqlMigrationsAdapter,
    terraformAdapter,
    httpAdapter,
    lambdaAdapter,
    cloudFormationAdapter,
    // Add new adapters here.
  ]);
}

/**
 * The adapters by type. Checks the whole list and throws one Error naming every problem (duplicate
 * types, malformed type names, missing descriptions), so a broken registration is fixed in one go.
 */
export function adapterSet(list: Adapter<unknown>[]): ReadonlyMap<string, Adapter<unknown>> {
  const problems: string[] = [];
  const byType = new Map<string, Adapter<unknown>>();
  list.forEach((adapter, index) => {
    const where = `adapter #${index + 1} (${JSON.stringify(adapter.type)})`;
    if (!TYPE_NAME.test(adapter.type)) {
      problems.push(`${where}: type must be lower-case words joined by "-", such as "aws-lambda"`);
    }
    if (adapter.description.trim() === '') {
      problems.push(`${where}: description is empty; it is shown by \`lockstep schema\` and in the docs`);
    }
    if (byType.has(adapter.type)) {
      const first = list.findIndex((other) => other.type === adapter.type);
      problems.push(`${where}: type "${adapter.type}" is registered already, by adapter #${first + 1}`);
      return;
    }
    byType.set(adapter.type, adapter);
  });
  if (problems.length > 0) {
    throw new Error(`invalid adapter registry:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return byType;
}
