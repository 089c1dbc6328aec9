import type { Adapter } from '../core/adapter.js';
import type { LoadedConfig } from '../core/config/load-config.js';
import type { PromotionRecord, StepRecord } from '../core/model.js';
import type { Store } from '../store/store.js';
import type { Clock } from './clock.js';
import type { SecretSource } from './secrets.js';

/** Everything the engine needs from outside: built by the CLI (or the server), passed in explicitly. */
export interface EngineDeps {
  store: Store;
  adapters: ReadonlyMap<string, Adapter<unknown>>;
  clock: Clock;
  loaded: LoadedConfig;
  /** The directory holding lockstep.yaml: relative paths in specs resolve against it. */
  projectDir: string;
  /** Where adapters keep caches: `cache/` in the state directory. */
  cacheDir: string;
  /**
   * The directory holding the state database. Durable data lives beside it, never in the cache: adapters'
   * state (StepContext.stateDir) and, in `runs/`, the records of step processes that recovery reads after
   * a crash (StepContext.runDir).
   */
  stateDir: string;
  secrets: SecretSource;
  actor: string;
  observer?: RunObserver;
}

/** Live progress, for the terminal and the event stream. Called synchronously; must not throw. */
export interface RunObserver {
  promotion?(promotion: PromotionRecord): void;
  step?(step: StepRecord): void;
  log?(component: string, line: string): void;
}
