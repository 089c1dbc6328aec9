import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StepContext } from '../../core/adapter.js';
import { StepFailure } from '../../core/errors.js';
import type { TerraformSpec } from './terraform-spec.js';

/**
 * Where a component's Terraform state lives, decided before `init`.
 *
 * - The module declares a backend (or a `cloud` block) other than `local`: the state is the backend's.
 * - A module checked out from a git ref (under the cache) with no backend, or the `local` one: its
 *   state would land in the checkout, which is a cache. Lockstep writes an override file that points
 *   the local backend at `<state dir>/terraform-state/<component>/<environment>/`, beside the state
 *   database and backed up with it, and moves a state file an earlier Lockstep left in the checkout.
 * - A module used from the project (`versionVariable`) with no backend: Terraform's default, in the
 *   module directory of the project itself, which is the user's own tree, not a cache.
 */
export type StateLocation =
  | { kind: 'backend'; type: string }
  | { kind: 'local'; file: string; managed: boolean };

/** The override file Lockstep writes into a checked-out module. Terraform reads `*_override.tf.json` last. */
export const STATE_OVERRIDE_FILE = 'lockstep_state_override.tf.json';

/** The directory holding one component's local state in one environment (workspaces in `workspaces/`). */
export function localStateRoot(ctx: StepContext): string {
  return path.join(ctx.stateDir, 'terraform-state', safeName(ctx.component), safeName(ctx.environment.name));
}

/**
 * Decides where the state of the module at `moduleDir` lives and, for a checked-out module without a
 * remote backend, writes the override file and moves any state left in the checkout. Run under the
 * component's work lock, after the checkout and before `init`.
 */
export async function prepareState(
  spec: TerraformSpec,
  moduleDir: string,
  checkedOut: boolean,
  ctx: StepContext,
): Promise<StateLocation> {
  const declared = await declaredBackend(moduleDir);
  if (declared !== undefined && declared !== 'local') return { kind: 'backend', type: declared };
  const workspace = spec.workspace ?? 'default';
  // In the project, a declared local backend keeps whatever path the module gives it.
  if (!checkedOut && declared === 'local') return { kind: 'backend', type: 'local' };
  if (!checkedOut) {
    const dir = workspace === 'default' ? moduleDir : path.join(moduleDir, 'terraform.tfstate.d', workspace);
    return { kind: 'local', file: path.join(dir, 'terraform.tfstate'), managed: false };
  }
  const owned = Object.keys(spec.backendConfig).filter((k) => k === 'path' || k === 'workspace_dir');
  if (owned.length > 0) {
    throw new StepFailure(
      `terraform: backendConfig.${owned.join(' and backendConfig.')} would move the local state of a module checked out from git, ` +
        'which Lockstep keeps beside its state database; remove it, or declare a remote backend in the module',
      false,
      { untouched: true },
    );
  }
  const root = localStateRoot(ctx);
  // The override is Terraform's JSON syntax, where `${` and `%{` start templates.
  if (root.includes('${') || root.includes('%{')) {
    throw new StepFailure(`terraform: the state directory ${root} contains \${ or %{, which Terraform would read as a template`, false, {
      untouched: true,
    });
  }
  await mkdir(path.join(root, 'workspaces'), { recursive: true, mode: 0o700 });
  const override = {
    '//': 'Written by Lockstep before every terraform run: the local state lives beside the Lockstep state database, not in this checkout (a cache).',
    terraform: { backend: { local: { path: path.join(root, 'terraform.tfstate'), workspace_dir: path.join(root, 'workspaces') } } },
  };
  await writeFile(path.join(moduleDir, STATE_OVERRIDE_FILE), `${JSON.stringify(override, null, 2)}\n`);
  await moveLeftState(moduleDir, root, ctx);
  const file =
    workspace === 'default' ? path.join(root, 'terraform.tfstate') : path.join(root, 'workspaces', workspace, 'terraform.tfstate');
  return { kind: 'local', file, managed: true };
}

/** One line for the plan and the step log: which state this component's plan and apply use. */
export function describeState(state: StateLocation, ctx: StepContext): string {
  if (state.kind === 'backend') {
    return state.type === 'cloud' ? 'state: HCP Terraform (cloud block in the module)' : `state: backend "${state.type}"`;
  }
  const relative = path.relative(ctx.projectDir, state.file);
  const shown = relative.startsWith('..') || path.isAbsolute(relative) ? state.file : relative;
  return `state: local at ${shown}${state.managed ? '' : ' (the module directory in the project)'}`;
}

