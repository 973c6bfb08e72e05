// The embedded default store. better-sqlite3 runs each transaction synchronously and
// `BEGIN IMMEDIATE` takes the write lock first, so a reservation is atomic even when several
// processes share the file. Counters live on disk: restarting the gateway does not reset them.
import { randomUUID } from 'node:crypto';
import type { Approval, ApprovalFilter, ApprovalPatch } from '../approvals/approval.js';
import type { Pin } from '../catalog/pins.js';
import type { StoredGrant } from '../identity/stored-grant.js';
import type Database from 'better-sqlite3';
import { isBusy, SqliteConnection } from './sqlite-connection.js';
import {
  admit,
  assertDistinctCounters,
  oneOf,
  PRUNE_EVERY_MS,
  relevantSpan,
  retentionFor,
  usedAt,
  windowsOf,
  type CounterReservation,
  type Reservation,
  type ReserveAllResult,
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

/**
 * A counter's entries, keyed by what every query asks for: one counter's entries in time order. The
 * token (unique per reservation) makes two entries of one millisecond distinct.
 */
const eventsTable = (name: string, ifNotExists = ''): string =>
  `CREATE TABLE ${ifNotExists} ${name} (key TEXT NOT NULL, ts INTEGER NOT NULL, token TEXT NOT NULL, cost REAL NOT NULL, PRIMARY KEY (key, ts, token)) WITHOUT ROWID;`;

/** Keep `limit_seconds` equal to the sum of each second's entries, whoever writes them. */
const TOTALS_TRIGGERS = `
  CREATE TRIGGER IF NOT EXISTS limit_events_added AFTER INSERT ON limit_events BEGIN
    INSERT INTO limit_seconds (key, second, cost) VALUES (new.key, CAST(new.ts / 1000 AS INTEGER), new.cost)
      ON CONFLICT (key, second) DO UPDATE SET cost = cost + excluded.cost;
  END;
  CREATE TRIGGER IF NOT EXISTS limit_events_removed AFTER DELETE ON limit_events BEGIN
    UPDATE limit_seconds SET cost = cost - old.cost WHERE key = old.key AND second = CAST(old.ts / 1000 AS INTEGER);
  END;`;

/** How many counters the store remembers the retention and last prune of (see forgetIfFull). */
export const MAX_REMEMBERED_COUNTERS = 10_000;
/** How often expired single-use claims (`once_claims`) are deleted. */
const CLAIM_PRUNE_EVERY_MS = 60_000;

interface QueuedReservation {
  counters: CounterReservation[];
  now: number;
  /** When it stops waiting for another process's lock (performance.now()): its own 5 s, wherever it queued. */
  deadline: number;
  resolve: (r: ReserveAllResult) => void;
  reject: (error: unknown) => void;
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
  private readonly reserveTx: (counters: CounterReservation[], now: number) => ReserveAllResult;
  private readonly releaseStmt: Database.Statement;
  private readonly releaseAnyTime: Database.Statement;
  private readonly usageStmt: Database.Statement;
  private readonly pinGet: Database.Statement;
  private readonly pinPut: Database.Statement;
  private readonly pinList: Database.Statement;

  /** The connection to the file; the audit sink shares it when the log lives in the state file. */
  readonly connection: SqliteConnection;
  private readonly releaseConnection: () => void;

  /** `writeWaitMs`: how long a write waits for another process's write lock before it fails. */
  constructor(
    readonly file: string,
    writeWaitMs = 5000,
  ) {
    this.connection = new SqliteConnection(file, writeWaitMs);
    this.releaseConnection = this.connection.use();
    this.db = this.connection.db;
    this.db.exec(`
      ${eventsTable('limit_events', 'IF NOT EXISTS')}
      CREATE TABLE IF NOT EXISTS limit_keys (key TEXT PRIMARY KEY, retain_ms INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS pins (
        server TEXT NOT NULL, tool TEXT NOT NULL, hash TEXT NOT NULL, definition TEXT NOT NULL, pinned_at INTEGER NOT NULL,
        pending_hash TEXT, pending_definition TEXT, pending_seen_at INTEGER,
        PRIMARY KEY (server, tool)
      );
      CREATE TABLE IF NOT EXISTS approvals (
        id TEXT PRIMARY KEY, seq INTEGER NOT NULL, status TEXT NOT NULL, created INTEGER NOT NULL,
        grant_name TEXT NOT NULL, server TEXT NOT NULL, tool TEXT NOT NULL, args_hash TEXT NOT NULL, doc TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS approvals_seq ON approvals (seq);
      CREATE INDEX IF NOT EXISTS approvals_match ON approvals (grant_name, server, tool, args_hash);
      CREATE INDEX IF NOT EXISTS approvals_status ON approvals (status, created);
      CREATE TABLE IF NOT EXISTS grants (name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS once_claims (id TEXT PRIMARY KEY, expires INTEGER NOT NULL) WITHOUT ROWID;
    `);
    this.upgradeLayout();
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
    this.releaseStmt = this.db.prepare('DELETE FROM limit_events WHERE key = ? AND ts = ? AND token = ?');
    this.releaseAnyTime = this.db.prepare('DELETE FROM limit_events WHERE key = ? AND token = ?');
    this.usageStmt = inSpan;
    const usedIn = this.db.prepare(
      'SELECT COALESCE(SUM(cost), 0) AS used FROM limit_events WHERE key = ? AND ts >= ? AND ts < ?',
    );
    // The entries of the window's first, partial second, plus the totals of its whole seconds: with a
    // busy counter, a few dozen rows instead of every call of the window.
    const usedSince = this.db.prepare(
      `SELECT (SELECT COALESCE(SUM(cost), 0) FROM limit_events WHERE key = @key AND ts >= @from AND ts < @first * 1000)
            + (SELECT COALESCE(SUM(cost), 0) FROM limit_seconds WHERE key = @key AND second >= @first AND second <= @last) AS used`,
    );
    const pruneSeconds = this.db.prepare('DELETE FROM limit_seconds WHERE key = ? AND second < ?');
    // No entry of the counter is later than `now`. The per-second totals answer for the whole
    // seconds of [from, now]; they are sums of floating-point costs kept by adding and subtracting,
    // so a total that is not a whole number (fractional costs) is checked against the entries.
    const usedInOrder = (key: string, from: number, to: number, now: number): number => {
      if (from > 0) {
        const first = Math.ceil(from / 1000);
        const { used } = usedSince.get({ key, from, first, last: Math.trunc(now / 1000) }) as { used: number };
        if (Number.isInteger(used)) return used;
      }
      return (usedIn.get(key, from, to) as { used: number }).used;
    };
    /** Why an entry of `window.cost` at `now` does not fit in the window; undefined when it does. */
    const outside = (
      key: string,
      window: WindowSpec,
      now: number,
      newest: number | undefined,
    ): Extract<ReserveResult, { ok: false }> | undefined => {
      const { from, to } = relevantSpan(window, now);
      // In time order (the common case) the sum of the window decides; the full check, which
      // reads the entries, is needed only when calls arrive out of order or the call is refused.
      if (newest === undefined || newest <= now) {
        const used = usedInOrder(key, from, to, now);
        if (window.cost <= window.max && used + window.cost <= window.max) return undefined;
      }
      const verdict = admit(window, now, inSpan.all(key, from, to) as { ts: number; cost: number }[], newest);
      return verdict.ok ? undefined : verdict;
    };
    /** Why the counter cannot take an entry of `spec.cost` at `now`; undefined when it can. */
    const checkOne = (
      key: string,
      spec: WindowSpec,
      now: number,
    ): Extract<ReserveResult, { ok: false }> | undefined => {
      const want = retentionFor(spec);
      this.forgetIfFull();
      let retainMs = this.retained.get(key);
      if (retainMs === undefined || retainMs < want) {
        retainMs = (retain.get(key, want) as { retain_ms: number }).retain_ms;
        this.retained.set(key, retainMs);
      }
      const newest = (newestStmt.get(key) as { ts: number | null }).ts ?? undefined;
      // Entries before the cutoff only take space: no check reads that far back. It is counted
      // from the newest entry, not from this call's time: this call may yet be refused, and a
      // later call within a window of the newest entry must still see a window before it.
      // Deleting them once a second per counter, not at every call, dirties the oldest pages of
      // the table and its indexes once a second instead of in every transaction.
      const cutoff = newest === undefined ? -Infinity : newest - retainMs;
      if (cutoff - (this.prunedTo.get(key) ?? -Infinity) >= PRUNE_EVERY_MS) {
        this.prunedTo.set(key, cutoff);
        prune.run(key, cutoff);
        // Every entry of a second wholly before the cutoff is gone: so is its total.
        if (cutoff > 0) pruneSeconds.run(key, Math.trunc(cutoff / 1000));
      }
      for (const window of windowsOf(spec)) {
        const refused = outside(key, window, now, newest);
        if (refused) return refused;
      }
      return undefined;
    };
    // Every counter of a call is checked before any takes its entry (the keys are distinct, so no
    // check reads another's entry): a refusal writes no entry anywhere, and nothing is given back.
    const reserveCall = (counters: CounterReservation[], now: number): ReserveAllResult => {
      for (const [index, { key, spec }] of counters.entries()) {
        const refused = checkOne(key, spec, now);
        if (refused) return { ...refused, index };
      }
      const tokens = counters.map(({ key, spec }) => {
        const token = this.nextToken(now);
        insert.run(token, key, now, spec.cost);
        return token;
      });
      return { ok: true, tokens };
    };
    const tx = this.db.transaction(reserveCall);
    this.reserveTx = (counters, now) => tx.immediate(counters, now);
    const many = this.db.transaction((batch: QueuedReservation[]) => batch.map((r) => reserveCall(r.counters, r.now)));
    this.reserveManyTx = (batch) => many.immediate(batch);
    const unclaimExpired = this.db.prepare('DELETE FROM once_claims WHERE id = ? AND expires <= ?');
    const claim = this.db.prepare('INSERT OR IGNORE INTO once_claims (id, expires) VALUES (?, ?)');
    const claimTx = this.db.transaction((id: string, expires: number, now: number): boolean => {
      unclaimExpired.run(id, now);
      return claim.run(id, expires).changes === 1;
    });
    this.claimTx = (id, expires, now) => claimTx.immediate(id, expires, now);
    this.pruneClaims = this.db.prepare('DELETE FROM once_claims WHERE expires <= ?');
    this.connection.serve();
  }

  private readonly claimTx: (id: string, expires: number, now: number) => boolean;
  private readonly pruneClaims: Database.Statement;
  /** When this process last deleted expired claims (see claimOnce). */
  private claimsPrunedAt = 0;

  private readonly reserveManyTx: (batch: QueuedReservation[]) => ReserveAllResult[];
  /** retain_ms only grows: a key whose retention is known needs no write for it. */
  private readonly retained = new Map<string, number>();
  /** Per counter, the cutoff it was last pruned to (in this process). */
  private readonly prunedTo = new Map<string, number>();
  private queued: QueuedReservation[] = [];
  /** Whether runQueued is working through the queue (perhaps waiting for another process's lock). */
  private running = false;

  /**
   * The two maps above are shortcuts, one entry per counter ever seen: with a counter per key value
   * (a limit's `key`), values an agent makes up would grow them without end. Past this many counters
   * they start again; the cost is one write of the retention and one prune per counter.
   */
  private forgetIfFull(): void {
    if (this.retained.size < MAX_REMEMBERED_COUNTERS && this.prunedTo.size < MAX_REMEMBERED_COUNTERS) return;
    this.retained.clear();
    this.prunedTo.clear();
  }

  /**
   * Runs the reservations queued during one turn of the event loop in one write transaction, each
   * decided in arrival order exactly as it would be alone: under concurrency one commit (and one
   * WAL append) serves them all instead of one per call. If the batch fails as a whole, it is
   * rolled back and every reservation is run in a transaction of its own, so one failure is
   * reported to its own call only; unless it failed because another process held the file's lock
   * for all of the wait, which every reservation of the batch would meet again.
   *
   * While a batch waits for another process's lock (without holding the thread: whenFree), the
   * reservations that arrive meanwhile queue behind it and run next, in their order.
   */
  private async runQueued(): Promise<void> {
    this.running = true;
    try {
      while (this.queued.length > 0) {
        const batch = this.queued;
        this.queued = [];
        const stillWaiting = await this.runBatch(batch);
        // Met the lock with time left: first again, before what arrived since.
        if (stillWaiting.length > 0) this.queued = [...stillWaiting, ...this.queued];
      }
    } finally {
      this.running = false;
    }
  }

  /**
   * Decides the batch, or the part of it whose wait has run out; returns the reservations that met
   * another process's lock and may still wait for it. The batch waits until the earliest deadline
   * among its reservations, the first's, as they are in arrival order.
   */
  private async runBatch(batch: QueuedReservation[]): Promise<QueuedReservation[]> {
    if (batch.length > 1) {
      let results: ReserveAllResult[] | undefined;
      try {
        results = await this.connection.whenFreeBy(() => this.reserveManyTx(batch), batch[0]!.deadline, this.stop);
      } catch (error) {
        // Rolled back: the retention marks written in it may not be in the file.
        this.retained.clear();
        this.prunedTo.clear();
        if (isBusy(error)) return this.refuseTimedOut(batch, error);
      }
      if (results) {
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
        return [];
      }
    }
    for (const r of batch) {
      try {
        r.resolve(await this.connection.whenFreeBy(() => this.reserveTx(r.counters, r.now), r.deadline, this.stop));
      } catch (error) {
        r.reject(error);
      }
    }
    return [];
  }

  /** After a batch met the lock for all its wait: refuses those whose wait is over, returns the rest. */
  private refuseTimedOut(batch: QueuedReservation[], error: unknown): QueuedReservation[] {
    const now = performance.now();
    return batch.filter((r) => {
      if (r.deadline > now && !this.closed) return true;
      r.reject(error);
      return false;
    });
  }

  /**
   * A statement or transaction of the store, run when another process's lock lets it (whenFree): a
   * write, or the rare read that meets a lock in WAL mode.
   */
  private free<T>(fn: () => T): Promise<T> {
    return this.connection.whenFree(fn, undefined, this.stop);
  }

  /** free, for a read: it leaves the log as it was, so it counts for no checkpoint. */
  private read<T>(fn: () => T): Promise<T> {
    return this.connection.whenFree(fn, undefined, this.stop, false);
  }

  /** Tells a write waiting for another process's lock that the store has closed: it fails at once. */
  private readonly stop = (): boolean => this.closed;
  private closed = false;

  // A reservation's token names its entry for release: unique across every process sharing the
  // file (a random prefix per store) without a random UUID per call.
  private readonly tokenPrefix = `${randomUUID()}-`;
  private tokenCount = 0;

  private nextToken(ts: number): string {
    // Padded so that tokens sort in the order they are made. The entry's time follows the `@`:
    // release finds the entry by its whole primary key (key, ts, token).
    return `${this.tokenPrefix}${(++this.tokenCount).toString(36).padStart(11, '0')}@${ts}`;
  }

  /** The schema text of a table, index or trigger of the file; undefined if there is none. */
  private schemaOf(name: string): string | undefined {
    return (this.db.prepare('SELECT sql FROM sqlite_master WHERE name = ?').get(name) as { sql: string } | undefined)
      ?.sql;
  }

  /** Whether the file's limit tables are in the current layout (see upgradeLayout). */
  private layoutIsCurrent(): boolean {
    return (
      /WITHOUT\s+ROWID/i.test(this.schemaOf('limit_events') ?? '') &&
      this.schemaOf('limit_events_key_ts') === undefined &&
      this.schemaOf('limit_seconds') !== undefined &&
      this.schemaOf('limit_events_added') !== undefined &&
      this.schemaOf('limit_events_removed') !== undefined
    );
  }

  /**
   * Brings a file written by an earlier Gatehouse to the current layout, once, under the write lock.
   * The file is read first without the lock, so opening a current file (nearly every open, the
   * command line's included) waits for no other process's writes.
   *
   * - Entries keyed by time: earlier files have them in a rowid table with a token index and a
   *   (key, ts) index, so each reservation wrote four B-tree pages (with the per-second totals)
   *   where it now writes two. The entries are copied over. An older Gatehouse still running on
   *   the file keeps working: its statements name the same table and columns, and SQLite prepares
   *   them again against the new one. When it starts again it makes its (key, ts) index again,
   *   which only costs writes: the next open drops it.
   * - Per-second totals of every counter's entries, kept by triggers, so that every writer of the
   *   file (whichever version of Gatehouse) keeps them in step with the entries. A file made before
   *   they existed gets them from its entries.
   */
  private upgradeLayout(): void {
    if (this.layoutIsCurrent()) return;
    this.db
      .transaction(() => {
        // Another process may have done part of it since the look above: each step checks again.
        if (!/WITHOUT\s+ROWID/i.test(this.schemaOf('limit_events') ?? '')) {
          this.db.exec(`
            ${eventsTable('limit_events_by_time')}
            INSERT INTO limit_events_by_time (key, ts, token, cost) SELECT key, ts, token, cost FROM limit_events;
            DROP TABLE limit_events;
            ALTER TABLE limit_events_by_time RENAME TO limit_events;
          `);
        }
        this.db.exec('DROP INDEX IF EXISTS limit_events_key_ts');
        if (this.schemaOf('limit_seconds') === undefined) {
          this.db.exec(`
            CREATE TABLE limit_seconds (key TEXT NOT NULL, second INTEGER NOT NULL, cost REAL NOT NULL, PRIMARY KEY (key, second)) WITHOUT ROWID;
            INSERT INTO limit_seconds (key, second, cost) SELECT key, CAST(ts / 1000 AS INTEGER), SUM(cost) FROM limit_events GROUP BY 1, 2;
          `);
        }
        // Dropping an earlier table dropped its triggers; the totals themselves are unchanged.
        this.db.exec(TOTALS_TRIGGERS);
      })
      .immediate();
  }

  async reserve(key: string, spec: WindowSpec, now: number): Promise<ReserveResult> {
    return oneOf(await this.reserveAll([{ key, spec }], now));
  }

  reserveAll(counters: CounterReservation[], now: number): Promise<ReserveAllResult> {
    return new Promise((resolve, reject) => {
      assertDistinctCounters(counters); // a throw here rejects
      // After this turn's I/O callbacks: every call that arrived in it reserves in the same batch.
      const deadline = performance.now() + this.connection.busyTimeoutMs;
      if (this.queued.push({ counters, now, deadline, resolve, reject }) === 1 && !this.running)
        setImmediate(() => void this.runQueued());
    });
  }

  async usage(key: string, spec: WindowSpec, now: number): Promise<number> {
    const { from, to } = relevantSpan(spec, now);
    // One SELECT reads a consistent snapshot; nothing is written, so no transaction is needed.
    const entries = await this.read(() => this.usageStmt.all(key, from, to) as { ts: number; cost: number }[]);
    return usedAt(spec, now, entries);
  }

  async getPin(server: string, tool: string): Promise<Pin | undefined> {
    const row = await this.read(() => this.pinGet.get(server, tool) as PinRow | undefined);
    return row ? rowToPin(row) : undefined;
  }

  async putPin(p: Pin): Promise<void> {
    await this.free(() =>
      this.pinPut.run(
        p.server,
        p.tool,
        p.hash,
        p.definition,
        p.pinnedAt,
        p.pending?.hash ?? null,
        p.pending?.definition ?? null,
        p.pending?.seenAt ?? null,
      ),
    );
  }

  async listPins(server?: string): Promise<Pin[]> {
    return (await this.read(() => this.pinList.all(server ?? null, server ?? null) as PinRow[])).map(rowToPin);
  }

  async createGrant(g: StoredGrant): Promise<boolean> {
    const insert = this.db.prepare(
      'INSERT INTO grants (name, token_hash, doc) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    );
    const r = await this.free(() => insert.run(g.name, g.token_hash, JSON.stringify(g)));
    return r.changes === 1;
  }

  async grantByTokenHash(hash: string): Promise<StoredGrant | undefined> {
    const select = this.db.prepare('SELECT doc FROM grants WHERE token_hash = ?');
    const row = await this.read(() => select.get(hash) as { doc: string } | undefined);
    return row ? (JSON.parse(row.doc) as StoredGrant) : undefined;
  }

  async listGrants(): Promise<StoredGrant[]> {
    const select = this.db.prepare('SELECT doc FROM grants ORDER BY name');
    return (await this.read(() => select.all() as { doc: string }[])).map((r) => JSON.parse(r.doc) as StoredGrant);
  }

  async revokeGrant(name: string, at: number): Promise<boolean> {
    const revoke = this.db.transaction((): boolean => {
      const row = this.db.prepare('SELECT doc FROM grants WHERE name = ?').get(name) as { doc: string } | undefined;
      if (!row) return false;
      const g = JSON.parse(row.doc) as StoredGrant;
      if (g.revoked !== undefined) return false;
      g.revoked = at;
      this.db.prepare('UPDATE grants SET doc = ? WHERE name = ?').run(JSON.stringify(g), name);
      return true;
    });
    return this.free(() => revoke.immediate());
  }

  // Approvals. Each write stamps the row with the next sequence number, so that watchers — in this
  // process or in any other sharing the file (the CLI answering an approval) — find what changed
  // since they last looked with one indexed query.
  private approvalWatchers = new Set<(a: Approval) => void>();
  private approvalPoll: NodeJS.Timeout | undefined;
  private approvalSeq = 0;

  private nextSeq(): number {
    return (this.db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS s FROM approvals').get() as { s: number }).s;
  }

  async createApproval(a: Approval): Promise<void> {
    const create = this.db.transaction(() => {
      this.db
        .prepare(
          'INSERT INTO approvals (id, seq, status, created, grant_name, server, tool, args_hash, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(a.id, this.nextSeq(), a.status, a.created, a.grant, a.server, a.tool, a.args_hash, JSON.stringify(a));
    });
    await this.free(() => create.immediate());
    this.pollApprovalsSoon();
  }

  async getApproval(id: string): Promise<Approval | undefined> {
    const select = this.db.prepare('SELECT doc FROM approvals WHERE id = ?');
    const row = await this.read(() => select.get(id) as { doc: string } | undefined);
    return row ? (JSON.parse(row.doc) as Approval) : undefined;
  }

  async listApprovals(f: ApprovalFilter = {}): Promise<Approval[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.status) {
      where.push(`status IN (${f.status.map(() => '?').join(', ') || "''"})`);
      params.push(...f.status);
    }
    for (const [col, v] of [
      ['grant_name', f.grant],
      ['server', f.server],
      ['tool', f.tool],
      ['args_hash', f.args_hash],
    ] as const) {
      if (v === undefined) continue;
      where.push(`${col} = ?`);
      params.push(v);
    }
    const sql = `SELECT doc FROM approvals ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created DESC, seq DESC LIMIT ?`;
    const select = this.db.prepare(sql);
    return (await this.read(() => select.all(...params, f.limit ?? 100) as { doc: string }[])).map(
      (r) => JSON.parse(r.doc) as Approval,
    );
  }

  async transitionApproval(
    id: string,
    from: Approval['status'][],
    patch: ApprovalPatch,
  ): Promise<Approval | undefined> {
    const transition = this.db.transaction((): Approval | undefined => {
      const row = this.db.prepare('SELECT doc FROM approvals WHERE id = ?').get(id) as { doc: string } | undefined;
      if (!row) return undefined;
      const a = JSON.parse(row.doc) as Approval;
      if (!from.includes(a.status)) return undefined;
      const next = { ...a, ...patch };
      this.db
        .prepare('UPDATE approvals SET seq = ?, status = ?, doc = ? WHERE id = ?')
        .run(this.nextSeq(), next.status, JSON.stringify(next), id);
      return next;
    });
    const updated = await this.free(() => transition.immediate());
    if (updated) this.pollApprovalsSoon();
    return updated;
  }

  watchApprovals(listener: (a: Approval) => void): () => void {
    if (this.approvalWatchers.size === 0) {
      // Once, when the first watcher comes: it may wait on the thread, as a read did before whenFree.
      this.approvalSeq = this.connection.withBusyTimeout(
        this.connection.busyTimeoutMs,
        () => (this.db.prepare('SELECT COALESCE(MAX(seq), 0) AS s FROM approvals').get() as { s: number }).s,
      );
      this.approvalPoll = setInterval(() => this.pollApprovals(), 200);
      this.approvalPoll.unref();
    }
    this.approvalWatchers.add(listener);
    return () => {
      this.approvalWatchers.delete(listener);
      if (this.approvalWatchers.size === 0) clearInterval(this.approvalPoll);
    };
  }

  /** A write by this process is seen at once rather than at the next tick. */
  private pollApprovalsSoon(): void {
    if (this.approvalWatchers.size > 0) queueMicrotask(() => this.pollApprovals());
  }

  private pollApprovals(): void {
    if (!this.db.open || this.approvalWatchers.size === 0) return;
    let rows: { seq: number; doc: string }[];
    try {
      rows = this.db.prepare('SELECT seq, doc FROM approvals WHERE seq > ? ORDER BY seq').all(this.approvalSeq) as {
        seq: number;
        doc: string;
      }[];
    } catch {
      return; // the file is busy or gone: the next tick tries again
    }
    for (const r of rows) {
      this.approvalSeq = Math.max(this.approvalSeq, r.seq);
      const a = JSON.parse(r.doc) as Approval;
      for (const l of this.approvalWatchers) l(a);
    }
  }

  async release(r: Reservation): Promise<void> {
    // The entry's time is in its token (nextToken); a token from an earlier Gatehouse has none.
    const at = r.token.lastIndexOf('@');
    const ts = at < 0 ? NaN : Number(r.token.slice(at + 1));
    await this.free(() =>
      Number.isFinite(ts) ? this.releaseStmt.run(r.key, ts, r.token) : this.releaseAnyTime.run(r.key, r.token),
    );
  }

  async claimOnce(id: string, ttlMs: number, now: number): Promise<boolean> {
    // Claims nobody can present any more only take space: they are deleted once a minute per
    // process, not in every claim's transaction.
    if (now - this.claimsPrunedAt >= CLAIM_PRUNE_EVERY_MS || now < this.claimsPrunedAt) {
      this.claimsPrunedAt = now;
      await this.free(() => this.pruneClaims.run(now));
    }
    return this.free(() => this.claimTx(id, now + ttlMs, now));
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
    this.closed = true;
    clearInterval(this.approvalPoll);
    this.approvalWatchers.clear();
    this.releaseConnection();
  }
}
