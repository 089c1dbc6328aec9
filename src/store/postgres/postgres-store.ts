import pg from 'pg';
import type { PoolClient } from 'pg';
import { chainEntry } from '../../core/audit.js';
import type { AuditEntry, AuditEventInput } from '../../core/audit.js';
import type { CancelRequest } from '../../core/cancel-request.js';
import { canonicalJson } from '../../core/canonical-json.js';
import { ConflictError, InputError, NotFoundError } from '../../core/errors.js';
import { FINAL_PROMOTION_STATES, type ApprovalRecord, type ComponentState, type PromotionOwner, type PromotionRecord, type ReleaseRecord, type ReleaseRejection, type StepRecord } from '../../core/model.js';
import { printable } from '../../core/printable.js';
import type { TokenRecord } from '../../core/tokens.js';
import { RecordReader } from '../record-reader.js';
import { MAX_CANDIDATES, afterAttempt, checkPrefix, environmentBusy, onlyMatch, prefixRange, promotedAlready, queuedDelivery, tokenNameTaken } from '../store-rules.js';
import { AUDIT_COLUMNS, asStored, auditRowValues, entryFromTuple, type AuditTuple } from '../audit-rows.js';
import { checkApproval, checkAuditData, checkCancelRequest, checkComponentState, checkDelivery, checkDriftState, checkEvidence, checkRejection } from '../row-checks.js';
import type { DriftState } from '../../core/drift.js';
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
  type ChangeNotice,
  StoreUnavailable,
} from '../store.js';
import type { PostgresClientLike } from './postgres-client.js';
import { POSTGRES_MIGRATIONS, migratePostgres } from './schema.js';
import { ChangeListener, changeChannel, noticePayload } from './change-listener.js';
import { STATE_TABLES, afterKey, describeCounts, emptyCounts, pageQuery, totalRows, type RowCounts, type RowPage, type RowValue } from '../state-rows.js';

/** The tables whose `id` is an identity column (see the schema): their sequences move on after an import. */
const IDENTITY_TABLES = ['approvals', 'step_logs', 'api_tokens', 'notify_deliveries'] as const;

/** A schema name we put into the connection's options unquoted: plain identifiers only. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** How long a session may sit idle inside a transaction; ours never wait between statements. */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000;

/**
 * How long a write waits for an unreachable database before it gives up (StoreUnavailable): a
 * restart or a failover usually takes seconds. Retries back off from the first delay to the last.
 */
const UNREACHABLE_RETRY_MS = 60_000;
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 2_000;

/** PostgreSQL's type id of BIGINT (int8). */
const INT8_OID = 20;

/**
 * BIGINT columns (sequence numbers, row ids, counts) read as numbers: pg returns them as strings
 * because they may exceed 2^53, which no Lockstep id or count comes near.
 */
const defaultParser = pg.types.getTypeParser as (oid: number, format?: 'text' | 'binary') => unknown;
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === INT8_OID && format !== 'binary' ? (value: string): number => Number(value) : defaultParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface PostgresConnectOptions {
  /**
   * The schema holding the tables (the connection's search_path); default: the server's default
   * search path (usually `public`). A plain lower-case identifier.
   */
  schema?: string;
  /** The most connections the pool opens (default 10). */
  maxConnections?: number;
}

interface JsonRow {
  json: string;
}

interface DeliveryRow {
  id: number;
  status: DeliveryStatus;
  next_attempt_at: string;
  json: string;
}

const DELIVERY_COLUMNS = 'id, status, next_attempt_at, json';

/** `line` as stored: UTF-8 bytes (see the schema). */
interface LogRow {
  promotion_id: string;
  component: string;
  time: string;
  line: Buffer;
}

function logLine(row: LogRow): StepLogLine {
  return { promotionId: row.promotion_id, component: row.component, time: row.time, line: row.line.toString('utf8') };
}

/**
 * The Store port on PostgreSQL, for several processes (server replicas) sharing one database.
 *
 * Every commit is one transaction that first locks the single row of `write_lock`, so commits run
 * one after another across processes, as SQLite's BEGIN IMMEDIATE makes them: the audit head read
 * inside it is the head, the chain never forks, and environment locks, token names and step order
 * are checked against everything committed before. Reads run outside transactions, on the pool.
 * Compare-and-set writes outside `commit` (claims, the outbox) lock the rows they compare instead.
 * The isolation level is PostgreSQL's default, READ COMMITTED: each statement sees every commit that
 * finished before it started, which is what makes a statement after the lock see the latest state.
 */
export class PostgresStore implements Store {
  private closed = false;
  /** Reads records back; a damaged row names itself. */
  private readonly read: RecordReader;
  /** The channel commits announce themselves on (see onChange). */
  private readonly channel: string;
  private readonly changes: ChangeListener;
  /**
   * Statements outside transactions (reads, single-statement writes): a database out of reach is a
   * StoreUnavailable, which the server answers 503, not an unknown error. Not retried: the caller
   * (a request, the worker's next round) asks again.
   */
  private readonly reads: PostgresClientLike = {
    query: ((text: unknown, values?: unknown[]) =>
      (this.pool.query as (text: unknown, values?: unknown[]) => Promise<unknown>).call(this.pool, text, values).catch((error: unknown) => {
        throw isConnectionError(error) ? new StoreUnavailable(`${this.name} is unreachable: ${errorText(error, '')}`, { cause: error }) : error;
      })) as PostgresClientLike['query'],
  };

  private constructor(
    private readonly pool: pg.Pool,
    /** `the state in PostgreSQL at host/database`: never the URL, which may hold a password. */
    private readonly name: string,
    /** The connection string, for the LISTEN connection: never shown. */
    connectionString: string,
    /** The schema the connections' search_path names, if one was given: made by `migrate` when missing. */
    private readonly schema?: string,
  ) {
    this.read = new RecordReader(name);
    this.channel = changeChannel(schema);
    this.changes = new ChangeListener(connectionString, this.channel);
  }

