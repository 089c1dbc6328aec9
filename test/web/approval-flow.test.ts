import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitFixture, type GitFixture } from '../adapters/gitops/git-fixture.js';
import { lockstep, requireBuild, type CliResult } from '../helpers/cli.js';
import { launchChromium, openPage, type WatchedPage } from '../helpers/chromium.js';
import { startTestProvider, WEB_CLIENT_SECRET, type TestProvider } from '../helpers/oidc-provider.js';
import { oidcBlock, PEOPLE } from '../helpers/oidc-server.js';
import { commandComponent, testProject, type TestProject } from '../helpers/project.js';
import { startServe, stopServe, type ServeProcess } from '../helpers/serve-process.js';
import { expectRealTerraform, TF_ENV } from '../helpers/terraform.js';

/**
 * Issue 18's check, as approvers new to the UI would do it, in Debian's Chromium against a real
 * `lockstep serve`, a real OpenID provider (oidc-provider, its own login and consent pages), real
 * Terraform (terraform_data, local state) and real git: alice (a releaser and an sre) sends release
 * 2.0.0 from staging to prod with "Promote to prod"; bob sees it pending on the board, reads its
 * Terraform changes (a replacement, highlighted) and its Git diff, and approves; alice is shown why
 * she may not (separation of duties); dave approves; bob's page turns green live; the audit
 * timeline holds both approvals.
 *
 * LOCKSTEP_UI_SCREENSHOTS=DIR writes the board and the promotion page as PNG into DIR (docs/images
 * for the docs: see docs/ui.md).
 */

const TERRAFORM = `variable "app_version" {
  type = string
}

# Replaced for every version: the plan shows a replacement, which destroys the old one.
resource "terraform_data" "role" {
  triggers_replace = [var.app_version]
}

# Changed in place.
resource "terraform_data" "settings" {
  input = { version = var.app_version }
}

output "role_arn" {
  value = "arn:aws:iam::123456789012:role/api-\${replace(var.app_version, ".", "-")}"
}
`;

const VALUES = `image:
  repository: acme/api
  tag: 0.9.0
serviceAccount:
  roleArn: none
`;

function config(issuer: string, remote: string, gated: boolean): string {
  return `project: shop
${oidcBlock(issuer)}groups:
  sre: [dave@example.com, alice@example.com]
access:
  viewer: [group:sre, erin@example.com]
  releaser: [alice@example.com]
  approver: [group:sre]
  admin: [admin@example.com]
environments:
  staging: {}
  prod:
    after: [staging]
${gated ? '    gates:\n      approvals: { count: 2, from: [group:sre] }\n' : ''}components:
  iam:
    type: terraform
    with:
      dir: infra/iam
      workspace: "\${{ env.name }}"
      versionVariable: app_version
      allowDestroy: true
    outputs:
      role_arn: { type: string, pattern: "^arn:aws:iam::[0-9]{12}:role/.+$" }
  api:
    type: gitops
    with:
      repo: ${remote}
      path: "apps/api/\${{ env.name }}"
      set:
        - { file: values.yaml, path: image.tag, value: "\${{ version }}" }
        - { file: values.yaml, path: serviceAccount.roleArn, value: "\${{ components.iam.outputs.role_arn }}" }
  worker:
${commandComponent({ dependsOn: ['api'] })}
`;
}

const ENV = { ...TF_ENV, OIDC_CLIENT_SECRET: WEB_CLIENT_SECRET, LOCKSTEP_ACTOR: 'admin@example.com' };
const SCREENSHOTS = process.env.LOCKSTEP_UI_SCREENSHOTS;

let project: TestProject;
let repo: GitFixture;
let provider: TestProvider | undefined;
let server: ServeProcess | undefined;
let browser: Browser;

