// The embedded default store. better-sqlite3 runs each transaction synchronously and
// `BEGIN IMMEDIATE` takes the write lock first, so a reservation is atomic even when several
// processes share the file. Counters live on disk: restarting the gateway does not reset them.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  admit,
  relevantSpan,
  retention,
  type Reservation,
  type ReserveResult,
  type StateStore,
  type WindowSpec,
} from './store.js';

export class SqliteStore implements StateStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly reserveTx: (key: string, spec: WindowSpec, now: number) => ReserveResult;
  private readonly releaseStmt: Database.Statement;

  constructor(readonly file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS limit_events (token TEXT PRIMARY KEY, key TEXT NOT NULL, ts INTEGER NOT NULL, cost REAL NOT NULL);
      CREATE INDEX IF NOT EXISTS limit_events_key_ts ON limit_events (key, ts);
      CREATE TABLE IF NOT EXISTS limit_keys (key TEXT PRIMARY KEY, retain_ms INTEGER NOT NULL);
    `);
    const retain = this.db.prepare(
      'INSERT INTO limit_keys (key, retain_ms) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET retain_ms = max(retain_ms, excluded.retain_ms) RETURNING retain_ms',
    );
    const newestStmt = this.db.prepare('SELECT max(ts) AS ts FROM limit_events WHERE key = ?');
    const prune = this.db.prepare('DELETE FROM limit_events WHERE key = ? AND ts <= ?');
    const inSpan = this.db.prepare(
      'SELECT ts, cost FROM limit_events WHERE key = ? AND ts >= ? AND ts < ? ORDER BY ts',
    );
    const insert = this.db.prepare('INSERT INTO limit_events (token, key, ts, cost) VALUES (?, ?, ?, ?)');
    this.releaseStmt = this.db.prepare('DELETE FROM limit_events WHERE key = ? AND token = ?');
    const tx = this.db.transaction((key: string, spec: WindowSpec, now: number): ReserveResult => {
      const { retain_ms } = retain.get(key, retention(spec.windowMs)) as { retain_ms: number };
      const newest = (newestStmt.get(key) as { ts: number | null }).ts ?? undefined;
      prune.run(key, Math.max(newest ?? now, now) - retain_ms);
      const { from, to } = relevantSpan(spec, now);
      const verdict = admit(spec, now, inSpan.all(key, from, to) as { ts: number; cost: number }[], newest);
      if (!verdict.ok) return verdict;
      const token = randomUUID();
      insert.run(token, key, now, spec.cost);
      return { ok: true, token };
    });
    this.reserveTx = (key, spec, now) => tx.immediate(key, spec, now);
  }

  async reserve(key: string, spec: WindowSpec, now: number): Promise<ReserveResult> {
    return this.reserveTx(key, spec, now);
  }

  async release(r: Reservation): Promise<void> {
    this.releaseStmt.run(r.key, r.token);
  }

  async ping(): Promise<boolean> {
    try {
      this.db.prepare('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
