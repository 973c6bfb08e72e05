// When the audit log lives in the state file (the default), the gateway's audit sink writes through
// the state store's own connection; the connection stays open until both have closed, and the
// sink's short wait for another process's write lock does not change the store's longer one. Making
// the log's table waits longer than a write: it happens once, before anything is served.
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openAuditSink } from '../../src/audit/open-audit-log.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { WindowSpec } from '../../src/store/store.js';
import { makeRecord } from '../audit/make-record.js';
import { featureServerCommand } from '../helpers/fixture.js';
import { startFileGateway } from '../helpers/gateway.js';
import { sleep } from '../helpers/wait.js';
import { holdWriteLock } from './hold-write-lock.js';

const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-shared-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const busyTimeout = (store: SqliteStore): number =>
  store.connection.db.pragma('busy_timeout', { simple: true }) as number;
/** How many descriptors this process has open on `file` itself (not its -wal or -shm). */
const openOn = (file: string): number =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  }).length;

describe('sqlite connection shared by the state store and the audit sink', () => {
  it('a sink on the state file shares its connection and outlives an earlier close of the store', async () => {
    const store = new SqliteStore(path.join(dir, 'state.db'));
    // A relative path from the config's folder names the same file.
    const sink = openAuditSink('sqlite:./state.db', dir, store.connection)!;
    await sink.insert([makeRecord({ ts: Date.now(), request_id: 'one' })]);
    // The record is seen at once by the store's connection: it is the same one.
    expect((store.connection.db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n).toBe(1);
    await store.close();
    await store.close();
    expect(store.connection.db.open).toBe(true);
    await sink.insert([makeRecord({ ts: Date.now(), request_id: 'two' })]);
    expect((await sink.query({})).records.map((r) => r.request_id)).toEqual(['two', 'one']);
    await sink.close();
    expect(store.connection.db.open).toBe(false);
  });

  it('a store closed while its sink keeps the connection open writes nothing more', async () => {
    const store = new SqliteStore(path.join(dir, 'state-closed.db'));
    const sink = openAuditSink('sqlite:./state-closed.db', dir, store.connection)!;
    await store.close();
    const limit: WindowSpec = { algorithm: 'sliding', max: 10, windowMs: 60_000, cost: 1 };
    await expect(store.reserve('k', limit, Date.now())).rejects.toThrow(/closed/);
    await expect(store.claimOnce('request-1', 60_000, Date.now())).rejects.toThrow(/closed/);
    const rows = store.connection.db.prepare('SELECT count(*) AS n FROM limit_events').get() as { n: number };
    expect(rows.n).toBe(0);
    // The sink's own writes go on.
    await sink.insert([makeRecord({ ts: Date.now(), request_id: 'after' })]);
    expect((await sink.query({})).records.map((r) => r.request_id)).toEqual(['after']);
    await sink.close();
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

  it("a log write waits for another process's write lock off the thread and succeeds once it is let go", async () => {
    const file = path.join(dir, 'wait.db');
    const store = new SqliteStore(file);
    const sink = openAuditSink(`sqlite:${file}`, dir, store.connection)!;
    // Half a second: well inside the log's 1 s wait, and far longer than the step to the insert.
    const lock = await holdWriteLock(file, 500);
    try {
      lock.writing();
      // The insert starts while the lock is held: without a wait it would fail at once.
      expect(lock.released()).toBe(false);
      const insert = sink.insert([makeRecord({ ts: Date.now(), request_id: 'waited' })]);
      // A timer fires while it waits, the lock still held: the wait does not hold the thread.
      await sleep(50);
      expect(lock.released()).toBe(false);
      await insert;
      expect(lock.released()).toBe(true);
      expect((await sink.query({})).records.map((r) => r.request_id)).toEqual(['waited']);
    } finally {
      await lock.end();
      await sink.close();
      await store.close();
    }
  });

  it("a log write gives up on a lock held past its 1 s, and the store's writes still wait 5 s after", async () => {
    const file = path.join(dir, 'busy.db');
    const store = new SqliteStore(file);
    const sink = openAuditSink(`sqlite:${file}`, dir, store.connection)!;
    // 3 s: longer than the log's wait, shorter than the store's.
    const forLog = await holdWriteLock(file, 3000);
    try {
      forLog.writing();
      expect(forLog.released()).toBe(false);
      await expect(sink.insert([makeRecord({ ts: Date.now(), request_id: 'busy' })])).rejects.toThrow(/locked|busy/i);
      // It gave up while the lock was still held: it did not wait with the store's 5 s.
      expect(forLog.released()).toBe(false);
      await forLog.end();
      // The log's wait left the connection as it was: no statement waits on the thread.
      expect(busyTimeout(store)).toBe(0);
      const forStore = await holdWriteLock(file, 3000);
      const pin = { server: 'feature', tool: 'echo', hash: 'h1', definition: '{}', pinnedAt: 1 };
      try {
        forStore.writing();
        expect(forStore.released()).toBe(false);
        await store.putPin(pin);
        // The same hold the log gave up on, waited out by the store.
        expect(forStore.released()).toBe(true);
        expect(await store.getPin('feature', 'echo')).toEqual(pin);
      } finally {
        await forStore.end();
      }
    } finally {
      await forLog.end();
      await sink.close();
      await store.close();
    }
  });

  it("opening the log on a file another process is writing waits for its lock past an insert's 1 s", async () => {
    // A state file made by one process while another (started at the same moment) holds its write
    // lock for longer than an insert would wait: the log's table is still made.
    const file = path.join(dir, 'setup.db');
    const store = new SqliteStore(file);
    const lock = await holdWriteLock(file, 2500);
    try {
      lock.writing();
      const sink = openAuditSink(`sqlite:${file}`, dir, store.connection)!;
      expect(lock.released()).toBe(true);
      await sink.insert([makeRecord({ ts: Date.now(), request_id: 'after-setup' })]);
      expect((await sink.query({})).records.map((r) => r.request_id)).toEqual(['after-setup']);
      await sink.close();
    } finally {
      await lock.end();
      await store.close();
    }
  });

  it('a gateway with the default audit log opens its state file once', async () => {
    // No `audit` key: the log lives in the state file.
    const started = await startFileGateway('gatehouse-shared-gateway-', {
      listen: { host: '127.0.0.1', port: 0 },
      state: 'sqlite:./state.db',
      servers: {
        feature: featureServerCommand('stdio', 'legacy'),
      },
    });
    const stateFile = path.join(started.dir.path, 'state.db');
    try {
      // Counted before the checkpoint thread's first run (it comes after 128 writes; starting
      // writes far fewer): SQLite keeps that thread's closed descriptor for reuse, one more.
      expect(openOn(stateFile)).toBe(1);
    } finally {
      // Only the gateway: the folder stays until the count after closing is taken.
      await started.gateway.close();
    }
    expect(openOn(stateFile)).toBe(0);
    started.dir.remove();
  });
});
