// Proves, for every audit sink (SQLite and PostgreSQL with SQL aggregates, JSON Lines by a scan),
// that the dashboard's summary counts exactly what was stored in the range: calls per decision,
// per equal time bucket (empty buckets included), the busiest tools and the most blocked ones.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonlAuditSink } from '../../src/audit/jsonl-sink.js';
import { PostgresAuditSink } from '../../src/audit/postgres-sink.js';
import type { AuditSink } from '../../src/audit/sink.js';
import { SqliteAuditSink } from '../../src/audit/sqlite-sink.js';
import { makeRecord, T0 } from './make-record.js';
import { dropSchema, pgAuditUrl, uniqueSchema } from './pg.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-stats-'));
const schemas: string[] = [];
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  for (const s of schemas) await dropSchema(s);
});

const MIN = 60_000;
// Minute 0: 3 allowed echo; minute 1: nothing; minute 2: 3 denied delete (one on another server),
// 1 rate-limited echo;
// and one record before the range and one after it, which must not be counted.
const RECORDS = [
  makeRecord({ ts: T0 - 1, tool: 'echo' }),
  makeRecord({ ts: T0, tool: 'echo' }),
  makeRecord({ ts: T0 + 10_000, tool: 'echo' }),
  makeRecord({ ts: T0 + 59_999, tool: 'echo' }),
  makeRecord({ ts: T0 + 2 * MIN, tool: 'delete_repo', decision: 'deny' }),
  makeRecord({ ts: T0 + 2 * MIN + 5, tool: 'delete_repo', decision: 'deny', server: 'memory' }),
  makeRecord({ ts: T0 + 2 * MIN + 9, tool: 'delete_repo', decision: 'deny' }),
  makeRecord({ ts: T0 + 2 * MIN + 30_000, tool: 'echo', decision: 'rate_limited' }),
  makeRecord({ ts: T0 + 3 * MIN, tool: 'echo' }),
];

const sinks: [string, () => AuditSink][] = [
  ['sqlite', () => new SqliteAuditSink(join(dir, `${Math.random()}.db`))],
  [
    'postgres',
    () => {
      const schema = uniqueSchema();
      schemas.push(schema);
      return new PostgresAuditSink(pgAuditUrl(schema));
    },
  ],
  ['jsonl', () => new JsonlAuditSink(join(dir, `${Math.random()}/audit.jsonl`))],
];

describe.each(sinks)('the %s sink summary', (_kind, open) => {
  let sink: AuditSink;
  beforeAll(async () => {
    sink = open();
    await sink.insert(RECORDS);
  });
  afterAll(() => sink.close());

  it('counts the calls of the range per decision and per minute, empty minutes included', async () => {
    const s = await sink.summarize({ since: T0, until: T0 + 3 * MIN, bucketMs: MIN });
    expect(s.total).toBe(7);
    expect(s.decisions).toEqual({ allow: 3, deny: 3, rate_limited: 1 });
    expect(s.series.map((b) => b.t)).toEqual([T0, T0 + MIN, T0 + 2 * MIN]);
    expect(s.series.map((b) => b.decisions)).toEqual([{ allow: 3 }, {}, { deny: 3, rate_limited: 1 }]);
  });

  it('ranks the busiest tools and the most blocked ones, by server and tool', async () => {
    const s = await sink.summarize({ since: T0, until: T0 + 3 * MIN, bucketMs: MIN, top: 2 });
    expect(s.top_tools).toEqual([
      { server: 'github', tool: 'echo', calls: 4 },
      { server: 'github', tool: 'delete_repo', calls: 2 },
    ]);
    expect(s.top_denials).toEqual([
      { server: 'github', tool: 'delete_repo', calls: 2, decisions: { deny: 2 } },
      { server: 'github', tool: 'echo', calls: 1, decisions: { rate_limited: 1 } },
    ]);
  });
});
