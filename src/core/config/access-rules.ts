import { ROLES } from '../access.js';
import { isPlainObject } from '../expression/template.js';
import { didYouMean } from '../suggest.js';
import type { Finding } from './findings.js';
import { peopleProblems } from './gate-rules.js';
import type { Path } from './positions.js';
import type { Rule } from './rule.js';

/**
 * `access:` means what it says: every `group:<name>` in a role's list names a group of `groups:`,
 * and every environment under `access.environments` is one of `environments:` (a misspelt one would
 * leave the real environment on the project's lists without a word). Unknown role keys are the
 * schema's to report. Works on the draft, so it reads defensively.
 */
export const accessIsValid: Rule = ({ config }) => {
  const access: unknown = config.access;
  if (!isPlainObject(access)) return [];
  const out: Finding[] = [];
  const roleLists = (block: Record<string, unknown>, path: Path): void => {
    for (const role of ROLES) out.push(...peopleProblems(block[role], [...path, role], config));
  };
  roleLists(access, ['access']);
  const environments = access.environments;
  if (!isPlainObject(environments)) return out;
  const known = Object.keys(config.environments);
  for (const [name, block] of Object.entries(environments)) {
    const path = ['access', 'environments', name];
    if (!Object.hasOwn(config.environments, name)) {
      out.push({ path, target: 'key', message: `unknown environment ${name} (environments: ${known.join(', ')})${didYouMean(name, known)}` });
    }
    if (isPlainObject(block)) roleLists(block, path);
  }
  return out;
};
