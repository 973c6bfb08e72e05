// The audit sink for teams: a table in PostgreSQL that every gateway replica writes to. The URL is
// the usual `postgres://user:pass@host:port/db`; `?schema=NAME` keeps Gatehouse's tables in a
// schema of their own. The database may be down when the gateway starts: the tables are created on
// the first successful connection, and until then the writer keeps records queued.
import { createRequire } from 'node:module';
import type pg from 'pg';
import { migrateAudit } from './postgres-migrations.js';
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
import { summarize, summarySql, type AuditSummary, type StatsQuery, type SummaryRows } from './stats.js';

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Rows per INSERT statement: 10 parameters each, well under PostgreSQL's 65535. */
const ROWS_PER_STATEMENT = 1000;

interface Row {
  id: string;
  record: AuditRecord;
}

export class PostgresAuditSink implements AuditSink {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;
  private readonly schema: string | undefined;
  private ready: Promise<unknown> | undefined;

  constructor(url: string) {
    const parsed = new URL(url);
    const schema = parsed.searchParams.get('schema') ?? undefined;
    if (schema !== undefined && !SCHEMA_NAME.test(schema))
      throw new Error(`the audit schema "${schema}" is not a plain identifier (${SCHEMA_NAME.source})`);
    parsed.searchParams.delete('schema');
    this.schema = schema;
    this.pool = new (loadPg().Pool)({
      connectionString: parsed.toString(),
      max: 4,
      connectionTimeoutMillis: 5000,
      application_name: 'gatehouse-audit',
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    // An idle connection that breaks is replaced on the next query; it must not end the process.
    this.pool.on('error', () => undefined);
  }

  /** Migrates once; a failure is forgotten so that the next call tries again. */
  private async prepared(): Promise<void> {
    this.ready ??= migrateAudit(this.pool, this.schema).catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    await this.ready;
  }

  async insert(records: AuditRecord[]): Promise<void> {
    await this.prepared();
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      for (let i = 0; i < records.length; i += ROWS_PER_STATEMENT) {
        const chunk = records.slice(i, i + ROWS_PER_STATEMENT);
        const params: unknown[] = [];
        const rows = chunk.map((r) => {
          const values = [r.ts, r.server, r.subject, r.tool, r.grant, r.agent, r.session, r.decision].map(text);
          params.push(r.uid ?? null, ...values, storable(r));
          const base = params.length - 10;
          return `(${Array.from({ length: 10 }, (_, k) => `$${base + k + 1}`).join(', ')})`;
        });
        // DO NOTHING: a record shipped again after a crash (spool.ts) is stored once.
        await client.query(
          `INSERT INTO gatehouse_audit (uid, ts, server, subject, tool, "grant", agent, session, decision, record) VALUES ${rows.join(', ')} ON CONFLICT (uid) DO NOTHING`,
          params,
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw isDataError(error) ? unstorable(error) : error;
    } finally {
      client.release();
    }
  }

  async prune(before: number): Promise<number> {
    await this.prepared();
    const result = await this.pool.query('DELETE FROM gatehouse_audit WHERE ts < $1', [before]);
    return result.rowCount ?? 0;
  }

  async query(q: AuditQuery): Promise<AuditPage> {
    await this.prepared();
    const size = pageSize(q.limit);
    const where = sqlWhere(q, q.cursor === undefined ? {} : { cursor: q.cursor }, (n) => `$${n}`);
    const { rows } = await this.pool.query<Row>(
      `SELECT id, record FROM gatehouse_audit ${where.sql} ORDER BY ts DESC, id DESC LIMIT ${size}`,
      where.params,
    );
    const records = rows.map(toStored);
    return { records, next_cursor: nextCursor(records, size) };
  }

  async after(id: string | undefined, filter: AuditFilter, limit: number): Promise<StoredAuditRecord[]> {
    await this.prepared();
    const where = sqlWhere(filter, id === undefined ? {} : { afterId: id }, (n) => `$${n}`);
    const { rows } = await this.pool.query<Row>(
      `SELECT id, record FROM gatehouse_audit ${where.sql} ORDER BY id LIMIT ${Math.max(1, Math.floor(limit))}`,
      where.params,
    );
    return rows.map(toStored);
  }

  async summarize(q: StatsQuery): Promise<AuditSummary> {
    await this.prepared();
    const sql = summarySql('gatehouse_audit', (n) => `$${n}`, q);
    const [buckets, tools] = await Promise.all([
      this.pool.query<SummaryRows['buckets'][number]>(sql.buckets, sql.bucketParams.map(String)),
      this.pool.query<SummaryRows['tools'][number]>(sql.tools, sql.toolParams.map(String)),
    ]);
    return summarize(q, { buckets: buckets.rows, tools: tools.rows });
  }

  async lastId(): Promise<string | undefined> {
    await this.prepared();
    const { rows } = await this.pool.query<{ id: string | null }>('SELECT max(id)::text AS id FROM gatehouse_audit');
    return rows[0]?.id ?? undefined;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function toStored(row: Row): StoredAuditRecord {
  return { ...row.record, id: String(row.id) };
}

// PostgreSQL text cannot hold a NUL character (and jsonb refuses \u0000): one such value in a tool's
// arguments would make its whole batch fail again and again, so NUL becomes U+FFFD here.
function text(value: string | number): string | number {
  return typeof value === 'string' ? value.replaceAll('\0', '\uFFFD') : value;
}

function storable(record: AuditRecord): string {
  return recordJson(record, (_key, value: unknown) =>
    typeof value === 'string' ? value.replaceAll('\0', '\uFFFD') : value,
  );
}

/**
 * Whether PostgreSQL refused the rows themselves, which fails again at every try: a data exception
 * (SQLSTATE class 22: a value it cannot hold) or a limit (54000: e.g. a tool name too long for its
 * index). A record that cannot be serialised is already an UnstorableRecordError. Anything else (a
 * lost connection, a database that is down or read-only) is the sink's.
 */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code === '54000');
}

// Loaded on first use: a gateway without a PostgreSQL audit log never pays for loading pg.
let pgModule: typeof pg | undefined;
function loadPg(): typeof pg {
  pgModule ??= createRequire(import.meta.url)('pg') as typeof pg;
  return pgModule;
}
