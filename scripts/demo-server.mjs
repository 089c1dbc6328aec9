#!/usr/bin/env node
// `npm run demo:server`: the team server (issue 14). Copies a small project into a temporary
// directory, makes tokens for Alice (releaser), Bob and Carol (approvers of the SRE group), starts
// `lockstep serve`, follows its event stream, and drives a release to prod with the CLI as the
// server's client: Alice promotes, prod waits for two approvals, Bob's and Carol's complete it.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '..', 'bin', 'lockstep.js');
const dir = mkdtempSync(join(tmpdir(), 'lockstep-demo-server-'));
cpSync(join(here, 'demo-server-project'), dir, { recursive: true });
// The deploy scripts are the main demo's: one copy of them in the repository.
cpSync(join(here, 'demo-project', 'bin'), join(dir, 'bin'), { recursive: true });

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
// Without LOCKSTEP_* from the caller's shell: the demo decides which server, token and actor.
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LOCKSTEP_')));

let server;
function fail(message) {
  console.error(`\ndemo: ${message}; the project is in ${dir}`);
  if (server && server.exitCode === null) server.kill('SIGKILL');
  process.exit(1);
}

/** Runs the CLI on this machine's files (the tokens are made before the server starts). */
function lockstepHere(args, env) {
  console.log(`\n${bold(`$ lockstep ${args.join(' ')}`)}`);
  const r = spawnSync(process.execPath, [cli, ...args], {
    cwd: dir,
    env: { ...baseEnv, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (r.status !== 0) fail(`lockstep ${args[0]} exited ${r.status}`);
  return r.stdout;
}

/**
 * Runs the CLI as the server's client, as `who`. Asynchronous, so the event stream keeps printing
 * while the command runs: what the server records shows up between the command's own lines.
 */
function lockstepAs(who, args, { expect = 0, capture = false } = {}) {
  console.log(`\n${bold(`$ lockstep ${args.join(' ')}`)}   ${dim(`(as ${who}: LOCKSTEP_TOKEN=<${who}'s token>)`)}`);
  const env = { ...baseEnv, LOCKSTEP_SERVER: url, LOCKSTEP_TOKEN: tokens[who], LOCKSTEP_PROJECT: 'shop' };
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: dir,
    env,
    stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (chunk) => {
    out += chunk;
    process.stdout.write(chunk);
  });
  return new Promise((resolve) => {
    child.on('close', (code) => {
      if (code !== expect) fail(`expected exit ${expect} from lockstep ${args[0]}, got ${code}`);
      resolve(out);
    });
  });
}

/** The id that `release create` printed on its first line ("created release <id>"). */
function releaseId(text) {
  const match = /release ([0-9a-f]{64})/.exec(text);
  if (!match) fail(`no release id in:\n${text}`);
  return match[1].slice(0, 12);
}

/** The id of the promotion that `promote` printed as pending ("Promotion <id> PENDING"). */
function promotionId(text) {
  const match = /Promotion ([0-9a-f]{12}) PENDING/.exec(text);
  if (!match) fail(`no pending promotion in:\n${text}`);
  return match[1];
}

console.log(bold(`Lockstep server demo in ${dir}`));

console.log(bold('\n1. Tokens: Alice releases, Bob and Carol (group:sre) approve. An admin makes them, locally.'));
const admin = { LOCKSTEP_ACTOR: 'admin@example.com' };
const tokens = {};
for (const [who, role] of [
  ['alice', 'releaser'],
  ['bob', 'approver'],
  ['carol', 'approver'],
]) {
  // `token create` prints the token alone on stdout: kept here, never shown.
  tokens[who] = lockstepHere(
    ['token', 'create', '--name', who, '--for', `${who}@example.com`, '--role', role],
    admin,
  ).trim();
}

console.log(bold('\n2. The server.'));
console.log(bold(`$ lockstep serve --listen 127.0.0.1:0 --project ${dir}`));
server = spawn(process.execPath, [cli, 'serve', '--listen', '127.0.0.1:0', '--project', dir], {
  cwd: dir,
  env: baseEnv,
  stdio: ['ignore', 'pipe', 'pipe'],
});
// The server's log goes to stderr; kept, and shown only if the demo fails, to keep the story readable.
let serverLog = '';
server.stderr.on('data', (chunk) => (serverLog += chunk));
const serverExit = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));
let listening = false;
const lines = createInterface({ input: server.stdout });
const url = await new Promise((resolve) => {
  lines.once('line', (line) => {
    console.log(line);
    const match = /listening on (http:\/\/\S+)/.exec(line);
    if (!match) fail(`the server's first line is not its address: ${line}`);
    resolve(match[1]);
  });
  void serverExit.then(({ code }) => {
    if (!listening) fail(`the server exited ${code} before listening:\n${serverLog}`);
  });
});
listening = true;

console.log(bold(`\n3. The event stream: GET ${url}/api/v1/projects/shop/events, printed as it arrives (⟵).`));
const finished = [];
let onFinished = () => {};
const stream = new AbortController();
const events = await fetch(`${url}/api/v1/projects/shop/events`, {
  headers: { authorization: `Bearer ${tokens.alice}` },
  signal: stream.signal,
});
if (events.status !== 200) fail(`the event stream answered ${events.status}`);
const following = followEvents(events.body).catch((error) => {
  // The server ends the stream when it stops; the demo aborts it itself just before.
  if (!stream.signal.aborted) fail(`the event stream failed: ${error.message}`);
});

/** Reads Server-Sent Events (blocks of `field: value` lines, ended by a blank line) and prints each. */
async function followEvents(body) {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue; // a heartbeat comment
        const colon = line.indexOf(':');
        if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
      }
      if (fields.data) printEvent(fields.event, JSON.parse(fields.data));
    }
  }
}

