// The embedded audit sink: a table `audit` in an SQLite file, by default the state store's own file,
// then through the store's own connection (sqlite-connection.ts). The record is
// kept whole as JSON, beside the columns that queries filter on, so a field added to AuditRecord
// needs no migration.
import type Database from 'better-sqlite3';
import { SqliteConnection } from '../store/sqlite-connection.js';
import {
  nextCursor,
  pageSize,
  type AuditFilter,
  type AuditPage,
  type AuditQuery,
  type StoredAuditRecord,
} from './query.js';
import type { AuditRecord } from './record.js';
import { recordJson, unstorable, type AuditSink } from './sink.js';
import { sqlWhere } from './sql-filter.js';
import { SqliteReader } from './sqlite-reader.js';
import { summarize, summarySql, type AuditSummary, type StatsQuery, type SummaryRows } from './stats.js';

// How long the log's writes wait for another process's write lock (without holding the thread:
// SqliteConnection.whenFree). Short: the writer keeps the batch and tries it again later.
const INSERT_BUSY_TIMEOUT_MS = 1000;
// How long opening the log waits for it: making its table and switching a new file to WAL. Once,
// before anything is served; several processes started at once (a client launching `gatehouse
// stdio` for each of its servers, say) each make the table on a new file, and on a loaded machine
// one may hold the lock for longer than an insert waits.
const SETUP_BUSY_TIMEOUT_MS = 10_000;
/** Records one pruning statement deletes: a few milliseconds of the gateway's thread. */
export const PRUNE_BATCH = 500;

interface Row {
  id: number;
  record: string;
}

export class SqliteAuditSink implements AuditSink {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly connection: SqliteConnection;
  private readonly releaseConnection: () => void;
  private readonly insertMany: (records: AuditRecord[]) => void;
  /** Reads that can take seconds, off the gateway's thread; none for an in-memory database. */
  private readonly reader: SqliteReader | undefined;
  private closing = false;
  /** Tells a write waiting for another process's lock that the log has closed: it fails at once. */
  private readonly stop = (): boolean => this.closing;

