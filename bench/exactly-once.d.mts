// Types of exactly-once.mjs, for test/cli/exactly-once.test.ts.
export declare const COMPONENTS: readonly string[];
export declare const CONFIG: string;
export declare const EXPECTED_RECEIVED: Readonly<Record<string, string>>;

export interface ScenarioResult {
  seed: number;
  kills: number;
  rounds: number;
  /** Applies per component, from applies.log. */
  counts: Record<string, number>;
  received: Record<string, string | undefined>;
  /** Empty when every component was applied exactly once and every output reached its dependents. */
  problems: string[];
  dir: string;
}

export declare function killScenario(seed: number, options?: { keep?: boolean }): Promise<ScenarioResult>;
