import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The executable fake Terraform CLI (a Node script speaking the documented CLI contract). */
export const FAKE_TERRAFORM = fileURLToPath(new URL('./fake-terraform.mjs', import.meta.url));
chmodSync(FAKE_TERRAFORM, 0o755);

export interface FakeProject {
  /** The project directory (holds lockstep.yaml's neighbours: the module dir). */
  dir: string;
  cacheDir: string;
  /** Beside the state database: where Lockstep keeps local Terraform state. */
  stateDir: string;
  stateFile: string;
  /** One JSON line of argv per call of the fake. */
  logFile: string;
  /** Writes the fake's configuration of the module at `moduleDir` (relative to the project). */
  writeModule(moduleDir: string, config: FakeModule): void;
  /** The fake's state of a workspace, read directly (ground truth). */
  state(workspace?: string): FakeWorkspace | undefined;
  /** Every call of the fake: its argv. */
  calls(): string[][];
  cleanup(): void;
}

export interface FakeModule {
  resources?: Record<string, { value: string; forceNew?: boolean }>;
  outputs?: Record<string, { value: unknown; type?: unknown; sensitive?: boolean }>;
}

export interface FakeWorkspace {
  serial: number;
  resources: Record<string, string>;
  outputs: Record<string, { value: unknown; type: unknown; sensitive: boolean }>;
}

export function fakeProject(): FakeProject {
  const root = mkdtempSync(path.join(tmpdir(), 'lockstep-terraform-'));
  const dir = path.join(root, 'project');
  mkdirSync(dir);
  const stateFile = path.join(root, 'state.json');
  const logFile = path.join(root, 'calls.jsonl');
  return {
    dir,
    cacheDir: path.join(root, 'cache'),
    stateDir: path.join(root, 'state'),
    stateFile,
    logFile,
    writeModule(moduleDir, config) {
      mkdirSync(path.join(dir, moduleDir), { recursive: true });
      writeFileSync(path.join(dir, moduleDir, 'fake.tf.json'), JSON.stringify(config, null, 2));
    },
    state(workspace = 'default') {
      if (!existsSync(stateFile)) return undefined;
      const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { workspaces: Record<string, FakeWorkspace> };
      return state.workspaces[workspace];
    },
    calls() {
      if (!existsSync(logFile)) return [];
      return readFileSync(logFile, 'utf8')
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => (JSON.parse(l) as { argv: string[] }).argv);
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}
