import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { CHROMIUM } from '../helpers/chromium-path.js';
import { MYSQL_URL, POSTGRES_URL } from '../helpers/database-urls.js';

/*
 * Vitest's globalSetup: before any test file starts, check everything the suite needs from the
 * machine and stop the run with one message that names all that is missing and how to get it.
 * Without it, a machine lacking sshd fails six tests one by one, each after its hooks time out.
 * `.ci/run` installs and starts all of this on a fresh Debian machine; the README lists it.
 */

/** Where to look: the real machine by default, anything else in the preflight's own test. */
export interface PreflightTarget {
  /** The PATH searched for programs. */
  path: string;
  /** The sshd the ssh tests start (test/adapters/ssh/sshd.ts). */
  sshd: string;
  /** The Chromium the web UI tests drive (test/helpers/chromium.ts). */
  chromium: string;
  postgresUrl: string;
  mysqlUrl: string;
  /** The ssh tests create a user per host with useradd. */
  isRoot: boolean;
  /** How long a database may take to answer. */
  connectTimeoutMs: number;
}

export interface Missing {
  /** What is missing, as a person names it. */
  what: string;
  /** Which tests need it. */
  why: string;
  /** Debian packages that provide it; empty when installing a package is not the answer. */
  apt: string[];
  /** What to do besides (or instead of) installing. */
  hint?: string;
}

export function machineTarget(): PreflightTarget {
  return {
    path: process.env.PATH ?? '',
    sshd: '/usr/sbin/sshd',
    chromium: CHROMIUM,
    postgresUrl: POSTGRES_URL,
    mysqlUrl: MYSQL_URL,
    isRoot: process.getuid?.() === 0,
    connectTimeoutMs: 3000,
  };
}

/** Programs the tests run, and the Debian package of each. */
const PROGRAMS: readonly { name: string; apt: string; why: string }[] = [
  { name: 'git', apt: 'git', why: 'gitops, terraform and demo tests use real git repositories' },
  { name: 'ssh-keygen', apt: 'openssh-client', why: 'the ssh and gitops tests generate keys' },
  { name: 'useradd', apt: 'passwd', why: 'the ssh tests create one user per host' },
  { name: 'curl', apt: 'curl', why: 'the ssh health checks run curl on the test hosts' },
  { name: 'wget', apt: 'wget', why: 'the ssh health checks fall back to wget' },
  { name: 'script', apt: 'bsdutils', why: 'the progress tests run the CLI on a pseudo-terminal' },
];

/** The first executable file called `name` in `path`, as the shell would find it. */
export function findProgram(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, name);
    if (isExecutableFile(file)) return file;
  }
  return undefined;
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `postgres://user:secret@host/db` without the password, for messages. */
function withoutPassword(url: string): string {
  return url.replace(/:[^:@/]*@/, '@');
}

/** An error as one short line: native-module errors span several lines and name the cause on the second. */
function oneLine(error: unknown): string {
  const text = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim();
  return text.length > 240 ? `${text.slice(0, 239)}…` : text;
}