  /**
   * A pool on the database at `url` (`postgres://user:password@host:port/database?sslmode=…`; the
   * TLS parameters are node-postgres's). Connects once to check the database answers: a StateError
   * naming the host and database (never the password) when it does not. Call `migrate()` before use.
   */
  static async connect(url: string, options: PostgresConnectOptions = {}): Promise<PostgresStore> {
    const name = `the state in PostgreSQL at ${describeUrl(url)}`;
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new InputError(`the PostgreSQL schema must be a plain lower-case name (letters, digits, _), not ${printable(options.schema)}`, 'schema');
    }
    const settings = [
      // A process frozen (SIGSTOP, a partition) inside a commit would hold the write lock, and with
      // it every other replica's commits: PostgreSQL ends such a session and rolls it back.
      `-c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION_TIMEOUT_MS}`,
      ...(options.schema === undefined ? [] : [`-c search_path=${options.schema}`]),
    ];
    const connectionString = withSettings(url, settings);
    const pool = new pg.Pool({
      connectionString,
      max: options.maxConnections ?? 10,
      types: TYPES,
      // Finds a connection whose peer vanished without closing it.
      keepAlive: true,
    });
    // An idle connection the server closed (a restart, a failover) is dropped by the pool and
    // replaced on the next query, which reports its own error. Without a listener it would crash
    // the process.
    pool.on('error', () => undefined);
    try {
      await pool.query('SELECT 1');
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new StateError(`cannot connect to ${name}: ${errorText(error, url)}`, { cause: error });
    }
    return new PostgresStore(pool, name, connectionString, options.schema);
  }

  /** The schema version of the database (0: Lockstep never wrote there); changes nothing. */
  async schemaVersion(): Promise<SchemaVersion> {
    const newest = POSTGRES_MIGRATIONS.length;
    const { rows } = await this.pool.query<{ present: string | null }>(`SELECT to_regclass('schema_version')::text AS present`);
    if (rows[0]?.present === null || rows[0]?.present === undefined) return { current: 0, newest };
    const version = await this.pool.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_version');
    return { current: version.rows[0]?.version ?? 0, newest };
  }

  /** Creates or upgrades the tables; several processes may call it at once (see migratePostgres). */
  async migrate(): Promise<SchemaMigration> {
    const client = await this.pool.connect();
    try {
      // The schema's name was checked in connect: a plain identifier.
      const done = await migratePostgres(client, this.name, POSTGRES_MIGRATIONS, this.schema);
      return { from: done.from, to: done.to, applied: done.applied.map((version) => ({ version, name: POSTGRES_MIGRATIONS[version - 1]?.name ?? '' })) };
    } finally {
      client.release();
    }
  }

  // ---------------------------------------------------------------- a whole state (state copy)

  async countRows(): Promise<RowCounts> {
    return countRows(this.pool);
  }

  /** The pages are read in one REPEATABLE READ, READ ONLY transaction: one snapshot, on one connection. */
  async *exportRows(pageSize: number): AsyncIterable<RowPage> {
    const client = await this.pool.connect();
    let open = false;
    let broken: Error | undefined;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      open = true;
      for (const table of STATE_TABLES) {
        const line = (table.columns as readonly string[]).indexOf('line');
        let last: RowValue[] | undefined;
        for (;;) {
          const { where, values } = afterKey(table, last, (index) => `$${index + 1}`);
          const result = await client.query<RowValue[]>({ text: pageQuery(table, where, `$${values.length + 1}`), values: [...values, pageSize], rowMode: 'array' });
          if (result.rows.length === 0) break;
          // step_logs.line is bytes here (see the schema), text everywhere else.
          const rows = table.name === 'step_logs' ? result.rows.map((row) => row.map((value, i) => (i === line ? (value as unknown as Buffer).toString('utf8') : value))) : result.rows;
          last = rows.at(-1);
          yield { table: table.name, rows };
          if (result.rows.length < pageSize) break;
        }
      }
      await client.query('COMMIT');
      open = false;
    } finally {
      // A failure, or iteration stopped early (return()): end the snapshot before the connection goes back.
      if (open) {
        await client.query('ROLLBACK').catch((error: unknown) => {
          broken = error instanceof Error ? error : new Error(String(error));
        });
      }
      client.release(broken);
    }
  }

  /**
   * One transaction under the write lock. Identity columns take the given ids (OVERRIDING SYSTEM
   * VALUE), and their sequences then continue after the largest, so new rows do not collide.
   */
  async importRows(pages: AsyncIterable<RowPage>): Promise<RowCounts> {
    try {
      return await this.importLocked(pages);
    } catch (error) {
      // Moving the identity sequences on needs more than the application role has (docs/postgresql.md).
      if ((error as { code?: unknown } | null)?.code !== '42501') throw error;
      throw new StateError(`cannot copy into ${this.name} as this role (${(error as Error).message}): copy as the schema's owner`, { cause: error });
    }
  }

  private async importLocked(pages: AsyncIterable<RowPage>): Promise<RowCounts> {
    return this.transaction(true, async (client) => {
      const held = await countRows(client);
      if (totalRows(held) > 0) {
        throw new ConflictError(`${this.name} is not empty (it holds ${totalRows(held)} rows: ${describeCounts(held)}): a copy goes only into an empty state`);
      }
      const written = emptyCounts();
      for await (const page of pages) {
        const table = STATE_TABLES.find((t) => t.name === page.table);
        if (table === undefined) throw new InputError(`rows of an unknown table ${page.table}`, 'table');
        if (page.rows.length === 0) continue;
        const line = (table.columns as readonly string[]).indexOf('line');
        const values: unknown[] = [];
        const tuples = page.rows.map((row) => {
          const marks = row.map((value, i) => {
            values.push(table.name === 'step_logs' && i === line && typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
            return `$${values.length}`;
          });
          return `(${marks.join(', ')})`;
        });
        await client.query(`INSERT INTO ${table.name} (${table.columns.join(', ')}) OVERRIDING SYSTEM VALUE VALUES ${tuples.join(', ')}`, values);
        written[table.name] += page.rows.length;
      }
      for (const table of IDENTITY_TABLES) {
        await client.query(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), MAX(id)) FROM ${table} HAVING MAX(id) IS NOT NULL`);
      }
      return written;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.changes.close();
    await this.pool.end();
  }

  // ---------------------------------------------------------------- writes

  async commit(change: StoreChange): Promise<AuditEntry[]> {
    return this.transaction(true, async (client) => {
      const entries = await this.apply(client, change);
      await this.announce(client, {
        work: changesWork(change),
        audit: entries.length > 0,
        logs: (change.logs?.length ?? 0) > 0,
      });
      return entries;
    });
  }

  /**
   * Every process listening on this state hears of a change once it is committed: NOTIFY inside the
   * transaction is sent at COMMIT, and never for one rolled back.
   */
  private async announce(client: PostgresClientLike, notice: ChangeNotice): Promise<void> {
    const payload = noticePayload(notice);
    if (payload !== '') await client.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
  }

  onChange(listener: (notice: ChangeNotice) => void): () => void {
    return this.changes.subscribe(listener);
  }

  /**
   * Runs `work` in one transaction on one connection; with `writeLock`, after taking the write lock
   * (see the class comment). Any throw rolls everything back.
   */
  private async transaction<T>(writeLock: boolean, work: (client: PostgresClientLike) => Promise<T>): Promise<T> {
    const deadline = Date.now() + UNREACHABLE_RETRY_MS;
    let delay = RETRY_FIRST_MS;
    for (;;) {
      try {
        return await this.attempt(writeLock, work);
      } catch (error) {
        // Cut off before COMMIT was sent: nothing was written, so trying again applies it once. Cut
        // off during COMMIT: it may have landed, so it is never tried again (StoreUnavailable).
        if (!(error instanceof NotCommitted) || this.closed) throw error instanceof NotCommitted ? error.cause : error;
        if (Date.now() + delay > deadline)
          throw new StoreUnavailable(`${this.name} is unreachable (tried for ${UNREACHABLE_RETRY_MS / 1000} s): ${errorText(error.cause, '')}`, { cause: error.cause });
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  /** One try of `transaction`; a lost connection before COMMIT is a NotCommitted. */
  private async attempt<T>(writeLock: boolean, work: (client: PostgresClientLike) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      if (isConnectionError(error)) throw new NotCommitted(error);
      throw error;
    }
    let broken: Error | undefined;
    let committing = false;
    try {
      await client.query('BEGIN');
      if (writeLock) await client.query('SELECT id FROM write_lock FOR UPDATE');
      const result = await work(client);
      committing = true;
      try {
        await client.query('COMMIT');
      } catch (error) {
        if (isConnectionError(error))
          throw new StoreUnavailable(`${this.name}: the connection was lost while committing; whether the change was recorded is read back once it answers again`, { cause: error });
        throw error;
      }
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection is gone: give it back as broken, so the pool does not hand it out again.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
      if (!committing && isConnectionError(error)) throw new NotCommitted(error);
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async claimPromotion(promotionId: string, owner: PromotionOwner | undefined, expectedToken: string | undefined): Promise<boolean> {
    return this.transaction(false, async (client) => {
      // FOR UPDATE: a concurrent claimer (or a fenced commit) waits, then compares with what this one wrote.
      const row = await get<{ owner_token: string | null; json: string }>(client, 'SELECT owner_token, json FROM promotions WHERE id = $1 FOR UPDATE', [promotionId]);
      if (row === undefined) throw new NotFoundError(`promotion ${promotionId} not found`);
      if (row.owner_token !== (expectedToken ?? null)) return false;
      const { owner: _previous, ...rest } = this.read.promotion(promotionId, row.json);
      const record: PromotionRecord = owner === undefined ? rest : { ...rest, owner };
      await client.query('UPDATE promotions SET owner_token = $1, json = $2 WHERE id = $3', [owner?.token ?? null, JSON.stringify(record), promotionId]);
      return true;
    });
  }

  /** Runs inside the commit's transaction: any throw rolls the whole change back. */
  private async apply(client: PostgresClientLike, change: StoreChange): Promise<AuditEntry[]> {
    if (change.fence) await this.checkFence(client, change.fence);
    if (change.release) await this.putRelease(client, change.release);
    if (change.createPromotion) await this.insertPromotion(client, change.createPromotion.record, change.createPromotion.lock, change.createPromotion.once ?? false);
    if (change.releaseRejection) await this.rejectRelease(client, change.releaseRejection.releaseId, change.releaseRejection.rejection);
    if (change.promotion) await this.replacePromotion(client, change.promotion.record, change.promotion.releaseLock ?? false, change.promotion.takeLock ?? false);
    if (change.cancelRequest) await this.putCancelRequest(client, change.cancelRequest);
    if (change.replaceSteps !== undefined) await client.query('DELETE FROM steps WHERE promotion_id = $1', [change.replaceSteps]);
    for (const step of change.steps ?? []) await this.upsertStep(client, step);
    for (const approval of change.approvals ?? []) {
      if (!(await exists(client, 'SELECT 1 FROM promotions WHERE id = $1', [approval.promotionId]))) {
        throw new NotFoundError(`an approval names promotion ${approval.promotionId}, which does not exist`);
      }
      await client.query('INSERT INTO approvals (promotion_id, json) VALUES ($1, $2)', [approval.promotionId, JSON.stringify(approval)]);
    }
    for (const state of change.componentStates ?? []) {
      await client.query(
        `INSERT INTO component_states (environment, component, json) VALUES ($1, $2, $3)
         ON CONFLICT (environment, component) DO UPDATE SET json = excluded.json`,
        [state.environment, state.component, JSON.stringify(state)],
      );
    }
    for (const drift of change.driftStates ?? []) {
      await client.query(
        `INSERT INTO drift_states (environment, component, json) VALUES ($1, $2, $3)
         ON CONFLICT (environment, component) DO UPDATE SET json = excluded.json`,
        [drift.environment, drift.component, JSON.stringify(drift)],
      );
    }
    for (const log of change.logs ?? []) {
      await client.query(
        'INSERT INTO step_logs (promotion_id, component, time, line, after_seq) VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(seq), 0) FROM audit_log))',
        [log.promotionId, log.component, log.time, Buffer.from(log.line, 'utf8')],
      );
    }
    if (change.createToken) await this.insertToken(client, change.createToken);
    if (change.revokeToken) await this.markTokenRevoked(client, change.revokeToken.name, change.revokeToken.at);
    if (change.evidence) await this.insertEvidence(client, change.evidence);
    return this.appendAudit(client, change.audit);
  }

  private async insertEvidence(client: PostgresClientLike, record: EvidenceRecord): Promise<void> {
    if (!(await exists(client, 'SELECT 1 FROM promotions WHERE id = $1', [record.promotionId])))
      throw new NotFoundError(`evidence names promotion ${record.promotionId}, which does not exist`);
    // ON CONFLICT rather than a look first: two replicas sealing one promotion at once both get here.
    const inserted = await client.query('INSERT INTO evidence (promotion_id, created_at, json) VALUES ($1, $2, $3) ON CONFLICT (promotion_id) DO NOTHING', [
      record.promotionId,
      record.createdAt,
      JSON.stringify(record),
    ]);
    if (inserted.rowCount === 0) throw new ConflictError(`promotion ${record.promotionId} has evidence already`);
  }

  private async checkFence(client: PostgresClientLike, fence: { promotionId: string; ownerToken: string }): Promise<void> {
    // FOR UPDATE: a claim cannot change the owner between this check and the end of the commit.
    const row = await get<{ owner_token: string | null }>(client, 'SELECT owner_token FROM promotions WHERE id = $1 FOR UPDATE', [fence.promotionId]);
    if (row === undefined) throw new NotFoundError(`promotion ${fence.promotionId} not found`);
    if (row.owner_token !== fence.ownerToken) {
      throw new ConflictError(`promotion ${fence.promotionId} is no longer owned by this process (another process took it over)`);
    }
  }

  private async putRelease(client: PostgresClientLike, withRejection: ReleaseRecord): Promise<void> {
    // A rejection is kept apart (release_rejections): the release itself never changes.
    const { rejected: _rejected, ...release } = withRejection;
    const existing = await get<JsonRow>(client, 'SELECT json FROM releases WHERE id = $1', [release.id]);
    const json = JSON.stringify(release);
    if (existing !== undefined) {
      // Releases are immutable: writing the same one again is a no-op, anything else a conflict.
      if (canonicalJson(this.read.release(release.id, existing.json)) === canonicalJson(JSON.parse(json))) return;
      throw new ConflictError(`release ${release.id} already exists with different content (releases are immutable)`);
    }
    await client.query('INSERT INTO releases (id, created_at, json) VALUES ($1, $2, $3)', [release.id, release.createdAt, json]);
  }

  private async rejectRelease(client: PostgresClientLike, releaseId: string, rejection: ReleaseRejection): Promise<void> {
    if (!(await exists(client, 'SELECT 1 FROM releases WHERE id = $1', [releaseId]))) throw new NotFoundError(`release ${releaseId} not found`);
    const existing = await get<JsonRow>(client, 'SELECT json FROM release_rejections WHERE release_id = $1', [releaseId]);
    if (existing !== undefined) {
      const earlier = this.read.record<ReleaseRejection>('release_rejections', `release_id ${releaseId}`, existing.json, checkRejection);
      throw new ConflictError(`release ${releaseId.slice(0, 12)} was already rejected by ${earlier.by} at ${earlier.at}: ${earlier.reason}`);
    }
    await client.query('INSERT INTO release_rejections (release_id, json) VALUES ($1, $2)', [releaseId, JSON.stringify(rejection)]);
  }

  /**
   * Under the write lock no other commit can take the lock between the check and the insert; the
   * primary key of env_locks still refuses a second holder should anything write the table otherwise.
   */
  private async lockEnvironment(client: PostgresClientLike, record: PromotionRecord): Promise<void> {
    const holder = await this.lockHolder(client, record.environment);
    if (holder !== undefined && holder.id === record.id) return;
    if (holder !== undefined) throw environmentBusy(record.environment, holder);
    try {
      await client.query('INSERT INTO env_locks (environment, promotion_id) VALUES ($1, $2)', [record.environment, record.id]);
    } catch (error) {
      if (!isUniqueViolation(error, 'env_locks_pkey')) throw error;
      // This transaction is aborted now: the holder is read from what has been committed.
      const committed = await this.lockHolder(this.reads, record.environment);
      if (committed !== undefined) throw environmentBusy(record.environment, committed);
      // Freed again since: still a conflict of this commit, to be retried by the caller.
      throw new ConflictError(`environment ${record.environment} is busy: another promotion took it meanwhile`, { cause: error });
    }
  }

  private async insertPromotion(client: PostgresClientLike, record: PromotionRecord, lock: boolean, once: boolean): Promise<void> {
    if (once) {
      // Under the write lock: no other commit can add one between this check and the insert.
      const existing = await get<{ id: string }>(client, 'SELECT id FROM promotions WHERE environment = $1 AND release_id = $2 LIMIT 1', [record.environment, record.releaseId]);
      if (existing !== undefined) throw promotedAlready(record, existing.id);
    }
    if (!(await exists(client, 'SELECT 1 FROM releases WHERE id = $1', [record.releaseId]))) {
      throw new NotFoundError(`promotion ${record.id} names release ${record.releaseId}, which does not exist`);
    }
    if (await exists(client, 'SELECT 1 FROM promotions WHERE id = $1', [record.id])) {
      throw new ConflictError(`promotion ${record.id} already exists`);
    }
    await client.query(
      `INSERT INTO promotions (id, environment, release_id, state, requested_at, owner_token, json)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [record.id, record.environment, record.releaseId, record.state, record.requestedAt, record.owner?.token ?? null, JSON.stringify(record)],
    );
    if (lock) await this.lockEnvironment(client, record);
  }

  private async replacePromotion(client: PostgresClientLike, record: PromotionRecord, releaseLock: boolean, takeLock: boolean): Promise<void> {
    const result = await client.query(
      `UPDATE promotions
          SET environment = $1, release_id = $2, state = $3, requested_at = $4, owner_token = $5, json = $6
        WHERE id = $7`,
      [record.environment, record.releaseId, record.state, record.requestedAt, record.owner?.token ?? null, JSON.stringify(record), record.id],
    );
    if (result.rowCount === 0) throw new NotFoundError(`promotion ${record.id} not found`);
    // Only the holder's own lock: a promotion that never held it must not free someone else's.
    if (releaseLock) await client.query('DELETE FROM env_locks WHERE promotion_id = $1', [record.id]);
    if (takeLock) await this.lockEnvironment(client, record);
  }

  private async putCancelRequest(client: PostgresClientLike, request: CancelRequest): Promise<void> {
    if (!(await exists(client, 'SELECT 1 FROM promotions WHERE id = $1', [request.promotionId]))) {
      throw new NotFoundError(`a cancel request names promotion ${request.promotionId}, which does not exist`);
    }
    await client.query('INSERT INTO cancel_requests (promotion_id, json) VALUES ($1, $2) ON CONFLICT (promotion_id) DO NOTHING', [request.promotionId, JSON.stringify(request)]);
  }

  private async upsertStep(client: PostgresClientLike, step: StepRecord): Promise<void> {
    // The update first: most writes change a step that exists (see the SQLite store).
    const json = JSON.stringify(step);
    const updated = await client.query('UPDATE steps SET json = $1 WHERE promotion_id = $2 AND component = $3', [json, step.promotionId, step.component]);
    if ((updated.rowCount ?? 0) > 0) return;
    if (!(await exists(client, 'SELECT 1 FROM promotions WHERE id = $1', [step.promotionId]))) {
      throw new NotFoundError(`step ${step.component} names promotion ${step.promotionId}, which does not exist`);
    }
    // A new step goes after the promotion's existing ones.
    await client.query(
      `INSERT INTO steps (promotion_id, component, ord, json)
       VALUES ($1, $2, (SELECT COALESCE(MAX(ord), -1) + 1 FROM steps WHERE promotion_id = $1), $3)`,
      [step.promotionId, step.component, json],
    );
  }

  private async insertToken(client: PostgresClientLike, record: TokenRecord): Promise<void> {
    const holder = await get<{ id: number; json: string }>(client, 'SELECT id, json FROM api_tokens WHERE name = $1 AND revoked_at IS NULL', [record.name]);
    if (holder !== undefined) {
      const existing = this.read.token(holder.id, holder.json);
      throw tokenNameTaken(existing, record);
    }
    if (await exists(client, 'SELECT 1 FROM api_tokens WHERE hash = $1', [record.hash])) {
      // 256 random bits do not collide: this is a token being stored twice.
      throw new ConflictError(`token ${record.name}: a token with the same hash exists already`);
    }
    await client.query('INSERT INTO api_tokens (name, hash, revoked_at, json) VALUES ($1, $2, $3, $4)', [record.name, record.hash, record.revokedAt ?? null, JSON.stringify(record)]);
  }

  private async markTokenRevoked(client: PostgresClientLike, name: string, at: string): Promise<void> {
    const row = await get<{ id: number; json: string }>(client, 'SELECT id, json FROM api_tokens WHERE name = $1 AND revoked_at IS NULL', [name]);
    if (row === undefined) throw new NotFoundError(`no token named ${name} (that is not revoked already)`);
    const record: TokenRecord = { ...this.read.token(row.id, row.json), revokedAt: at };
    await client.query('UPDATE api_tokens SET revoked_at = $1, json = $2 WHERE id = $3', [at, JSON.stringify(record), row.id]);
  }

  /** Chains onto the head read under the write lock, so no other writer can fork it. */
  private async appendAudit(client: PostgresClientLike, inputs: readonly AuditEventInput[]): Promise<AuditEntry[]> {
    if (inputs.length === 0) return [];
    let head = await readHead(client);
    const entries: AuditEntry[] = [];
    for (const input of inputs) {
      const entry = chainEntry(asStored(input), head);
      await client.query(`INSERT INTO audit_log (${AUDIT_COLUMNS.join(', ')}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, auditRowValues(entry));
      entries.push(entry);
      head = entry;
    }
    return entries;
  }

  // ---------------------------------------------------------------- reads

  async getRelease(idOrPrefix: string): Promise<ReleaseRecord> {
    const row = await this.resolve('releases', 'release', idOrPrefix);
    const release = this.read.release(row.id, row.json);
    const rejection = await get<JsonRow>(this.reads, 'SELECT json FROM release_rejections WHERE release_id = $1', [release.id]);
    return rejection === undefined ? release : { ...release, rejected: this.read.rejection(release.id, rejection.json) };
  }

  async listReleases(options: { limit?: number } = {}): Promise<ReleaseRecord[]> {
    const rows = await all<JsonRow & { id: string; rejection: string | null }>(
      this.reads,
      `SELECT r.id, r.json, j.json AS rejection FROM releases r LEFT JOIN release_rejections j ON j.release_id = r.id
        ORDER BY r.created_at DESC, r.id DESC LIMIT $1`,
      [sqlLimit(options.limit)],
    );
    return rows.map((row) => {
      const release = this.read.release(row.id, row.json);
      return row.rejection === null ? release : { ...release, rejected: this.read.rejection(row.id, row.rejection) };
    });
  }

  async getPromotion(idOrPrefix: string): Promise<PromotionRecord> {
    const row = await this.resolve('promotions', 'promotion', idOrPrefix);
    const promotion = this.read.promotion(row.id, row.json);
    await this.checkReleaseExists(this.reads, promotion);
    return promotion;
  }

  async listPromotions(filter: PromotionFilter = {}): Promise<PromotionRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.environment !== undefined) where.push(`p.environment = ${param(params, filter.environment)}`);
    if (filter.releaseId !== undefined) where.push(`p.release_id = ${param(params, filter.releaseId)}`);
    if (filter.states !== undefined) {
      // In none of no states: an empty list matches nothing.
      if (filter.states.length === 0) return [];
      where.push(`p.state = ANY(${param(params, [...filter.states])})`);
    }
    const limit = param(params, sqlLimit(filter.limit));
    // The release joined only to notice one that is missing: a promotion always names an existing one.
    const rows = await all<JsonRow & { id: string; release_missing: boolean }>(
      this.reads,
      `SELECT p.id, p.json, r.id IS NULL AS release_missing FROM promotions p LEFT JOIN releases r ON r.id = p.release_id
        ${whereClause(where)} ORDER BY p.requested_at DESC, p.id DESC LIMIT ${limit}`,
      params,
    );
    return rows.map((row) => {
      const promotion = this.read.promotion(row.id, row.json);
      if (row.release_missing) throw this.read.missingRelease(promotion);
      return promotion;
    });
  }

  async activePromotion(environment: string): Promise<PromotionRecord | undefined> {
    return this.lockHolder(this.reads, environment);
  }

  async getCancelRequest(promotionId: string): Promise<CancelRequest | undefined> {
    const row = await get<JsonRow>(this.reads, 'SELECT json FROM cancel_requests WHERE promotion_id = $1', [promotionId]);
    return row === undefined ? undefined : this.read.record<CancelRequest>('cancel_requests', `promotion_id ${promotionId}`, row.json, checkCancelRequest);
  }

  async listApprovals(promotionId: string): Promise<ApprovalRecord[]> {
    const rows = await all<JsonRow & { id: number }>(this.reads, 'SELECT id, json FROM approvals WHERE promotion_id = $1 ORDER BY id', [promotionId]);
    return rows.map((row) => this.read.record<ApprovalRecord>('approvals', `row id ${row.id}`, row.json, checkApproval));
  }

  async listSteps(promotionId: string): Promise<StepRecord[]> {
    const rows = await all<JsonRow & { component: string }>(this.reads, 'SELECT component, json FROM steps WHERE promotion_id = $1 ORDER BY ord', [promotionId]);
    return rows.map((row) => this.read.step(promotionId, row.component, row.json));
  }

  async listStepHistory(filter: { environment?: string; component?: string; limit?: number } = {}): Promise<StepRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.environment !== undefined) where.push(`p.environment = ${param(params, filter.environment)}`);
    if (filter.component !== undefined) where.push(`s.component = ${param(params, filter.component)}`);
    const limit = param(params, sqlLimit(filter.limit));
    const rows = await all<JsonRow & { promotion_id: string; component: string }>(
      this.reads,
      `SELECT s.promotion_id, s.component, s.json FROM steps s JOIN promotions p ON p.id = s.promotion_id ${whereClause(where)}
        ORDER BY p.requested_at DESC, p.id DESC, s.ord LIMIT ${limit}`,
      params,
    );
    return rows.map((row) => this.read.step(row.promotion_id, row.component, row.json));
  }

  async driftStates(environment: string): Promise<DriftState[]> {
    const rows = await all<JsonRow & { component: string }>(this.reads, 'SELECT component, json FROM drift_states WHERE environment = $1 ORDER BY component', [environment]);
    return rows.map((row) => this.read.record<DriftState>('drift_states', `environment ${environment}, component ${row.component}`, row.json, checkDriftState));
  }

  async claimDriftCheck(environment: string, dueAfter: string, now: string): Promise<boolean> {
    // One statement: concurrent claimers of the same row serialise on it, and the loser's WHERE fails.
    const result = await this.pool.query(
      `INSERT INTO drift_checks (environment, checked_at) VALUES ($1, $2)
       ON CONFLICT (environment) DO UPDATE SET checked_at = excluded.checked_at WHERE drift_checks.checked_at <= $3`,
      [environment, now, dueAfter],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async environmentState(environment: string): Promise<ComponentState[]> {
    const rows = await all<JsonRow & { component: string }>(this.reads, 'SELECT component, json FROM component_states WHERE environment = $1 ORDER BY component', [environment]);
    return rows.map((row) =>
      this.read.record<ComponentState>('component_states', `environment ${environment}, component ${row.component}`, row.json, checkComponentState),
    );
  }

  async stepLogs(promotionId: string, component?: string): Promise<StepLogLine[]> {
    const rows =
      component === undefined
        ? await all<LogRow>(this.reads, 'SELECT promotion_id, component, time, line FROM step_logs WHERE promotion_id = $1 ORDER BY id', [promotionId])
        : await all<LogRow>(this.reads, 'SELECT promotion_id, component, time, line FROM step_logs WHERE promotion_id = $1 AND component = $2 ORDER BY id', [promotionId, component]);
    return rows.map(logLine);
  }

  async logsAfter(afterId: number, limit: number): Promise<StoredLogLine[]> {
    if (!Number.isSafeInteger(afterId)) throw new InputError(`afterId must be a whole number, not ${afterId}`, 'afterId');
    const rows = await all<LogRow & { id: number; after_seq: number }>(
      this.reads,
      'SELECT id, after_seq, promotion_id, component, time, line FROM step_logs WHERE id > $1 ORDER BY id LIMIT $2',
      [afterId, sqlLimit(limit)],
    );
    return rows.map((r) => ({ id: r.id, afterSeq: r.after_seq, ...logLine(r) }));
  }

  async logHead(): Promise<number> {
    return (await get<{ id: number | null }>(this.reads, 'SELECT MAX(id) AS id FROM step_logs'))?.id ?? 0;
  }

  async auditPage(afterSeq: number | null, limit: number): Promise<AuditEntry[]> {
    if (afterSeq !== null && !Number.isSafeInteger(afterSeq)) throw new InputError(`afterSeq must be a whole number, not ${afterSeq}`, 'afterSeq');
    // Rows as arrays, in AUDIT_COLUMNS order, as the SQLite store reads them.
    const columns = AUDIT_COLUMNS.join(', ');
    const result =
      afterSeq === null
        ? await this.reads.query<AuditTuple>({ text: `SELECT ${columns} FROM audit_log ORDER BY seq LIMIT $1`, values: [sqlLimit(limit)], rowMode: 'array' })
        : await this.reads.query<AuditTuple>({ text: `SELECT ${columns} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, values: [afterSeq, sqlLimit(limit)], rowMode: 'array' });
    return result.rows.map((row) => {
      const data = this.read.record<Record<string, unknown>>('audit_log', `seq ${row[0]}`, row[11], checkAuditData, 'data');
      return entryFromTuple(row, data);
    });
  }

  async auditHead(): Promise<{ seq: number; hash: string } | undefined> {
    return readHead(this.reads);
  }

  async promotionAudit(promotionId: string): Promise<AuditEntry[]> {
    const result = await this.reads.query<AuditTuple>({
      text: `SELECT ${AUDIT_COLUMNS.join(', ')} FROM audit_log WHERE promotion_id = $1 ORDER BY seq`,
      values: [promotionId],
      rowMode: 'array',
    });
    return result.rows.map((row) => this.auditRow(row));
  }

  async lastAuditOfKind(kind: AuditEntry['kind']): Promise<AuditEntry | undefined> {
    const result = await this.reads.query<AuditTuple>({
      text: `SELECT ${AUDIT_COLUMNS.join(', ')} FROM audit_log WHERE kind = $1 ORDER BY seq DESC LIMIT 1`,
      values: [kind],
      rowMode: 'array',
    });
    const row = result.rows[0];
    return row === undefined ? undefined : this.auditRow(row);
  }

  private auditRow(row: AuditTuple): AuditEntry {
    const data = this.read.record<Record<string, unknown>>('audit_log', `seq ${row[0]}`, row[11], checkAuditData, 'data');
    return entryFromTuple(row, data);
  }

  async getEvidence(promotionId: string): Promise<EvidenceRecord | undefined> {
    const row = await get<JsonRow>(this.reads, 'SELECT json FROM evidence WHERE promotion_id = $1', [promotionId]);
    return row === undefined ? undefined : this.read.record<EvidenceRecord>('evidence', `promotion_id ${promotionId}`, row.json, checkEvidence);
  }

  async unsealedPromotions(limit: number): Promise<string[]> {
    const rows = await all<{ id: string }>(
      this.reads,
      `SELECT p.id FROM promotions p WHERE p.state = ANY($1)
         AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.promotion_id = p.id) ORDER BY p.requested_at, p.id LIMIT $2`,
      [[...FINAL_PROMOTION_STATES], sqlLimit(limit)],
    );
    return rows.map((r) => r.id);
  }

  async listTokens(): Promise<TokenRecord[]> {
    const rows = await all<{ id: number; json: string }>(this.reads, 'SELECT id, json FROM api_tokens ORDER BY id');
    return rows.map((row) => this.read.token(row.id, row.json));
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    const row = await get<{ id: number; json: string }>(this.reads, 'SELECT id, json FROM api_tokens WHERE hash = $1', [hash]);
    return row === undefined ? undefined : this.read.token(row.id, row.json);
  }

  // ------------------------------------------------ notification outbox

  async notifyCursor(target: string): Promise<number | undefined> {
    return (await get<{ audit_seq: number }>(this.reads, 'SELECT audit_seq FROM notify_cursors WHERE target = $1', [target]))?.audit_seq;
  }

  async queueDeliveries(batch: DeliveryBatch): Promise<boolean> {
    return this.transaction(false, async (client) => {
      // Each statement is its own compare-and-set: a concurrent mover waits on the row, then finds
      // the cursor moved (READ COMMITTED re-checks the WHERE on the newest version) and changes nothing.
      const moved =
        batch.after === undefined
          ? await client.query('INSERT INTO notify_cursors (target, audit_seq) VALUES ($1, $2) ON CONFLICT (target) DO NOTHING', [batch.target, batch.upTo])
          : await client.query('UPDATE notify_cursors SET audit_seq = $1 WHERE target = $2 AND audit_seq = $3', [batch.upTo, batch.target, batch.after]);
      if (moved.rowCount === 0) return false;
      for (const delivery of batch.deliveries) {
        const record = queuedDelivery(delivery);
        await client.query('INSERT INTO notify_deliveries (delivery_id, target, status, next_attempt_at, json) VALUES ($1, $2, $3, $4, $5)', [
          delivery.deliveryId,
          delivery.target,
          'pending',
          record.nextAttemptAt,
          JSON.stringify(record),
        ]);
      }
      if (batch.deliveries.length > 0) await this.announce(client, { work: true, audit: false, logs: false });
      return true;
    });
  }

  async nextDelivery(target: string): Promise<DeliveryRecord | undefined> {
    const row = await get<DeliveryRow>(this.reads, `SELECT ${DELIVERY_COLUMNS} FROM notify_deliveries WHERE target = $1 AND status = 'pending' ORDER BY id LIMIT 1`, [target]);
    return row === undefined ? undefined : this.deliveryRecord(row);
  }

  async claimDelivery(id: number, claim: { token: string; until: string; now: string }): Promise<boolean> {
    const result = await this.reads.query(
      `UPDATE notify_deliveries SET claim_token = $1, claimed_until = $2
        WHERE id = $3 AND status = 'pending' AND (claimed_until IS NULL OR claimed_until <= $4)`,
      [claim.token, claim.until, id, claim.now],
    );
    return result.rowCount === 1;
  }

  async finishAttempt(id: number, token: string, outcome: AttemptOutcome): Promise<boolean> {
    return this.transaction(false, async (client) => {
      const row = await get<DeliveryRow & { claim_token: string | null }>(client, `SELECT ${DELIVERY_COLUMNS}, claim_token FROM notify_deliveries WHERE id = $1 FOR UPDATE`, [id]);
      if (row === undefined) throw new NotFoundError(`delivery ${id} not found`);
      if (row.claim_token !== token) return false;
      const before = this.deliveryRecord(row);
      const record = afterAttempt(before, outcome);
      await client.query('UPDATE notify_deliveries SET status = $1, next_attempt_at = $2, claim_token = NULL, claimed_until = NULL, json = $3 WHERE id = $4', [
        record.status,
        record.nextAttemptAt,
        JSON.stringify(record),
        id,
      ]);
      return true;
    });
  }

  async listDeliveries(filter: DeliveryFilter = {}): Promise<DeliveryRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.target !== undefined) where.push(`target = ${param(params, filter.target)}`);
    if (filter.status !== undefined) where.push(`status = ${param(params, filter.status)}`);
    const limit = param(params, sqlLimit(filter.limit));
    const rows = await all<DeliveryRow>(this.reads, `SELECT ${DELIVERY_COLUMNS} FROM notify_deliveries ${whereClause(where)} ORDER BY id DESC LIMIT ${limit}`, params);
    return rows.map((row) => this.deliveryRecord(row));
  }

  async deliveryCounts(): Promise<DeliveryCount[]> {
    return all<{ target: string; status: DeliveryStatus; count: number }>(
      this.reads,
      'SELECT target, status, COUNT(*) AS count FROM notify_deliveries GROUP BY target, status ORDER BY target, status',
    );
  }

  private deliveryRecord(row: DeliveryRow): DeliveryRecord {
    const record = this.read.record<Omit<DeliveryRecord, 'id'>>('notify_deliveries', `row id ${row.id}`, row.json, checkDelivery);
    return { ...record, id: row.id, status: row.status, nextAttemptAt: row.next_attempt_at };
  }

  // ---------------------------------------------------------------- helpers

  private async lockHolder(client: PostgresClientLike, environment: string): Promise<PromotionRecord | undefined> {
    const row = await get<{ promotion_id: string; json: string | null }>(
      client,
      'SELECT l.promotion_id, p.json FROM env_locks l LEFT JOIN promotions p ON p.id = l.promotion_id WHERE l.environment = $1',
      [environment],
    );
    if (row === undefined) return undefined;
    if (row.json === null) throw this.read.damaged('env_locks', `environment ${environment}`, `it names promotion ${row.promotion_id}, which is not in table promotions`);
    const promotion = this.read.promotion(row.promotion_id, row.json);
    await this.checkReleaseExists(client, promotion);
    return promotion;
  }

  private async checkReleaseExists(client: PostgresClientLike, promotion: PromotionRecord): Promise<void> {
    if (!(await exists(client, 'SELECT 1 FROM releases WHERE id = $1', [promotion.releaseId]))) throw this.read.missingRelease(promotion);
  }

  /** The one record whose id is `idOrPrefix`, or starts with it (≥ 7 characters). */
  private async resolve(table: 'releases' | 'promotions', noun: 'release' | 'promotion', idOrPrefix: string): Promise<{ id: string; json: string }> {
    const exact = await get<JsonRow>(this.reads, `SELECT json FROM ${table} WHERE id = $1`, [idOrPrefix]);
    if (exact !== undefined) return { id: idOrPrefix, json: exact.json };
    checkPrefix(noun, idOrPrefix);
    // Ids are lower-case hex (or UUIDs) in COLLATE "C" columns: every id starting with the prefix
    // sorts in [prefix, prefix + 'g'), so the primary key index answers without scanning.
    const { from, to } = prefixRange(idOrPrefix);
    const rows = await all<{ id: string; json: string }>(this.reads, `SELECT id, json FROM ${table} WHERE id >= $1 AND id < $2 ORDER BY id LIMIT $3`, [
      from,
      to,
      MAX_CANDIDATES + 1,
    ]);
    return onlyMatch(noun, idOrPrefix, rows);
  }

}

