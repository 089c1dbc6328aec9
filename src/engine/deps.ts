import type { Adapter } from '../core/adapter.js';
import type { LoadedConfig } from '../core/config/load-config.js';
import type { PromotionRecord, StepRecord } from '../core/model.js';
import type { Store } from '../store/store.js';
import type { Clock } from './clock.js';
import type { RunningPromotions } from './running-promotions.js';
import type { SecretSource } from './secrets.js';
import type { EvidenceSigner } from './signing-key.js';
import type { LeaseTiming } from './lease.js';

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
  /** The key evidence and audit checkpoints are signed with (engine/signing-key.ts); absent: unsigned. */
  signer?: EvidenceSigner;
  actor: string;
  /** How `actor` was established; recorded with every decision an actor makes. Default: claimed. */
  actorProof?: ActorProof;
  /**
   * Groups the identity provider says the actor is in (the groups claim of an OIDC sign-in): gates'
   * `from` and `overrideBy` count them as they count `groups:`. Absent for any other identity.
   */
  actorGroups?: readonly string[];
  observer?: RunObserver;
  /**
   * The promotions this process runs (a long-lived process: the server). A runner adds itself while
   * it owns its promotion, so that a cancel reaches it at once and a shutdown can drain it.
   */
  running?: RunningPromotions;
  /** How long claims on promotions hold (`lockstep serve --lease`); default DEFAULT_LEASE (engine/lease.ts). */
  lease?: LeaseTiming;
  /**
   * The key sensitive inputs are fingerprinted with, when it must be the same on every machine (a
   * shared PostgreSQL state: derived from the server secret, engine/server-secret.ts); otherwise the
   * key file beside the state (engine/fingerprint-key.ts).
   */
  fingerprintKey?: Uint8Array;
}

/**
 * Locally nobody proves who they are: the actor is whatever --actor, LOCKSTEP_ACTOR, git's user.email
 * or the OS user says (`claimed`). Through the server the actor is the identity a token stands for
 * (`authenticated`, naming the token, never its secret); what the server's worker does by itself is
 * `automatic`.
 */
export type ActorProof =
  | { identity: 'claimed' }
  | { identity: 'authenticated'; via: 'token'; token: string }
  | { identity: 'authenticated'; via: 'oidc'; issuer: string; subject: string }
  /** Lockstep's own background work in a server (a gate that time satisfied, a dead process's promotion resumed): no person acted. */
  | { identity: 'automatic' };

/** Live progress, for the terminal and the event stream. Called synchronously; must not throw. */
export interface RunObserver {
  promotion?(promotion: PromotionRecord): void;
  step?(step: StepRecord): void;
  log?(component: string, line: string): void;
}
