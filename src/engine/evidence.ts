import type { AuditEntry, AuditEventInput } from '../core/audit.js';
import { CHECKPOINT_EVERY, signCheckpoint } from '../core/audit-checkpoint.js';
import { canonicalJson, sha256Hex } from '../core/canonical-json.js';
import { signEnvelope, unsignedEnvelope } from '../core/dsse.js';
import { ConflictError, NotFoundError, errorMessage } from '../core/errors.js';
import { IN_TOTO_PAYLOAD_TYPE, promotionStatement } from '../core/evidence.js';
import { FINAL_PROMOTION_STATES } from '../core/model.js';
import type { EvidenceRecord, Store, StoreChange } from '../store/store.js';
import type { Clock } from './clock.js';
import type { EvidenceSigner } from './signing-key.js';

/** The actor of what Lockstep records by itself about its own record (evidence, checkpoints). */
export const EVIDENCE_ACTOR = 'lockstep:evidence';

export interface Sealer {
  store: Store;
  signer: EvidenceSigner | undefined;
  clock: Clock;
}

/**
 * Writes a finished promotion's evidence, once: the in-toto statement of what was planned, approved,
 * applied and verified, signed when a key is configured (else unsigned, and it says so), with the
 * audit head at that moment; in the same commit an `evidence.written` entry and, with a key, a
 * signed checkpoint of that head. Returns the evidence already written when there is some (another
 * process may have just written it). ConflictError when the promotion has not finished.
 */
export async function sealPromotion(sealer: Sealer, promotionId: string): Promise<EvidenceRecord> {
  const { store, signer, clock } = sealer;
  const existing = await store.getEvidence(promotionId);
  if (existing) return existing;
  const promotion = await store.getPromotion(promotionId);
  if (!FINAL_PROMOTION_STATES.includes(promotion.state))
    throw new ConflictError(`promotion ${promotion.id.slice(0, 12)} is ${promotion.state}: its evidence is written when it ends`);
  const [release, steps, approvals, audit, head] = await Promise.all([
    store.getRelease(promotion.releaseId),
    store.listSteps(promotion.id),
    store.listApprovals(promotion.id),
    store.promotionAudit(promotion.id),
    store.auditHead(),
  ]);
  if (head === undefined) throw new NotFoundError('the audit log is empty: a finished promotion always has entries');
  const now = clock.now();
  const statement = promotionStatement({ promotion, release, steps, approvals, audit, head, signed: signer !== undefined, now });
  const payload = Buffer.from(canonicalJson(statement), 'utf8');
  const envelope = signer ? signEnvelope(IN_TOTO_PAYLOAD_TYPE, payload, signer.privateKey) : unsignedEnvelope(IN_TOTO_PAYLOAD_TYPE, payload);
  const record: EvidenceRecord = { promotionId: promotion.id, createdAt: now.toISOString(), ...(signer ? { keyid: signer.keyid } : {}), envelope };
  const base = { time: now.toISOString(), actor: EVIDENCE_ACTOR, project: promotion.project, environment: promotion.environment, releaseId: promotion.releaseId, promotionId: promotion.id };
  const entries: AuditEventInput[] = [
    {
      ...base,
      kind: 'evidence.written',
      data: { signed: signer !== undefined, ...(signer ? { keyid: signer.keyid } : {}), payloadSha256: sha256Hex(payload.toString('utf8')), auditSeq: head.seq, auditHash: head.hash },
    },
  ];
  if (signer) entries.push(checkpointEvent(signer, promotion.project, head, now));
  try {
    await store.commit({ evidence: record, audit: entries });
  } catch (error) {
    if (error instanceof ConflictError) {
      const written = await store.getEvidence(promotion.id);
      if (written) return written;
    }
    throw error;
  }
  return record;
}

