/* eslint-disable @typescript-eslint/require-await --
   The port is asynchronous (PostgreSQL needs it); better-sqlite3 is synchronous. `async` still earns
   its place: a throw inside becomes a rejected promise, as callers of the port expect. */
import Database from 'better-sqlite3';
import { chainEntry } from '../../core/audit.js';
import type { AuditEntry, AuditEventInput, AuditKind } from '../../core/audit.js';
import { canonicalJson } from '../../core/canonical-json.js';
import { ConflictError, InputError, NotFoundError } from '../../core/errors.js';
import type { ApprovalRecord, ComponentState, PromotionOwner, PromotionRecord, ReleaseRecord, ReleaseRejection, StepRecord } from '../../core/model.js';
import type { PromotionFilter, StepLogLine, Store, StoreChange } from '../store.js';
import { migrate } from './schema.js';
import type { SqliteDatabaseLike, SqliteStatementLike } from './sqlite-database.js';

/** The shortest id prefix `getRelease` and `getPromotion` accept. */
const MIN_PREFIX = 7;
/** How many candidates an "ambiguous prefix" error lists. */
const MAX_CANDIDATES = 10;

interface JsonRow {
  json: string;
}

interface AuditRow {
  seq: number;
  hash: string;
  prev_hash: string;
  kind: string;
  time: string;
  actor: string;
  project: string;
  environment: string | null;
  release_id: string | null;
  promotion_id: string | null;
  component: string | null;
  data: string;
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

  private constructor(private readonly db: SqliteDatabaseLike) {
    // busy_timeout first: switching to WAL needs a lock another process may hold.
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
  }

  /**
   * Opens (creating if needed) the database file at `path`, or an in-memory one for ':memory:'.
   * Does not create directories: the caller decides where state lives. Call `migrate()` before use.
   */
  static open(path: string): SqliteStore {
    return new SqliteStore(new Database(path));
  }

  /** Wraps an open connection (for tests and embedding); sets the same pragmas as `open`. */
  static fromDatabase(db: SqliteDatabaseLike): SqliteStore {
    return new SqliteStore(db);
  }

  async migrate(): Promise<void> {
    migrate(this.db);
    this.statements.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.statements.clear();
    this.db.close();
  }

  // ---------------------------------------------------------------- writes

  async commit(change: StoreChange): Promise<AuditEntry[]> {
    return this.db.transaction(() => this.apply(change)).immediate();
  }

  async claimPromotion(
    promotionId: string,
    owner: PromotionOwner | undefined,
    expectedToken: string | undefined,
  ): Promise<boolean> {
    return this.db
      .transaction((): boolean => {
        const row = this.get<{ owner_token: string | null; json: string }>(
          'SELECT owner_token, json FROM promotions WHERE id = ?',
          promotionId,
        );
        if (row === undefined) throw new NotFoundError(`promotion ${promotionId} not found`);
        if (row.owner_token !== (expectedToken ?? null)) return false;
        const { owner: _previous, ...rest } = JSON.parse(row.json) as PromotionRecord;
        const record: PromotionRecord = owner === undefined ? rest : { ...rest, owner };
        this.run(
          'UPDATE promotions SET owner_token = ?, json = ? WHERE id = ?',
          owner?.token ?? null,
          JSON.stringify(record),
          promotionId,
        );
        return true;
      })
      .immediate();
  }

