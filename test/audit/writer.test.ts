// Proves the batching writer: write() returns at once and records reach the sink in batches; while
// the sink fails, records stay queued and are all written once it recovers; beyond queue_max new
// records are dropped and counted; close() writes everything queued; stats() counts all of it.
// The failing sink is a real one: a JSON Lines file whose folder is, for a while, a plain file.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JsonlAuditSink } from '../../src/audit/jsonl-sink.js';
import { openAuditLog } from '../../src/audit/open-audit-log.js';
import { AuditWriter, recordUid } from '../../src/audit/writer.js';
import { makeRecord, recordSeries } from './make-record.js';
import { waitUntil } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);

describe('the batching writer', () => {
  it('returns from write() at once and stores every record in batches', async () => {
    const file = join(dir, 'ok/audit.jsonl');
    const writer = new AuditWriter(new JsonlAuditSink(file), { queueMax: 10_000, batchSize: 100, intervalMs: 20 });
    for (const r of recordSeries(1000)) writer.write(r);
    // write() hands the record over and returns: nothing has reached the sink yet, all 1000 wait in the queue.
    expect(writer.stats()).toMatchObject({ queued: 1000, written: 0 });
    expect(existsSync(file) ? lines(file) : []).toHaveLength(0);
    await writer.flush();
    expect(lines(file)).toHaveLength(1000);
    expect(writer.stats()).toEqual({ queued: 0, dropped: 0, written: 1000, failures: 0 });
    await writer.close();
  });

  it('keeps records while the sink is down and writes them all after it recovers; overflow is counted', async () => {
    const folder = join(dir, 'down');
    writeFileSync(folder, 'not a folder'); // the sink's folder cannot be made: every batch fails
    const file = join(folder, 'audit.jsonl');
    const events: string[] = [];
    const writer = new AuditWriter(new JsonlAuditSink(file), {
      queueMax: 50,
      intervalMs: 5,
      initialBackoffMs: 10,
      maxBackoffMs: 40,
      onEvent: (_level, message) => events.push(message),
    });
    for (const r of recordSeries(60)) writer.write(r);
    await waitUntil(() => writer.stats().failures >= 3);
    expect(writer.stats()).toMatchObject({ queued: 50, dropped: 10, written: 0 });
    expect(events.some((e) => e.includes('failed'))).toBe(true);

    rmSync(folder);
    mkdirSync(folder);
    await waitUntil(() => writer.stats().written === 50);
    expect(lines(file).map((l) => JSON.parse(l).request_id)).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
    expect(writer.stats()).toMatchObject({ queued: 0, dropped: 10, written: 50 });
    expect(events.some((e) => e.includes('recovered'))).toBe(true);
    await writer.close();
  });

  it('close() writes everything queued, without waiting for the batch interval', async () => {
    const file = join(dir, 'close/audit.jsonl');
    const writer = new AuditWriter(new JsonlAuditSink(file), { queueMax: 100, intervalMs: 60_000 });
    for (const r of recordSeries(7)) writer.write(r);
    await writer.close();
    expect(lines(file)).toHaveLength(7);
    expect(writer.stats()).toEqual({ queued: 0, dropped: 0, written: 7, failures: 0 });
  });

  it('close() counts as dropped what a sink that stays down never took, and ends', async () => {
    const folder = join(dir, 'never');
    writeFileSync(folder, 'not a folder');
    const writer = new AuditWriter(new JsonlAuditSink(join(folder, 'audit.jsonl')), {
      queueMax: 100,
      initialBackoffMs: 10,
      closeTimeoutMs: 200,
    });
    for (const r of recordSeries(5)) writer.write(r);
    await writer.close();
    expect(writer.stats()).toMatchObject({ queued: 0, dropped: 5, written: 0 });
  });

  it('drops the arguments of every record when audit.arguments is none', async () => {
    const file = join(dir, 'none-args/audit.jsonl');
    const log = openAuditLog(
      { sink: `jsonl:${file}`, arguments: 'none', retention: 86_400, queue_max: 10, spool: 'off' },
      dir,
    );
    log.write(makeRecord({ arguments: { password: 'x' } }));
    await log.close();
    expect(JSON.parse(lines(file)[0]!)).not.toHaveProperty('arguments');
  });

  it('opens the sink a config names, relative to the config folder, and nothing for none', async () => {
    const log = openAuditLog(
      { sink: 'jsonl:rel/audit.jsonl', arguments: 'redacted', retention: 60, queue_max: 10, spool: 'off' },
      dir,
    );
    log.write(makeRecord());
    await log.close();
    expect(lines(join(dir, 'rel/audit.jsonl'))).toHaveLength(1);
    const none = openAuditLog({ sink: 'none', arguments: 'redacted', retention: 60, queue_max: 10, spool: 'off' }, dir);
    expect(none.query).toBeUndefined();
  });

  it('deletes records older than the retention when it starts (SQLite)', async () => {
    const url = `sqlite:${join(dir, 'retention.db')}`;
    const old = openAuditLog({ sink: url, arguments: 'redacted', retention: 3600, queue_max: 100, spool: 'off' }, dir);
    old.write(makeRecord({ ts: Date.now() - 2 * 3600_000, request_id: 'old' }));
    old.write(makeRecord({ ts: Date.now(), request_id: 'new' }));
    await old.close();
    const log = openAuditLog({ sink: url, arguments: 'redacted', retention: 3600, queue_max: 100, spool: 'off' }, dir);
    const page = await log.query!({});
    expect(page.records.map((r) => r.request_id)).toEqual(['new']);
    await log.close();
  });
});

describe('record uids', () => {
  it('are RFC 9562 version 7 UUIDs: unique, and a later record sorts after an earlier one', () => {
    const t = Date.UTC(2026, 11, 6, 5, 0, 0);
    const uids = Array.from({ length: 1000 }, (_, i) => recordUid(t + Math.floor(i / 10)));
    for (const u of uids) expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(uids).size).toBe(uids.length);
    // The first 48 bits are the time: ids of different milliseconds sort in time order.
    expect(uids[0]!.slice(0, 13)).toBe(
      `${t.toString(16).padStart(12, '0').slice(0, 8)}-${t.toString(16).padStart(12, '0').slice(8)}`,
    );
    const firstOfEachMs = uids.filter((_, i) => i % 10 === 0);
    expect([...firstOfEachMs].sort()).toEqual(firstOfEachMs);
  });
});
