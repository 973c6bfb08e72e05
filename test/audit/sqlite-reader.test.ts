// Proves that the SQLite audit log's slow reads (the dashboard's statistics, filtered pages, the
// tail) run off the gateway's thread: the event loop turns while they run, they see every batch
// committed before them, and the reader's thread fails cleanly, ends when idle and starts again;
// and no more than MAX_WAITING_READS reads wait for it at once.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_WAITING_READS, SqliteReader } from '../../src/audit/sqlite-reader.js';
import { SqliteAuditSink } from '../../src/audit/sqlite-sink.js';
import { TSX_LOADER } from '../helpers/index.js';
import { waitUntil } from '../helpers/wait.js';
import { recordSeries, T0 } from './make-record.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sqlite-reader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite audit reads', () => {
  it("answers the statistics of 200,000 records while the gateway's event loop goes on", async () => {
    const sink = new SqliteAuditSink(join(dir, 'big.db'));
    try {
      const records = recordSeries(200_000);
      for (let i = 0; i < records.length; i += 20_000) await sink.insert(records.slice(i, i + 20_000));
      const order: string[] = [];
      // On the gateway's thread the query ran before summarize() returned, so its answer came
      // before any timer; on the reader's thread a timer fires while it runs.
      const stats = sink.summarize({ since: T0, until: T0 + 3 * 86_400_000, bucketMs: 3_600_000 }).then((s) => {
        order.push('stats');
        return s;
      });
      setTimeout(() => order.push('timer'), 1);
      expect((await stats).total).toBe(200_000);
      expect(order).toEqual(['timer', 'stats']);
    } finally {
      await sink.close();
    }
  });

  it('sees every batch committed before the read', async () => {
    const sink = new SqliteAuditSink(join(dir, 'fresh.db'));
    try {
      for (let n = 1; n <= 3; n++) {
        await sink.insert(recordSeries(1, T0 + n));
        expect((await sink.query({ limit: 10 })).records).toHaveLength(n);
        expect(await sink.after(undefined, {}, 10)).toHaveLength(n);
      }
    } finally {
      await sink.close();
    }
  });

  it("fails a read with SQLite's message, and the next read still works", async () => {
    const reader = new SqliteReader(join(dir, 'fresh.db'));
    try {
      await expect(reader.all('SELECT nope FROM audit', [])).rejects.toThrow(/no such column: nope/);
      await expect(reader.all('DELETE FROM audit', [])).rejects.toThrow(/readonly|read-only|does not return data/i);
      expect(await reader.all<{ n: number }>('SELECT count(*) AS n FROM audit', [])).toEqual([{ n: 3 }]);
    } finally {
      await reader.close();
    }
  });

  it('fails reads of a file that is not there instead of creating it', async () => {
    const reader = new SqliteReader(join(dir, 'missing.db'));
    try {
      await expect(reader.all('SELECT 1', [])).rejects.toThrow(/reader failed/);
      await expect(reader.all('SELECT 1', [])).rejects.toThrow(/reader failed/);
    } finally {
      await reader.close();
    }
  });

  it('ends its thread when idle and starts it again on the next read', async () => {
    const reader = new SqliteReader(join(dir, 'fresh.db'), 20);
    try {
      expect(reader.running).toBe(false);
      await reader.all('SELECT 1', []);
      expect(reader.running).toBe(true);
      await waitUntil(() => !reader.running, 5_000);
      expect(await reader.all('SELECT 2 AS two', [])).toEqual([{ two: 2 }]);
    } finally {
      await reader.close();
    }
  });

  it('lets the process exit once its reads are answered, without waiting for the idle time', async () => {
    const file = join(dir, 'exit.db');
    const sink = new SqliteAuditSink(file);
    await sink.insert(recordSeries(3));
    await sink.close();
    const script = [
      `const { SqliteReader } = await import(${JSON.stringify(resolve('src/audit/sqlite-reader.ts'))});`,
      `const reader = new SqliteReader(${JSON.stringify(file)});`,
      "console.log(JSON.stringify(await reader.all('SELECT count(*) AS n FROM audit', [])));",
    ].join('\n');
    // Ten seconds to exit where the idle thread would have held the process for thirty.
    const run = spawnSync(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('[{"n":3}]');
    expect(run.status).toBe(0);
  });

  it('refuses a read beyond MAX_WAITING_READS waiting ones at once as busy, and reads again once they are answered', async () => {
    const reader = new SqliteReader(join(dir, 'fresh.db'));
    try {
      const waiting = Array.from({ length: MAX_WAITING_READS }, (_, i) =>
        reader.all<{ i: number }>('SELECT ? AS i', [i]),
      );
      const refused = await reader.all('SELECT 1', []).then(
        () => undefined,
        (error: { message: string; code?: string }) => error,
      );
      expect(refused?.code).toBe('busy');
      expect(refused?.message).toMatch(/busy: 256 reads are waiting; try again/);
      const answers = await Promise.all(waiting);
      expect(answers.map((rows) => rows[0]!.i)).toEqual(Array.from({ length: MAX_WAITING_READS }, (_, i) => i));
      expect(await reader.all('SELECT 3 AS three', [])).toEqual([{ three: 3 }]);
    } finally {
      await reader.close();
    }
  });

  it('fails a read still running when the log is closed, and every read after', async () => {
    const sink = new SqliteAuditSink(join(dir, 'big.db'));
    const stats = expect(sink.summarize({ since: T0, until: T0 + 86_400_000, bucketMs: 3_600_000 })).rejects.toThrow(
      /closed/,
    );
    await sink.close();
    await stats;
    await expect(sink.query({ limit: 1 })).rejects.toThrow(/closed/);
  });
});
