import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MYSQL_URL, POSTGRES_URL } from '../helpers/database-urls.js';
import { findProgram, missingPrerequisites, preflightMessage, type PreflightTarget } from './preflight.js';

// The preflight's checks run against a machine the test makes up: a PATH directory holding only the
// programs the test puts there, an sshd path, database URLs. The real servers stand in for "there";
// a port nobody listens on stands in for "not there".

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockstep-preflight-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function stub(name: string, executable = true): string {
  const file = join(dir, name);
  writeFileSync(file, '#!/bin/sh\nexit 0\n');
  chmodSync(file, executable ? 0o755 : 0o644);
  return file;
}

/** A loopback port that was free a moment ago: connecting to it is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('test preflight', () => {
  it('on a machine without the tools, names every one, with one apt-get line for all', async () => {
    const port = await closedPort();
    const target: PreflightTarget = {
      path: dir,
      sshd: join(dir, 'sshd'),
      chromium: join(dir, 'chromium'),
      postgresUrl: `postgres://postgres:pw@127.0.0.1:${port}/test`,
      mysqlUrl: `mysql://root@127.0.0.1:${port}/test`,
      isRoot: false,
      connectTimeoutMs: 2000,
    };
    const missing = await missingPrerequisites(target);
    expect(missing.map((m) => m.what.split(' ')[0])).toEqual([
      'git',
      'ssh-keygen',
      'useradd',
      'curl',
      'wget',
      'script',
      'terraform',
      'sshd',
      'Chromium',
      'root',
      'PostgreSQL',
      'MariaDB',
    ]);

    const message = preflightMessage(missing);
    expect(message).toContain('lacks 12 things they need');
    const install = message.split('\n').filter((line) => line.includes('apt-get install'));
    expect(install).toEqual([
      'Install (Debian/Ubuntu): apt-get install -y --no-install-recommends git openssh-client passwd curl wget bsdutils openssh-server chromium postgresql mariadb-server',
    ]);
    expect(message).toContain(`PostgreSQL at postgres://postgres@127.0.0.1:${port}/test`);
    expect(message).toContain('LOCKSTEP_TEST_POSTGRES_URL');
    expect(message).toContain('LOCKSTEP_TEST_MYSQL_URL');
    // The password in a database URL is not repeated.
    expect(message).not.toContain(':pw@');
  });

  it('finds programs the shell would find, and only those: a file without the execute bit does not count', async () => {
    for (const name of ['git', 'ssh-keygen', 'useradd', 'wget', 'script', 'terraform']) stub(name);
    stub('curl', false);
    const target: PreflightTarget = {
      path: ['/no/such/dir', '', dir].join(':'),
      sshd: stub('sshd'),
      chromium: stub('chromium'),
      postgresUrl: POSTGRES_URL,
      mysqlUrl: MYSQL_URL,
      isRoot: true,
      connectTimeoutMs: 3000,
    };
    const missing = await missingPrerequisites(target);
    expect(missing.map((m) => m.what)).toEqual(['curl (not on PATH)']);
    expect(preflightMessage(missing)).toContain('apt-get install -y --no-install-recommends curl\n');
    expect(findProgram('git', target.path)).toBe(join(dir, 'git'));
  });

  it('an sshd path that is a directory is not an sshd', async () => {
    for (const name of ['git', 'ssh-keygen', 'useradd', 'curl', 'wget', 'script', 'terraform']) stub(name);
    const missing = await missingPrerequisites({
      path: dir,
      sshd: dir,
      chromium: stub('chromium'),
      postgresUrl: POSTGRES_URL,
      mysqlUrl: MYSQL_URL,
      isRoot: true,
      connectTimeoutMs: 3000,
    });
    expect(missing.map((m) => m.apt)).toEqual([['openssh-server']]);
  });
});
