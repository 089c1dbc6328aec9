import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditVerifier, GENESIS_HASH } from '../../src/core/audit.js';
import type { AuditEntry, AuditEventInput, AuditKind } from '../../src/core/audit.js';
import { sha256Hex } from '../../src/core/canonical-json.js';
import { ConflictError, InputError, NotFoundError } from '../../src/core/errors.js';
import type {
  ComponentState,
  PromotionOwner,
  PromotionRecord,
  PromotionState,
  ReleaseRecord,
  StepRecord,
} from '../../src/core/model.js';
import type { TokenRecord } from '../../src/core/tokens.js';
import { totalRows as totalOf, type RowPage } from '../../src/store/state-rows.js';
import { MAX_ATTEMPT_HISTORY, type NewDelivery, type Store } from '../../src/store/store.js';

/**
 * The Store contract: every implementation (SQLite, PostgreSQL) runs this suite unchanged.
 * `open` gives a fresh, empty store; the suite calls `migrate()` itself, then `close()` and
 * `cleanup()` after each test.
 */
export function storeContract(name: string, open: () => Promise<{ store: Store; cleanup(): Promise<void> }>): void {
  describe(name, () => {
    let store: Store;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      const opened = await open();
      store = opened.store;
      cleanup = () => opened.cleanup();
      await store.migrate();
    });

    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    /** Commits a release with one audit event; returns it. */
    async function addRelease(overrides: Partial<ReleaseRecord> & { seed?: string } = {}): Promise<ReleaseRecord> {
      const record = release(overrides);
      await store.commit({ release: record, audit: [event('release.created', { releaseId: record.id })] });
      return record;
    }

    /** Commits a new promotion (and its release, if given); returns it. */
    async function addPromotion(
      overrides: Partial<PromotionRecord> & { releaseId: string },
      lock = false,
    ): Promise<PromotionRecord> {
      const record = promotion(overrides);
      await store.commit({
        createPromotion: { record, lock },
        audit: [event('promotion.requested', { promotionId: record.id, environment: record.environment })],
      });
      return record;
    }

    async function allAudit(): Promise<AuditEntry[]> {
      const entries: AuditEntry[] = [];
      for (;;) {
        const page = await store.auditPage(entries.at(-1)?.seq ?? 0, 7);
        if (page.length === 0) return entries;
        entries.push(...page);
      }
    }

    async function verifyAudit(): Promise<ReturnType<AuditVerifier['result']>> {
      const verifier = new AuditVerifier();
      for (const entry of await allAudit()) verifier.push(entry);
      return verifier.result();
    }

    describe('migrate', () => {
      it('is idempotent and keeps the data', async () => {
        const r = await addRelease();
        const { newest } = await store.schemaVersion();
        expect(await store.schemaVersion()).toStrictEqual({ current: newest, newest });
        expect(await store.migrate()).toStrictEqual({ from: newest, to: newest, applied: [] });
        await store.migrate();
        expect(await store.getRelease(r.id)).toStrictEqual(r);
        expect((await store.auditHead())?.seq).toBe(1);
      });
    });

    describe('releases', () => {
      it('round-trips a release with and without its optional fields', async () => {
        const full = await addRelease({
          seed: 'full',
          message: 'Billing: retry "queue" – ünïcødé ✓',
          from: 'staging',
          labels: { ticket: 'OPS-1', team: 'payments' },
          versions: { api: '1.4.2', schema: '20261101', iam: 'git:4f2a1c' },
        });
        const bare = await addRelease({ seed: 'bare', labels: {} });
        expect(await store.getRelease(full.id)).toStrictEqual(full);
        expect(await store.getRelease(bare.id)).toStrictEqual(bare);
        expect('message' in (await store.getRelease(bare.id))).toBe(false);
      });

      it('writing the same release again is a no-op, but its audit events are appended', async () => {
        const r = await addRelease();
        const entries = await store.commit({
          release: { ...r },
          audit: [event('release.created', { releaseId: r.id })],
        });
        expect(entries.map((e) => e.seq)).toEqual([2]);
        expect(await store.listReleases()).toStrictEqual([r]);
      });

      it('rejects different content under an existing id and writes nothing of that commit', async () => {
        const r = await addRelease();
        const changed = { ...r, versions: { ...r.versions, api: '9.9.9' } };
        const error = await rejection(
          store.commit({ release: changed, audit: [event('release.created', { releaseId: r.id })] }),
        );
        expect(error).toBeInstanceOf(ConflictError);
        expect(String(error)).toContain(r.id);
        expect(await store.getRelease(r.id)).toStrictEqual(r);
        expect((await store.auditHead())?.seq).toBe(1);
      });

      it('finds a release by exact id or a unique prefix of at least 7 characters, in any case', async () => {
        const a = await addRelease({ id: idWithPrefix('abcdef11', 'a') });
        const b = await addRelease({ id: idWithPrefix('abcdef12', 'b') });
        const c = await addRelease({ id: idWithPrefix('abcdef2f', 'c') });
        const d = await addRelease({ id: idWithPrefix('abcdef30', 'd') });
        expect(await store.getRelease(a.id)).toStrictEqual(a);
        expect(await store.getRelease('abcdef11')).toStrictEqual(a);
        expect(await store.getRelease('abcdef12')).toStrictEqual(b);
        expect(await store.getRelease('ABCDEF12')).toStrictEqual(b);
        // The prefix range must include ids continuing with 'f' and exclude the next prefix.
        expect(await store.getRelease('abcdef2')).toStrictEqual(c);
        expect(await store.getRelease('abcdef3')).toStrictEqual(d);
        expect(await store.getRelease(c.id.slice(0, 40))).toStrictEqual(c);
      });

      it('rejects a prefix shorter than 7 characters, even a unique one', async () => {
        const r = await addRelease({ id: idWithPrefix('1234567', 'x') });
        const error = await rejection(store.getRelease('123456'));
        expect(error).toBeInstanceOf(InputError);
        expect((error as InputError).message).toBe('a release id prefix needs at least 7 characters');
        expect((error as InputError).field).toBe('release');
        expect(await rejection(store.getRelease(''))).toBeInstanceOf(InputError);
        expect(await store.getRelease('1234567')).toStrictEqual(r);
      });

      it('rejects an ambiguous prefix, listing the candidates', async () => {
        const a = await addRelease({ id: idWithPrefix('abcdef11', 'a') });
        const b = await addRelease({ id: idWithPrefix('abcdef12', 'b') });
        const error = await rejection(store.getRelease('abcdef1'));
        expect(error).toBeInstanceOf(InputError);
        expect((error as InputError).field).toBe('release');
        expect((error as InputError).message).toContain(a.id);
        expect((error as InputError).message).toContain(b.id);
      });

      it('throws NotFoundError for an unknown id or prefix', async () => {
        await addRelease({ id: idWithPrefix('abcdef11', 'a') });
        expect(await rejection(store.getRelease('0000000'))).toBeInstanceOf(NotFoundError);
        expect(await rejection(store.getRelease('abcdef10'))).toBeInstanceOf(NotFoundError);
        expect(await rejection(store.getRelease(sha256Hex('nothing')))).toBeInstanceOf(NotFoundError);
      });

      it('lists newest first (ties by id, descending), with a limit', async () => {
        const old = await addRelease({ seed: 'old', createdAt: at(1) });
        const newest = await addRelease({ seed: 'newest', createdAt: at(3) });
        const middle = await addRelease({ seed: 'middle', createdAt: at(2) });
        const tieLow = await addRelease({ id: idWithPrefix('1111111', 't'), createdAt: at(2) });
        const tieHigh = await addRelease({ id: idWithPrefix('fffffff', 't'), createdAt: at(2) });
        const middles = [tieHigh, middle, tieLow].sort((x, y) => (x.id < y.id ? 1 : -1));
        expect(await store.listReleases()).toStrictEqual([newest, ...middles, old]);
        expect(await store.listReleases({ limit: 2 })).toStrictEqual([newest, middles[0]]);
        expect(await store.listReleases({ limit: 0 })).toStrictEqual([]);
      });

      it('lists nothing from an empty store', async () => {
        expect(await store.listReleases()).toStrictEqual([]);
      });
    });

    describe('promotions', () => {
      it('round-trips a promotion with every optional field', async () => {
        const r = await addRelease();
        const p = await addPromotion({
          releaseId: r.id,
          startedAt: at(2),
          finishedAt: at(3),
          reason: 'gate "approvals" waits for 2 of group:sre',
          owner: owner('tok-1'),
          state: 'running',
        });
        expect(await store.getPromotion(p.id)).toStrictEqual(p);
      });

      it('replaces a promotion by id', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id });
        const updated: PromotionRecord = { ...p, state: 'succeeded', finishedAt: at(9), reason: 'all steps succeeded' };
        await store.commit({
          promotion: { record: updated },
          audit: [event('promotion.finished', { promotionId: p.id })],
        });
        expect(await store.getPromotion(p.id)).toStrictEqual(updated);
        expect(await store.listPromotions({ states: ['succeeded'] })).toStrictEqual([updated]);
      });

      it('throws NotFoundError when replacing an unknown promotion', async () => {
        const r = await addRelease();
        const error = await rejection(
          store.commit({ promotion: { record: promotion({ releaseId: r.id }) }, audit: [event('promotion.started')] }),
        );
        expect(error).toBeInstanceOf(NotFoundError);
        expect((await store.auditHead())?.seq).toBe(1);
      });

      it('rejects a second promotion with the same id', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id });
        const error = await rejection(addPromotion({ ...p, environment: 'other' }));
        expect(error).toBeInstanceOf(ConflictError);
        expect(await store.getPromotion(p.id)).toStrictEqual(p);
        expect((await store.auditHead())?.seq).toBe(2);
      });

      it('rejects a promotion of an unknown release', async () => {
        const error = await rejection(addPromotion({ releaseId: sha256Hex('no such release') }));
        expect(error).toBeInstanceOf(NotFoundError);
        expect(await store.listPromotions()).toStrictEqual([]);
        expect(await store.auditHead()).toBeUndefined();
      });

      it('accepts a release and a promotion of it in one commit', async () => {
        const r = release();
        const p = promotion({ releaseId: r.id });
        await store.commit({
          release: r,
          createPromotion: { record: p, lock: true },
          audit: [event('promotion.requested')],
        });
        expect(await store.getRelease(r.id)).toStrictEqual(r);
        expect(await store.activePromotion(p.environment)).toStrictEqual(p);
      });

      it('finds a promotion by exact id or unique prefix (UUID ids too)', async () => {
        const r = await addRelease();
        const a = await addPromotion({ releaseId: r.id, id: '3f2a1c4d-0000-4000-8000-000000000001' });
        const b = await addPromotion({ releaseId: r.id, id: '3f2a1c4e-0000-4000-8000-000000000002' });
        expect(await store.getPromotion(a.id)).toStrictEqual(a);
        expect(await store.getPromotion('3f2a1c4d')).toStrictEqual(a);
        expect(await store.getPromotion('3f2a1c4e-0000')).toStrictEqual(b);
        const ambiguous = await rejection(store.getPromotion('3f2a1c4'));
        expect(ambiguous).toBeInstanceOf(InputError);
        expect((ambiguous as InputError).field).toBe('promotion');
        expect((ambiguous as InputError).message).toContain(a.id);
        expect((ambiguous as InputError).message).toContain(b.id);
        const short = await rejection(store.getPromotion('3f2a1c'));
        expect(short).toBeInstanceOf(InputError);
        expect((short as InputError).message).toBe('a promotion id prefix needs at least 7 characters');
        expect(await rejection(store.getPromotion('3f2a1c4f'))).toBeInstanceOf(NotFoundError);
      });

      it('lists newest first by requestedAt, then id (descending)', async () => {
        const r = await addRelease();
        const p1 = await addPromotion({ releaseId: r.id, id: hexId('p1'), requestedAt: at(1) });
        const p3 = await addPromotion({ releaseId: r.id, id: hexId('p3'), requestedAt: at(3) });
        const tieA = await addPromotion({ releaseId: r.id, id: idWithPrefix('aaaaaaa', 'p'), requestedAt: at(2) });
        const tieB = await addPromotion({ releaseId: r.id, id: idWithPrefix('bbbbbbb', 'p'), requestedAt: at(2) });
        expect(await store.listPromotions()).toStrictEqual([p3, tieB, tieA, p1]);
        expect(await store.listPromotions({ limit: 3 })).toStrictEqual([p3, tieB, tieA]);
        expect(await store.listPromotions({ limit: 0 })).toStrictEqual([]);
      });

      it('filters by environment, release and states, combined', async () => {
        const r1 = await addRelease({ seed: 'r1' });
        const r2 = await addRelease({ seed: 'r2' });
        const specs: [string, ReleaseRecord, string, PromotionState][] = [
          ['a', r1, 'staging', 'succeeded'],
          ['b', r1, 'prod', 'failed'],
          ['c', r2, 'staging', 'running'],
          ['d', r2, 'prod', 'pending'],
          ['e', r2, 'prod', 'succeeded'],
        ];
        const byName: Record<string, PromotionRecord> = {};
        for (const [index, [id, r, environment, state]] of specs.entries()) {
          byName[id] = await addPromotion({
            id: hexId(id),
            releaseId: r.id,
            environment,
            state,
            requestedAt: at(index),
          });
        }
        const names = async (filter: Parameters<Store['listPromotions']>[0]): Promise<string[]> =>
          (await store.listPromotions(filter)).map(
            (p) => Object.keys(byName).find((k) => byName[k]?.id === p.id) ?? '?',
          );

        expect(await names({})).toEqual(['e', 'd', 'c', 'b', 'a']);
        expect(await names({ environment: 'prod' })).toEqual(['e', 'd', 'b']);
        expect(await names({ releaseId: r1.id })).toEqual(['b', 'a']);
        expect(await names({ states: ['succeeded'] })).toEqual(['e', 'a']);
        expect(await names({ states: ['running', 'pending'] })).toEqual(['d', 'c']);
        expect(await names({ environment: 'prod', releaseId: r2.id })).toEqual(['e', 'd']);
        expect(await names({ environment: 'prod', states: ['succeeded', 'failed'], limit: 1 })).toEqual(['e']);
        expect(await names({ environment: 'nowhere' })).toEqual([]);
        expect(await names({ states: [] })).toEqual([]);
      });
    });

    describe('gates: approvals, release rejections, a pending promotion taking the lock', () => {
      it('appends approvals per promotion, oldest first, and refuses one for an unknown promotion', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id, environment: 'prod', state: 'pending' });
        const bob = { promotionId: p.id, actor: 'bob@example.com', decision: 'approve' as const, planDigest: 'd1', at: at(1), expiresAt: at(9) };
        const carol = { promotionId: p.id, actor: 'carol@example.com', decision: 'reject' as const, comment: 'no', planDigest: 'd1', at: at(2) };
        await store.commit({ approvals: [bob], audit: [event('approval.given', { promotionId: p.id })] });
        await store.commit({ approvals: [carol], audit: [event('approval.rejected', { promotionId: p.id })] });
        expect(await store.listApprovals(p.id)).toStrictEqual([bob, carol]);
        expect(await store.listApprovals('0'.repeat(32))).toStrictEqual([]);
        const error = await rejection(store.commit({ approvals: [{ ...bob, promotionId: hexId('ghost') }], audit: [event('approval.given')] }));
        expect(error).toBeInstanceOf(NotFoundError);
      });

      it('records a release rejection once, returns it with the release, and keeps the release itself unchanged', async () => {
        const r = await addRelease();
        const rejection1 = { by: 'alice@example.com', reason: 'corrupts invoices', at: at(3) };
        await store.commit({ releaseRejection: { releaseId: r.id, rejection: rejection1 }, audit: [event('release.rejected', { releaseId: r.id })] });
        expect(await store.getRelease(r.id)).toStrictEqual({ ...r, rejected: rejection1 });
        expect((await store.listReleases())[0]).toStrictEqual({ ...r, rejected: rejection1 });
        // Writing the release again (as read, with its rejection) is still the same immutable release.
        await store.commit({ release: await store.getRelease(r.id), audit: [event('release.created', { releaseId: r.id })] });
        const again = await rejection(store.commit({ releaseRejection: { releaseId: r.id, rejection: { ...rejection1, by: 'bob@example.com' } }, audit: [event('release.rejected')] }));
        expect(again).toBeInstanceOf(ConflictError);
        expect((again as Error).message).toContain('alice@example.com');
        expect((await store.getRelease(r.id)).rejected).toStrictEqual(rejection1);
      });

      it('lets a pending promotion take the free lock, and refuses it while another holds the lock', async () => {
        const r = await addRelease();
        const pending = await addPromotion({ releaseId: r.id, environment: 'prod', id: hexId('pending'), state: 'pending' });
        const holder = await addPromotion({ releaseId: r.id, environment: 'prod', id: hexId('holder') }, true);
        const running: PromotionRecord = { ...pending, state: 'running' };
        const busy = await rejection(store.commit({ promotion: { record: running, takeLock: true }, audit: [event('promotion.started')] }));
        expect(busy).toBeInstanceOf(ConflictError);
        expect(await store.getPromotion(pending.id)).toStrictEqual(pending);
        await store.commit({ promotion: { record: { ...holder, state: 'succeeded' }, releaseLock: true }, audit: [event('promotion.finished')] });
        await store.commit({ promotion: { record: running, takeLock: true }, audit: [event('promotion.started')] });
        expect(await store.activePromotion('prod')).toStrictEqual(running);
      });

      it('replaces a promotion\'s steps with replaceSteps', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id, environment: 'prod', state: 'pending' });
        await store.commit({ steps: [step({ promotionId: p.id, component: 'api' }), step({ promotionId: p.id, component: 'old' })], audit: [event('promotion.requested')] });
        const fresh = [step({ promotionId: p.id, component: 'web' }), step({ promotionId: p.id, component: 'api', toVersion: '2.0.0' })];
        await store.commit({ replaceSteps: p.id, steps: fresh, audit: [event('gate.passed')] });
        expect(await store.listSteps(p.id)).toStrictEqual(fresh);
      });
    });

    describe('environment lock', () => {
      it('is held by a promotion created with lock: true', async () => {
        const r = await addRelease();
        expect(await store.activePromotion('prod')).toBeUndefined();
        const p = await addPromotion({ releaseId: r.id, environment: 'prod' }, true);
        expect(await store.activePromotion('prod')).toStrictEqual(p);
        expect(await store.activePromotion('staging')).toBeUndefined();
      });

      it('makes a second locking promotion fail with ConflictError naming the holder, writing nothing', async () => {
        const r = await addRelease();
        const holder = await addPromotion(
          { releaseId: r.id, environment: 'prod', requestedBy: 'alice@example.com', requestedAt: at(5) },
          true,
        );
        const head = await store.auditHead();
        const second = promotion({ releaseId: r.id, environment: 'prod', id: hexId('second') });
        const otherRelease = release({ seed: 'written with the losing promotion' });

        const error = await rejection(
          store.commit({
            release: otherRelease,
            createPromotion: { record: second, lock: true },
            steps: [step({ promotionId: second.id, component: 'api' })],
            componentStates: [componentState({ environment: 'prod', promotionId: second.id })],
            audit: [event('promotion.requested', { promotionId: second.id })],
          }),
        );

        expect(error).toBeInstanceOf(ConflictError);
        const message = (error as Error).message;
        expect(message).toContain('prod');
        expect(message).toContain(holder.id);
        expect(message).toContain('alice@example.com');
        expect(message).toContain(at(5));
        expect(await store.auditHead()).toStrictEqual(head);
        expect(await rejection(store.getPromotion(second.id))).toBeInstanceOf(NotFoundError);
        expect(await rejection(store.getRelease(otherRelease.id))).toBeInstanceOf(NotFoundError);
        expect(await store.listSteps(second.id)).toStrictEqual([]);
        expect(await store.environmentState('prod')).toStrictEqual([]);
        expect(await store.activePromotion('prod')).toStrictEqual(holder);
      });

      it('makes a promotion marked once only if that release was never promoted to that environment, writing nothing otherwise', async () => {
        const r = await addRelease();
        const other = await addRelease({ seed: 'another release' });
        const finished = await addPromotion({ releaseId: r.id, environment: 'prod', id: hexId('earlier'), state: 'succeeded' });
        const head = await store.auditHead();
        const again = promotion({ releaseId: r.id, environment: 'prod', id: hexId('again') });
        const error = await rejection(store.commit({ createPromotion: { record: again, lock: true, once: true }, audit: [event('gate.passed', { promotionId: again.id })] }));
        expect(error).toBeInstanceOf(ConflictError);
        expect((error as Error).message).toContain(finished.id.slice(0, 12));
        expect(await store.auditHead()).toStrictEqual(head);
        expect(await rejection(store.getPromotion(again.id))).toBeInstanceOf(NotFoundError);
        // Another release, or another environment, is a first.
        const otherRelease = promotion({ releaseId: other.id, environment: 'prod', id: hexId('other release') });
        const otherEnv = promotion({ releaseId: r.id, environment: 'staging', id: hexId('other env') });
        await store.commit({ createPromotion: { record: otherRelease, lock: false, once: true }, audit: [] });
        await store.commit({ createPromotion: { record: otherEnv, lock: false, once: true }, audit: [] });
        expect((await store.getPromotion(otherEnv.id)).environment).toBe('staging');
        expect((await store.getPromotion(otherRelease.id)).releaseId).toBe(other.id);
      });

      it('does not stop a locking promotion in another environment, nor a promotion without lock', async () => {
        const r = await addRelease();
        const prod = await addPromotion({ releaseId: r.id, environment: 'prod', id: hexId('prod') }, true);
        const staging = await addPromotion({ releaseId: r.id, environment: 'staging', id: hexId('staging') }, true);
        const unlocked = await addPromotion({ releaseId: r.id, environment: 'prod', id: hexId('unlocked') }, false);
        expect(await store.activePromotion('prod')).toStrictEqual(prod);
        expect(await store.activePromotion('staging')).toStrictEqual(staging);
        expect(await store.getPromotion(unlocked.id)).toStrictEqual(unlocked);
      });

      it('is freed by releaseLock of its holder and can then be taken again', async () => {
        const r = await addRelease();
        const first = await addPromotion({ releaseId: r.id, environment: 'prod', id: hexId('first') }, true);
        const done: PromotionRecord = { ...first, state: 'succeeded', finishedAt: at(9) };
        await store.commit({
          promotion: { record: done, releaseLock: true },
          audit: [event('promotion.finished', { promotionId: first.id })],
        });
        expect(await store.activePromotion('prod')).toBeUndefined();
        expect(await store.getPromotion(first.id)).toStrictEqual(done);

        const next = await addPromotion({ releaseId: r.id, environment: 'prod', id: hexId('next') }, true);
        expect(await store.activePromotion('prod')).toStrictEqual(next);
      });

      it('is not freed by releaseLock of a promotion that does not hold it', async () => {
        const r = await addRelease();
        const holder = await addPromotion({ releaseId: r.id, environment: 'prod', id: hexId('holder') }, true);
        const bystander = await addPromotion({ releaseId: r.id, environment: 'prod', id: hexId('bystander') }, false);
        await store.commit({
          promotion: { record: { ...bystander, state: 'cancelled' }, releaseLock: true },
          audit: [event('promotion.finished', { promotionId: bystander.id })],
        });
        expect(await store.activePromotion('prod')).toStrictEqual(holder);
      });

      it('shows the holder as last written', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id, environment: 'prod' }, true);
        const running: PromotionRecord = { ...p, state: 'running', startedAt: at(4) };
        await store.commit({ promotion: { record: running }, audit: [event('promotion.started')] });
        expect(await store.activePromotion('prod')).toStrictEqual(running);
      });
    });

    describe('steps', () => {
      it('lists a promotion’s steps in the order first written, and upserts in place', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id });
        const zeta = step({ promotionId: p.id, component: 'zeta' });
        const alpha = step({ promotionId: p.id, component: 'alpha' });
        const mid = step({ promotionId: p.id, component: 'mid' });
        await store.commit({ steps: [zeta, alpha], audit: [] });
        await store.commit({ steps: [mid], audit: [] });
        expect(await store.listSteps(p.id)).toStrictEqual([zeta, alpha, mid]);

        const alphaDone: StepRecord = {
          ...alpha,
          state: 'succeeded',
          phase: 'verify',
          applyStarted: true,
          outputs: {
            role_arn: 'arn:aws:iam::333333333333:role/api',
            replicas: 3,
            tags: ['a', 'b'],
            nested: { ok: true },
          },
          startedAt: at(1),
          finishedAt: at(2),
          attempts: 2,
          lastLog: 'rollout complete',
        };
        await store.commit({ steps: [alphaDone], audit: [event('step.succeeded', { component: 'alpha' })] });
        expect(await store.listSteps(p.id)).toStrictEqual([zeta, alphaDone, mid]);
      });

      it('keeps steps of different promotions apart', async () => {
        const r = await addRelease();
        const p1 = await addPromotion({ releaseId: r.id, id: hexId('p1') });
        const p2 = await addPromotion({ releaseId: r.id, id: hexId('p2') });
        const s1 = step({ promotionId: p1.id, component: 'api' });
        const s2 = step({ promotionId: p2.id, component: 'api', state: 'failed', error: 'timed out' });
        await store.commit({ steps: [s1, s2], audit: [] });
        expect(await store.listSteps(p1.id)).toStrictEqual([s1]);
        expect(await store.listSteps(p2.id)).toStrictEqual([s2]);
        expect(await store.listSteps(hexId('unknown'))).toStrictEqual([]);
      });

      it('rejects a step of an unknown promotion', async () => {
        const error = await rejection(
          store.commit({
            steps: [step({ promotionId: hexId('ghost'), component: 'api' })],
            audit: [event('step.started')],
          }),
        );
        expect(error).toBeInstanceOf(NotFoundError);
        expect(await store.auditHead()).toBeUndefined();
      });

      it('lists step history newest promotion first, filtered and limited', async () => {
        const r = await addRelease();
        const old = await addPromotion({
          releaseId: r.id,
          id: hexId('old'),
          environment: 'staging',
          requestedAt: at(1),
        });
        const mid = await addPromotion({ releaseId: r.id, id: hexId('mid'), environment: 'prod', requestedAt: at(2) });
        const newest = await addPromotion({
          releaseId: r.id,
          id: hexId('new'),
          environment: 'prod',
          requestedAt: at(3),
        });
        const steps = (p: PromotionRecord): StepRecord[] => [
          step({ promotionId: p.id, environment: p.environment, component: 'schema' }),
          step({ promotionId: p.id, environment: p.environment, component: 'api' }),
        ];
        // Written oldest first, so the order below comes from the promotions, not from writing.
        await store.commit({ steps: [...steps(old), ...steps(mid), ...steps(newest)], audit: [] });

        expect(await store.listStepHistory()).toStrictEqual([...steps(newest), ...steps(mid), ...steps(old)]);
        expect(await store.listStepHistory({ environment: 'prod' })).toStrictEqual([...steps(newest), ...steps(mid)]);
        const api = (p: PromotionRecord): StepRecord => steps(p)[1] as StepRecord;
        expect(await store.listStepHistory({ component: 'api' })).toStrictEqual([api(newest), api(mid), api(old)]);
        expect(await store.listStepHistory({ component: 'api', environment: 'staging' })).toStrictEqual([api(old)]);
        expect(await store.listStepHistory({ component: 'api', limit: 2 })).toStrictEqual([api(newest), api(mid)]);
        expect(await store.listStepHistory({ component: 'nothing' })).toStrictEqual([]);
      });
    });

    describe('component states', () => {
      it('upserts by (environment, component) and lists per environment', async () => {
        const apiProd = componentState({ environment: 'prod', component: 'api', version: '1.0.0' });
        const dbProd = componentState({ environment: 'prod', component: 'db', version: '7', outputs: {} });
        const apiStaging = componentState({ environment: 'staging', component: 'api', version: '1.1.0' });
        await store.commit({ componentStates: [apiProd, dbProd, apiStaging], audit: [] });
        expect(sortByComponent(await store.environmentState('prod'))).toStrictEqual([apiProd, dbProd]);
        expect(await store.environmentState('staging')).toStrictEqual([apiStaging]);
        expect(await store.environmentState('dev')).toStrictEqual([]);

        const apiProd2 = { ...apiProd, version: '1.1.0', outputs: { url: 'https://api' }, updatedAt: at(7) };
        await store.commit({ componentStates: [apiProd2], audit: [] });
        expect(sortByComponent(await store.environmentState('prod'))).toStrictEqual([apiProd2, dbProd]);
        expect(await store.environmentState('staging')).toStrictEqual([apiStaging]);
      });
    });

    describe('audit log', () => {
      it('is empty at first', async () => {
        expect(await store.auditHead()).toBeUndefined();
        expect(await store.auditPage(0, 10)).toStrictEqual([]);
      });

      it('chains the entries of a commit from the genesis hash and returns them as stored', async () => {
        const inputs: AuditEventInput[] = [
          event('promotion.requested', {
            environment: 'prod',
            releaseId: hexId('r'),
            promotionId: hexId('p'),
            data: {
              plan: { steps: ['iam', 'api'], irreversible: false },
              count: 2,
              ratio: 0.5,
              none: null,
              text: 'ü ✓ "q"',
            },
          }),
          event('step.started', { component: 'api', data: {} }),
        ];
        const entries = await store.commit({ audit: inputs });
        expect(entries.map((e) => e.seq)).toEqual([1, 2]);
        expect(entries[0]?.prevHash).toBe(GENESIS_HASH);
        expect(entries[1]?.prevHash).toBe(entries[0]?.hash);
        expect(entries[0]).toMatchObject(inputs[0] ?? {});
        expect(entries[1]).toMatchObject(inputs[1] ?? {});
        expect(await store.auditPage(0, 10)).toStrictEqual(entries);
        expect(await store.auditHead()).toStrictEqual({ seq: 2, hash: entries[1]?.hash });
        expect('environment' in (entries[1] ?? {})).toBe(false);
      });

      it('stores what it hashed when data holds non-JSON values', async () => {
        const [entry] = await store.commit({
          audit: [event('config.loaded', { data: { when: new Date(at(1)), gone: undefined, list: [1, undefined] } })],
        });
        expect(entry?.data).toStrictEqual({ when: at(1), list: [1, null] });
        expect(await store.auditPage(0, 1)).toStrictEqual([entry]);
        expect((await verifyAudit()).ok).toBe(true);
      });

      it('returns nothing for a commit without audit events', async () => {
        await addRelease();
        const head = await store.auditHead();
        expect(await store.commit({ componentStates: [componentState()], audit: [] })).toStrictEqual([]);
        expect(await store.auditHead()).toStrictEqual(head);
      });

      it('pages in sequence order after a given sequence number', async () => {
        await store.commit({ audit: Array.from({ length: 25 }, (_, i) => event('step.started', { data: { i } })) });
        const sizes: number[] = [];
        let after = 0;
        for (let page = await store.auditPage(after, 10); page.length > 0; page = await store.auditPage(after, 10)) {
          sizes.push(page.length);
          expect(page[0]?.seq).toBe(after + 1);
          after = page.at(-1)?.seq ?? after;
        }
        expect(sizes).toEqual([10, 10, 5]);
        expect((await store.auditPage(20, 100)).map((e) => e.seq)).toEqual([21, 22, 23, 24, 25]);
        expect((await store.auditPage(12, 2)).map((e) => e.data)).toEqual([{ i: 12 }, { i: 13 }]);
        expect(await store.auditPage(25, 10)).toStrictEqual([]);
        expect(await store.auditPage(3, 0)).toStrictEqual([]);
        // null: from the first row, whatever its sequence number.
        expect((await store.auditPage(null, 3)).map((e) => e.seq)).toEqual([1, 2, 3]);
        expect(await store.auditPage(null, 0)).toStrictEqual([]);
      });

      it('stays one valid chain across many commits, sequential and concurrent', async () => {
        const returned: AuditEntry[] = [];
        for (let i = 0; i < 40; i++) {
          const count = (i % 3) + 1;
          returned.push(
            ...(await store.commit({
              audit: Array.from({ length: count }, (_, j) => event('step.started', { data: { i, j } })),
            })),
          );
        }
        const concurrent = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.commit({ audit: [event('step.succeeded', { data: { i } }), event('step.started')] }),
          ),
        );
        returned.push(...concurrent.flat());

        const total = 79 + 40;
        expect(returned).toHaveLength(total);
        const result = await verifyAudit();
        expect(result).toMatchObject({ ok: true, entries: total });
        const head = await store.auditHead();
        expect(head?.seq).toBe(total);
        expect(result.ok && result.head).toBe(head?.hash);
        // Every commit got a distinct, contiguous run of sequence numbers.
        expect(returned.map((e) => e.seq).sort((a, b) => a - b)).toEqual(
          Array.from({ length: total }, (_, i) => i + 1),
        );
        for (const group of concurrent) expect(group[1]?.seq).toBe((group[0]?.seq ?? 0) + 1);
      });
    });

    describe('claimPromotion', () => {
      it('is a compare-and-set on the owner token', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id });
        const a = owner('token-a');
        const b = owner('token-b');

        expect(await store.claimPromotion(p.id, a, undefined)).toBe(true);
        expect((await store.getPromotion(p.id)).owner).toStrictEqual(a);
        // Lost races: the caller's idea of the current owner is stale.
        expect(await store.claimPromotion(p.id, b, undefined)).toBe(false);
        expect(await store.claimPromotion(p.id, b, 'token-x')).toBe(false);
        expect((await store.getPromotion(p.id)).owner).toStrictEqual(a);

        expect(await store.claimPromotion(p.id, b, 'token-a')).toBe(true);
        expect(await store.getPromotion(p.id)).toStrictEqual({ ...p, owner: b });
        expect(await store.claimPromotion(p.id, a, 'token-a')).toBe(false);

        // Giving up ownership.
        expect(await store.claimPromotion(p.id, undefined, 'token-b')).toBe(true);
        expect(await store.getPromotion(p.id)).toStrictEqual(p);
        expect(await store.claimPromotion(p.id, a, undefined)).toBe(true);
      });

      it('compares with the owner last written by a commit', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id, owner: owner('from-create') });
        expect(await store.claimPromotion(p.id, owner('x'), undefined)).toBe(false);
        const running: PromotionRecord = { ...p, state: 'running', owner: owner('from-update') };
        await store.commit({ promotion: { record: running }, audit: [] });
        expect(await store.claimPromotion(p.id, owner('y'), 'from-create')).toBe(false);
        expect(await store.claimPromotion(p.id, owner('y'), 'from-update')).toBe(true);
        expect(await store.getPromotion(p.id)).toStrictEqual({ ...running, owner: owner('y') });

        const { owner: _owner, ...unowned } = running;
        await store.commit({ promotion: { record: unowned }, audit: [] });
        expect(await store.claimPromotion(p.id, owner('z'), 'y')).toBe(false);
        expect(await store.claimPromotion(p.id, owner('z'), undefined)).toBe(true);
      });

      it('fences commits: a process that lost its claim writes nothing', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id });
        expect(await store.claimPromotion(p.id, owner('old'), undefined)).toBe(true);
        expect(await store.claimPromotion(p.id, owner('new'), 'old')).toBe(true);
        const before = (await store.auditHead())?.seq ?? 0;
        const stale: PromotionRecord = { ...p, state: 'failed', owner: owner('old') };
        const error = await rejection(
          store.commit({ fence: { promotionId: p.id, ownerToken: 'old' }, promotion: { record: stale }, audit: [event('promotion.finished')] }),
        );
        expect(error).toBeInstanceOf(ConflictError);
        expect((await store.getPromotion(p.id)).owner?.token).toBe('new');
        expect((await store.getPromotion(p.id)).state).toBe(p.state);
        expect((await store.auditHead())?.seq ?? 0).toBe(before);
        await store.commit({ fence: { promotionId: p.id, ownerToken: 'new' }, audit: [event('step.started')] });
        expect((await store.auditHead())?.seq).toBe(before + 1);
      });

      it('records a cancel request once, beside the promotion: the owner rewriting its record keeps it, a second request changes nothing', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id, owner: owner('runner') });
        expect(await store.getCancelRequest(p.id)).toBeUndefined();
        const first = { promotionId: p.id, by: 'bob@example.com', reason: 'wrong config', at: '2026-11-24T10:00:00.000Z' };
        // Not fenced: whoever asks does not own the promotion.
        await store.commit({ cancelRequest: first, audit: [event('promotion.cancel-requested', { promotionId: p.id })] });
        expect(await store.getCancelRequest(p.id)).toStrictEqual(first);
        // The owner's next commit rewrites the promotion record whole: the request is not part of it.
        await store.commit({ fence: { promotionId: p.id, ownerToken: 'runner' }, promotion: { record: { ...p, state: 'running' } }, audit: [] });
        const before = (await store.auditHead())?.seq ?? 0;
        await store.commit({ cancelRequest: { promotionId: p.id, by: 'carol@example.com', at: '2026-11-24T10:01:00.000Z' }, audit: [event('promotion.cancel-requested', { promotionId: p.id })] });
        expect(await store.getCancelRequest(p.id)).toStrictEqual(first);
        expect((await store.auditHead())?.seq).toBe(before + 1);
        const ghost = store.commit({ cancelRequest: { ...first, promotionId: hexId('ghost') }, audit: [event('promotion.cancel-requested')] });
        expect(await rejection(ghost)).toBeInstanceOf(NotFoundError);
        expect((await store.auditHead())?.seq).toBe(before + 1);
        expect(await store.getCancelRequest(hexId('ghost'))).toBeUndefined();
      });

      it('keeps step logs in order, per promotion and component, written with the commit', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id });
        const line = (component: string, text: string) => ({ promotionId: p.id, component, time: '2026-11-24T10:00:00.000Z', line: text });
        await store.commit({ logs: [line('api', 'one'), line('web', 'two')], audit: [] });
        await store.commit({ logs: [line('api', 'three')], audit: [] });
        expect((await store.stepLogs(p.id)).map((l) => l.line)).toEqual(['one', 'two', 'three']);
        expect(await store.stepLogs(p.id, 'api')).toEqual([line('api', 'one'), line('api', 'three')]);
        expect(await store.stepLogs(p.id, 'nope')).toEqual([]);
        const failing = store.commit({ logs: [line('api', 'never')], promotion: { record: { ...p, id: hexId('ghost') } }, audit: [] });
        expect(await rejection(failing)).toBeInstanceOf(NotFoundError);
        expect((await store.stepLogs(p.id)).map((l) => l.line)).toEqual(['one', 'two', 'three']);
      });

      it('keeps a log line exactly as a command printed it: NUL, control characters, any script', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id });
        const text = 'a\u0000b\u0001\t\u001b[31mred\u001b[0m ü ✓ 😀 \\ \'"';
        await store.commit({ logs: [{ promotionId: p.id, component: 'api', time: '2026-11-24T10:00:00.000Z', line: text }], audit: [] });
        expect((await store.stepLogs(p.id)).map((l) => l.line)).toEqual([text]);
        expect((await store.logsAfter(0, 10)).map((l) => l.line)).toEqual([text]);
      });

      it('pages every log line after an id, each placed after the audit entries committed before it', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id });
        const q = await addPromotion({ releaseId: r.id, environment: 'staging' });
        const line = (promotionId: string, text: string) => ({ promotionId, component: 'api', time: at(5), line: text });
        const head = (await store.auditHead())?.seq ?? 0;
        expect(await store.logHead()).toBe(0);
        await store.commit({ logs: [line(p.id, 'one'), line(q.id, 'two')], audit: [event('step.started')] });
        await store.commit({ logs: [line(p.id, 'three')], audit: [] });
        await store.commit({ audit: [event('step.succeeded'), event('step.succeeded')] });
        await store.commit({ logs: [line(q.id, 'four')], audit: [] });

        const all = await store.logsAfter(0, 100);
        expect(all.map((l) => [l.line, l.promotionId, l.afterSeq])).toEqual([
          ['one', p.id, head],
          ['two', q.id, head],
          ['three', p.id, head + 1],
          ['four', q.id, head + 3],
        ]);
        const ids = all.map((l) => l.id);
        expect([...ids].sort((a, b) => a - b)).toEqual(ids);
        expect(new Set(ids).size).toBe(4);
        expect(all[0]).toMatchObject(line(p.id, 'one'));

        const first = await store.logsAfter(0, 2);
        expect(first.map((l) => l.line)).toEqual(['one', 'two']);
        const rest = await store.logsAfter(first[1]?.id ?? -1, 2);
        expect(rest.map((l) => l.line)).toEqual(['three', 'four']);
        expect(await store.logsAfter(all[3]?.id ?? -1, 2)).toEqual([]);
        expect(await store.logHead()).toBe(all[3]?.id);
      });

      it('lets exactly one of several concurrent claimers win', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id });
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) => store.claimPromotion(p.id, owner(`t${i}`), undefined)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
      });

      it('throws NotFoundError for an unknown promotion', async () => {
        expect(await rejection(store.claimPromotion(hexId('ghost'), owner('t'), undefined))).toBeInstanceOf(
          NotFoundError,
        );
      });
    });

    describe('atomicity', () => {
      it('writes nothing when a later part of the commit fails (unknown promotion to replace)', async () => {
        const r = release();
        const p = promotion({ releaseId: r.id, environment: 'prod' });
        const error = await rejection(
          store.commit({
            release: r,
            createPromotion: { record: p, lock: true },
            promotion: { record: promotion({ releaseId: r.id, id: hexId('not written') }) },
            audit: [event('promotion.requested')],
          }),
        );
        expect(error).toBeInstanceOf(NotFoundError);
        expect(await store.listReleases()).toStrictEqual([]);
        expect(await store.listPromotions()).toStrictEqual([]);
        expect(await store.activePromotion('prod')).toBeUndefined();
        expect(await store.auditHead()).toBeUndefined();
      });

      it('writes nothing when the audit part fails, and the chain continues after it', async () => {
        const before = await store.commit({ audit: [event('config.loaded')] });
        const r = release();
        const p = promotion({ releaseId: r.id, environment: 'prod' });
        const error = await rejection(
          store.commit({
            release: r,
            createPromotion: { record: p, lock: true },
            steps: [step({ promotionId: p.id, component: 'api' })],
            componentStates: [componentState({ environment: 'prod', promotionId: p.id })],
            // The second event cannot be serialised (a BigInt): the first must not stay behind either.
            audit: [event('promotion.requested'), event('step.started', { data: { size: 10n } })],
          }),
        );
        expect(error).toBeInstanceOf(Error);
        expect(await store.listReleases()).toStrictEqual([]);
        expect(await store.listPromotions()).toStrictEqual([]);
        expect(await store.listSteps(p.id)).toStrictEqual([]);
        expect(await store.environmentState('prod')).toStrictEqual([]);
        expect(await store.activePromotion('prod')).toBeUndefined();
        expect(await store.auditHead()).toStrictEqual({ seq: 1, hash: before[0]?.hash });

        const after = await store.commit({
          release: r,
          createPromotion: { record: p, lock: true },
          audit: [event('promotion.requested')],
        });
        expect(after[0]?.seq).toBe(2);
        expect(after[0]?.prevHash).toBe(before[0]?.hash);
        expect(await store.activePromotion('prod')).toStrictEqual(p);
        expect((await verifyAudit()).ok).toBe(true);
      });
    });

    describe('api tokens', () => {
      it('round-trips a token with and without its optional fields, oldest first, found by hash', async () => {
        const full = token({ name: 'ci', role: 'releaser', environments: ['staging', 'prod'], expiresAt: at(90) });
        const bare = token({ name: 'alice' });
        await store.commit({ createToken: full, audit: [event('token.created')] });
        await store.commit({ createToken: bare, audit: [event('token.created')] });
        expect(await store.listTokens()).toStrictEqual([full, bare]);
        expect(await store.findTokenByHash(bare.hash)).toStrictEqual(bare);
        expect(await store.findTokenByHash(sha256Hex('no such token'))).toBeUndefined();
        expect('role' in ((await store.findTokenByHash(bare.hash)) ?? {})).toBe(false);
        expect((await store.auditHead())?.seq).toBe(2);
      });

      it('refuses a second token of a name that is not revoked, writing nothing of that commit', async () => {
        const first = token({ name: 'ci' });
        await store.commit({ createToken: first, audit: [event('token.created')] });
        const error = await rejection(store.commit({ createToken: token({ name: 'ci', seed: 'other' }), audit: [event('token.created')] }));
        expect(error).toBeInstanceOf(ConflictError);
        expect(String(error)).toContain('a token named ci exists already (for alice@example.com');
        expect(String(error)).toContain('lockstep token revoke ci');
        expect(await store.listTokens()).toStrictEqual([first]);
        expect((await store.auditHead())?.seq).toBe(1);
      });

      it('an expired token still holds its name until revoked, and says it expired', async () => {
        await store.commit({ createToken: token({ name: 'old', expiresAt: at(2) }), audit: [event('token.created')] });
        const error = await rejection(store.commit({ createToken: token({ name: 'old', seed: 'new', createdAt: at(5) }), audit: [event('token.created')] }));
        expect(error).toBeInstanceOf(ConflictError);
        expect(String(error)).toContain(`expired at ${at(2)}`);
      });

      it('revokes the token of a name, keeps it listed, and frees the name', async () => {
        const first = token({ name: 'ci' });
        await store.commit({ createToken: first, audit: [event('token.created')] });
        await store.commit({ revokeToken: { name: 'ci', at: at(7) }, audit: [event('token.revoked')] });
        const revoked = { ...first, revokedAt: at(7) };
        expect(await store.findTokenByHash(first.hash)).toStrictEqual(revoked);
        const second = token({ name: 'ci', seed: 'second' });
        await store.commit({ createToken: second, audit: [event('token.created')] });
        expect(await store.listTokens()).toStrictEqual([revoked, second]);
      });

      it('revoking a name no token holds (or only revoked ones) is NotFoundError, writing nothing', async () => {
        expect(await rejection(store.commit({ revokeToken: { name: 'ghost', at: at(1) }, audit: [event('token.revoked')] }))).toBeInstanceOf(NotFoundError);
        await store.commit({ createToken: token({ name: 'ci' }), audit: [event('token.created')] });
        await store.commit({ revokeToken: { name: 'ci', at: at(2) }, audit: [event('token.revoked')] });
        const again = await rejection(store.commit({ revokeToken: { name: 'ci', at: at(3) }, audit: [event('token.revoked')] }));
        expect(again).toBeInstanceOf(NotFoundError);
        expect(String(again)).toContain('no token named ci');
        expect((await store.listTokens())[0]?.revokedAt).toBe(at(2));
        expect((await store.auditHead())?.seq).toBe(2);
      });
    });

    describe('notification outbox', () => {
      function delivery(n: number, target = 'chat'): NewDelivery {
        return { deliveryId: `d-${target}-${n}`, target, event: 'promotion.finished', auditSeq: n, createdAt: at(n), contentType: 'application/json', body: `{"n":${n}}` };
      }

      it('creates a cursor once, then moves it only from where it stands, queuing with it', async () => {
        expect(await store.notifyCursor('chat')).toBeUndefined();
        expect(await store.queueDeliveries({ target: 'chat', after: undefined, upTo: 3, deliveries: [] })).toBe(true);
        expect(await store.queueDeliveries({ target: 'chat', after: undefined, upTo: 9, deliveries: [] })).toBe(false);
        expect(await store.notifyCursor('chat')).toBe(3);
        expect(await store.queueDeliveries({ target: 'chat', after: 3, upTo: 5, deliveries: [delivery(4), delivery(5)] })).toBe(true);
        // A second process that read from 3 too: nothing is queued twice.
        expect(await store.queueDeliveries({ target: 'chat', after: 3, upTo: 5, deliveries: [delivery(6)] })).toBe(false);
        expect(await store.notifyCursor('chat')).toBe(5);
        const listed = await store.listDeliveries();
        expect(listed.map((d) => d.deliveryId)).toStrictEqual(['d-chat-5', 'd-chat-4']);
        expect(listed[0]).toMatchObject({ status: 'pending', attempts: 0, history: [], nextAttemptAt: at(5), body: '{"n":5}', target: 'chat' });
        // The audit log is not touched: deliveries are bookkeeping derived from it.
        expect(await store.auditHead()).toBeUndefined();
      });

      it('gives the head of line per target, claims it once, and records attempts under the claim', async () => {
        await store.queueDeliveries({ target: 'chat', after: undefined, upTo: 0, deliveries: [] });
        await store.queueDeliveries({ target: 'bus', after: undefined, upTo: 0, deliveries: [] });
        await store.queueDeliveries({ target: 'chat', after: 0, upTo: 2, deliveries: [delivery(1), delivery(2)] });
        await store.queueDeliveries({ target: 'bus', after: 0, upTo: 1, deliveries: [delivery(1, 'bus')] });
        const head = await store.nextDelivery('chat');
        expect(head?.deliveryId).toBe('d-chat-1');
        const id = head?.id ?? -1;
        expect(await store.claimDelivery(id, { token: 'a', until: at(10), now: at(5) })).toBe(true);
        expect(await store.claimDelivery(id, { token: 'b', until: at(11), now: at(6) })).toBe(false);
        // Another process's attempt under a claim it does not hold writes nothing.
        expect(await store.finishAttempt(id, 'b', { status: 'delivered', attempt: { at: at(6), httpStatus: 200, durationMs: 3 } })).toBe(false);
        const failed = { at: at(7), error: 'connect ECONNREFUSED', durationMs: 1 };
        expect(await store.finishAttempt(id, 'a', { status: 'pending', nextAttemptAt: at(8), attempt: failed })).toBe(true);
        expect(await store.nextDelivery('chat')).toMatchObject({ deliveryId: 'd-chat-1', attempts: 1, nextAttemptAt: at(8), history: [failed] });
        // A claim that ran out can be taken by another process.
        expect(await store.claimDelivery(id, { token: 'c', until: at(20), now: at(9) })).toBe(true);
        expect(await store.finishAttempt(id, 'c', { status: 'delivered', attempt: { at: at(9), httpStatus: 204, durationMs: 2 } })).toBe(true);
        expect(await store.claimDelivery(id, { token: 'd', until: at(30), now: at(25) })).toBe(false);
        expect((await store.nextDelivery('chat'))?.deliveryId).toBe('d-chat-2');
        expect((await store.nextDelivery('bus'))?.deliveryId).toBe('d-bus-1');
        const done = (await store.listDeliveries({ status: 'delivered' }))[0];
        expect(done).toMatchObject({ deliveryId: 'd-chat-1', status: 'delivered', attempts: 2, deliveredAt: at(9) });
        expect(done?.history).toHaveLength(2);
        expect((await store.listDeliveries({ target: 'bus' })).map((d) => d.deliveryId)).toStrictEqual(['d-bus-1']);
        expect(await store.deliveryCounts()).toStrictEqual([
          { target: 'bus', status: 'pending', count: 1 },
          { target: 'chat', status: 'delivered', count: 1 },
          { target: 'chat', status: 'pending', count: 1 },
        ]);
      });

      it('keeps only the last attempts in a record', async () => {
        await store.queueDeliveries({ target: 'chat', after: undefined, upTo: 1, deliveries: [delivery(1)] });
        const id = (await store.nextDelivery('chat'))?.id ?? -1;
        for (let i = 0; i < MAX_ATTEMPT_HISTORY + 3; i++) {
          expect(await store.claimDelivery(id, { token: `t${i}`, until: at(i + 1), now: at(i) })).toBe(true);
          await store.finishAttempt(id, `t${i}`, { status: i === MAX_ATTEMPT_HISTORY + 2 ? 'failed' : 'pending', nextAttemptAt: at(i + 1), attempt: { at: at(i), httpStatus: 500, durationMs: i } });
        }
        const [record] = await store.listDeliveries();
        expect(record?.attempts).toBe(MAX_ATTEMPT_HISTORY + 3);
        expect(record?.status).toBe('failed');
        expect(record?.history.map((h) => h.durationMs)).toStrictEqual(Array.from({ length: MAX_ATTEMPT_HISTORY }, (_, i) => i + 3));
        expect(await store.nextDelivery('chat')).toBeUndefined();
      });
    });

    describe('evidence', () => {
      function evidenceRecord(promotionId: string, payload: string) {
        return {
          promotionId,
          createdAt: at(9),
          keyid: hexId('key'),
          envelope: { payloadType: 'application/vnd.in-toto+json', payload: Buffer.from(payload).toString('base64'), signatures: [{ keyid: hexId('key'), sig: 'c2ln' }] },
        };
      }

      it('stores a promotion\'s evidence once, with its audit entries; a second write is a conflict and changes nothing', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id });
        expect(await store.getEvidence(p.id)).toBeUndefined();
        const record = evidenceRecord(p.id, '{"first":true}');
        await store.commit({ evidence: record, audit: [event('evidence.written', { promotionId: p.id })] });
        expect(await store.getEvidence(p.id)).toStrictEqual(record);
        const head = await store.auditHead();
        expect(await rejection(store.commit({ evidence: evidenceRecord(p.id, '{"second":true}'), audit: [event('evidence.written', { promotionId: p.id })] }))).toBeInstanceOf(ConflictError);
        expect(await store.getEvidence(p.id)).toStrictEqual(record);
        expect(await store.auditHead()).toStrictEqual(head);
      });

      it('refuses evidence of a promotion that does not exist', async () => {
        expect(await rejection(store.commit({ evidence: evidenceRecord(hexId('nobody'), '{}'), audit: [] }))).toBeInstanceOf(NotFoundError);
      });

      it('lists the finished promotions without evidence, oldest first, and no others', async () => {
        const r = await addRelease();
        const done = await addPromotion({ releaseId: r.id, environment: 'dev', requestedAt: at(2) });
        const older = await addPromotion({ releaseId: r.id, environment: 'staging', requestedAt: at(1) });
        const running = await addPromotion({ releaseId: r.id, environment: 'prod' });
        await store.commit({ promotion: { record: { ...done, state: 'succeeded', finishedAt: at(3) } }, audit: [event('promotion.finished', { promotionId: done.id })] });
        await store.commit({ promotion: { record: { ...older, state: 'rejected', finishedAt: at(3) } }, audit: [event('promotion.finished', { promotionId: older.id })] });
        await store.commit({ promotion: { record: { ...running, state: 'running' } }, audit: [event('promotion.started', { promotionId: running.id })] });
        expect(await store.unsealedPromotions(10)).toStrictEqual([older.id, done.id]);
        expect(await store.unsealedPromotions(1)).toStrictEqual([older.id]);
        await store.commit({ evidence: evidenceRecord(older.id, '{}'), audit: [] });
        expect(await store.unsealedPromotions(10)).toStrictEqual([done.id]);
      });

      it('reads one promotion\'s audit entries in order, and the newest entry of a kind', async () => {
        const r = await addRelease();
        const p = await addPromotion({ releaseId: r.id });
        await store.commit({ audit: [event('step.started', { promotionId: p.id, component: 'api' }), event('audit.checkpoint', { data: { n: 1 } })] });
        await store.commit({ audit: [event('step.succeeded', { promotionId: p.id, component: 'api' }), event('audit.checkpoint', { data: { n: 2 } })] });
        const entries = await store.promotionAudit(p.id);
        expect(entries.map((e) => e.kind)).toStrictEqual(['promotion.requested', 'step.started', 'step.succeeded']);
        const all = await allAudit();
        expect(entries).toStrictEqual(all.filter((e) => e.promotionId === p.id));
        const last = await store.lastAuditOfKind('audit.checkpoint');
        expect(last?.data).toStrictEqual({ n: 2 });
        expect(last).toStrictEqual(all.at(-1));
        expect(await store.lastAuditOfKind('token.created')).toBeUndefined();
      });
    });

    describe('moving a whole state (exportRows, importRows)', () => {
      /** A state with a row in every table: what `lockstep state copy` must carry over. */
      async function fill(): Promise<{ p: PromotionRecord; held: PromotionRecord }> {
        const r = await addRelease({ labels: { team: 'payments' } });
        const bad = await addRelease({ seed: 'bad' });
        await store.commit({ releaseRejection: { releaseId: bad.id, rejection: { by: 'alice@example.com', reason: 'broken', at: at(2) } }, audit: [event('release.rejected', { releaseId: bad.id })] });
        const p = await addPromotion({ releaseId: r.id, environment: 'staging', state: 'succeeded' });
        const held = await addPromotion({ releaseId: r.id, environment: 'prod', state: 'pending' }, true);
        await store.commit({
          steps: [step({ promotionId: p.id, environment: 'staging', state: 'succeeded' }), step({ promotionId: p.id, component: 'db', environment: 'staging' })],
          logs: [
            { promotionId: p.id, component: 'api', time: at(2), line: 'deployed ✓' },
            { promotionId: p.id, component: 'db', time: at(2), line: 'nul \u0000 inside' },
          ],
          componentStates: [componentState({ environment: 'staging', promotionId: p.id })],
          approvals: [{ promotionId: held.id, actor: 'bob@example.com', decision: 'approve', planDigest: 'd1', at: at(2) }],
          cancelRequest: { promotionId: held.id, by: 'carol@example.com', at: at(3) },
          createToken: token({ name: 'ci' }),
          audit: [event('step.succeeded', { promotionId: p.id, data: { note: 'ünïcødé', n: 1.5 } }), event('token.created')],
        });
        const envelope = { payloadType: 'application/vnd.in-toto+json', payload: Buffer.from('{}').toString('base64'), signatures: [{ keyid: hexId('key'), sig: 'c2ln' }] };
        await store.commit({ evidence: { promotionId: p.id, createdAt: at(3), keyid: hexId('key'), envelope }, audit: [event('evidence.written', { promotionId: p.id })] });
        const drift = { environment: 'staging', component: 'api', type: 'command', state: 'drifted' as const, recordedVersion: '1.0.0', observedVersion: '0.9.0', findings: [{ component: 'api', field: 'version', expected: '1.0.0', found: '0.9.0' }], checkedAt: at(4) };
        await store.commit({ driftStates: [drift], audit: [event('drift.detected', { data: { component: 'api' } })] });
        expect(await store.claimDriftCheck('staging', at(3), at(4))).toBe(true);
        await store.commit({ revokeToken: { name: 'ci', at: at(4) }, audit: [event('token.revoked')] });
        await store.commit({ createToken: token({ name: 'ci', seed: 'second' }), audit: [event('token.created')] });
        const delivery = { deliveryId: 'd-1', target: 'chat', event: 'promotion.finished', auditSeq: 3, createdAt: at(3), contentType: 'application/json', body: '{}' };
        await store.queueDeliveries({ target: 'chat', after: undefined, upTo: 3, deliveries: [delivery, { ...delivery, deliveryId: 'd-2' }] });
        return { p, held };
      }

      async function everything(s: Store, p: PromotionRecord, held: PromotionRecord): Promise<unknown> {
        const audit: AuditEntry[] = [];
        for (let page = await s.auditPage(null, 1000); page.length > 0; page = await s.auditPage(page.at(-1)?.seq ?? 0, 1000)) audit.push(...page);
        return {
          counts: await s.countRows(),
          audit,
          head: await s.auditHead(),
          releases: await s.listReleases(),
          promotions: await s.listPromotions(),
          active: await s.activePromotion('prod'),
          steps: await s.listSteps(p.id),
          logs: await s.logsAfter(0, 100),
          logHead: await s.logHead(),
          states: await s.environmentState('staging'),
          approvals: await s.listApprovals(held.id),
          cancel: await s.getCancelRequest(held.id),
          tokens: await s.listTokens(),
          cursor: await s.notifyCursor('chat'),
          deliveries: await s.listDeliveries(),
          evidence: await s.getEvidence(p.id),
          drift: await s.driftStates('staging'),
        };
      }

      it('copies every row verbatim into an empty store: ids, audit sequence numbers and hashes kept', async () => {
        const { p, held } = await fill();
        const target = await open();
        try {
          await target.store.migrate();
          // Pages of 2: every table spans several pages, so the keyset paging is exercised.
          const written = await target.store.importRows(store.exportRows(2));
          expect(written).toStrictEqual(await store.countRows());
          expect(Object.values(written).every((n) => n > 0)).toBe(true);
          expect(await everything(target.store, p, held)).toStrictEqual(await everything(store, p, held));

          // New rows continue after the copied ones: the chain, the log ids, the token and delivery ids.
          const [next] = await target.store.commit({
            logs: [{ promotionId: p.id, component: 'api', time: at(5), line: 'after the copy' }],
            createToken: token({ name: 'bot' }),
            audit: [event('token.created')],
          });
          const head = await store.auditHead();
          expect(next).toMatchObject({ seq: (head?.seq ?? 0) + 1, prevHash: head?.hash });
          expect((await target.store.logsAfter(await store.logHead(), 10)).map((l) => l.line)).toStrictEqual(['after the copy']);
          const tokens = await target.store.listTokens();
          expect(tokens.map((t) => t.name)).toStrictEqual(['ci', 'ci', 'bot']);
          await target.store.queueDeliveries({ target: 'chat', after: 3, upTo: 4, deliveries: [{ deliveryId: 'd-3', target: 'chat', event: 'x', createdAt: at(6), contentType: 'application/json', body: '{}' }] });
          expect((await target.store.listDeliveries()).map((d) => d.deliveryId)).toStrictEqual(['d-3', 'd-2', 'd-1']);
        } finally {
          await target.store.close();
          await target.cleanup();
        }
      });

      it('refuses a store that holds any row, naming what it holds, and writes nothing', async () => {
        await fill();
        const target = await open();
        try {
          await target.store.migrate();
          await target.store.queueDeliveries({ target: 'old', after: undefined, upTo: 0, deliveries: [] });
          const error = await rejection(target.store.importRows(store.exportRows(100)));
          expect(error).toBeInstanceOf(ConflictError);
          expect(String(error)).toMatch(/not empty \(it holds 1 rows: notify_cursors 1\)/);
          expect(totalOf(await target.store.countRows())).toBe(1);
        } finally {
          await target.store.close();
          await target.cleanup();
        }
      });

      it('writes all or nothing: a source that fails half way leaves the target empty', async () => {
        await fill();
        const target = await open();
        try {
          await target.store.migrate();
          const source = store;
          async function* failing(): AsyncIterable<RowPage> {
            for await (const page of source.exportRows(1)) {
              if (page.table === 'audit_log') throw new Error('the source went away');
              yield page;
            }
          }
          expect(String(await rejection(target.store.importRows(failing())))).toContain('the source went away');
          expect(totalOf(await target.store.countRows())).toBe(0);
          // And the target is still usable.
          await target.store.commit({ release: release(), audit: [event('release.created')] });
          expect((await target.store.auditHead())?.seq).toBe(1);
        } finally {
          await target.store.close();
          await target.cleanup();
        }
      });
    });

    describe('input checks', () => {
      it('rejects a negative or fractional limit', async () => {
        expect(await rejection(store.listReleases({ limit: -1 }))).toBeInstanceOf(InputError);
        expect(await rejection(store.listPromotions({ limit: 1.5 }))).toBeInstanceOf(InputError);
        expect(await rejection(store.auditPage(0, -5))).toBeInstanceOf(InputError);
      });
    });
  });
}

