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
import { PRUNE_BATCH, SqliteAuditSink } from '../src/audit/sqlite-sink.js';
import { benchRecords, T0, timedAgainstLoop } from './lib/audit-bench.js';

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
const before = T0 + toDelete * 1000;

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
    await sink.insert(benchRecords(from, Math.min(records, from + 10_000)));
  }
  await sink.close();
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
    const t = await timedAgainstLoop(way === 'one statement' ? oneStatement : () => sink.prune(before));
    direct.close();
    await sink.close();
    if (t.value !== toDelete) throw new Error(`${way}: deleted ${t.value} records, not ${toDelete}`);
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
