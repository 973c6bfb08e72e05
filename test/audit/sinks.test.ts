// Proves, for every audit sink (SQLite, PostgreSQL — a real server —, JSON Lines), one contract:
// N records in, exactly N stored and read back unchanged; each filter selects exactly its records;
// pages follow one another with no record lost or repeated; a tail reads what was stored after a
// record; and retention deletes exactly the old records (SQLite and PostgreSQL).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonlAuditSink } from '../../src/audit/jsonl-sink.js';
import { PostgresAuditSink } from '../../src/audit/postgres-sink.js';
import { matchesFilter, type AuditFilter, type StoredAuditRecord } from '../../src/audit/query.js';
import type { AuditRecord } from '../../src/audit/record.js';
import type { AuditSink } from '../../src/audit/sink.js';
import { SqliteAuditSink } from '../../src/audit/sqlite-sink.js';
import { recordSeries, T0 } from './make-record.js';
import { dropSchema, pgAuditUrl, uniqueSchema } from './pg.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sinks-'));
const schemas: string[] = [];
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  for (const s of schemas) await dropSchema(s);
});

const N = 37;

const sinks: [string, () => AuditSink, boolean][] = [
  ['sqlite', () => new SqliteAuditSink(join(dir, `${Math.random()}.db`)), true],
  [
    'postgres',
    () => {
      const schema = uniqueSchema();
      schemas.push(schema);
      return new PostgresAuditSink(pgAuditUrl(schema));
    },
    true,
  ],
  ['jsonl', () => new JsonlAuditSink(join(dir, `${Math.random()}/audit.jsonl`)), false],
];

const strip = ({ id: _id, ...r }: StoredAuditRecord): AuditRecord => r;

describe.each(sinks)('the %s audit sink', (_kind, open, prunes) => {
  let sink: AuditSink;
  const records = recordSeries(N);
  beforeAll(async () => {
    sink = open();
    // Three batches, as the writer would send them.
    await sink.insert(records.slice(0, 10));
    await sink.insert(records.slice(10, 30));
    await sink.insert(records.slice(30));
  });
  afterAll(() => sink.close());

  it('stores exactly N records and reads them back unchanged, newest first', async () => {
    const page = await sink.query({ limit: 1000 });
    expect(page.records).toHaveLength(N);
    expect(page.next_cursor).toBeNull();
    expect(page.records.map(strip)).toEqual([...records].reverse());
  });

  it.each<[string, AuditFilter]>([
    ['server', { server: 'memory' }],
    ['tool', { tool: 'delete_repo' }],
    ['grant', { grant: 'support' }],
    ['agent', { agent: 'ci-bot' }],
    ['decision', { decision: 'deny' }],
    ['since and until', { since: T0 + 5000, until: T0 + 15_000 }],
    ['several at once', { server: 'github', tool: 'get_issue', since: T0 + 10_000 }],
  ])('filters by %s', async (_name, filter) => {
    const expected = records.filter((r) => matchesFilter(r, filter)).reverse();
    expect(expected.length).toBeGreaterThan(0);
    const page = await sink.query({ ...filter, limit: 1000 });
    expect(page.records.map(strip)).toEqual(expected);
  });

  it('pages with a cursor: every record once, in order, and no cursor after the last page', async () => {
    const seen: StoredAuditRecord[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await sink.query({ limit: 10, ...(cursor ? { cursor } : {}) });
      seen.push(...page.records);
      cursor = page.next_cursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    expect(seen.map(strip)).toEqual([...records].reverse());
  });

  it('pages a filtered query', async () => {
    const first = await sink.query({ grant: 'ci', limit: 5 });
    const second = await sink.query({ grant: 'ci', limit: 5, cursor: first.next_cursor! });
    const expected = records.filter((r) => r.grant === 'ci').reverse();
    expect([...first.records, ...second.records].map(strip)).toEqual(expected.slice(0, 10));
  });

  it('reads what was stored after a record, for a live tail', async () => {
    const last = await sink.lastId();
    expect(last).toBeDefined();
    expect(await sink.after(last, {}, 100)).toEqual([]);
    const more = recordSeries(3, T0 + 1_000_000);
    await sink.insert(more);
    const fresh = await sink.after(last, {}, 100);
    expect(fresh.map(strip)).toEqual(more);
    expect((await sink.after(last, { server: 'memory' }, 100)).map(strip)).toEqual(
      more.filter((r) => r.server === 'memory'),
    );
  });

  it(
    prunes
      ? 'deletes exactly the records older than the retention'
      : 'has no pruning: the operator rotates the file, and every record stays',
    async () => {
      const before = (await sink.query({ limit: 1000 })).records.length;
      if (!prunes) {
        expect(sink.prune).toBeUndefined();
        expect((await sink.query({ limit: 1000 })).records).toHaveLength(before);
        return;
      }
      const deleted = await sink.prune!(T0 + 10_000);
      expect(deleted).toBe(10);
      const after = await sink.query({ limit: 1000 });
      expect(after.records).toHaveLength(before - 10);
      expect(after.records.every((r) => r.ts >= T0 + 10_000)).toBe(true);
    },
  );
});

describe('the PostgreSQL audit tables', () => {
  it('are created by Gatehouse and their version recorded; a second start migrates nothing', async () => {
    const schema = uniqueSchema();
    schemas.push(schema);
    const a = new PostgresAuditSink(pgAuditUrl(schema));
    await a.insert(recordSeries(2));
    await a.close();
    const b = new PostgresAuditSink(pgAuditUrl(schema));
    expect((await b.query({})).records).toHaveLength(2);
    await b.close();
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: pgAuditUrl(schema).replace(/\?.*$/, '') });
    await client.connect();
    const { rows } = await client.query(`SELECT component, version FROM "${schema}".gatehouse_schema_version`);
    await client.end();
    expect(rows).toEqual([{ component: 'audit', version: 2 }]);
  });
});
