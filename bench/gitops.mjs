// Benchmark 5: one image tag change through a `gitops` component on a big repository (20,000 files,
// 5,000 commits, generated with git fast-import), with the clone cache warm and cold, against the bare
// git commands that make the same edit and push.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, FULL, RUNS, lockstep, log, median, must, removeDir, round, tempDir, timed } from './lib.mjs';

const FILES = Number(process.env.BENCH_GITOPS_FILES ?? 20_000);
const COMMITS = Number(process.env.BENCH_GITOPS_COMMITS ?? 5_000);
const KUSTOMIZATION = 'apps/api/overlays/dev/kustomization.yaml';
const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
};

function kustomization(tag) {
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\nimages:\n  - name: acme/api\n    newTag: "${tag}"\n`;
}

/** A fast-import stream: one commit adding every file, then small commits changing one file each. */
function fastImportStream(files, commits) {
  const chunks = [];
  const data = (text) => `data ${Buffer.byteLength(text)}\n${text}\n`;
  const file = (i) => `apps/app${Math.floor(i / 20)}/overlays/env${i % 20}/values.yaml`;
  let time = 1_700_000_000;
  const header = (message) =>
    `commit refs/heads/main\ncommitter Bench <bench@example.com> ${time++} +0000\n${data(message)}`;
  let first = header('initial import');
  first += `M 100644 inline ${KUSTOMIZATION}\n${data(kustomization('1.0.0'))}`;
  for (let i = 0; i < files - 1; i++)
    first += `M 100644 inline ${file(i)}\n${data(`replicas: 2\nimage:\n  tag: "0.0.${i}"\n`)}`;
  chunks.push(first);
  for (let c = 1; c < commits; c++) {
    const i = (c * 7919) % (files - 1);
    chunks.push(
      `${header(`change ${c}`)}M 100644 inline ${file(i)}\n${data(`replicas: ${c % 5}\nimage:\n  tag: "0.${c}.${i}"\n`)}`,
    );
  }
  return chunks.join('');
}

function gitInput(args, input, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`git ${args[0]}: ${stderr}`))));
    child.stdin.end(input);
  });
}

function writeProject(dir, repoUrl) {
  const config = [
    'project: bench',
    'environments:',
    '  dev: {}',
    'components:',
    '  api:',
    '    type: gitops',
    '    with:',
    `      repo: ${JSON.stringify(repoUrl)}`,
    '      branch: main',
    '      path: apps/api/overlays/dev',
    '      set:',
    '        - { kustomizeImage: acme/api, tag: "${{ version }}" }',
    '      commit:',
    '        author: { name: Bench, email: bench@example.com }',
  ];
  writeFileSync(join(dir, 'lockstep.yaml'), config.join('\n') + '\n');
}

let version = 1;
/** One promotion of a new tag: release create (not timed), then promote (timed). */
async function promoteOnce(dir, state) {
  version++;
  const created = must(
    process.execPath,
    [CLI, '--state', state, 'release', 'create', '--set', `api=2.0.${version}`, '--output', 'json'],
    {
      cwd: dir,
      env: { ...process.env, ...GIT_ENV },
    },
  );
  const id = JSON.parse(created).release.id;
  return (
    await lockstep(['--state', state, 'promote', id, '--to', 'dev', '--output', 'json'], { cwd: dir, env: GIT_ENV })
  ).seconds;
}

/** The same change by hand: bring a checkout up to date, sed, commit, push. */
async function bareGit(checkout, repoUrl, cold) {
  version++;
  const steps = cold
    ? [['git', ['clone', '-q', repoUrl, checkout]]]
    : [
        ['git', ['-C', checkout, 'fetch', '-q', 'origin']],
        ['git', ['-C', checkout, 'reset', '-q', '--hard', 'origin/main']],
      ];
  steps.push(
    ['sed', ['-i', `s/newTag: ".*"/newTag: "2.0.${version}"/`, join(checkout, KUSTOMIZATION)]],
    ['git', ['-C', checkout, 'commit', '-q', '-am', `api 2.0.${version}`]],
    ['git', ['-C', checkout, 'push', '-q', 'origin', 'HEAD:main']],
  );
  let seconds = 0;
  for (const [cmd, args] of steps) seconds += (await timed(cmd, args, { env: GIT_ENV })).seconds;
  return seconds;
}

export async function benchGitops() {
  const dir = tempDir('gitops');
  try {
    const bare = join(dir, 'deploy.git');
    const repoUrl = `file://${bare}`;
    log(`gitops: generating a repository of ${FILES} files and ${COMMITS} commits`);
    must('git', ['init', '-q', '--bare', '-b', 'main', bare]);
    await gitInput(['fast-import', '--quiet'], fastImportStream(FILES, COMMITS), bare);
    must('git', ['-C', bare, 'repack', '-adq']);
    const project = join(dir, 'project');
    mkdirSync(project);
    writeProject(project, repoUrl);

    const warmState = join(dir, 'warm-state');
    await promoteOnce(project, warmState); // fills the clone cache
    const checkout = join(dir, 'checkout');
    await bareGit(checkout, repoUrl, true);

    const runs = Math.max(RUNS, FULL ? 5 : 3);
    const warm = [];
    const cold = [];
    const gitWarm = [];
    const gitCold = [];
    for (let run = 0; run < runs; run++) {
      log(`gitops: run ${run + 1} of ${runs}`);
      warm.push(await promoteOnce(project, warmState));
      gitWarm.push(await bareGit(checkout, repoUrl, false));
      cold.push(await promoteOnce(project, join(dir, `cold-state-${run}`)));
      const coldCheckout = join(dir, `cold-checkout-${run}`);
      gitCold.push(await bareGit(coldCheckout, repoUrl, true));
      removeDir(coldCheckout);
      removeDir(join(dir, `cold-state-${run}`));
    }
    const w = median(warm);
    const c = median(cold);
    const gw = median(gitWarm);
    const gc = median(gitCold);
    return {
      files: FILES,
      commits: COMMITS,
      runs,
      warmS: round(w, 3),
      coldS: round(c, 3),
      gitWarmS: round(gw, 3),
      gitColdS: round(gc, 3),
      warmVsGit: round(w / gw, 2),
      coldVsGit: round(c / gc, 2),
      all: Object.fromEntries(
        Object.entries({ warm, cold, gitWarm, gitCold }).map(([name, list]) => [name, list.map((x) => round(x, 3))]),
      ),
    };
  } finally {
    removeDir(dir);
  }
}
