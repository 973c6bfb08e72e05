// When the audit log lives in the state file (the default), the gateway's audit sink writes through
// the state store's own connection; the connection stays open until both have closed, and the
// sink's short wait for another process's write lock does not change the store's.
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openAuditSink } from '../../src/audit/open-audit-log.js';
import { loadConfig } from '../../src/config/load.js';
import { startGateway } from '../../src/gateway/gateway.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { makeRecord } from '../audit/make-record.js';
import { featureServerCommand } from '../helpers/fixture.js';

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

  it("the log's writes wait 1 s for another process's write lock, and the store's wait is still 5 s after", async () => {
    const file = path.join(dir, 'busy.db');
    const store = new SqliteStore(file);
    const sink = openAuditSink(`sqlite:${file}`, dir, store.connection)!;
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    const started = Date.now();
    await expect(sink.insert([makeRecord({ ts: Date.now(), request_id: 'busy' })])).rejects.toThrow(/locked|busy/i);
    // Well under the store's 5 s: the insert waited with the log's own timeout.
    expect(Date.now() - started).toBeLessThan(4000);
    expect(busyTimeout(store)).toBe(5000);
    other.exec('ROLLBACK');
    other.close();
    await sink.close();
    await store.close();
  });

  it('a gateway with the default audit log opens its state file once', async () => {
    const home = mkdtempSync(path.join(dir, 'gateway-'));
    const configFile = path.join(home, 'gatehouse.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        state: 'sqlite:./state.db',
        servers: {
          feature: featureServerCommand('stdio', 'legacy'),
        },
      }),
    );
    const gateway = await startGateway(await loadConfig({ file: configFile }), { log: () => undefined });
    try {
      expect(openOn(path.join(home, 'state.db'))).toBe(1);
    } finally {
      await gateway.close();
    }
    expect(openOn(path.join(home, 'state.db'))).toBe(0);
  });
});