/**
 * Lockstep before this release let Terraform keep a checked-out module's local state in the checkout,
 * under the cache. Such files are moved to the durable place, so that an upgrade never plans to
 * create everything again. When both places hold a state, nothing is guessed: the step stops and
 * names both files.
 */
async function moveLeftState(moduleDir: string, root: string, ctx: StepContext): Promise<void> {
  const moves: { from: string; to: string }[] = [];
  for (const name of ['terraform.tfstate', 'terraform.tfstate.backup']) {
    moves.push({ from: path.join(moduleDir, name), to: path.join(root, name) });
  }
  const oldWorkspaces = path.join(moduleDir, 'terraform.tfstate.d');
  for (const workspace of await readdir(oldWorkspaces).catch(() => [] as string[])) {
    for (const name of ['terraform.tfstate', 'terraform.tfstate.backup']) {
      moves.push({ from: path.join(oldWorkspaces, workspace, name), to: path.join(root, 'workspaces', workspace, name) });
    }
  }
  for (const { from, to } of moves) {
    if (!(await isFile(from))) continue;
    if (await isFile(to)) {
      const [a, b] = await Promise.all([readFile(from), readFile(to)]);
      if (a.equals(b)) {
        await rm(from, { force: true });
        continue;
      }
      if (from.endsWith('.backup')) continue;
      throw new StepFailure(
        `terraform: two states for this component: ${to} (where Lockstep keeps it) and ${from} (left in the cache by an earlier Lockstep); ` +
          'keep the one that matches the infrastructure (compare their serial and lineage), delete the other, and run again',
        false,
        { untouched: true },
      );
    }
    await mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
    await moveFile(from, to);
    ctx.log(`state: moved ${from} (left in the cache by an earlier Lockstep) to ${to}`);
  }
  await rm(oldWorkspaces, { recursive: true, force: true }).catch(() => undefined);
}

async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    // The cache and the state directory on different file systems: copy, then remove.
    await cp(from, to, { errorOnExist: true, force: false });
    await rm(from, { force: true });
  }
}

async function isFile(file: string): Promise<boolean> {
  return stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
}

/**
 * The backend the root module declares, if any: `s3`, `local`, …, or `cloud` for a `cloud` block.
 * Terraform has no command that says so before `init`, so the module's files are read: a `backend`
 * block with a label, or a `cloud` block, in `.tf` files (comments removed), or the `terraform`
 * object of `.tf.json` files. Our own override file is skipped.
 */
export async function declaredBackend(moduleDir: string): Promise<string | undefined> {
  const names = await readdir(moduleDir).catch(() => [] as string[]);
  for (const name of names.sort()) {
    if (name === STATE_OVERRIDE_FILE) continue;
    const file = path.join(moduleDir, name);
    if (name.endsWith('.tf')) {
      const found = backendInHcl(await readFile(file, 'utf8'));
      if (found !== undefined) return found;
    } else if (name.endsWith('.tf.json')) {
      const found = backendInJson(await readFile(file, 'utf8'));
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

export function backendInHcl(source: string): string | undefined {
  const code = withoutComments(source);
  const backend = /(?:^|[\s{;])backend\s+"?([A-Za-z0-9_-]+)"?\s*\{/m.exec(code);
  if (backend?.[1] !== undefined) return backend[1];
  if (/(?:^|[\s{;])cloud\s*\{/m.test(code)) return 'cloud';
  return undefined;
}

function backendInJson(source: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(source);
  } catch {
    return undefined;
  }
  const blocks = (parsed as { terraform?: unknown } | null)?.terraform;
  for (const block of Array.isArray(blocks) ? blocks : [blocks]) {
    if (typeof block !== 'object' || block === null) continue;
    const { backend, cloud } = block as { backend?: unknown; cloud?: unknown };
    const first = Array.isArray(backend) ? (backend[0] as unknown) : backend;
    if (typeof first === 'object' && first !== null) {
      const type = Object.keys(first)[0];
      if (type !== undefined) return type;
    }
    if (cloud !== undefined) return 'cloud';
  }
  return undefined;
}

/** HCL without `#`, `//` and block comments; strings are kept (a comment marker inside one is rare enough). */
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:"'])(#|\/\/).*$/gm, '$1');
}

function safeName(name: string): string {
  return encodeURIComponent(name === '' ? '_' : name);
}