  /** `shared`: the state store's connection, when the log lives in the state file. */
  constructor(
    readonly file: string,
    shared?: SqliteConnection,
  ) {
    this.connection = shared ?? new SqliteConnection(file, SETUP_BUSY_TIMEOUT_MS);
    this.releaseConnection = this.connection.use();
    this.db = this.connection.db;
    this.reader = file === ':memory:' ? undefined : new SqliteReader(file);
    try {
      this.connection.withBusyTimeout(SETUP_BUSY_TIMEOUT_MS, () => this.createTable());
    } catch (error) {
      this.releaseConnection();
      throw error;
    }
    // OR IGNORE: a record shipped again after a crash (spool.ts) is stored once.
    const insert = this.db.prepare(
      'INSERT OR IGNORE INTO audit (uid, ts, server, subject, tool, "grant", agent, session, decision, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.insertMany = this.db.transaction((records: AuditRecord[]) => {
      for (const r of records)
        insert.run(
          r.uid ?? null,
          r.ts,
          r.server,
          r.subject,
          r.tool,
          r.grant,
          r.agent,
          r.session,
          r.decision,
          recordJson(r),
        );
    });
    this.connection.serve();
  }

  /** The table, its indexes and the columns added since it was first made. */
  private createTable(): void {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL, server TEXT NOT NULL, subject TEXT NOT NULL, tool TEXT NOT NULL,
        "grant" TEXT NOT NULL, agent TEXT NOT NULL, session TEXT NOT NULL, decision TEXT NOT NULL,
        record TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts, id);
      CREATE INDEX IF NOT EXISTS audit_server_ts ON audit (server, ts);
      CREATE INDEX IF NOT EXISTS audit_tool_ts ON audit (tool, ts);
      CREATE INDEX IF NOT EXISTS audit_grant_ts ON audit ("grant", ts);
      CREATE INDEX IF NOT EXISTS audit_decision_ts ON audit (decision, ts);
    `);
    // A table from before records had a uid gains the column; older rows keep NULL, which the
    // unique index lets repeat.
    const columns = this.db.prepare('PRAGMA table_info(audit)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'uid')) this.db.exec('ALTER TABLE audit ADD COLUMN uid TEXT');
    this.db.exec('CREATE UNIQUE INDEX IF NOT EXISTS audit_uid ON audit (uid)');
  }

  async insert(records: AuditRecord[]): Promise<void> {
    try {
      await this.connection.whenFree(() => this.insertMany(records), INSERT_BUSY_TIMEOUT_MS, this.stop);
    } catch (error) {
      // A row longer than SQLite takes fails again at every try; a busy or full database does not.
      throw (error as { code?: unknown }).code === 'SQLITE_TOOBIG' ? unstorable(error) : error;
    }
  }

  /**
   * Deletes the records before `before`, PRUNE_BATCH at a time with a turn of the event loop between
   * batches. A delete runs on the gateway's thread: in one statement, an hour's records of a busy
   * gateway (or every record, when the retention is shortened) held every call for seconds.
   */
  async prune(before: number): Promise<number> {
    const batch = this.db.prepare(
      'DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE ts < ? ORDER BY ts, id LIMIT ?)',
    );
    let deleted = 0;
    while (!this.closing) {
      let n: number;
      try {
        n = await this.connection.whenFree(
          () => batch.run(before, PRUNE_BATCH).changes,
          INSERT_BUSY_TIMEOUT_MS,
          this.stop,
        );
      } catch (error) {
        // Stopped by close() while it waited for another process's lock: not a failure to report.
        if (this.closing) break;
        throw error;
      }
      deleted += n;
      if (n < PRUNE_BATCH) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return deleted;
  }

  async query(q: AuditQuery): Promise<AuditPage> {
    const size = pageSize(q.limit);
    const where = sqlWhere(q, q.cursor === undefined ? {} : { cursor: q.cursor }, () => '?');
    const rows = await this.all<Row>(`SELECT id, record FROM audit ${where.sql} ORDER BY ts DESC, id DESC LIMIT ?`, [
      ...where.params,
      size,
    ]);
    const records = rows.map(toStored);
    return { records, next_cursor: nextCursor(records, size) };
  }

  async after(id: string | undefined, filter: AuditFilter, limit: number): Promise<StoredAuditRecord[]> {
    // Ids travel as text; SQLite compares them with the INTEGER column as numbers.
    const where = sqlWhere(filter, id === undefined ? {} : { afterId: id }, () => '?');
    const rows = await this.all<Row>(`SELECT id, record FROM audit ${where.sql} ORDER BY id LIMIT ?`, [
      ...where.params,
      limit,
    ]);
    return rows.map(toStored);
  }

  async summarize(q: StatsQuery): Promise<AuditSummary> {
    const sql = summarySql('audit', () => '?', q);
    const reads = [
      { sql: sql.buckets, params: sql.bucketParams },
      { sql: sql.tools, params: sql.toolParams },
    ];
    // One snapshot: the totals of the buckets and of the tools count the same records.
    const [buckets, tools] = await this.read(reads);
    return summarize(q, {
      buckets: buckets as SummaryRows['buckets'],
      tools: tools as SummaryRows['tools'],
    });
  }

  async lastId(): Promise<string | undefined> {
    const select = this.db.prepare('SELECT max(id) AS id FROM audit');
    const row = await this.connection.whenFree(
      () => select.get() as { id: number | null },
      undefined,
      this.stop,
      false,
    );
    return row.id === null ? undefined : String(row.id);
  }

  async close(): Promise<void> {
    // A prune between two batches stops here rather than use the connection after it is released.
    this.closing = true;
    await this.reader?.close();
    this.releaseConnection();
  }

  /** One read's rows. */
  private async all<T>(sql: string, params: readonly unknown[]): Promise<T[]> {
    const [rows] = await this.read([{ sql, params }]);
    return rows as T[];
  }

  /** The rows of each read, from one snapshot: on the reader's thread, or on this one for an in-memory database. */
  private async read(reads: readonly { sql: string; params: readonly unknown[] }[]): Promise<unknown[][]> {
    if (this.reader) return this.reader.read(reads);
    return reads.map((r) => this.db.prepare(r.sql).all(...r.params));
  }
}

function toStored(row: Row): StoredAuditRecord {
  return { ...(JSON.parse(row.record) as AuditRecord), id: String(row.id) };
}