// ---------------------------------------------------------------- fixtures

/** A minute past 2026-01-01T00:00Z, as the ISO string the engine writes. */
function at(minute: number): string {
  return new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();
}

function hexId(seed: string): string {
  return sha256Hex(seed);
}

/** A 64-hex id beginning with `prefix`. */
function idWithPrefix(prefix: string, seed: string): string {
  return prefix + sha256Hex(seed).slice(prefix.length);
}

function release(overrides: Partial<ReleaseRecord> & { seed?: string } = {}): ReleaseRecord {
  const { seed = 'release', ...rest } = overrides;
  return {
    id: hexId(`release:${seed}`),
    project: 'checkout',
    versions: { api: '1.4.2', schema: '20261101' },
    labels: {},
    createdAt: at(0),
    createdBy: 'carol@example.com',
    ...rest,
  };
}

function promotion(overrides: Partial<PromotionRecord> & { releaseId: string }): PromotionRecord {
  const environment = overrides.environment ?? 'prod';
  return {
    id: hexId(`promotion:${overrides.releaseId}:${environment}`),
    project: 'checkout',
    environment,
    kind: 'promotion',
    state: 'pending',
    requestedBy: 'bob@example.com',
    requestedAt: at(1),
    configDigest: hexId('config'),
    plan: {
      releaseId: overrides.releaseId,
      environment,
      steps: [
        {
          component: 'api',
          type: 'gitops',
          fromVersion: '1.4.1',
          toVersion: '1.4.2',
          action: 'apply',
          reason: 'version 1.4.1 → 1.4.2',
          reversible: true,
          summary: 'set image tag',
          risk: 'low',
          dependsOn: [],
          level: 0,
          configDigest: hexId('api-config'),
        },
      ],
      levels: [['api']],
      gates: [{ gate: 'approvals', status: 'waiting', message: '0 of 2' }],
      irreversible: false,
      digest: hexId('plan'),
    },
    concurrency: 4,
    onFailure: 'rollback',
    ...overrides,
  };
}

