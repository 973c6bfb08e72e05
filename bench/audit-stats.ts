// The dashboard's statistics over a large SQLite audit log: how long they take, and the longest
// time the gateway's event loop waits meanwhile, with the queries on the gateway's thread (as the
// sink ran them before) and on the sink's reader thread, side by side on one file.
//
//   npx tsx bench/audit-stats.ts [--records 1000000] [--runs 3] [--file PATH]
//
// The file is made once (records one second apart, 5 servers, 50 tools, one in seven denied) and
// kept for later runs when --file is given. Prints a Markdown table.
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AuditRecord } from '../src/audit/record.js';
import { SqliteAuditSink } from '../src/audit/sqlite-sink.js';
import { summarize, summarySql, type StatsQuery, type SummaryRows } from '../src/audit/stats.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    file: { type: 'string' },
  },
});
const records = Number(values.records);
const runs = Number(values.runs);
const dir = values.file ? undefined : mkdtempSync(join(os.tmpdir(), 'gatehouse-audit-stats-'));
const file = values.file ?? join(dir!, 'audit.db');

const T0 = Date.parse('2026-01-01T00:00:00Z');
const query: StatsQuery = { since: T0, until: T0 + records * 1000, bucketMs: Math.ceil((records * 1000) / 100) };

const sink = new SqliteAuditSink(file);
if (!existsSync(file) || (await sink.summarize(query)).total !== records) {
  process.stderr.write(`writing ${records} records to ${file}…\n`);
  for (let from = 0; from < records; from += 10_000) {
    const batch: AuditRecord[] = [];
    for (let i = from; i < Math.min(records, from + 10_000); i++)
      batch.push({
        ts: T0 + i * 1000,
        uid: `r${i}`,
        server: `s${i % 5}`,
        subject: 'tool',
        tool: `t${i % 50}`,
        grant: 'g',
        agent: 'a',
        session: 'x',
        decision: i % 7 === 0 ? 'deny' : 'allow',
      } as AuditRecord);
    await sink.insert(batch);
  }
}

/** Runs `work` while a 5 ms timer notes the longest gap between its ticks. */
async function timed(work: () => Promise<number>): Promise<{ ms: number; stall: number; total: number }> {
  let last = performance.now();
  let stall = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 5);
  const start = performance.now();
  const total = await work();
  const ms = performance.now() - start;
  // The gap that ends when the work ends counts too.
  stall = Math.max(stall, performance.now() - last);
  clearInterval(timer);
  return { ms, stall, total };
}

// The sink's queries run on this thread, as SqliteAuditSink ran them before its reader thread.
const direct = new Database(file, { readonly: true });
const onThisThread = async (): Promise<number> => {
  const sql = summarySql('audit', () => '?', query);
  return summarize(query, {
    buckets: direct.prepare(sql.buckets).all(...sql.bucketParams) as SummaryRows['buckets'],
    tools: direct.prepare(sql.tools).all(...sql.toolParams) as SummaryRows['tools'],
  }).total;
};
const onReader = async (): Promise<number> => (await sink.summarize(query)).total;

const rows: string[] = [];
for (let r = 1; r <= runs; r++) {
  for (const [name, work] of [
    ["gateway's thread", onThisThread],
    ['reader thread', onReader],
  ] as const) {
    const t = await timed(work);
    if (t.total !== records) throw new Error(`${name}: counted ${t.total} records, not ${records}`);
    rows.push(`| ${r} | ${name} | ${t.ms.toFixed(0)} | ${t.stall.toFixed(1)} |`);
  }
}
direct.close();
await sink.close();
if (dir) rmSync(dir, { recursive: true, force: true });

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
process.stdout.write(
  [
    `${records.toLocaleString('en')} records in range; ${os.cpus().length} × ${cpu}, Node ${process.version}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
    '',
    '| run | statistics queried on | answered after (ms) | longest event-loop wait (ms) |',
    '| --- | --- | ---: | ---: |',
    ...rows,
    '',
  ].join('\n'),
);
