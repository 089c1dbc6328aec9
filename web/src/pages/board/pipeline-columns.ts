/**
 * The pipeline drawn left to right: each environment in the column after the furthest of the
 * environments it comes after (`dev → staging → prod-eu / prod-us`), in the config's order within a
 * column. Pure.
 */
export function pipelineColumns<T extends { environment: string; after: string[] }>(environments: readonly T[]): T[][] {
  const byName = new Map(environments.map((e) => [e.environment, e]));
  const depth = new Map<string, number>();
  const depthOf = (name: string, seen: ReadonlySet<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    const env = byName.get(name);
    // The config is validated (no cycle), but a name outside the list must not loop either.
    const parents = (env?.after ?? []).filter((a) => byName.has(a) && !seen.has(a));
    const d = parents.length === 0 ? 0 : 1 + Math.max(...parents.map((p) => depthOf(p, new Set([...seen, name]))));
    depth.set(name, d);
    return d;
  };
  const columns: T[][] = [];
  for (const env of environments) {
    const d = depthOf(env.environment, new Set());
    (columns[d] ??= []).push(env);
  }
  return columns.filter((c) => c !== undefined);
}
