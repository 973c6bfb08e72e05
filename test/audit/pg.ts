// A PostgreSQL audit URL of its own for each test run: a fresh schema, dropped afterwards, so that
// parallel runs against the one test database never see each other's rows.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_BASE = process.env.GATEHOUSE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

export function uniqueSchema(): string {
  return `gh_audit_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export function pgAuditUrl(schema: string): string {
  return `${PG_BASE}?schema=${schema}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_BASE });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
