// Proves that the SQLite audit log deletes records past its retention a batch at a time, the event
// loop turning between batches (in one statement it held every call for 1.5 s per 500,000
// records: `npx tsx bench/audit-prune.ts`), that it still deletes exactly the records before the
// cutoff, and that closing the log during a prune stops it cleanly.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PRUNE_BATCH, SqliteAuditSink } from '../../src/audit/sqlite-sink.js';
import { recordSeries, T0 } from './make-record.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sqlite-prune-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const OLD = 3 * PRUNE_BATCH + 1;
const CUTOFF = T0 + OLD * 1000;

/** A log of OLD records before the cutoff and five after it. */
async function filledLog(
  name: string,
): Promise<{ sink: SqliteAuditSink; count: (where?: string) => number; done: () => Promise<void> }> {
  const file = join(dir, name);
  const sink = new SqliteAuditSink(file);
  await sink.insert(recordSeries(OLD + 5));
  const reader = new Database(file, { readonly: true });
  const count = (where = '1'): number =>
    (reader.prepare(`SELECT count(*) AS n FROM audit WHERE ${where}`).get() as { n: number }).n;
  const done = async (): Promise<void> => {
    reader.close();
    await sink.close();
  };
  return { sink, count, done };
}

describe('pruning the SQLite audit log', () => {
  it('deletes a batch at a time, and the event loop turns between batches', async () => {
    const { sink, count, done } = await filledLog('batches.db');
    try {
      const pruning = sink.prune(CUTOFF);
      // Runs after the prune's first turns of the event loop: partway, not before and not done.
      const midway = await new Promise<number>((resolve) => setImmediate(() => resolve(count(`ts < ${CUTOFF}`))));
      expect(midway).toBeGreaterThan(0);
      expect(midway).toBeLessThan(OLD);
      expect(await pruning).toBe(OLD);
      expect(count(`ts < ${CUTOFF}`)).toBe(0);
      expect(count()).toBe(5);
    } finally {
      await done();
    }
  });

  it('stops between batches when the log is closed, without an error', async () => {
    const { sink, count, done } = await filledLog('closed.db');
    const pruning = sink.prune(CUTOFF);
    await sink.close();
    const deleted = await pruning;
    expect(deleted).toBeGreaterThan(0);
    expect(deleted).toBeLessThan(OLD);
    expect(count()).toBe(OLD + 5 - deleted);
    await done();
  });
});