function checkpointEvent(signer: EvidenceSigner, project: string, head: { seq: number; hash: string }, now: Date): AuditEventInput {
  const data = signCheckpoint({ project, seq: head.seq, hash: head.hash, time: now.toISOString() }, signer.privateKey);
  return { kind: 'audit.checkpoint', time: now.toISOString(), actor: EVIDENCE_ACTOR, project, data: { ...data, keyid: signer.keyid } };
}

/**
 * Evidence for every finished promotion that has none (a crash came between its last commit and
 * its evidence's), at most `limit`. One that cannot be written does not stop the others.
 */
export async function sealUnsealed(sealer: Sealer, limit = 50): Promise<{ sealed: string[]; errors: { promotionId: string; message: string }[] }> {
  const out = { sealed: [] as string[], errors: [] as { promotionId: string; message: string }[] };
  for (const id of await sealer.store.unsealedPromotions(limit)) {
    try {
      await sealPromotion(sealer, id);
      out.sealed.push(id);
    } catch (error) {
      out.errors.push({ promotionId: id, message: errorMessage(error) });
    }
  }
  return out;
}

/**
 * The store, sealing as it goes: after a commit that ends a promotion (its `promotion.finished`
 * entry) the promotion's evidence is written before `commit` returns; with a key, a checkpoint is
 * also written once CHECKPOINT_EVERY entries have been appended since the last one. The promotion's
 * own commit is already durable then: a failure to seal is reported through `warn`, never as the
 * commit's failure, and `sealUnsealed` (tick, the server's worker, `evidence export`) writes what
 * is missing later. Every other method is the store's own (a Proxy, as tracedStore).
 */
export function sealingStore(store: Store, signer: EvidenceSigner | undefined, clock: Clock, warn: (message: string) => void): Store {
  const sealer: Sealer = { store, signer, clock };
  let lastCheckpoint: number | undefined;
  const commit = async (change: StoreChange): Promise<AuditEntry[]> => {
    const entries = await store.commit(change);
    let sealed = false;
    for (const entry of entries) {
      if (entry.kind !== 'promotion.finished' || entry.promotionId === undefined) continue;
      try {
        await sealPromotion(sealer, entry.promotionId);
        sealed = true;
      } catch (error) {
        warn(`the evidence of promotion ${entry.promotionId.slice(0, 12)} could not be written yet (it is written later): ${errorMessage(error)}`);
      }
    }
    const last = entries.at(-1);
    if (signer !== undefined && last !== undefined && !sealed) {
      try {
        lastCheckpoint ??= (await store.lastAuditOfKind('audit.checkpoint'))?.seq ?? 0;
        if (last.seq - lastCheckpoint >= CHECKPOINT_EVERY) {
          const [written] = await store.commit({ audit: [checkpointEvent(signer, last.project, last, clock.now())] });
          lastCheckpoint = written?.seq ?? last.seq;
        }
      } catch (error) {
        warn(`an audit checkpoint could not be written: ${errorMessage(error)}`);
      }
    } else if (sealed) {
      lastCheckpoint = undefined;
    }
    return entries;
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === 'commit') return commit;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * A promotion's evidence as stored (`evidence export`). NotFoundError when it has none yet: it is
 * written when the promotion ends, or, after a crash, by the next `tick`, `resume` or the server.
 */
export async function promotionEvidence(store: Pick<Store, 'getPromotion' | 'getEvidence'>, promotionRef: string): Promise<EvidenceRecord> {
  const promotion = await store.getPromotion(promotionRef);
  const evidence = await store.getEvidence(promotion.id);
  if (evidence) return evidence;
  if (!FINAL_PROMOTION_STATES.includes(promotion.state))
    throw new NotFoundError(`promotion ${promotion.id.slice(0, 12)} is ${promotion.state}: its evidence is written when it ends`);
  throw new NotFoundError(
    `promotion ${promotion.id.slice(0, 12)} ended (${promotion.state}) but its evidence is not written yet (the process that ended it stopped first): lockstep tick, lockstep resume or the server writes it`,
  );
}