function step(overrides: Partial<StepRecord> & { promotionId: string }): StepRecord {
  const component = overrides.component ?? 'api';
  return {
    component,
    environment: 'prod',
    state: 'pending',
    action: 'apply',
    fromVersion: '1.4.1',
    toVersion: '1.4.2',
    reversible: true,
    applyStarted: false,
    attempts: 0,
    idempotencyKey: `${overrides.promotionId}:${component}`,
    ...overrides,
  };
}

function componentState(overrides: Partial<ComponentState> = {}): ComponentState {
  return {
    environment: 'prod',
    component: 'api',
    version: '1.4.2',
    releaseId: hexId('release:release'),
    promotionId: hexId('promotion'),
    configDigest: hexId('api-config'),
    outputs: { url: 'https://api.example.com' },
    updatedAt: at(3),
    ...overrides,
  };
}

function owner(token: string): PromotionOwner {
  return { token, host: 'runner-1', pid: 4242, leaseUntil: at(30) };
}

function event(kind: AuditKind, overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  return { kind, time: at(1), actor: 'bob@example.com', project: 'checkout', data: {}, ...overrides };
}

function token(overrides: Partial<TokenRecord> & { name: string; seed?: string }): TokenRecord {
  const { seed, ...rest } = overrides;
  return {
    identity: 'alice@example.com',
    hash: sha256Hex(`token:${overrides.name}:${seed ?? ''}`),
    createdAt: at(1),
    createdBy: 'admin@example.com',
    ...rest,
  };
}

function sortByComponent(states: ComponentState[]): ComponentState[] {
  return [...states].sort((a, b) => a.component.localeCompare(b.component));
}

/** The error a promise rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}
