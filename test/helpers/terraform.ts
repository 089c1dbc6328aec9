import { execFileSync } from 'node:child_process';
import { expect } from 'vitest';

/** What Terraform runs with in these tests: no CLI configuration file, so nothing of the machine's leaks in. */
export const TF_ENV = { TF_CLI_CONFIG_FILE: '/dev/null' };

/** Real Terraform is part of these machines: the preflight names it when missing; this checks it is a 1.x. */
export function expectRealTerraform(): void {
  const version = execFileSync('terraform', ['version', '-json'], { encoding: 'utf8', env: { ...process.env, ...TF_ENV } });
  expect((JSON.parse(version) as { terraform_version: string }).terraform_version).toMatch(/^1\./);
}
