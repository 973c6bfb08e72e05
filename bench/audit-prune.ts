// What deleting old records from the SQLite audit log (`audit.retention`) costs the gateway: the
// time it takes, and the longest time the gateway's event loop waits meanwhile, deleted in one
// statement (as the sink did before) and in batches of PRUNE_BATCH with a turn of the event loop
// between them (as it does now), side by side on copies of one file.
//
//   npx tsx bench/audit-prune.ts [--records 1000000] [--delete 500000] [--runs 3] [--file PATH]
//
// The file is made once (records one second apart, 5 servers, 50 tools) and kept when --file is
// given; each run deletes the oldest `--delete` records from a fresh copy of it. Prints Markdown.
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AuditRecord } from '../src/audit/record.js';
import { PRUNE_BATCH, SqliteAuditSink } from '../src/audit/sqlite-sink.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    delete: { type: 'string', default: '500000' },
    runs: { type: 'string', default: '3' },
    file: { type: 'string' },
  },
});
const records = Number(values.records);
const toDelete = Number(values.delete);
const runs = Number(values.runs);
const dir = mkdtempSync(join(os.tmpdir(), 'gatehouse-audit-prune-'));
const file = values.file ?? join(dir, 'audit.db');
const T0 = Date.parse('2026-01-01T00:00:00Z');
const before = T0 + toDelete * 1000;

function record(i: number): AuditRecord {
  return {
    ts: T0 + i * 1000,
    uid: `r${i}`,
    server: `s${i % 5}`,
    subject: 'tool',
    tool: `t${i % 50}`,
    grant: 'g',
    agent: 'a',
    session: 'x',
    decision: i % 7 === 0 ? 'deny' : 'allow',
    arguments: { path: `/notes/${i}.md` },
  } as AuditRecord;
}

function count(path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n;
  } catch {
    return -1;
  } finally {
    db.close();
  }
}

if (!existsSync(file) || count(file) !== records) {
  process.stderr.write(`writing ${records} records to ${file}…\n`);
  rmSync(file, { force: true });
  const sink = new SqliteAuditSink(file);
  for (let from = 0; from < records; from += 10_000) {
    const batch: AuditRecord[] = [];
    for (let i = from; i < Math.min(records, from + 10_000); i++) batch.push(record(i));
    await sink.insert(batch);
  }
  await sink.close();
}

/** Runs `work` while a 5 ms timer notes the longest gap between its ticks. */
async function timed(work: () => Promise<number>): Promise<{ ms: number; stall: number; deleted: number }> {
  let last = performance.now();
  let stall = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 5);
  const start = performance.now();
  const deleted = await work();
  const ms = performance.now() - start;
  stall = Math.max(stall, performance.now() - last);
  clearInterval(timer);
  return { ms, stall, deleted };
}

const rows: string[] = [];
for (let r = 1; r <= runs; r++) {
  for (const way of ['one statement', `batches of ${PRUNE_BATCH}`] as const) {
    const copy = join(dir, `run-${r}.db`);
    copyFileSync(file, copy);
    const sink = new SqliteAuditSink(copy);
    // The statement the sink ran before, on the sink's own connection (a second one to the file).
    const direct = new Database(copy);
    const oneStatement = async (): Promise<number> =>
      direct.prepare('DELETE FROM audit WHERE ts < ?').run(before).changes;
    const t = await timed(way === 'one statement' ? oneStatement : () => sink.prune(before));
    direct.close();
    await sink.close();
    if (t.deleted !== toDelete) throw new Error(`${way}: deleted ${t.deleted} records, not ${toDelete}`);
    rows.push(`| ${r} | ${way} | ${t.ms.toFixed(0)} | ${t.stall.toFixed(1)} |`);
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${copy}${suffix}`, { force: true });
  }
}
rmSync(dir, { recursive: true, force: true });

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
process.stdout.write(
  [
    `Deleting the oldest ${toDelete.toLocaleString('en')} of ${records.toLocaleString('en')} SQLite audit records; ${os.cpus().length} × ${cpu}, Node ${process.version}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
    '',
    "| run | how | time (ms) | longest wait of the gateway's event loop (ms) |",
    '| --- | --- | ---: | ---: |',
    ...rows,
    '',
  ].join('\n'),
);
