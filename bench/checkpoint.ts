// What SQLite's checkpoints cost the gateway's thread: the state file's write-ahead log copied
// back into the file by a worker thread (as Gatehouse ships), against SQLite's own checkpoint in
// the committing connection at its default mark of 1,000 pages (as Gatehouse did before, and does
// again if the thread cannot run).
//
//   npm run bench:checkpoint -- [--calls 20000] [--rounds 8] [--pause-every 20]
//
// Each side is a SQLite state store with the audit log in the same file, as the gateway's default:
// one limit reservation a call, and the calls' audit records stored in a batch every 50 ms (the
// audit writer's interval). A call is one reservation; every 20 calls (`--pause-every`) the thread
// waits 1 ms, as a gateway waits for its sockets. The two sides take turns in chunks, so the machine's changing
// load falls on both. What is timed is each reservation on the thread and each batch insert: the
// time the gateway would answer nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openAuditSink } from '../src/audit/open-audit-log.js';
import type { AuditRecord } from '../src/audit/record.js';
import type { AuditSink } from '../src/audit/sink.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import type { WindowSpec } from '../src/store/store.js';
import { benchRecord } from './lib/audit-bench.js';
import { loadText, machineLine } from './lib/machine.js';
import { percentile } from './lib/measure.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '8' },
    'pause-every': { type: 'string', default: '20' },
  },
});
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const PAUSE_EVERY = Number(values['pause-every']);
const tmp = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-checkpoint-'));
const SPEC: WindowSpec = { algorithm: 'sliding', windowMs: 60_000, max: 1_000_000_000, cost: 1 };
const BATCH_MS = 50;

interface Side {
  name: string;
  store: SqliteStore;
  sink: AuditSink;
  /** Time on the thread per reservation and per batch insert (ms). */
  reservations: number[];
  inserts: number[];
  queued: AuditRecord[];
  lastBatch: number;
  n: number;
}

function open(name: string, inline: boolean): Side {
  const file = path.join(tmp, `${name}.db`);
  const store = new SqliteStore(file);
  if (inline) {
    // What a connection does without the thread: SQLite's own checkpoints at its default mark.
    store.connection.checkpointer!.close();
    store.connection.db.pragma('wal_autocheckpoint = 1000');
  }
  const sink = openAuditSink(`sqlite:${file}`, tmp, store.connection)!;
  return { name, store, sink, reservations: [], inserts: [], queued: [], lastBatch: performance.now(), n: 0 };
}

async function chunk(side: Side, calls: number): Promise<void> {
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    const r = await side.store.reserve('rate|echo|', SPEC, Date.now());
    side.reservations.push(performance.now() - t);
    if (!r.ok) throw new Error('the bench limit filled up');
    side.queued.push({ ...benchRecord(side.n), ts: Date.now(), uid: `${side.name}-${side.n}` } as AuditRecord);
    side.n++;
    if (performance.now() - side.lastBatch >= BATCH_MS) {
      const batch = side.queued;
      side.queued = [];
      const b = performance.now();
      await side.sink.insert(batch);
      side.inserts.push(performance.now() - b);
      side.lastBatch = performance.now();
    }
    if (i % PAUSE_EVERY === PAUSE_EVERY - 1) await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function row(side: Side): string {
  const all = [...side.reservations, ...side.inserts].sort((a, b) => a - b);
  const res = [...side.reservations].sort((a, b) => a - b);
  const total = all.reduce((a, b) => a + b, 0);
  const stalls = all.filter((x) => x >= 1);
  const stalled = stalls.reduce((a, b) => a + b, 0);
  const per = (ms: number): string => ((ms * 1000) / side.reservations.length).toFixed(1);
  return [
    side.name,
    per(total),
    (percentile(res, 0.5) * 1000).toFixed(0),
    (percentile(res, 0.99) * 1000).toFixed(0),
    (percentile(res, 0.999) * 1000).toFixed(0),
    all.at(-1)!.toFixed(2),
    String(stalls.length),
    per(stalled),
    String(side.store.connection.checkpointer?.done ?? 0),
    side.store.connection.checkpointer?.done ? String(side.store.connection.checkpointer.largestLogPages) : '—',
  ].join(' | ');
}

async function main(): Promise<void> {
  const load = loadText();
  const sides = [open('thread', false), open('inline', true)];
  const per = Math.ceil(CALLS / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    // Each round starts with the other side.
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) await chunk(side, per);
  }
  console.log(
    `| checkpoints | thread µs per call (reservation + its share of the batches) | reservation p50 µs | p99 µs | p99.9 µs | longest hold ms | holds ≥ 1 ms | their µs per call | checkpoints by the worker | largest log the worker found (pages) |`,
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const side of sides) console.log(`| ${row(side)} |`);
  console.log('');
  console.log(
    `${per * ROUNDS} calls a side in ${ROUNDS} rounds; ${machineLine()}; ${new Date().toISOString()}; load average ${load} at the start, ${loadText()} at the end`,
  );
  for (const side of sides) {
    await side.sink.close();
    await side.store.close();
  }
}

try {
  await main();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
