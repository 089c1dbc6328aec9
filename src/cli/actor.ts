import { execFileSync } from 'node:child_process';
import { userInfo } from 'node:os';

/** Who is acting: --actor, else LOCKSTEP_ACTOR, else git's user.email, else the OS user. */
export function resolveActor(flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string {
  if (flag) return flag;
  if (env.LOCKSTEP_ACTOR) return env.LOCKSTEP_ACTOR;
  try {
    const email = execFileSync('git', ['config', 'user.email'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }).trim();
    if (email) return email;
  } catch {
    // no git, or no user.email: fall through
  }
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