async function countRows(client: PostgresClientLike): Promise<RowCounts> {
  const counts = emptyCounts();
  const { rows } = await client.query<{ name: string; n: number }>(STATE_TABLES.map((table) => `SELECT '${table.name}' AS name, COUNT(*) AS n FROM ${table.name}`).join(' UNION ALL '));
  for (const row of rows) counts[row.name as keyof RowCounts] = row.n;
  return counts;
}

/** Whether a change may give the background work something to do (ChangeNotice.work). */
function changesWork(change: StoreChange): boolean {
  return (
    change.createPromotion !== undefined ||
    change.promotion !== undefined ||
    (change.approvals?.length ?? 0) > 0 ||
    change.cancelRequest !== undefined ||
    change.releaseRejection !== undefined ||
    change.release !== undefined ||
    (change.componentStates?.length ?? 0) > 0
  );
}

async function readHead(client: PostgresClientLike): Promise<{ seq: number; hash: string } | undefined> {
  return get<{ seq: number; hash: string }>(client, 'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
}

/** Row types are asserted, not checked: the schema in schema.ts is what guarantees them. */
async function get<Row extends pg.QueryResultRow>(client: PostgresClientLike, sql: string, params: unknown[] = []): Promise<Row | undefined> {
  return (await client.query<Row>(sql, params)).rows[0];
}

async function all<Row extends pg.QueryResultRow>(client: PostgresClientLike, sql: string, params: unknown[] = []): Promise<Row[]> {
  return (await client.query<Row>(sql, params)).rows;
}

async function exists(client: PostgresClientLike, sql: string, params: unknown[]): Promise<boolean> {
  return (await client.query(sql, params)).rows.length > 0;
}

/** A transaction cut off before COMMIT: nothing of it was written. */
class NotCommitted extends Error {
  constructor(override readonly cause: unknown) {
    super('not committed', { cause });
  }
}

/**
 * The database could not be reached or dropped the connection: node's socket errors, PostgreSQL's
 * connection exceptions (class 08), an administrator's or a shutdown's termination (57P01-57P03),
 * and node-postgres's own "Connection terminated".
 */
function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (/^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)$/.test(code)) return true;
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
  }
  if (error instanceof AggregateError) return error.errors.some(isConnectionError);
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(message);
}

