// When the audit log lives in the state file (the default), the gateway's audit sink writes through
// the state store's own connection; the connection stays open until both have closed, and the
// sink's short wait for another process's write lock does not change the store's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openAuditSink } from '../../src/audit/open-audit-log.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { makeRecord } from '../audit/make-record.js';

const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-shared-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const busyTimeout = (store: SqliteStore): number =>
  store.connection.db.pragma('busy_timeout', { simple: true }) as number;

describe('sqlite connection shared by the state store and the audit sink', () => {
  it('a sink on the state file shares its connection and outlives an earlier close of the store', async () => {
    const store = new SqliteStore(path.join(dir, 'state.db'));
    // A relative path from the config's folder names the same file.
    const sink = openAuditSink('sqlite:./state.db', dir, store.connection)!;
    await sink.insert([makeRecord({ ts: Date.now(), request_id: 'one' })]);
    // The record is seen at once by the store's connection: it is the same one.
    expect((store.connection.db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n).toBe(1);
    expect(busyTimeout(store)).toBe(5000);
    await store.close();
    await store.close();
    expect(store.connection.db.open).toBe(true);
    await sink.insert([makeRecord({ ts: Date.now(), request_id: 'two' })]);
    expect((await sink.query({})).records.map((r) => r.request_id)).toEqual(['two', 'one']);
    await sink.close();
    expect(store.connection.db.open).toBe(false);
  });

  it('a sink on another file opens a connection of its own', async () => {
    const store = new SqliteStore(path.join(dir, 'state2.db'));
    const sink = openAuditSink('sqlite:./audit2.db', dir, store.connection)!;
    await sink.insert([makeRecord({ ts: Date.now(), request_id: 'elsewhere' })]);
    expect(store.connection.db.prepare("SELECT name FROM sqlite_master WHERE name = 'audit'").get()).toBeUndefined();
    await sink.close();
    // The store's connection is not the sink's: closing the sink left it open.
    expect(store.connection.db.open).toBe(true);
    await store.close();
    expect(store.connection.db.open).toBe(false);
  });
});