function cli(args: string[]): CliResult {
  const r = lockstep(project.dir, args, ENV);
  expect(r.status, `lockstep ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r;
}

function release(version: string): string {
  const r = cli([
    'release',
    'create',
    '--set',
    `iam=${version}`,
    '--set',
    `api=${version}`,
    '--set',
    `worker=${version}`,
    '--output',
    'json',
  ]);
  return (JSON.parse(r.stdout) as { release: { id: string } }).release.id;
}

beforeAll(async () => {
  requireBuild();
  expectRealTerraform();
  const started = await startTestProvider(PEOPLE);
  repo = gitFixture({ 'apps/api/staging/values.yaml': VALUES, 'apps/api/prod/values.yaml': VALUES });
  project = testProject(config(started.issuer, repo.remote, false));
  project.write('infra/iam/main.tf', TERRAFORM);
  // 1.0.0 runs everywhere (prod had no gates yet); then prod needs two sre approvals and 2.0.0 reaches staging.
  const first = release('1.0.0');
  cli(['promote', first, '--to', 'staging']);
  cli(['promote', first, '--to', 'prod']);
  project.write('lockstep.yaml', config(started.issuer, repo.remote, true));
  cli(['promote', release('2.0.0'), '--to', 'staging']);

  server = await startServe(project.dir, [], ENV);
  provider = await started.attach(`${server.url}/auth/callback`);
  browser = await launchChromium();
  if (SCREENSHOTS !== undefined) mkdirSync(SCREENSHOTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stopServe(server);
  await provider?.close();
  repo?.cleanup();
  project?.cleanup();
});

/** Signs `who` in as a person does: Lockstep's sign-in page, the provider's login and consent pages, back to the board. */
async function signIn(who: keyof typeof PEOPLE): Promise<WatchedPage> {
  const watched = await openPage(browser, server?.url ?? '');
  const { page } = watched;
  await page.goto(`${server?.url ?? ''}/`);
  await page.getByRole('link', { name: 'Sign in with your identity provider' }).click();
  await page.locator('input[name="login"]').fill(who);
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByText(`Signed in as ${PEOPLE[who]?.email ?? ''}`).waitFor();
  await page.getByRole('heading', { name: 'Pipeline' }).waitFor();
  return watched;
}

const card = (page: Page, env: string) => page.getByRole('article', { name: env, exact: true });

async function shoot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS !== undefined) await page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });
}

describe('the web UI: a prod promotion approved by two people, watched live (Chromium, real provider, Terraform and git)', () => {
  it('promote, read the plan, approve, see the refusal, approve, watch it turn green, find both approvals in the audit', async () => {
    // alice: the staging card offers "Promote to prod" (she is a releaser there); prod offers nothing further.
    const alice = await signIn('alice');
    const staging = card(alice.page, 'staging');
    await staging.getByText('succeeded').waitFor();
    await expect(
      card(alice.page, 'prod')
        .getByRole('button', { name: /^Promote to/ })
        .count(),
    ).resolves.toBe(0);
    await staging.getByRole('button', { name: 'Promote to prod' }).click();
    await alice.page.getByRole('heading', { name: /to prod$/ }).waitFor();
    await alice.page.locator('[data-promotion-state="pending"]').waitFor();
    const promotionUrl = alice.page.url();

    // bob: sees it pending on prod's card, with what it waits for, and opens it.
    const bob = await signIn('bob');
    const prod = card(bob.page, 'prod');
    await prod.getByRole('heading', { name: /^Pending: release/ }).waitFor();
    await prod.getByText('0 of 2').waitFor();
    await shoot(bob.page, 'ui-board.png');
    await prod.getByRole('link', { name: /^release / }).click();
    expect(bob.page.url()).toBe(promotionUrl);

    // The plan: Terraform's replacement marked as destroying, the update not; the Git diff of values.yaml.
    const iam = bob.page.getByRole('region', { name: 'Plan of iam' });
    await iam.waitFor();
    const replaced = iam.locator('tr', { hasText: 'terraform_data.role' });
    await replaced.getByText('replace', { exact: true }).waitFor();
    await expect(replaced.getAttribute('class')).resolves.toBe('tf-destroys');
    await replaced.getByText('destroys').waitFor();
    const updated = iam.locator('tr', { hasText: 'terraform_data.settings' });
    await updated.getByText('update', { exact: true }).waitFor();
    await expect(updated.getAttribute('class')).resolves.toBeNull();
    const diff = bob.page.getByRole('region', { name: 'Plan of api' }).getByLabel('Git diff');
    await diff.waitFor();
    await expect(diff.locator('.diff-del', { hasText: 'tag: 1.0.0' }).count()).resolves.toBe(1);
    await expect(diff.locator('.diff-add', { hasText: 'tag: 2.0.0' }).count()).resolves.toBe(1);
    await expect(diff.locator('.diff-add', { hasText: 'role/api-2-0-0' }).count()).resolves.toBe(1);
    const digest = await bob.page.locator('#plan-title + p .digest').textContent();
    expect(digest).toMatch(/^[0-9a-f]{64}$/);

    // bob approves, with a comment.
    await bob.page.getByLabel(/^Comment/).fill('Terraform replaces the role, as planned');
    await bob.page.getByRole('button', { name: 'Approve' }).click();
    await bob.page.getByRole('status').filter({ hasText: 'Your approval is recorded.' }).waitFor();
    await bob.page.getByRole('listitem').filter({ hasText: 'approvals: 1 of 2' }).waitFor();
    await shoot(bob.page, 'ui-promotion.png');

    // alice, the requester, may not approve her own promotion: the button is off, the reason says why.
    await alice.page.reload();
    const aliceApprove = alice.page.getByRole('button', { name: 'Approve' });
    await alice.page
      .getByText('alice@example.com requested this promotion and cannot approve it (separation of duties)')
      .waitFor();
    await expect(aliceApprove.isDisabled()).resolves.toBe(true);
    await expect(aliceApprove.getAttribute('aria-describedby')).resolves.toBe('approve-reason');
    // The requester may still say no (Reject stays offered).
    await expect(alice.page.getByRole('button', { name: 'Reject' }).isEnabled()).resolves.toBe(true);

    // bob's page stays open, unreloaded, while dave approves: it follows the event stream.
    await bob.page.evaluate('window.notReloaded = true');
    // bob counts once: his Approve is off now, with the reason.
    await bob.page.getByText('bob@example.com already approved this plan').waitFor();
    await expect(bob.page.getByRole('button', { name: 'Approve' }).isDisabled()).resolves.toBe(true);
    const dave = await signIn('dave');
    await dave.page.goto(promotionUrl);
    // With the keyboard: the button takes the focus and Enter presses it.
    await dave.page.getByRole('button', { name: 'Approve' }).focus();
    await dave.page.keyboard.press('Enter');
    await dave.page.getByRole('status').filter({ hasText: 'Your approval is recorded.' }).waitFor();

    // The graph turns green on bob's page, step by step, without a reload.
    await bob.page.locator('[data-promotion-state="succeeded"]').waitFor({ timeout: 90_000 });
    const nodes = bob.page.locator('.react-flow [data-step-state]');
    const states: string[] = [];
    for (let i = 0; i < (await nodes.count()); i++) {
      const node = nodes.nth(i);
      states.push(
        `${(await node.getAttribute('data-component')) ?? ''}=${(await node.getAttribute('data-step-state')) ?? ''}`,
      );
    }
    expect(states.sort()).toEqual(['api=succeeded', 'iam=succeeded', 'worker=succeeded']);
    await expect(bob.page.evaluate('window.notReloaded')).resolves.toBe(true);
    // The outputs and the logs are there too.
    await bob.page.locator('#step-iam dd', { hasText: 'arn:aws:iam::123456789012:role/api-2-0-0' }).waitFor();
    await bob.page.locator('#step-worker summary').click();
    await bob.page.getByLabel('Log of worker').getByText('deployed worker 2.0.0').waitFor();
    await shoot(bob.page, 'ui-promotion-succeeded.png');

    // The audit timeline of the promotion holds both approvals, with their comments.
    await bob.page.getByRole('link', { name: 'Audit timeline' }).click();
    const approvals = bob.page.locator('tr', { hasText: 'approval.given' });
    await approvals.nth(1).waitFor();
    const rows = await approvals.allTextContents();
    expect(rows).toHaveLength(2);
    expect(rows.some((r) => r.includes('bob@example.com') && r.includes('Terraform replaces the role'))).toBe(true);
    expect(rows.some((r) => r.includes('dave@example.com'))).toBe(true);

    for (const watched of [alice, bob, dave]) {
      // A 401 before signing in is how the page learns it must; anything else (a CSP refusal above all) is a defect.
      expect(watched.problems.filter((p) => !p.includes('401'))).toEqual([]);
      await watched.context.close();
    }
  });
});
