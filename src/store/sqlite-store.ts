// The embedded default store. better-sqlite3 runs each transaction synchronously and
// `BEGIN IMMEDIATE` takes the write lock first, so a reservation is atomic even when several
// processes share the file. Counters live on disk: restarting the gateway does not reset them.
import { randomUUID } from 'node:crypto';
import type { Pin } from '../catalog/pins.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  admit,
  relevantSpan,
  retention,
  usedAt,
  type Reservation,
  type ReserveResult,
  type StateStore,
  type WindowSpec,
} from './store.js';

interface PinRow {
  server: string;
  tool: string;
  hash: string;
  definition: string;
  pinned_at: number;
  pending_hash: string | null;
  pending_definition: string | null;
  pending_seen_at: number | null;
}

function rowToPin(r: PinRow): Pin {
  const pin: Pin = { server: r.server, tool: r.tool, hash: r.hash, definition: r.definition, pinnedAt: r.pinned_at };
  if (r.pending_hash && r.pending_definition)
    pin.pending = { hash: r.pending_hash, definition: r.pending_definition, seenAt: r.pending_seen_at ?? 0 };
  return pin;
}

export class SqliteStore implements StateStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly reserveTx: (key: string, spec: WindowSpec, now: number) => ReserveResult;
  private readonly releaseStmt: Database.Statement;
  private readonly usageStmt: Database.Statement;
  private readonly pinGet: Database.Statement;
  private readonly pinPut: Database.Statement;
  private readonly pinList: Database.Statement;

  constructor(readonly file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    // WAL with NORMAL sync cannot corrupt the file and survives a process crash; only an OS crash
    // or power loss can drop the last moments of counters. Worth it: no fsync on every call.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS limit_events (token TEXT PRIMARY KEY, key TEXT NOT NULL, ts INTEGER NOT NULL, cost REAL NOT NULL);
      CREATE INDEX IF NOT EXISTS limit_events_key_ts ON limit_events (key, ts);
      CREATE TABLE IF NOT EXISTS limit_keys (key TEXT PRIMARY KEY, retain_ms INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS pins (
        server TEXT NOT NULL, tool TEXT NOT NULL, hash TEXT NOT NULL, definition TEXT NOT NULL, pinned_at INTEGER NOT NULL,
        pending_hash TEXT, pending_definition TEXT, pending_seen_at INTEGER,
        PRIMARY KEY (server, tool)
      );
    `);
    this.pinGet = this.db.prepare('SELECT * FROM pins WHERE server = ? AND tool = ?');
    this.pinPut = this.db.prepare(
      'INSERT OR REPLACE INTO pins (server, tool, hash, definition, pinned_at, pending_hash, pending_definition, pending_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.pinList = this.db.prepare('SELECT * FROM pins WHERE (? IS NULL OR server = ?) ORDER BY server, tool');
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
    this.usageStmt = inSpan;
    const usedIn = this.db.prepare(
      'SELECT COALESCE(SUM(cost), 0) AS used FROM limit_events WHERE key = ? AND ts >= ? AND ts < ?',
    );
    // retain_ms only grows; a key whose retention is known needs no write for it.
    const retained = new Map<string, number>();
    const tx = this.db.transaction((key: string, spec: WindowSpec, now: number): ReserveResult => {
      const want = retention(spec.windowMs);
      let retainMs = retained.get(key);
      if (retainMs === undefined || retainMs < want) {
        retainMs = (retain.get(key, want) as { retain_ms: number }).retain_ms;
        retained.set(key, retainMs);
      }
      const newest = (newestStmt.get(key) as { ts: number | null }).ts ?? undefined;
      prune.run(key, Math.max(newest ?? now, now) - retainMs);
      const { from, to } = relevantSpan(spec, now);
      // In time order (the common case) one SUM over the index decides; the full check, which
      // reads the entries, is needed only when calls arrive out of order or the call is refused.
      if (newest === undefined || newest <= now) {
        const { used } = usedIn.get(key, from, to) as { used: number };
        if (spec.cost <= spec.max && used + spec.cost <= spec.max) {
          const token = randomUUID();
          insert.run(token, key, now, spec.cost);
          return { ok: true, token };
        }
      }
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

  async usage(key: string, spec: WindowSpec, now: number): Promise<number> {
    const { from, to } = relevantSpan(spec, now);
    // One SELECT reads a consistent snapshot; nothing is written, so no transaction is needed.
    return usedAt(spec, now, this.usageStmt.all(key, from, to) as { ts: number; cost: number }[]);
  }

  async getPin(server: string, tool: string): Promise<Pin | undefined> {
    const row = this.pinGet.get(server, tool) as PinRow | undefined;
    return row ? rowToPin(row) : undefined;
  }

  async putPin(p: Pin): Promise<void> {
    this.pinPut.run(
      p.server,
      p.tool,
      p.hash,
      p.definition,
      p.pinnedAt,
      p.pending?.hash ?? null,
      p.pending?.definition ?? null,
      p.pending?.seenAt ?? null,
    );
  }

  async listPins(server?: string): Promise<Pin[]> {
    return (this.pinList.all(server ?? null, server ?? null) as PinRow[]).map(rowToPin);
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