async function postgresProblem(url: string, timeoutMs: number): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  try {
    await client.connect();
    return undefined;
  } catch (error) {
    return oneLine(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function mysqlProblem(url: string, timeoutMs: number): Promise<string | undefined> {
  const parsed = new URL(url);
  try {
    const connection = await mysql.createConnection({
      host: parsed.hostname,
      port: parsed.port === '' ? 3306 : Number(parsed.port),
      user: decodeURIComponent(parsed.username),
      password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
      database: parsed.pathname.slice(1),
      connectTimeout: timeoutMs,
    });
    await connection.end();
    return undefined;
  } catch (error) {
    return oneLine(error);
  }
}

/** better-sqlite3 is a native module: it loads only in the Node version it was compiled for. */
function sqliteProblem(): string | undefined {
  try {
    const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => { close(): void };
    new Database(':memory:').close();
    return undefined;
  } catch (error) {
    return oneLine(error);
  }
}

/** Everything the test suite needs that `target` lacks, in a fixed order; empty when all is there. */
export async function missingPrerequisites(target: PreflightTarget): Promise<Missing[]> {
  const missing: Missing[] = [];
  for (const program of PROGRAMS) {
    if (findProgram(program.name, target.path) === undefined) {
      missing.push({ what: `${program.name} (not on PATH)`, why: program.why, apt: [program.apt] });
    }
  }
  if (findProgram('terraform', target.path) === undefined) {
    missing.push({
      what: 'terraform (not on PATH)',
      why: 'the terraform state, crash and sensitive-output tests run real Terraform 1.11 or later (built-in terraform_data, no provider download)',
      // Debian does not package Terraform: HashiCorp ships it.
      apt: [],
      hint: 'install Terraform 1.11 or later from HashiCorp (one binary) and put it on PATH',
    });
  }
  if (!isExecutableFile(target.sshd)) {
    missing.push({
      what: `sshd (${target.sshd})`,
      why: 'the ssh tests start real OpenSSH servers',
      apt: ['openssh-server'],
    });
  }
  if (!isExecutableFile(target.chromium)) {
    missing.push({
      what: `Chromium (${target.chromium})`,
      why: 'the web UI tests drive Debian\'s Chromium with playwright-core (never a downloaded browser)',
      apt: ['chromium'],
    });
  }
  if (!target.isRoot) {
    missing.push({
      what: 'root',
      why: 'the ssh tests create users and start sshd',
      apt: [],
      hint: 'run the tests as root (CI does), for example in a container',
    });
  }
  const [postgres, mariadb] = await Promise.all([
    postgresProblem(target.postgresUrl, target.connectTimeoutMs),
    mysqlProblem(target.mysqlUrl, target.connectTimeoutMs),
  ]);
  if (postgres !== undefined) {
    missing.push({
      what: `PostgreSQL at ${withoutPassword(target.postgresUrl)} (${postgres})`,
      why: 'the sql-migrations tests and the PostgreSQL store tests (a schema of their own per test)',
      apt: ['postgresql'],
      hint:
        'start it with trust authentication for local TCP connections ' +
        '(`pg_ctlcluster --skip-systemctl-redirect <version> main start`), ' +
        'or set LOCKSTEP_TEST_POSTGRES_URL to a server where this user may create databases',
    });
  }
  if (mariadb !== undefined) {
    missing.push({
      what: `MariaDB at ${withoutPassword(target.mysqlUrl)} (${mariadb})`,
      why: 'the sql-migrations tests',
      apt: ['mariadb-server'],
      hint:
        'start it (`start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd`), ' +
        'or set LOCKSTEP_TEST_MYSQL_URL to a server where this user may create databases',
    });
  }
  const sqlite = sqliteProblem();
  if (sqlite !== undefined) {
    missing.push({
      what: `better-sqlite3 for Node ${process.version} (${sqlite})`,
      why: 'the state store, in nearly every test',
      // The compilers only where they are missing: the usual cause is a Node switch, not a lack of tools.
      apt: ['python3', 'make', 'g++'].filter((tool) => findProgram(tool, target.path) === undefined),
      hint: 'rebuild it for this Node: `npm rebuild better-sqlite3` (it compiles with python3, make and g++)',
    });
  }
  return missing;
}

/** One message for all of it: what is missing, then one install command, then what else to do. */
export function preflightMessage(missing: readonly Missing[]): string {
  const lines = [
    `The tests cannot run: this machine lacks ${missing.length === 1 ? 'one thing they need' : `${missing.length} things they need`}.`,
    ...missing.map((m) => `  - ${m.what}: ${m.why}`),
  ];
  const packages = [...new Set(missing.flatMap((m) => m.apt))];
  if (packages.length > 0) {
    lines.push('', `Install (Debian/Ubuntu): apt-get install -y --no-install-recommends ${packages.join(' ')}`);
  }
  const hints = missing.filter((m) => m.hint !== undefined);
  if (hints.length > 0) {
    lines.push('', ...hints.map((m) => `${m.what.split(' (')[0] ?? m.what}: ${m.hint ?? ''}`));
  }
  lines.push('', 'The README says what the tests need ("Running the tests"); `.ci/run` installs and starts all of it.');
  return lines.join('\n');
}

export default async function preflight(): Promise<void> {
  const missing = await missingPrerequisites(machineTarget());
  if (missing.length === 0) return;
  // Exit here rather than throw: vitest reports a failed globalSetup under "No test files found"
  // and a stack trace, which bury the one message that says what to do.
  process.stderr.write(`\n${preflightMessage(missing)}\n\n`);
  process.exit(1);
}
