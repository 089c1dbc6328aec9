/* eslint-disable @typescript-eslint/require-await --
   The port is asynchronous (PostgreSQL needs it); better-sqlite3 is synchronous. `async` still earns
   its place: a throw inside becomes a rejected promise, as callers of the port expect. */
import Database from 'better-sqlite3';
import { accessSync, constants, copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chainEntry } from '../../core/audit.js';
import type { AuditEntry, AuditEventInput } from '../../core/audit.js';
import type { CancelRequest } from '../../core/cancel-request.js';
import { canonicalJson } from '../../core/canonical-json.js';
import { ConflictError, InputError, NotFoundError } from '../../core/errors.js';
import { FINAL_PROMOTION_STATES, type ApprovalRecord, type ComponentState, type PromotionOwner, type PromotionRecord, type ReleaseRecord, type ReleaseRejection, type StepRecord } from '../../core/model.js';
import {
  StateError,
  type AttemptOutcome,
  type DeliveryBatch,
  type DeliveryCount,
  type DeliveryFilter,
  type DeliveryRecord,
  type DeliveryStatus,
  type EvidenceRecord,
  type PromotionFilter,
  type SchemaMigration,
  type SchemaVersion,
  type StepLogLine,
  type Store,
  type StoredLogLine,
  type StoreChange,
} from '../store.js';
import { MIGRATIONS, migrate, schemaVersion } from './schema.js';
import type { TokenRecord } from '../../core/tokens.js';
import { checkApproval, checkAuditData, checkCancelRequest, checkComponentState, checkDelivery, checkDriftState, checkEvidence, checkRejection } from '../row-checks.js';
import type { DriftState } from '../../core/drift.js';
import type { SqliteDatabaseLike, SqliteStatementLike } from './sqlite-database.js';
import { AUDIT_COLUMNS, asStored, auditRowValues, entryFromTuple, type AuditTuple } from '../audit-rows.js';
import { RecordReader } from '../record-reader.js';
import { STATE_TABLES, afterKey, emptyCounts, pageQuery, totalRows, describeCounts, type RowCounts, type RowPage, type RowValue } from '../state-rows.js';
import { MAX_CANDIDATES, afterAttempt, checkPrefix, environmentBusy, onlyMatch, prefixRange, promotedAlready, queuedDelivery, tokenNameTaken } from '../store-rules.js';

interface JsonRow {
  json: string;
}

export interface SqliteOpenOptions {
  /**
   * Open for reading only: SQLite never writes the file, and a file, directory or file system that
   * is read-only can still be read. `migrate` then only checks the schema, and every write is a
   * StateError.
   */
  readonly?: boolean;
}

/** Where the store's data lives, for messages; `readonly` when it was opened so. */
interface StoreSource {
  /** `the state at /path/state.db`, or `the state` for a connection handed in. */
  name: string;
  /** The file, when opened from one. */
  path?: string;
  readonly: boolean;
  /** Removes a private snapshot (see `openSnapshot`) on close. */
  cleanup?: () => void;
}

/**
 * The Store port on SQLite (the embedded default). Several processes may share one database file:
 * every write is a `BEGIN IMMEDIATE` transaction, so writers queue on SQLite's file lock (waiting up
 * to `busy_timeout`) and each sees the others' committed rows, including environment locks and the
 * audit head. better-sqlite3 is synchronous and no transaction spans an `await`, so several
 * instances in one process cannot deadlock each other either.
 *
 * Durability: WAL with `synchronous = FULL` syncs the log on every commit, so a commit whose promise
 * resolved survives a killed process and a power loss.
 */
export class SqliteStore implements Store {
  private readonly statements = new Map<string, SqliteStatementLike>();
  private closed = false;
  /** Reads records back; a damaged row names itself. */
  private readonly read: RecordReader;

  private constructor(
    private readonly db: SqliteDatabaseLike,
    private readonly source: StoreSource = { name: 'the state', readonly: false },
  ) {
    this.read = new RecordReader(source.name);
    // busy_timeout first: switching to WAL needs a lock another process may hold.
    db.pragma('busy_timeout = 5000');
    if (!source.readonly) {
      // Both write to the file (the journal mode is kept in its header); a reader needs neither.
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    }
    db.pragma('foreign_keys = ON');
  }

  /**
   * Opens (creating if needed) the database file at `path`, or an in-memory one for ':memory:'.
   * Does not create directories: the caller decides where state lives. Call `migrate()` before use.
   * With `readonly`, the file must exist and is never written (see SqliteOpenOptions).
   */
  static open(path: string, options: SqliteOpenOptions = {}): SqliteStore {
    const name = `the state at ${path}`;
    if (!options.readonly) {
      // Asked before SQLite: a file SQLite can only read opens without complaint, and a command
      // with nothing to record would then seem to work. Whoever may write (root too) passes.
      const why = path === ':memory:' ? undefined : notWritable(path);
      if (why !== undefined) throw readOnlyState(name, why);
      const db = openDatabase(path, name, {});
      try {
        return new SqliteStore(db, { name, path, readonly: false });
      } catch (error) {
        db.close();
        const reason = readOnlyReason(error);
        throw reason === undefined ? openFailure(name, error) : readOnlyState(name, reason, error);
      }
    }
    const db = openDatabase(path, name, { readonly: true, fileMustExist: true });
    try {
      const store = new SqliteStore(db, { name, path, readonly: true });
      // The first read opens the WAL index (the -shm file). A reader creates it when it is missing,
      // which a read-only directory or file system does not allow.
      db.prepare('SELECT 1 FROM sqlite_master LIMIT 1').get();
      return store;
    } catch (error) {
      db.close();
      if (!cannotCreateWalIndex(error)) throw openFailure(name, error);
      return SqliteStore.openSnapshot(path, name, error);
    }
  }

