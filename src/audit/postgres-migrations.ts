// The PostgreSQL tables of the audit log, created and migrated by Gatehouse itself. Each migration
// runs once, in order, in a transaction; `gatehouse_schema_version` remembers how far a database
// has come. An advisory lock makes replicas that start together migrate one at a time.
import type pg from 'pg';

export const AUDIT_COMPONENT = 'audit';

/** Append only: a migration that has shipped is never edited, a change is a new entry. */
export const AUDIT_MIGRATIONS: readonly string[] = [
  `CREATE TABLE gatehouse_audit (
     id BIGSERIAL PRIMARY KEY,
     ts BIGINT NOT NULL,
     server TEXT NOT NULL,
     subject TEXT NOT NULL,
     tool TEXT NOT NULL,
     "grant" TEXT NOT NULL,
     agent TEXT NOT NULL,
     session TEXT NOT NULL,
     decision TEXT NOT NULL,
     record JSONB NOT NULL
   );
   CREATE INDEX gatehouse_audit_ts ON gatehouse_audit (ts, id);
   CREATE INDEX gatehouse_audit_server_ts ON gatehouse_audit (server, ts);
   CREATE INDEX gatehouse_audit_tool_ts ON gatehouse_audit (tool, ts);
   CREATE INDEX gatehouse_audit_grant_ts ON gatehouse_audit ("grant", ts);
   CREATE INDEX gatehouse_audit_decision_ts ON gatehouse_audit (decision, ts);`,
  // A unique id per record, so that a record shipped twice after a crash is stored once. Rows from
  // before keep NULL, which a unique index lets repeat.
  `ALTER TABLE gatehouse_audit ADD COLUMN uid TEXT;
   CREATE UNIQUE INDEX gatehouse_audit_uid ON gatehouse_audit (uid);`,
];

// Any constant shared by every Gatehouse: the lock only has to keep Gatehouse replicas apart.
const MIGRATION_LOCK = 0x6761_7465;

/** Brings the schema to the newest version; returns the version it is at. */
export async function migrateAudit(pool: pg.Pool, schema: string | undefined): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS gatehouse_schema_version (
         component TEXT PRIMARY KEY, version INTEGER NOT NULL, migrated_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    );
    const found = await client.query<{ version: number }>(
      'SELECT version FROM gatehouse_schema_version WHERE component = $1',
      [AUDIT_COMPONENT],
    );
    const current = found.rows[0]?.version ?? 0;
    if (current > AUDIT_MIGRATIONS.length) {
      throw new Error(
        `the audit tables are at version ${current}, newer than this Gatehouse knows (${AUDIT_MIGRATIONS.length}): upgrade Gatehouse`,
      );
    }
    for (let v = current; v < AUDIT_MIGRATIONS.length; v++) await client.query(AUDIT_MIGRATIONS[v]!);
    await client.query(
      `INSERT INTO gatehouse_schema_version (component, version) VALUES ($1, $2)
       ON CONFLICT (component) DO UPDATE SET version = excluded.version, migrated_at = now()`,
      [AUDIT_COMPONENT, AUDIT_MIGRATIONS.length],
    );
    await client.query('COMMIT');
    return AUDIT_MIGRATIONS.length;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