/** PostgreSQL's unique_violation (23505) on `constraint`. */
function isUniqueViolation(error: unknown, constraint: string): boolean {
  const fields = error as { code?: unknown; constraint?: unknown } | null;
  return fields?.code === '23505' && fields.constraint === constraint;
}

/** Adds a parameter; returns its placeholder ($1, $2, …). */
function param(params: unknown[], value: unknown): string {
  params.push(value);
  return `$${params.length}`;
}

function whereClause(conditions: readonly string[]): string {
  return conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
}

/** PostgreSQL's LIMIT; NULL means none. */
function sqlLimit(limit: number | undefined): number | null {
  if (limit === undefined) return null;
  if (!Number.isSafeInteger(limit) || limit < 0) throw new InputError(`limit must be a whole number of at least 0, not ${limit}`, 'limit');
  return limit;
}

/**
 * The URL with `settings` added to its `options` parameter (the server settings sent at connect),
 * after any the URL holds: node-postgres lets the URL's parameters win over its config object, so
 * they are put in the URL. A URL that does not parse is left to node-postgres to refuse.
 */
function withSettings(url: string, settings: readonly string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  const given = parsed.searchParams.get('options');
  parsed.searchParams.set('options', [...(given === null || given === '' ? [] : [given]), ...settings].join(' '));
  return parsed.toString();
}

/**
 * `host:port/database` of a connection URL, for messages: never the user's password (nor the
 * query, which may hold TLS key paths or a password too). A URL that does not parse is not quoted.
 */
export function describeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(an unreadable URL)';
  }
  const host = parsed.hostname === '' ? (parsed.searchParams.get('host') ?? 'localhost') : parsed.host;
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  return `${host}/${database === '' ? '(default database)' : database}`;
}

/** An error's message with the URL's password removed, should a driver ever quote it. */
function errorText(error: unknown, url: string): string {
  // A refused connection to several addresses is an AggregateError with an empty message: say its code.
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const text = message === '' && typeof code === 'string' ? code : message;
  let password = '';
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    // Not a URL: nothing to strip that we could find.
  }
  return password === '' ? text : text.split(password).join('***');
}