  /**
   * A read-only state in a directory nobody may write: SQLite cannot create the WAL index there. With
   * no -wal file beside it, no writer has the database open (a writer creates one first) and the file
   * is complete on its own, so a private copy is read instead. The copy counts only if the file did
   * not change while it was taken.
   */
  private static openSnapshot(path: string, name: string, cause: unknown): SqliteStore {
    if (existsSync(`${path}-wal`)) {
      throw new StateError(`cannot read ${name}: its directory is read-only and it has a -wal file but no -shm file beside it (open it once where it is writable)`, { cause });
    }
    const before = statSync(path);
    const dir = mkdtempSync(join(tmpdir(), 'lockstep-state-'));
    const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
    try {
      const copy = join(dir, 'state.db');
      copyFileSync(path, copy);
      const after = statSync(path);
      if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || existsSync(`${path}-wal`)) {
        throw new StateError(`cannot read ${name}: it changed while being read from its read-only directory; try again`);
      }
      const db = new Database(copy, { readonly: true, fileMustExist: true });
      return new SqliteStore(db, { name, path, readonly: true, cleanup });
    } catch (error) {
      cleanup();
      throw error;
    }
  }

  /** Wraps an open connection (for tests and embedding); sets the same pragmas as `open`. */
  static fromDatabase(db: SqliteDatabaseLike): SqliteStore {
    return new SqliteStore(db);
  }

  /**
   * Upgrades the schema (see schema.ts `migrate`). Read-only: checks that the schema is the one this
   * code reads. An older schema is upgraded through a short-lived writing connection when the file is
   * writable (as every command did before reading commands opened it read-only); a read-only one
   * cannot be, and says so.
   */
  async migrate(): Promise<SchemaMigration> {
    const { current, newest } = await this.schemaVersion();
    if (current > newest) {
      throw new StateError(`${this.source.name} has schema version ${current}, newer than this Lockstep knows (${newest}): upgrade Lockstep`);
    }
    let result: SchemaMigration = { from: current, to: current, applied: [] };
    if (this.source.readonly) {
      if (current < newest) {
        const path = this.source.path;
        // A private copy (see openSnapshot) is only made of a state nobody may write.
        const why = path === undefined ? 'it was opened read-only' : (notWritable(path) ?? (this.source.cleanup === undefined ? undefined : 'it was read from a copy'));
        if (path === undefined || why !== undefined) {
          throw new StateError(
            `${this.source.name} has schema version ${current} and this Lockstep reads ${newest}: it must be upgraded, which needs write access (${why ?? ''}); open it once where it is writable`,
          );
        }
        const writer = SqliteStore.open(path);
        try {
          result = await writer.migrate();
        } finally {
          await writer.close();
        }
      }
    } else {
      const done = this.writing(() => migrate(this.db));
      result = { from: done.from, to: done.to, applied: done.applied.map((version) => ({ version, name: MIGRATIONS[version - 1]?.name ?? '' })) };
    }
    this.statements.clear();
    return result;
  }

  async schemaVersion(): Promise<SchemaVersion> {
    return { current: schemaVersion(this.db), newest: MIGRATIONS.length };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.statements.clear();
    this.db.close();
    this.source.cleanup?.();
  }

  // ---------------------------------------------------------------- a whole state (state copy)

  async countRows(): Promise<RowCounts> {
    const counts = emptyCounts();
    for (const table of STATE_TABLES) counts[table.name] = this.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table.name}`)?.n ?? 0;
    return counts;
  }

  /**
   * The pages are read inside one read transaction (WAL keeps its snapshot while writers go on).
   * Nothing else may use this connection until the iteration ends: `state copy` owns the store.
   */
  async *exportRows(pageSize: number): AsyncIterable<RowPage> {
    this.db.exec('BEGIN DEFERRED');
    try {
      for (const table of STATE_TABLES) {
        let last: RowValue[] | undefined;
        for (;;) {
          const { where, values } = afterKey(table, last, () => '?');
          const objects = this.all<Record<string, RowValue>>(pageQuery(table, where, '?'), ...values, pageSize);
          if (objects.length === 0) break;
          const rows = objects.map((object) => table.columns.map((column) => object[column] ?? null));
          last = rows.at(-1);
          yield { table: table.name, rows };
          if (objects.length < pageSize) break;
        }
      }
    } finally {
      this.db.exec('COMMIT');
    }
  }

  /**
   * One `BEGIN IMMEDIATE` transaction held across the pages (the only transaction here that spans
   * an await: `state copy` owns this store, and other processes wait on the file lock).
   */
  async importRows(pages: AsyncIterable<RowPage>): Promise<RowCounts> {
    const written = emptyCounts();
    this.writing(() => this.db.exec('BEGIN IMMEDIATE'));
    try {
      const held = await this.countRows();
      if (totalRows(held) > 0) {
        throw new ConflictError(`${this.source.name} is not empty (it holds ${totalRows(held)} rows: ${describeCounts(held)}): a copy goes only into an empty state`);
      }
      for await (const page of pages) {
        const table = STATE_TABLES.find((t) => t.name === page.table);
        if (table === undefined) throw new InputError(`rows of an unknown table ${page.table}`, 'table');
        const insert = `INSERT INTO ${table.name} (${table.columns.join(', ')}) VALUES (${table.columns.map(() => '?').join(', ')})`;
        for (const row of page.rows) this.run(insert, ...row);
        written[table.name] += page.rows.length;
      }
      this.db.exec('COMMIT');
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
    return written;
  }

  // ---------------------------------------------------------------- writes

  async commit(change: StoreChange): Promise<AuditEntry[]> {
    return this.writing(() => this.db.transaction(() => this.apply(change)).immediate());
  }

  /** Runs a write; a state that cannot be written becomes a StateError naming it, not SQLite's words. */
  private writing<T>(write: () => T): T {
    if (this.source.readonly) throw new StateError(`${this.source.name} was opened read-only: this command cannot record anything`);
    try {
      return write();
    } catch (error) {
      const why = readOnlyReason(error);
      if (why === undefined) throw error;
      throw readOnlyState(this.source.name, why, error);
    }
  }

  async claimPromotion(
    promotionId: string,
    owner: PromotionOwner | undefined,
    expectedToken: string | undefined,
  ): Promise<boolean> {
    return this.writing(() => this.db
      .transaction((): boolean => {
        const row = this.get<{ owner_token: string | null; json: string }>(
          'SELECT owner_token, json FROM promotions WHERE id = ?',
          promotionId,
        );
        if (row === undefined) throw new NotFoundError(`promotion ${promotionId} not found`);
        if (row.owner_token !== (expectedToken ?? null)) return false;
        const { owner: _previous, ...rest } = this.read.promotion(promotionId, row.json);
        const record: PromotionRecord = owner === undefined ? rest : { ...rest, owner };
        this.run(
          'UPDATE promotions SET owner_token = ?, json = ? WHERE id = ?',
          owner?.token ?? null,
          JSON.stringify(record),
          promotionId,
        );
        return true;
      })
      .immediate());
  }

  /** Runs inside the commit's transaction: any throw rolls the whole change back. */
  private apply(change: StoreChange): AuditEntry[] {
    if (change.fence) this.checkFence(change.fence);
    if (change.release) this.putRelease(change.release);
    if (change.createPromotion) this.insertPromotion(change.createPromotion.record, change.createPromotion.lock, change.createPromotion.once ?? false);
    if (change.releaseRejection) this.rejectRelease(change.releaseRejection.releaseId, change.releaseRejection.rejection);
    if (change.promotion) this.replacePromotion(change.promotion.record, change.promotion.releaseLock ?? false, change.promotion.takeLock ?? false);
    if (change.cancelRequest) this.putCancelRequest(change.cancelRequest);
    if (change.replaceSteps !== undefined) this.run('DELETE FROM steps WHERE promotion_id = ?', change.replaceSteps);
    for (const step of change.steps ?? []) this.upsertStep(step);
    for (const approval of change.approvals ?? []) {
      if (this.get('SELECT 1 FROM promotions WHERE id = ?', approval.promotionId) === undefined) {
        throw new NotFoundError(`an approval names promotion ${approval.promotionId}, which does not exist`);
      }
      this.run('INSERT INTO approvals (promotion_id, json) VALUES (?, ?)', approval.promotionId, JSON.stringify(approval));
    }
    for (const state of change.componentStates ?? []) this.upsertComponentState(state);
    for (const drift of change.driftStates ?? []) {
      this.run(
        `INSERT INTO drift_states (environment, component, json) VALUES (?, ?, ?)
         ON CONFLICT (environment, component) DO UPDATE SET json = excluded.json`,
        drift.environment,
        drift.component,
        JSON.stringify(drift),
      );
    }
    for (const log of change.logs ?? []) {
      this.run(
        'INSERT INTO step_logs (promotion_id, component, time, line, after_seq) VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) FROM audit_log))',
        log.promotionId, log.component, log.time, log.line,
      );
    }
    if (change.createToken) this.insertToken(change.createToken);
    if (change.revokeToken) this.markTokenRevoked(change.revokeToken.name, change.revokeToken.at);
    if (change.evidence) this.insertEvidence(change.evidence);
    return this.appendAudit(change.audit);
  }

  private insertEvidence(record: EvidenceRecord): void {
    if (this.get('SELECT 1 FROM promotions WHERE id = ?', record.promotionId) === undefined)
      throw new NotFoundError(`evidence names promotion ${record.promotionId}, which does not exist`);
    if (this.get('SELECT 1 FROM evidence WHERE promotion_id = ?', record.promotionId) !== undefined)
      throw new ConflictError(`promotion ${record.promotionId} has evidence already`);
    this.run('INSERT INTO evidence (promotion_id, created_at, json) VALUES (?, ?, ?)', record.promotionId, record.createdAt, JSON.stringify(record));
  }

  private insertToken(record: TokenRecord): void {
    const holder = this.get<{ id: number; json: string }>('SELECT id, json FROM api_tokens WHERE name = ? AND revoked_at IS NULL', record.name);
    if (holder !== undefined) {
      const existing = this.read.token(holder.id, holder.json);
      throw tokenNameTaken(existing, record);
    }
    if (this.get('SELECT 1 FROM api_tokens WHERE hash = ?', record.hash) !== undefined) {
      // 256 random bits do not collide: this is a token being stored twice.
      throw new ConflictError(`token ${record.name}: a token with the same hash exists already`);
    }
    this.run('INSERT INTO api_tokens (name, hash, revoked_at, json) VALUES (?, ?, ?, ?)', record.name, record.hash, record.revokedAt ?? null, JSON.stringify(record));
  }

  private markTokenRevoked(name: string, at: string): void {
    const row = this.get<{ id: number; json: string }>('SELECT id, json FROM api_tokens WHERE name = ? AND revoked_at IS NULL', name);
    if (row === undefined) throw new NotFoundError(`no token named ${name} (that is not revoked already)`);
    const record: TokenRecord = { ...this.read.token(row.id, row.json), revokedAt: at };
    this.run('UPDATE api_tokens SET revoked_at = ?, json = ? WHERE id = ?', at, JSON.stringify(record), row.id);
  }

  private putCancelRequest(request: CancelRequest): void {
    if (this.get('SELECT 1 FROM promotions WHERE id = ?', request.promotionId) === undefined) {
      throw new NotFoundError(`a cancel request names promotion ${request.promotionId}, which does not exist`);
    }
    this.run('INSERT INTO cancel_requests (promotion_id, json) VALUES (?, ?) ON CONFLICT (promotion_id) DO NOTHING', request.promotionId, JSON.stringify(request));
  }

  private checkFence(fence: { promotionId: string; ownerToken: string }): void {
    const row = this.get<{ owner_token: string | null }>('SELECT owner_token FROM promotions WHERE id = ?', fence.promotionId);
    if (row === undefined) throw new NotFoundError(`promotion ${fence.promotionId} not found`);
    if (row.owner_token !== fence.ownerToken) {
      throw new ConflictError(`promotion ${fence.promotionId} is no longer owned by this process (another process took it over)`);
    }
  }

  private putRelease(withRejection: ReleaseRecord): void {
    // A rejection is kept apart (release_rejections): the release itself never changes.
    const { rejected: _rejected, ...release } = withRejection;
    const existing = this.get<JsonRow>('SELECT json FROM releases WHERE id = ?', release.id);
    const json = JSON.stringify(release);
    if (existing !== undefined) {
      // Releases are immutable: writing the same one again is a no-op, anything else a conflict.
      if (canonicalJson(this.read.release(release.id, existing.json)) === canonicalJson(JSON.parse(json))) return;
      throw new ConflictError(`release ${release.id} already exists with different content (releases are immutable)`);
    }
    this.run('INSERT INTO releases (id, created_at, json) VALUES (?, ?, ?)', release.id, release.createdAt, json);
  }

  private rejectRelease(releaseId: string, rejection: ReleaseRejection): void {
    if (this.get('SELECT 1 FROM releases WHERE id = ?', releaseId) === undefined) throw new NotFoundError(`release ${releaseId} not found`);
    const existing = this.get<JsonRow>('SELECT json FROM release_rejections WHERE release_id = ?', releaseId);
    if (existing !== undefined) {
      const earlier = this.read.record<ReleaseRejection>('release_rejections', `release_id ${releaseId}`, existing.json, checkRejection);
      throw new ConflictError(`release ${releaseId.slice(0, 12)} was already rejected by ${earlier.by} at ${earlier.at}: ${earlier.reason}`);
    }
    this.run('INSERT INTO release_rejections (release_id, json) VALUES (?, ?)', releaseId, JSON.stringify(rejection));
  }

  private lockEnvironment(record: PromotionRecord): void {
    const holder = this.lockHolder(record.environment);
    if (holder !== undefined && holder.id === record.id) return;
    if (holder !== undefined) throw environmentBusy(record.environment, holder);
    this.run('INSERT INTO env_locks (environment, promotion_id) VALUES (?, ?)', record.environment, record.id);
  }

  private insertPromotion(record: PromotionRecord, lock: boolean, once: boolean): void {
    if (once) {
      // Inside the write transaction: no other commit can add one between this check and the insert.
      const existing = this.get<{ id: string }>('SELECT id FROM promotions WHERE environment = ? AND release_id = ? LIMIT 1', record.environment, record.releaseId);
      if (existing !== undefined) throw promotedAlready(record, existing.id);
    }
    if (this.get('SELECT 1 FROM releases WHERE id = ?', record.releaseId) === undefined) {
      throw new NotFoundError(`promotion ${record.id} names release ${record.releaseId}, which does not exist`);
    }
    if (this.get('SELECT 1 FROM promotions WHERE id = ?', record.id) !== undefined) {
      throw new ConflictError(`promotion ${record.id} already exists`);
    }
    this.run(
      `INSERT INTO promotions (id, environment, release_id, state, requested_at, owner_token, json)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      record.id,
      record.environment,
      record.releaseId,
      record.state,
      record.requestedAt,
      record.owner?.token ?? null,
      JSON.stringify(record),
    );
    if (lock) this.lockEnvironment(record);
  }

  private replacePromotion(record: PromotionRecord, releaseLock: boolean, takeLock: boolean): void {
    const result = this.run(
      `UPDATE promotions
          SET environment = ?, release_id = ?, state = ?, requested_at = ?, owner_token = ?, json = ?
        WHERE id = ?`,
      record.environment,
      record.releaseId,
      record.state,
      record.requestedAt,
      record.owner?.token ?? null,
      JSON.stringify(record),
      record.id,
    );
    if (result.changes === 0) throw new NotFoundError(`promotion ${record.id} not found`);
    // Only the holder's own lock: a promotion that never held it must not free someone else's.
    if (releaseLock) this.run('DELETE FROM env_locks WHERE promotion_id = ?', record.id);
    if (takeLock) this.lockEnvironment(record);
  }

  private upsertStep(step: StepRecord): void {
    // Most writes update a step that exists (a promotion's steps are inserted once, then change state
    // a few times). The update goes first because the insert's MAX(ord) reads every step of the
    // promotion: done on every write, that made a promotion's writes quadratic in its step count.
    const json = JSON.stringify(step);
    if (this.run('UPDATE steps SET json = ? WHERE promotion_id = ? AND component = ?', json, step.promotionId, step.component).changes > 0) return;
    if (this.get('SELECT 1 FROM promotions WHERE id = ?', step.promotionId) === undefined) {
      throw new NotFoundError(`step ${step.component} names promotion ${step.promotionId}, which does not exist`);
    }
    // A new step goes after the promotion's existing ones.
    this.run(
      `INSERT INTO steps (promotion_id, component, ord, json)
       VALUES (?, ?, (SELECT COALESCE(MAX(ord), -1) + 1 FROM steps WHERE promotion_id = ?), ?)`,
      step.promotionId,
      step.component,
      step.promotionId,
      json,
    );
  }

  private upsertComponentState(state: ComponentState): void {
    this.run(
      `INSERT INTO component_states (environment, component, json) VALUES (?, ?, ?)
       ON CONFLICT (environment, component) DO UPDATE SET json = excluded.json`,
      state.environment,
      state.component,
      JSON.stringify(state),
    );
  }

  /** Chains onto the head read inside this (write-locked) transaction, so no other writer can fork it. */
  private appendAudit(inputs: readonly AuditEventInput[]): AuditEntry[] {
    let head = this.readHead();
    const entries: AuditEntry[] = [];
    for (const input of inputs) {
      const entry = chainEntry(asStored(input), head);
      this.run(`INSERT INTO audit_log (${AUDIT_COLUMNS.join(', ')}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, ...auditRowValues(entry));
      entries.push(entry);
      head = entry;
    }
    return entries;
  }

  // ---------------------------------------------------------------- reads

  async getRelease(idOrPrefix: string): Promise<ReleaseRecord> {
    const row = this.resolve('releases', 'release', idOrPrefix);
    return this.withRejection(this.read.release(row.id, row.json));
  }

  private withRejection(release: ReleaseRecord): ReleaseRecord {
    const row = this.get<JsonRow>('SELECT json FROM release_rejections WHERE release_id = ?', release.id);
    return row === undefined ? release : { ...release, rejected: this.read.rejection(release.id, row.json) };
  }

  async listApprovals(promotionId: string): Promise<ApprovalRecord[]> {
    return this.all<JsonRow & { id: number }>('SELECT id, json FROM approvals WHERE promotion_id = ? ORDER BY id', promotionId).map((row) =>
      this.read.record<ApprovalRecord>('approvals', `row id ${row.id}`, row.json, checkApproval),
    );
  }

  async listReleases(options: { limit?: number } = {}): Promise<ReleaseRecord[]> {
    // One query, rejections joined: a release list is read on every tick.
    const rows = this.all<JsonRow & { id: string; rejection: string | null }>(
      `SELECT r.id, r.json, j.json AS rejection FROM releases r LEFT JOIN release_rejections j ON j.release_id = r.id
        ORDER BY r.created_at DESC, r.id DESC LIMIT ?`,
      sqlLimit(options.limit),
    );
    return rows.map((row) => {
      const release = this.read.release(row.id, row.json);
      return row.rejection === null ? release : { ...release, rejected: this.read.rejection(row.id, row.rejection) };
    });
  }

  async getCancelRequest(promotionId: string): Promise<CancelRequest | undefined> {
    const row = this.get<JsonRow>('SELECT json FROM cancel_requests WHERE promotion_id = ?', promotionId);
    return row === undefined ? undefined : this.read.record<CancelRequest>('cancel_requests', `promotion_id ${promotionId}`, row.json, checkCancelRequest);
  }

  async getPromotion(idOrPrefix: string): Promise<PromotionRecord> {
    const row = this.resolve('promotions', 'promotion', idOrPrefix);
    const promotion = this.read.promotion(row.id, row.json);
    this.checkReleaseExists(promotion);
    return promotion;
  }

  async listPromotions(filter: PromotionFilter = {}): Promise<PromotionRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.environment !== undefined) {
      where.push('environment = ?');
      params.push(filter.environment);
    }
    if (filter.releaseId !== undefined) {
      where.push('release_id = ?');
      params.push(filter.releaseId);
    }
    if (filter.states !== undefined) {
      // In none of no states: an empty list matches nothing.
      if (filter.states.length === 0) return [];
      where.push(`state IN (${filter.states.map(() => '?').join(', ')})`);
      params.push(...filter.states);
    }
    // The release joined only to notice one that is missing: a promotion always names an existing one.
    const rows = this.all<JsonRow & { id: string; release_missing: number }>(
      `SELECT p.id, p.json, r.id IS NULL AS release_missing FROM promotions p LEFT JOIN releases r ON r.id = p.release_id
        ${whereClause(where)} ORDER BY p.requested_at DESC, p.id DESC LIMIT ?`,
      ...params,
      sqlLimit(filter.limit),
    );
    return rows.map((row) => {
      const promotion = this.read.promotion(row.id, row.json);
      if (row.release_missing === 1) throw this.read.missingRelease(promotion);
      return promotion;
    });
  }

  async activePromotion(environment: string): Promise<PromotionRecord | undefined> {
    return this.lockHolder(environment);
  }

  async listSteps(promotionId: string): Promise<StepRecord[]> {
    const rows = this.all<JsonRow & { component: string }>('SELECT component, json FROM steps WHERE promotion_id = ? ORDER BY ord', promotionId);
    return rows.map((row) => this.read.step(promotionId, row.component, row.json));
  }

  async listStepHistory(
    filter: { environment?: string; component?: string; limit?: number } = {},
  ): Promise<StepRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.environment !== undefined) {
      where.push('p.environment = ?');
      params.push(filter.environment);
    }
    if (filter.component !== undefined) {
      where.push('s.component = ?');
      params.push(filter.component);
    }
    const rows = this.all<JsonRow & { promotion_id: string; component: string }>(
      `SELECT s.promotion_id, s.component, s.json FROM steps s JOIN promotions p ON p.id = s.promotion_id ${whereClause(where)}
        ORDER BY p.requested_at DESC, p.id DESC, s.ord LIMIT ?`,
      ...params,
      sqlLimit(filter.limit),
    );
    return rows.map((row) => this.read.step(row.promotion_id, row.component, row.json));
  }

  async driftStates(environment: string): Promise<DriftState[]> {
    const rows = this.all<JsonRow & { component: string }>('SELECT component, json FROM drift_states WHERE environment = ? ORDER BY component', environment);
    return rows.map((row) => this.read.record<DriftState>('drift_states', `environment ${environment}, component ${row.component}`, row.json, checkDriftState));
  }

  async claimDriftCheck(environment: string, dueAfter: string, now: string): Promise<boolean> {
    const result = this.run(
      `INSERT INTO drift_checks (environment, checked_at) VALUES (?, ?)
       ON CONFLICT (environment) DO UPDATE SET checked_at = excluded.checked_at WHERE drift_checks.checked_at <= ?`,
      environment,
      now,
      dueAfter,
    );
    return result.changes > 0;
  }

  async environmentState(environment: string): Promise<ComponentState[]> {
    const rows = this.all<JsonRow & { component: string }>(
      'SELECT component, json FROM component_states WHERE environment = ? ORDER BY component',
      environment,
    );
    return rows.map((row) =>
      this.read.record<ComponentState>('component_states', `environment ${environment}, component ${row.component}`, row.json, checkComponentState),
    );
  }

  async auditPage(afterSeq: number | null, limit: number): Promise<AuditEntry[]> {
    if (afterSeq !== null && !Number.isSafeInteger(afterSeq))
      throw new InputError(`afterSeq must be a whole number, not ${afterSeq}`, 'afterSeq');
    // Rows as arrays, not objects: building a twelve-member object per row was the largest part
    // of reading the log (`audit verify` reads all of it). `raw` is better-sqlite3's; the columns
    // are named, in AUDIT_COLUMNS order, so the positions below do not depend on the schema's order.
    // `null`: every row. `seq > ?` with SQL NULL would match none, so the first page has its own query.
    const statement = this.statement(
      `SELECT ${AUDIT_COLUMNS.join(', ')} FROM audit_log ${afterSeq === null ? 'WHERE ? IS NULL' : 'WHERE seq > ?'} ORDER BY seq LIMIT ?`,
    ) as SqliteStatementLike & { raw(toggle: boolean): SqliteStatementLike };
    const rows = statement.raw(true).all(afterSeq, sqlLimit(limit)) as AuditTuple[];
    const entries: AuditEntry[] = new Array<AuditEntry>(rows.length);
    for (let i = 0; i < rows.length; i++) entries[i] = this.auditEntry(rows[i] as AuditTuple);
    return entries;
  }

  async stepLogs(promotionId: string, component?: string): Promise<StepLogLine[]> {
    const rows =
      component === undefined
        ? this.all<LogRow>('SELECT promotion_id, component, time, line FROM step_logs WHERE promotion_id = ? ORDER BY id', promotionId)
        : this.all<LogRow>('SELECT promotion_id, component, time, line FROM step_logs WHERE promotion_id = ? AND component = ? ORDER BY id', promotionId, component);
    return rows.map((r) => ({ promotionId: r.promotion_id, component: r.component, time: r.time, line: r.line }));
  }

  async logsAfter(afterId: number, limit: number): Promise<StoredLogLine[]> {
    if (!Number.isSafeInteger(afterId)) throw new InputError(`afterId must be a whole number, not ${afterId}`, 'afterId');
    const rows = this.all<LogRow & { id: number; after_seq: number }>(
      'SELECT id, after_seq, promotion_id, component, time, line FROM step_logs WHERE id > ? ORDER BY id LIMIT ?',
      afterId,
      sqlLimit(limit),
    );
    return rows.map((r) => ({ id: r.id, afterSeq: r.after_seq, promotionId: r.promotion_id, component: r.component, time: r.time, line: r.line }));
  }

  async logHead(): Promise<number> {
    return this.get<{ id: number | null }>('SELECT max(id) AS id FROM step_logs')?.id ?? 0;
  }

  async auditHead(): Promise<{ seq: number; hash: string } | undefined> {
    return this.readHead();
  }

  async promotionAudit(promotionId: string): Promise<AuditEntry[]> {
    const rows = (this.statement(`SELECT ${AUDIT_COLUMNS.join(', ')} FROM audit_log WHERE promotion_id = ? ORDER BY seq`) as SqliteStatementLike & {
      raw(toggle: boolean): SqliteStatementLike;
    })
      .raw(true)
      .all(promotionId) as AuditTuple[];
    return rows.map((row) => this.auditEntry(row));
  }

  async lastAuditOfKind(kind: AuditEntry['kind']): Promise<AuditEntry | undefined> {
    const row = (this.statement(`SELECT ${AUDIT_COLUMNS.join(', ')} FROM audit_log WHERE kind = ? ORDER BY seq DESC LIMIT 1`) as SqliteStatementLike & {
      raw(toggle: boolean): SqliteStatementLike;
    })
      .raw(true)
      .get(kind) as AuditTuple | undefined;
    return row === undefined ? undefined : this.auditEntry(row);
  }

  async getEvidence(promotionId: string): Promise<EvidenceRecord | undefined> {
    const row = this.get<JsonRow>('SELECT json FROM evidence WHERE promotion_id = ?', promotionId);
    return row === undefined ? undefined : this.read.record<EvidenceRecord>('evidence', `promotion_id ${promotionId}`, row.json, checkEvidence);
  }

  async unsealedPromotions(limit: number): Promise<string[]> {
    const rows = this.all<{ id: string }>(
      `SELECT p.id FROM promotions p WHERE p.state IN (${FINAL_PROMOTION_STATES.map(() => '?').join(', ')})
         AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.promotion_id = p.id) ORDER BY p.requested_at, p.id LIMIT ?`,
      ...FINAL_PROMOTION_STATES,
      sqlLimit(limit),
    );
    return rows.map((r) => r.id);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return this.all<{ id: number; json: string }>('SELECT id, json FROM api_tokens ORDER BY id').map((row) => this.read.token(row.id, row.json));
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    const row = this.get<{ id: number; json: string }>('SELECT id, json FROM api_tokens WHERE hash = ?', hash);
    return row === undefined ? undefined : this.read.token(row.id, row.json);
  }

  // ------------------------------------------------ notification outbox

  async notifyCursor(target: string): Promise<number | undefined> {
    return this.get<{ audit_seq: number }>('SELECT audit_seq FROM notify_cursors WHERE target = ?', target)?.audit_seq;
  }

  async queueDeliveries(batch: DeliveryBatch): Promise<boolean> {
    return this.writing(() =>
      this.db
        .transaction((): boolean => {
          const moved =
            batch.after === undefined
              ? this.run('INSERT INTO notify_cursors (target, audit_seq) VALUES (?, ?) ON CONFLICT (target) DO NOTHING', batch.target, batch.upTo)
              : this.run('UPDATE notify_cursors SET audit_seq = ? WHERE target = ? AND audit_seq = ?', batch.upTo, batch.target, batch.after);
          if (moved.changes === 0) return false;
          for (const delivery of batch.deliveries) {
            const record = queuedDelivery(delivery);
            this.run(
              'INSERT INTO notify_deliveries (delivery_id, target, status, next_attempt_at, json) VALUES (?, ?, ?, ?, ?)',
              delivery.deliveryId,
              delivery.target,
              'pending',
              record.nextAttemptAt,
              JSON.stringify(record),
            );
          }
          return true;
        })
        .immediate(),
    );
  }

  async nextDelivery(target: string): Promise<DeliveryRecord | undefined> {
    const row = this.get<DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM notify_deliveries WHERE target = ? AND status = 'pending' ORDER BY id LIMIT 1`, target);
    return row === undefined ? undefined : this.deliveryRecord(row);
  }

  async claimDelivery(id: number, claim: { token: string; until: string; now: string }): Promise<boolean> {
    return this.writing(
      () =>
        this.run(
          `UPDATE notify_deliveries SET claim_token = ?, claimed_until = ?
            WHERE id = ? AND status = 'pending' AND (claimed_until IS NULL OR claimed_until <= ?)`,
          claim.token,
          claim.until,
          id,
          claim.now,
        ).changes === 1,
    );
  }

  async finishAttempt(id: number, token: string, outcome: AttemptOutcome): Promise<boolean> {
    return this.writing(() =>
      this.db
        .transaction((): boolean => {
          const row = this.get<DeliveryRow & { claim_token: string | null }>(`SELECT ${DELIVERY_COLUMNS}, claim_token FROM notify_deliveries WHERE id = ?`, id);
          if (row === undefined) throw new NotFoundError(`delivery ${id} not found`);
          if (row.claim_token !== token) return false;
          const before = this.deliveryRecord(row);
          const record = afterAttempt(before, outcome);
          this.run(
            'UPDATE notify_deliveries SET status = ?, next_attempt_at = ?, claim_token = NULL, claimed_until = NULL, json = ? WHERE id = ?',
            record.status,
            record.nextAttemptAt,
            JSON.stringify(record),
            id,
          );
          return true;
        })
        .immediate(),
    );
  }

  async listDeliveries(filter: DeliveryFilter = {}): Promise<DeliveryRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.target !== undefined) {
      where.push('target = ?');
      params.push(filter.target);
    }
    if (filter.status !== undefined) {
      where.push('status = ?');
      params.push(filter.status);
    }
    const rows = this.all<DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM notify_deliveries ${whereClause(where)} ORDER BY id DESC LIMIT ?`, ...params, sqlLimit(filter.limit));
    return rows.map((row) => this.deliveryRecord(row));
  }

  async deliveryCounts(): Promise<DeliveryCount[]> {
    return this.all<{ target: string; status: DeliveryStatus; count: number }>(
      'SELECT target, status, COUNT(*) AS count FROM notify_deliveries GROUP BY target, status ORDER BY target, status',
    );
  }

  /** The columns say where a delivery stands; the JSON keeps what it is (and, for reads, its history). */
  private deliveryRecord(row: DeliveryRow): DeliveryRecord {
    const record = this.read.record<Omit<DeliveryRecord, 'id'>>('notify_deliveries', `row id ${row.id}`, row.json, checkDelivery);
    return { ...record, id: row.id, status: row.status, nextAttemptAt: row.next_attempt_at };
  }

  // ---------------------------------------------------------------- helpers

  private readHead(): { seq: number; hash: string } | undefined {
    return this.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
  }

  private lockHolder(environment: string): PromotionRecord | undefined {
    const row = this.get<{ promotion_id: string; json: string | null }>(
      'SELECT l.promotion_id, p.json FROM env_locks l LEFT JOIN promotions p ON p.id = l.promotion_id WHERE l.environment = ?',
      environment,
    );
    if (row === undefined) return undefined;
    if (row.json === null) {
      throw this.read.damaged('env_locks', `environment ${environment}`, `it names promotion ${row.promotion_id}, which is not in table promotions`);
    }
    const promotion = this.read.promotion(row.promotion_id, row.json);
    this.checkReleaseExists(promotion);
    return promotion;
  }

  // ------------------------------------------------ reading records back (a damaged row names itself)

  private checkReleaseExists(promotion: PromotionRecord): void {
    if (this.get('SELECT 1 FROM releases WHERE id = ?', promotion.releaseId) === undefined) throw this.read.missingRelease(promotion);
  }

  private auditEntry(row: AuditTuple): AuditEntry {
    const data = this.read.record<Record<string, unknown>>('audit_log', `seq ${row[0]}`, row[11], checkAuditData, 'data');
    return entryFromTuple(row, data);
  }

  /** The one record whose id is `idOrPrefix`, or starts with it (≥ 7 characters). */
  private resolve(table: 'releases' | 'promotions', noun: 'release' | 'promotion', idOrPrefix: string): { id: string; json: string } {
    const exact = this.get<JsonRow>(`SELECT json FROM ${table} WHERE id = ?`, idOrPrefix);
    if (exact !== undefined) return { id: idOrPrefix, json: exact.json };
    checkPrefix(noun, idOrPrefix);
    // Ids are lower-case hex (or UUIDs): every id starting with the prefix sorts in
    // [prefix, prefix + 'g'), so the primary key index answers without scanning.
    const { from, to } = prefixRange(idOrPrefix);
    const rows = this.all<{ id: string; json: string }>(
      `SELECT id, json FROM ${table} WHERE id >= ? AND id < ? ORDER BY id LIMIT ?`,
      from,
      to,
      MAX_CANDIDATES + 1,
    );
    return onlyMatch(noun, idOrPrefix, rows);
  }

  private statement(sql: string): SqliteStatementLike {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private run(sql: string, ...params: unknown[]): { changes: number } {
    return this.statement(sql).run(...params);
  }

  /** Row types are asserted, not checked: the schema in schema.ts is what guarantees them. */
  private get<Row>(sql: string, ...params: unknown[]): Row | undefined {
    return this.statement(sql).get(...params) as Row | undefined;
  }

  private all<Row>(sql: string, ...params: unknown[]): Row[] {
    return this.statement(sql).all(...params) as Row[];
  }
}

interface DeliveryRow {
  id: number;
  status: DeliveryStatus;
  next_attempt_at: string;
  json: string;
}

const DELIVERY_COLUMNS = 'id, status, next_attempt_at, json';

interface LogRow {
  promotion_id: string;
  component: string;
  time: string;
  line: string;
}

function whereClause(conditions: readonly string[]): string {
  return conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
}

/** SQLite's LIMIT; -1 means none. */
function sqlLimit(limit: number | undefined): number {
  if (limit === undefined) return -1;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new InputError(`limit must be a whole number of at least 0, not ${limit}`, 'limit');
  }
  return limit;
}

/** Opens the file; a failure names the state and says why, not only SQLite's "unable to open database file". */
function openDatabase(path: string, name: string, options: Database.Options): Database.Database {
  try {
    return new Database(path, options);
  } catch (error) {
    throw openFailure(name, error);
  }
}

function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

function openFailure(name: string, error: unknown): Error {
  const code = sqliteCode(error);
  if (code === undefined) return error instanceof Error ? error : new Error(String(error));
  const hint = code === 'SQLITE_CANTOPEN' ? 'it is missing, unreadable, or its directory does not exist' : code === 'SQLITE_NOTADB' ? 'it is not a SQLite database' : code;
  return new StateError(`cannot open ${name}: ${hint}`, { cause: error });
}

/** A read-only connection could not open or create the WAL index beside the file. */
function cannotCreateWalIndex(error: unknown): boolean {
  const code = sqliteCode(error);
  return code === 'SQLITE_READONLY_DIRECTORY' || code === 'SQLITE_READONLY_CANTINIT' || code === 'SQLITE_CANTOPEN';
}

/** Why a write failed because the state cannot be written, or undefined for any other failure. */
function readOnlyReason(error: unknown): string | undefined {
  const code = sqliteCode(error);
  if (code === 'SQLITE_READONLY_DIRECTORY') return 'its directory does not allow creating files';
  if (code === 'SQLITE_READONLY') return 'the file or its file system does not allow writing';
  if (code?.startsWith('SQLITE_READONLY_')) return code;
  if (code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') return 'permission denied';
  return undefined;
}

function readOnlyState(name: string, why: string, cause?: unknown): StateError {
  return new StateError(`cannot write ${name}: it is read-only (${why}); commands that only read it (status, history, release list, audit verify) still work`, { cause });
}

/**
 * Why an existing state file cannot be written, or undefined. The directory counts only when the
 * WAL file must be created in it. A file that does not exist yet is SQLite's to create (or fail on).
 */
function notWritable(path: string): string | undefined {
  const denied = (target: string): string | undefined => {
    try {
      accessSync(target, constants.W_OK);
      return undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return code === 'EROFS' ? 'its file system is mounted read-only' : code === 'ENOENT' ? undefined : (code ?? 'no write access');
    }
  };
  if (!existsSync(path)) return undefined;
  const file = denied(path);
  if (file !== undefined) return file === 'EACCES' || file === 'EPERM' ? 'the file does not allow writing' : file;
  if (existsSync(`${path}-wal`)) return undefined;
  const dir = denied(dirname(path));
  return dir === 'EACCES' || dir === 'EPERM' ? 'its directory does not allow creating files' : dir;
}
