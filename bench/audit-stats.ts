// What the dashboard costs the gateway on a large audit log.
//
// 1. The statistics over an SQLite log: how long they take, and the longest time the gateway's
//    event loop waits meanwhile, with the queries on the gateway's thread (as the sink ran them
//    before) and on the sink's reader thread, side by side on one file.
// 2. One poll of the audit page's tail (every 2 s) on a JSON Lines log: the CPU time of asking
//    for the records after the last line, against a read of every record (what each poll did
//    before, and still does for an id that is not a line number).
//
//   npx tsx bench/audit-stats.ts [--records 1000000] [--runs 3] [--file PATH] [--jsonl PATH]
//
// The files are made once (records one second apart, 5 servers, 50 tools, one in seven denied) and
// kept for later runs when --file / --jsonl are given. Prints Markdown tables.
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { JsonlAuditSink } from '../src/audit/jsonl-sink.js';
import { SqliteAuditSink } from '../src/audit/sqlite-sink.js';
import { summarize, summarySql, type StatsQuery, type SummaryRows } from '../src/audit/stats.js';
import { benchRecords, T0, timedAgainstLoop } from './lib/audit-bench.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    file: { type: 'string' },
    jsonl: { type: 'string' },
  },
});
const records = Number(values.records);
const runs = Number(values.runs);
const dir = values.file ? undefined : mkdtempSync(join(os.tmpdir(), 'gatehouse-audit-stats-'));
const file = values.file ?? join(dir!, 'audit.db');
const jsonlFile = values.jsonl ?? (dir ? join(dir, 'audit.jsonl') : `${file}.jsonl`);

const query: StatsQuery = { since: T0, until: T0 + records * 1000, bucketMs: Math.ceil((records * 1000) / 100) };

const sink = new SqliteAuditSink(file);
if (!existsSync(file) || (await sink.summarize(query)).total !== records) {
  process.stderr.write(`writing ${records} records to ${file}…\n`);
  for (let from = 0; from < records; from += 10_000) {
    await sink.insert(benchRecords(from, Math.min(records, from + 10_000)));
  }
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
    const t = await timedAgainstLoop(work);
    if (t.value !== records) throw new Error(`${name}: counted ${t.value} records, not ${records}`);
    rows.push(`| ${r} | ${name} | ${t.ms.toFixed(0)} | ${t.stall.toFixed(1)} |`);
  }
}
direct.close();
await sink.close();

const jsonl = new JsonlAuditSink(jsonlFile);
if ((await jsonl.lastId()) !== String(records)) {
  process.stderr.write(`writing ${records} records to ${jsonlFile}…\n`);
  rmSync(jsonlFile, { force: true });
  for (let from = 0; from < records; from += 10_000) {
    await jsonl.insert(benchRecords(from, Math.min(records, from + 10_000)));
  }
}
/** CPU milliseconds of one call. */
async function cpuOf(work: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  await work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}
const tailRows: string[] = [];
for (let r = 1; r <= runs; r++) {
  const full = await cpuOf(() => jsonl.after(`x${records}`, {}, 100));
  const tail = await cpuOf(() => jsonl.after(String(records), {}, 100));
  const last = await cpuOf(() => jsonl.lastId());
  tailRows.push(`| ${r} | ${full.toFixed(0)} | ${tail.toFixed(0)} | ${last.toFixed(0)} |`);
}
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
    `The audit page's tail on a JSON Lines log of the same ${records.toLocaleString('en')} records (CPU ms of one call):`,
    '',
    '| run | every record read (before) | after the last line (a tail poll) | lastId() |',
    '| --- | ---: | ---: | ---: |',
    ...tailRows,
    '',
  ].join('\n'),
);