function printEvent(type, data) {
  if (type === 'log') {
    console.log(dim(`  ⟵ log    ${data.component.padEnd(8)} ${data.line}`));
    return;
  }
  const where = [data.environment, data.component].filter(Boolean).join(' ');
  console.log(dim(`  ⟵ audit  ${data.kind.padEnd(20)} ${where.padEnd(12)} ${summary(data)}`));
  if (data.kind === 'promotion.finished') {
    finished.push(data);
    onFinished();
  }
}

/** One short line per audit entry: who, and what it changed. */
function summary(entry) {
  const d = entry.data ?? {};
  switch (entry.kind) {
    case 'step.started':
      return `${d.from ?? 'none'} → ${d.to}`;
    case 'step.succeeded':
      return `now ${d.version}`;
    case 'promotion.finished':
      return `${d.state ?? d.status ?? ''}`.trim() || entry.actor;
    default:
      return `by ${entry.actor}`;
  }
}

/** Resolves once the stream has shown `count` promotions finished: the printed story is complete. */
function finishedCount(count) {
  return new Promise((resolve) => {
    // The CLI has already seen the run end; the stream reads the store every 200 ms, so this is
    // a moment. A stream that never shows it is a failure, not a reason to hang.
    const late = setTimeout(
      () => fail(`the event stream showed ${finished.length} of ${count} promotions finished`),
      30_000,
    );
    const check = () => {
      if (finished.length < count) return;
      clearTimeout(late);
      resolve();
    };
    onFinished = check;
    check();
  });
}

console.log(bold('\n4. Alice makes a release and promotes it to dev and staging through the server.'));
const release = releaseId(
  await lockstepAs(
    'alice',
    [
      'release',
      'create',
      '--set',
      'schema=20261201',
      '--set',
      'api=1.4.2',
      '--set',
      'web=5.0.0',
      '--message',
      'through the server',
    ],
    { capture: true },
  ),
);
for (const e of ['dev', 'staging']) await lockstepAs('alice', ['promote', release, '--to', e]);

console.log(bold('\n5. prod needs two approvals from group:sre: it waits (exit 3).'));
const pending = promotionId(
  await lockstepAs('alice', ['promote', release, '--to', 'prod'], { expect: 3, capture: true }),
);

console.log(bold('\n6. Bob approves: 1 of 2, still pending (exit 3).'));
await lockstepAs('bob', ['approve', pending, '--comment', 'plan reviewed'], { expect: 3 });

console.log(bold('\n7. Carol approves: 2 of 2, the server runs it; the CLI follows the run to its end.'));
await lockstepAs('carol', ['approve', pending, '--comment', 'ok']);
await finishedCount(3);

console.log(bold('\n8. Where things stand, asked through the server.'));
await lockstepAs('alice', ['status']);

console.log(bold('\n9. Stopping the server (SIGTERM).'));
stream.abort();
await following;
server.kill('SIGTERM');
const { code, signal } = await serverExit;
if (code !== 0) fail(`the server exited ${code ?? signal} on SIGTERM:\n${serverLog}`);
console.log('the server stopped (exit 0)');
console.log(
  `\nThe project stays in ${dir}: its state is ${join(dir, '.lockstep')}, what runs where is in ${join(dir, 'systems')}/.`,
);
console.log(
  `Start the server again with \`node ${cli} serve --project ${dir}\`, or look locally: \`node ${cli} --config ${join(dir, 'lockstep.yaml')} history\`.`,
);
