// Proves the batching writer: write() returns at once and records reach the sink in batches; while
// the sink fails, records stay queued and are all written once it recovers; beyond queue_max new
// records are dropped and counted; close() writes everything queued; stats() counts all of it.
// The failing sink is a real one: a JSON Lines file whose folder is, for a while, a plain file.
// A record that can never be stored (nested too deep to serialise) does not hold up the log: the
// rest of its batch and everything after it are stored, and it is stored without its arguments
// (or, when even that fails, dropped and counted); a sink that is down is still retried whole.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { JsonlAuditSink } from '../../src/audit/jsonl-sink.js';
import { PostgresAuditSink } from '../../src/audit/postgres-sink.js';
import { openAuditLog } from '../../src/audit/open-audit-log.js';
import type { AuditRecord } from '../../src/audit/record.js';
import { AuditWriter, recordUid } from '../../src/audit/writer.js';
import { makeRecord, recordSeries } from './make-record.js';
import { waitUntil } from '../helpers/wait.js';
import { dropSchema, pgAuditUrl, uniqueSchema } from './pg.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-writer-'));
const schema = uniqueSchema();
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await dropSchema(schema);
});

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);

/** Arguments nested 20,000 lists deep: JSON.stringify overflows the stack on them. */
function tooDeep(): { x: unknown } {
  let inner: unknown = [];
  for (let i = 0; i < 20_000; i++) inner = [inner];
  return { x: inner };
}

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

  it('stores the rest of a batch holding a record that cannot be serialised, and that one without its arguments', async () => {
    const file = join(dir, 'unstorable/audit.jsonl');
    const events: string[] = [];
    const writer = new AuditWriter(new JsonlAuditSink(file), {
      queueMax: 100,
      batchSize: 50,
      intervalMs: 5,
      initialBackoffMs: 10,
      flushTimeoutMs: 3000,
      onEvent: (_level, message) => events.push(message),
    });
    const records = recordSeries(20);
    records[7] = {
      ...records[7]!,
      decision: 'deny',
      tool: 'delete_repo',
      rule: '/tools/delete_*',
      arguments: tooDeep(),
    };
    for (const r of records) writer.write(r);
    await writer.flush();
    const stored = lines(file).map((l) => JSON.parse(l) as AuditRecord);
    expect(stored.map((r) => r.request_id)).toEqual(records.map((r) => r.request_id));
    const { arguments: _args, ...rest } = records[7]!;
    expect(stored[7]).toEqual({ ...rest, uid: expect.any(String), unstored: expect.stringContaining('call stack') });
    expect(stored[8]!.arguments).toEqual({ n: 8 });
    expect(writer.stats()).toEqual({ queued: 0, dropped: 0, written: 20, failures: 0 });
    expect(events.filter((e) => e.includes('stored without its arguments'))).toHaveLength(1);
    // Nothing after it is held up.
    writer.write(makeRecord({ request_id: 'later' }));
    await writer.flush();
    expect(JSON.parse(lines(file).at(-1)!).request_id).toBe('later');
    await writer.close();
  });

  it('with the spool on, a record that cannot be serialised is spooled and stored without its arguments, or dropped (SQLite)', async () => {
    const url = `sqlite:${join(dir, 'unstorable.db')}`;
    const events: string[] = [];
    const log = openAuditLog({ sink: url, arguments: 'full', retention: 86_400, queue_max: 100, spool: 'on' }, dir, {
      onEvent: (_level, message) => events.push(message),
      flushTimeoutMs: 3000,
    });
    log.write(makeRecord({ request_id: 'before' }));
    log.write(makeRecord({ request_id: 'deep', decision: 'deny', arguments: tooDeep() }));
    // No form of this one can be serialised (its time is no number): dropped and counted.
    log.write(makeRecord({ request_id: 'hopeless', ts: 1n as unknown as number }));
    log.write(makeRecord({ request_id: 'after', arguments: { n: 1 } }));
    await log.flush();
    expect(log.stats!()).toEqual({ queued: 0, dropped: 1, written: 3, failures: 0 });
    const records = (await log.query!({})).records.reverse();
    expect(records.map((r) => [r.request_id, r.decision, r.arguments, r.unstored === undefined])).toEqual([
      ['before', 'allow', undefined, true],
      ['deep', 'deny', undefined, false],
      ['after', 'allow', { n: 1 }, true],
    ]);
    // The spool did not fail: the record went in, in the form that can be stored.
    expect(events.some((e) => e.includes('spool') && e.includes('failed'))).toBe(false);
    expect(events.filter((e) => e.includes('dropped'))).toHaveLength(1);
    await log.close();
  });

  it('drops, counts and logs a record that cannot be stored even without its arguments, and stores the rest', async () => {
    const file = join(dir, 'hopeless/audit.jsonl');
    const events: string[] = [];
    const writer = new AuditWriter(new JsonlAuditSink(file), {
      queueMax: 100,
      intervalMs: 5,
      flushTimeoutMs: 3000,
      onEvent: (_level, message) => events.push(message),
    });
    const records = recordSeries(10);
    // A time that is no number: no form of this record can be serialised.
    records[3] = { ...records[3]!, ts: 1n as unknown as number };
    for (const r of records) writer.write(r);
    await writer.flush();
    expect(lines(file).map((l) => JSON.parse(l).request_id)).toEqual(
      records.filter((_, i) => i !== 3).map((r) => r.request_id),
    );
    expect(writer.stats()).toEqual({ queued: 0, dropped: 1, written: 9, failures: 0 });
    expect(events.filter((e) => e.includes('dropped'))).toHaveLength(1);
    await writer.close();
  });

  it('stores the rest of a batch PostgreSQL refuses for one record, and that one shortened', async () => {
    // A tool name no btree index entry can hold (random, so that it does not compress).
    const tool = randomBytes(3000).toString('hex');
    const events: string[] = [];
    const writer = new AuditWriter(new PostgresAuditSink(pgAuditUrl(schema)), {
      queueMax: 100,
      intervalMs: 5,
      flushTimeoutMs: 5000,
      onEvent: (_level, message) => events.push(message),
    });
    const records = recordSeries(10);
    records[4] = { ...records[4]!, tool, decision: 'deny' };
    for (const r of records) writer.write(r);
    await writer.flush();
    expect(writer.stats()).toEqual({ queued: 0, dropped: 0, written: 10, failures: 0 });
    const stored = (await writer.query({ limit: 100 })).records.reverse();
    expect(stored.map((r) => r.request_id)).toEqual(records.map((r) => r.request_id));
    expect(stored[4]).toMatchObject({ decision: 'deny', tool: `${tool.slice(0, 256)}…(6000 chars)` });
    expect(stored[4]!.unstored).toBeDefined();
    expect(stored[5]!.arguments).toEqual({ n: 5 });
    await writer.close();
  });

  it('retries a batch that a sink which is down refuses as it is, never splitting it', async () => {
    const folder = join(dir, 'down-whole');
    writeFileSync(folder, 'not a folder');
    const file = join(folder, 'audit.jsonl');
    const sink = new JsonlAuditSink(file);
    const sizes: number[] = [];
    const insert = sink.insert.bind(sink);
    sink.insert = (records) => {
      sizes.push(records.length);
      return insert(records);
    };
    const writer = new AuditWriter(sink, {
      queueMax: 100,
      batchSize: 40,
      intervalMs: 5,
      initialBackoffMs: 5,
      maxBackoffMs: 10,
    });
    for (const r of recordSeries(40)) writer.write(r);
    await waitUntil(() => writer.stats().failures >= 4);
    expect(writer.stats()).toMatchObject({ queued: 40, written: 0, dropped: 0 });
    rmSync(folder);
    mkdirSync(folder);
    await writer.flush();
    expect(lines(file)).toHaveLength(40);
    expect(sizes.every((n) => n === 40)).toBe(true);
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
