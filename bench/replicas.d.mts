// Types of replicas.mjs, for test/server/chaos.test.ts.
import type { PromotionOwner } from '../src/core/model.js';

export declare const ENVIRONMENTS: readonly string[];
export declare const COMPONENTS: Readonly<Record<string, readonly string[]>>;
export declare const CONFIG: string;

export interface Kill {
  replica: string;
  pid: number;
  /** When it was killed (ms since the epoch). */
  at: number;
  /** The running promotions it owned just before (listed through another replica). */
  owned: string[];
  /** Of those, the ones whose recorded end came before the kill: nothing was left to take over. */
  endedBeforeKill: string[];
  /** For each: ms from the kill to another replica taking it over, and which record said so. */
  takeovers: { promotion: string; ms: number | undefined; by: string | undefined }[];
}

export interface ChaosOptions {
  /** A PostgreSQL URL with ?schema=. */
  state: string;
  seed?: number;
  replicas?: number;
  promotions?: number;
  killEveryMs?: number;
  restartAfterMs?: number;
  stepSleep?: number;
  leaseMs?: number;
  /** Called once, when half the promotions are requested (pg_ctl restart). */
  restartPostgres?: () => void;
  timeoutMs?: number;
  keep?: boolean;
}

export interface ChaosResult {
  seed: number;
  replicas: number;
  promotions: number;
  succeeded: number;
  /** Promotions left interrupted (a person decides), with their reason. */
  waitingOnPerson: { id: string; environment: string; reason: string | undefined }[];
  stepsApplied: number;
  kills: Kill[];
  takeoverMs: number[];
  postgresRestart: { at: number; seconds: number } | undefined;
  /** Every error answer (4xx but 409, 5xx) of a replica during the run: 503 while PostgreSQL restarts is expected. */
  errorAnswers: { replica: string; method: string; path: string; status: number; code: string | undefined; message: string | undefined }[];
  auditVerify: { ok?: boolean; entries?: number; head?: string };
  auditEntries: number;
  seconds: number;
  /** Empty when every check held. */
  problems: string[];
  logs: { name: string; pid: number; lines: string[] }[];
  dir: string;
}

export declare function chaosRun(options: ChaosOptions): Promise<ChaosResult>;

export interface PartitionResult {
  id: string;
  pausedPid: number;
  takerPid: number;
  ownerBefore: PromotionOwner;
  takenOver: { owner: PromotionOwner; ms: number } | undefined;
  resumedAt: number;
  promotion: { state: string; owner?: PromotionOwner; reason?: string };
  steps: { component: string; state: string; attempts: number }[];
  /** Lines per "PROMOTION COMPONENT" in applied.log and started.log. */
  applied: Record<string, number>;
  started: Record<string, number>;
  audit: { kind: string; component?: string; actor: string; data: Record<string, unknown>; time: string }[];
  auditVerify: { status: number | null; output: string };
  pausedLog: string[];
  takerLog: string[];
  pausedAlive: boolean;
}

export declare function partitionRun(options: { state: string; leaseMs?: number; netSleep?: number; seed?: number; keep?: boolean }): Promise<PartitionResult>;
