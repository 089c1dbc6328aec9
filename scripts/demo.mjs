#!/usr/bin/env node
// `npm run demo`: copies the demo project into a temporary directory and walks a release through
// dev → staging → prod with the real CLI: plan, live progress, a failing health check that rolls back
// automatically, a fixed release, then status, history and the audit log check.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '..', 'bin', 'lockstep.js');
const dir = mkdtempSync(join(tmpdir(), 'lockstep-demo-'));
cpSync(join(here, 'demo-project'), dir, { recursive: true });

// The GitOps repository the frontend is deployed through: a local bare repository, seeded with
// kustomize overlays per environment.
const gitEnv = { ...process.env, GIT_AUTHOR_NAME: 'demo', GIT_AUTHOR_EMAIL: 'demo@example.com', GIT_COMMITTER_NAME: 'demo', GIT_COMMITTER_EMAIL: 'demo@example.com' };
function git(cwd, ...args) {
  const r = spawnSync('git', args, { cwd, env: gitEnv, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`demo: git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
git(join(dir, 'deploy-repo'), 'init', '--quiet', '--initial-branch=main');
git(join(dir, 'deploy-repo'), 'add', '.');
git(join(dir, 'deploy-repo'), 'commit', '--quiet', '-m', 'The frontend overlays');
git(dir, 'clone', '--quiet', '--bare', 'deploy-repo', 'deploy.git');

const env = { ...process.env, LOCKSTEP_ACTOR: process.env.LOCKSTEP_ACTOR ?? 'demo@example.com' };
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

function lockstep(args, { expect = 0, capture = false } = {}) {
  console.log(`\n${bold(`$ lockstep ${args.join(' ')}`)}`);
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: dir, env, stdio: capture ? ['ignore', 'pipe', 'inherit'] : 'inherit', encoding: 'utf8' });
  if (capture) process.stdout.write(r.stdout);
  if (r.status !== expect) {
    console.error(`\ndemo: expected exit ${expect}, got ${r.status}; the project is in ${dir}`);
    process.exit(1);
  }
  return r.stdout;
}

/** The id that `release create` printed on its first line ("created release <id>"). */
function releaseId(text) {
  const match = /release ([0-9a-f]{64})/.exec(text);
  if (!match) throw new Error(`demo: no release id in:\n${text}`);
  return match[1].slice(0, 12);
}

/** The id of the promotion that `promote` printed as pending ("Promotion <id> PENDING"). */
function promotionId(text) {
  const match = /Promotion ([0-9a-f]{12}) PENDING/.exec(text);
  if (!match) throw new Error(`demo: no pending promotion in:\n${text}`);
  return match[1];
}

const versions = (overrides) => {
  const base = { iam: 'git:4f2a1c', network: '2.1.0', queue: '1.0.3', schema: '20261101', cache: '7.2.0', api: '1.4.2', worker: '1.4.2', billing: '3.0.0', search: '0.9.1', notifier: '1.1.0', web: '5.0.0', gateway: '2.2.2', frontend: '2.0.0', ...overrides };
  return Object.entries(base).flatMap(([c, v]) => ['--set', `${c}=${v}`]);
};

console.log(bold(`Lockstep demo in ${dir}`));
lockstep(['validate']);

console.log(bold('\n1. A first release goes dev → staging → prod.'));
const r1 = releaseId(lockstep(['release', 'create', ...versions({}), '--message', 'first release'], { capture: true }));
lockstep(['promote', r1, '--to', 'prod'], { expect: 3 }); // refused: not yet through dev and staging
for (const e of ['dev', 'staging']) lockstep(['promote', r1, '--to', e]);

console.log(bold('\n   prod needs two approvals from group:sre; the requester cannot approve their own promotion.'));
const p1 = promotionId(lockstep(['promote', r1, '--to', 'prod'], { expect: 3, capture: true }));
lockstep(['approve', p1, '--comment', 'looks fine to me'], { expect: 2 }); // refused: separation of duties
lockstep(['approve', p1, '--actor', 'bob@example.com', '--comment', 'plan reviewed'], { expect: 3 }); // 1 of 2
lockstep(['approve', p1, '--actor', 'carol@example.com', '--comment', 'ok'], { expect: 0 }); // 2 of 2: it runs, then verifies

console.log(bold('\n2. A new release whose billing fails its health check: automatic rollback.'));
const r2 = releaseId(lockstep(['release', 'create', '--from', 'dev', '--set', 'api=1.5.0', '--set', 'billing=3.1.0-broken', '--set', 'schema=20261115', '--set', 'frontend=2.1.0', '--message', 'billing 3.1 (broken)'], { capture: true }));
lockstep(['plan', r2, '--to', 'dev']);
lockstep(['promote', r2, '--to', 'dev'], { expect: 1 });
console.log(`\nbilling's \`current\` symlink in dev points back at ${readlinkSync(join(dir, 'systems', 'dev', 'billing', 'current'))}`);

console.log(bold('\n3. The fixed release goes through.'));
const r3 = releaseId(lockstep(['release', 'create', '--from', 'dev', '--set', 'api=1.5.0', '--set', 'billing=3.1.1', '--set', 'schema=20261115', '--message', 'billing 3.1.1 (fixed)'], { capture: true }));
for (const e of ['dev', 'staging']) lockstep(['promote', r3, '--to', e]);
const p3 = promotionId(lockstep(['promote', r3, '--to', 'prod'], { expect: 3, capture: true }));
lockstep(['approve', p3, '--actor', 'bob@example.com'], { expect: 3 });
lockstep(['approve', p3, '--actor', 'carol@example.com']);

console.log(bold('\n4. Where things stand, and the record.'));
lockstep(['status', '--env', 'prod']);
lockstep(['history']);
lockstep(['audit', 'verify']);
console.log(bold('\n$ git -C deploy.git log  (every GitOps commit names its promotion)'));
process.stdout.write(git(dir, '-C', 'deploy.git', 'log', '--format=%h %s  [%(trailers:key=Lockstep-Promotion,valueonly,separator=)]'));
console.log(`\nThe demo project stays in ${dir}: look around with \`node ${cli} --config ${join(dir, 'lockstep.yaml')} status\`, or at ${join(dir, 'systems')}/.`);