  /** Runs inside the commit's transaction: any throw rolls the whole change back. */
  private apply(change: StoreChange): AuditEntry[] {
    if (change.fence) this.checkFence(change.fence);
    if (change.release) this.putRelease(change.release);
    if (change.createPromotion) this.insertPromotion(change.createPromotion.record, change.createPromotion.lock);
    if (change.releaseRejection) this.rejectRelease(change.releaseRejection.releaseId, change.releaseRejection.rejection);
    if (change.promotion) this.replacePromotion(change.promotion.record, change.promotion.releaseLock ?? false, change.promotion.takeLock ?? false);
    if (change.replaceSteps !== undefined) this.run('DELETE FROM steps WHERE promotion_id = ?', change.replaceSteps);
    for (const step of change.steps ?? []) this.upsertStep(step);
    for (const approval of change.approvals ?? []) {
      if (this.get('SELECT 1 FROM promotions WHERE id = ?', approval.promotionId) === undefined) {
        throw new NotFoundError(`an approval names promotion ${approval.promotionId}, which does not exist`);
      }
      this.run('INSERT INTO approvals (promotion_id, json) VALUES (?, ?)', approval.promotionId, JSON.stringify(approval));
    }
    for (const state of change.componentStates ?? []) this.upsertComponentState(state);
    for (const log of change.logs ?? []) {
      this.run('INSERT INTO step_logs (promotion_id, component, time, line) VALUES (?, ?, ?, ?)', log.promotionId, log.component, log.time, log.line);
    }
    return this.appendAudit(change.audit);
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
      if (canonicalJson(JSON.parse(existing.json)) === canonicalJson(JSON.parse(json))) return;
      throw new ConflictError(`release ${release.id} already exists with different content (releases are immutable)`);
    }
    this.run('INSERT INTO releases (id, created_at, json) VALUES (?, ?, ?)', release.id, release.createdAt, json);
  }

  private rejectRelease(releaseId: string, rejection: ReleaseRejection): void {
    if (this.get('SELECT 1 FROM releases WHERE id = ?', releaseId) === undefined) throw new NotFoundError(`release ${releaseId} not found`);
    const existing = this.get<JsonRow>('SELECT json FROM release_rejections WHERE release_id = ?', releaseId);
    if (existing !== undefined) {
      const earlier = JSON.parse(existing.json) as ReleaseRejection;
      throw new ConflictError(`release ${releaseId.slice(0, 12)} was already rejected by ${earlier.by} at ${earlier.at}: ${earlier.reason}`);
    }
    this.run('INSERT INTO release_rejections (release_id, json) VALUES (?, ?)', releaseId, JSON.stringify(rejection));
  }

  private lockEnvironment(record: PromotionRecord): void {
    const holder = this.lockHolder(record.environment);
    if (holder !== undefined && holder.id === record.id) return;
    if (holder !== undefined) {
      throw new ConflictError(
        `environment ${record.environment} is busy: promotion ${holder.id} ` +
          `(requested by ${holder.requestedBy} at ${holder.requestedAt})`,
      );
    }
    this.run('INSERT INTO env_locks (environment, promotion_id) VALUES (?, ?)', record.environment, record.id);
  }

  private insertPromotion(record: PromotionRecord, lock: boolean): void {
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
      this.run(
        `INSERT INTO audit_log
           (seq, hash, prev_hash, kind, time, actor, project, environment, release_id, promotion_id, component, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        entry.seq,
        entry.hash,
        entry.prevHash,
        entry.kind,
        entry.time,
        entry.actor,
        entry.project,
        entry.environment ?? null,
        entry.releaseId ?? null,
        entry.promotionId ?? null,
        entry.component ?? null,
        JSON.stringify(entry.data),
      );
      entries.push(entry);
      head = entry;
    }
    return entries;
  }

  // ---------------------------------------------------------------- reads

  async getRelease(idOrPrefix: string): Promise<ReleaseRecord> {
    return this.withRejection(JSON.parse(this.resolve('releases', 'release', idOrPrefix)) as ReleaseRecord);
  }

  private withRejection(release: ReleaseRecord): ReleaseRecord {
    const row = this.get<JsonRow>('SELECT json FROM release_rejections WHERE release_id = ?', release.id);
    return row === undefined ? release : { ...release, rejected: JSON.parse(row.json) as ReleaseRejection };
  }

  async listApprovals(promotionId: string): Promise<ApprovalRecord[]> {
    return this.all<JsonRow>('SELECT json FROM approvals WHERE promotion_id = ? ORDER BY id', promotionId).map((row) => JSON.parse(row.json) as ApprovalRecord);
  }

  async listReleases(options: { limit?: number } = {}): Promise<ReleaseRecord[]> {
    // One query, rejections joined: a release list is read on every tick.
    const rows = this.all<JsonRow & { rejection: string | null }>(
      `SELECT r.json, j.json AS rejection FROM releases r LEFT JOIN release_rejections j ON j.release_id = r.id
        ORDER BY r.created_at DESC, r.id DESC LIMIT ?`,
      sqlLimit(options.limit),
    );
    return rows.map((row) => {
      const release = JSON.parse(row.json) as ReleaseRecord;
      return row.rejection === null ? release : { ...release, rejected: JSON.parse(row.rejection) as ReleaseRejection };
    });
  }

  async getPromotion(idOrPrefix: string): Promise<PromotionRecord> {
    return JSON.parse(this.resolve('promotions', 'promotion', idOrPrefix)) as PromotionRecord;
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
    const rows = this.all<JsonRow>(
      `SELECT json FROM promotions ${whereClause(where)} ORDER BY requested_at DESC, id DESC LIMIT ?`,
      ...params,
      sqlLimit(filter.limit),
    );
    return rows.map((row) => JSON.parse(row.json) as PromotionRecord);
  }

  async activePromotion(environment: string): Promise<PromotionRecord | undefined> {
    return this.lockHolder(environment);
  }

  async listSteps(promotionId: string): Promise<StepRecord[]> {
    const rows = this.all<JsonRow>('SELECT json FROM steps WHERE promotion_id = ? ORDER BY ord', promotionId);
    return rows.map((row) => JSON.parse(row.json) as StepRecord);
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
    const rows = this.all<JsonRow>(
      `SELECT s.json FROM steps s JOIN promotions p ON p.id = s.promotion_id ${whereClause(where)}
        ORDER BY p.requested_at DESC, p.id DESC, s.ord LIMIT ?`,
      ...params,
      sqlLimit(filter.limit),
    );
    return rows.map((row) => JSON.parse(row.json) as StepRecord);
  }

  async environmentState(environment: string): Promise<ComponentState[]> {
    const rows = this.all<JsonRow>(
      'SELECT json FROM component_states WHERE environment = ? ORDER BY component',
      environment,
    );
    return rows.map((row) => JSON.parse(row.json) as ComponentState);
  }

  async auditPage(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    if (!Number.isSafeInteger(afterSeq))
      throw new InputError(`afterSeq must be a whole number, not ${afterSeq}`, 'afterSeq');
    // Rows as arrays, not objects: building a twelve-member object per row was the largest part
    // of reading the log (`audit verify` reads all of it). `raw` is better-sqlite3's; the columns
    // are named, in AUDIT_COLUMNS order, so the positions below do not depend on the schema's order.
    const statement = this.statement(
      `SELECT ${AUDIT_COLUMNS.join(', ')} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`,
    ) as SqliteStatementLike & { raw(toggle: boolean): SqliteStatementLike };
    const rows = statement.raw(true).all(afterSeq, sqlLimit(limit)) as AuditTuple[];
    const entries: AuditEntry[] = new Array<AuditEntry>(rows.length);
    for (let i = 0; i < rows.length; i++) entries[i] = entryFromTuple(rows[i] as AuditTuple);
    return entries;
  }

  async stepLogs(promotionId: string, component?: string): Promise<StepLogLine[]> {
    const rows =
      component === undefined
        ? this.all<LogRow>('SELECT promotion_id, component, time, line FROM step_logs WHERE promotion_id = ? ORDER BY id', promotionId)
        : this.all<LogRow>('SELECT promotion_id, component, time, line FROM step_logs WHERE promotion_id = ? AND component = ? ORDER BY id', promotionId, component);
    return rows.map((r) => ({ promotionId: r.promotion_id, component: r.component, time: r.time, line: r.line }));
  }

  async auditHead(): Promise<{ seq: number; hash: string } | undefined> {
    return this.readHead();
  }

  // ---------------------------------------------------------------- helpers

  private readHead(): { seq: number; hash: string } | undefined {
    return this.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
  }

  private lockHolder(environment: string): PromotionRecord | undefined {
    const row = this.get<JsonRow>(
      'SELECT p.json FROM env_locks l JOIN promotions p ON p.id = l.promotion_id WHERE l.environment = ?',
      environment,
    );
    return row === undefined ? undefined : (JSON.parse(row.json) as PromotionRecord);
  }

  /** The JSON of the one record whose id is `idOrPrefix`, or starts with it (≥ 7 characters). */
  private resolve(table: 'releases' | 'promotions', noun: 'release' | 'promotion', idOrPrefix: string): string {
    const exact = this.get<JsonRow>(`SELECT json FROM ${table} WHERE id = ?`, idOrPrefix);
    if (exact !== undefined) return exact.json;
    if (idOrPrefix.length < MIN_PREFIX) {
      throw new InputError(`a ${noun} id prefix needs at least ${MIN_PREFIX} characters`, noun);
    }
    // Ids are lower-case hex (or UUIDs): every id starting with the prefix sorts in
    // [prefix, prefix + 'g'), so the primary key index answers without scanning.
    const prefix = idOrPrefix.toLowerCase();
    const rows = this.all<{ id: string; json: string }>(
      `SELECT id, json FROM ${table} WHERE id >= ? AND id < ? ORDER BY id LIMIT ?`,
      prefix,
      `${prefix}g`,
      MAX_CANDIDATES + 1,
    );
    const [first, second] = rows;
    if (first === undefined) throw new NotFoundError(`${noun} ${idOrPrefix} not found`);
    if (second === undefined) return first.json;
    const listed = rows.slice(0, MAX_CANDIDATES).map((row) => row.id);
    const more = rows.length > MAX_CANDIDATES ? ', and more' : '';
    throw new InputError(
      `${noun} id prefix ${idOrPrefix} is ambiguous (give more characters): it matches ${listed.join(', ')}${more}`,
      noun,
    );
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

interface LogRow {
  promotion_id: string;
  component: string;
  time: string;
  line: string;
}

/**
 * The entry as it will read back: optional fields that are absent stay absent, and `data` passes
 * through JSON (a Date becomes its string, `undefined` members vanish). The hash is computed over
 * this form, so what is stored is exactly what was hashed.
 */
function asStored(input: AuditEventInput): AuditEventInput {
  const stored: AuditEventInput = {
    kind: input.kind,
    time: input.time,
    actor: input.actor,
    project: input.project,
    data: JSON.parse(JSON.stringify(input.data)) as Record<string, unknown>,
  };
  if (input.environment !== undefined) stored.environment = input.environment;
  if (input.releaseId !== undefined) stored.releaseId = input.releaseId;
  if (input.promotionId !== undefined) stored.promotionId = input.promotionId;
  if (input.component !== undefined) stored.component = input.component;
  return stored;
}

/** The columns `auditPage` reads, in the order of `AuditTuple`. */
const AUDIT_COLUMNS = [
  'seq',
  'hash',
  'prev_hash',
  'kind',
  'time',
  'actor',
  'project',
  'environment',
  'release_id',
  'promotion_id',
  'component',
  'data',
] as const satisfies readonly (keyof AuditRow)[];

/** An audit row as an array (better-sqlite3's raw mode), in `AUDIT_COLUMNS` order. */
type AuditTuple = [
  seq: number,
  hash: string,
  prevHash: string,
  kind: string,
  time: string,
  actor: string,
  project: string,
  environment: string | null,
  releaseId: string | null,
  promotionId: string | null,
  component: string | null,
  data: string,
];

function entryFromTuple(row: AuditTuple): AuditEntry {
  const [seq, hash, prevHash, kind, time, actor, project, environment, releaseId, promotionId, component, data] = row;
  const entry: AuditEntry = {
    seq,
    kind: kind as AuditKind,
    time,
    actor,
    project,
    data: JSON.parse(data) as Record<string, unknown>,
    prevHash,
    hash,
  };
  if (environment !== null) entry.environment = environment;
  if (releaseId !== null) entry.releaseId = releaseId;
  if (promotionId !== null) entry.promotionId = promotionId;
  if (component !== null) entry.component = component;
  return entry;
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
