// The batching writer between the gateway and a sink. `write` only appends to an in-memory queue:
// a call never waits for the disk or the database. The queue is written in batches (every
// `intervalMs`, at once when a batch is full); a batch the sink refuses stays at the head of the
// queue and is tried again with exponential backoff. The queue is bounded: while the sink is down
// for long, records beyond `queueMax` are dropped and counted, so memory stays bounded too.
// With a spool (spool.ts), `write` also appends the record to a local file before it returns, and
// each stored batch moves the spool's shipped mark: a killed gateway's queue is not lost.
// A batch refused for its own records (UnstorableRecordError: a record that cannot be serialised,
// or that the database refuses as data) is not retried as it is, which would stall the log forever:
// it is split until the record at fault is alone, and that record is stored without its arguments
// (see store()).
import { randomUUID } from 'node:crypto';
import type { AuditFilter, AuditPage, AuditQuery, StoredAuditRecord } from './query.js';
import type { AuditLog, AuditRecord, AuditStats } from './record.js';
import { shortened } from './redact.js';
import { UnstorableRecordError, type AuditSink } from './sink.js';
import type { AuditSpool } from './spool.js';
import type { AuditSummary, StatsQuery } from './stats.js';

export interface AuditWriterOptions {
  queueMax: number;
  batchSize?: number;
  intervalMs?: number;
  /** Records older than this many milliseconds are deleted at start and every `pruneEveryMs`. */
  retentionMs?: number;
  pruneEveryMs?: number;
  /** First retry delay after a failed batch; doubled on each further failure up to `maxBackoffMs`. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long close() keeps retrying a failing sink before it counts the rest as dropped. */
  closeTimeoutMs?: number;
  /** How long flush() waits for a failing sink before it gives up (the records stay queued). */
  flushTimeoutMs?: number;
  /** Drop `arguments` from every record (`audit.arguments: none`), whatever the caller passed. */
  dropArguments?: boolean;
  /** Told when the sink starts failing, when it recovers, and when records are dropped. */
  onEvent?: (level: 'warn' | 'info', message: string) => void;
  now?: () => number;
  /** The spool every record is appended to before write() returns, and what it held unshipped. */
  spool?: { spool: AuditSpool; leftovers: { record: AuditRecord; end: number }[] };
}

/**
 * A UUID of version 7 (RFC 9562): the time in milliseconds, then random bits. The sinks keep a
 * unique index on it; ids that grow with time are inserted at the end of that index, where random
 * ones (version 4) land on a different page of it for every record, which made each stored record
 * cost about twice as much.
 */
export function recordUid(now = Date.now()): string {
  const random = randomUUID();
  const time = now.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15)}`;
}

export class AuditWriter implements AuditLog {
  private queue: AuditRecord[] = [];
  /** With a spool: where each queued record ends in it, parallel to `queue`. */
  private ends: number[] = [];
  private readonly spool: AuditSpool | undefined;
  private spoolFailed = false;
  private written = 0;
  private dropped = 0;
  private failures = 0;
  /** Records ever queued, and of those, written or dropped: flush() waits for the second to catch up. */
  private queuedTotal = 0;
  private settledTotal = 0;
  private waiters: { target: number; resolve: () => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private draining = false;
  private backoffMs = 0;
  private retryAt = 0;
  private closed = false;
  /**
   * Set once close() has given up waiting: a batch still on its way to the sink (one waiting for a
   * database's lock, say) was already counted as dropped or left in the spool, and whatever becomes
   * of it then changes nothing here, neither the counts nor the closed spool.
   */
  private finished = false;
  private overflowReported = false;
  private readonly batchSize: number;
  private readonly intervalMs: number;

  constructor(
    private readonly sink: AuditSink,
    private readonly opts: AuditWriterOptions,
  ) {
    this.batchSize = opts.batchSize ?? 500;
    this.intervalMs = opts.intervalMs ?? 50;
    this.spool = opts.spool?.spool;
    const leftovers = opts.spool?.leftovers ?? [];
    if (leftovers.length > 0) {
      // What a gateway that stopped without closing its log left: stored before anything new.
      this.queue = leftovers.map((l) => l.record);
      this.ends = leftovers.map((l) => l.end);
      this.queuedTotal = leftovers.length;
      opts.onEvent?.(
        'info',
        `${leftovers.length} audit records not yet stored when Gatehouse last stopped are being stored now`,
      );
      this.schedule(0);
    }
    if (opts.retentionMs !== undefined && sink.prune) {
      void this.prune();
      this.pruneTimer = setInterval(() => void this.prune(), opts.pruneEveryMs ?? 3_600_000);
      this.pruneTimer.unref();
    }
  }

  get kind(): AuditSink['kind'] {
    return this.sink.kind;
  }

  write(record: AuditRecord): void {
    if (this.closed || this.queue.length >= this.opts.queueMax) {
      this.dropped++;
      if (!this.overflowReported) {
        this.overflowReported = true;
        this.opts.onEvent?.(
          'warn',
          this.closed
            ? 'audit record written after the audit log was closed: dropped'
            : `audit queue full (${this.opts.queueMax} records): new records are dropped until the ${this.sink.kind} sink catches up`,
        );
      }
      return;
    }
    // A unique id lets a sink store a record once however often it is shipped (see spool.ts).
    let kept: AuditRecord = {
      ...(this.opts.dropArguments ? withoutArguments(record) : record),
      uid: record.uid ?? recordUid(),
    };
    if (this.spool) {
      const spooled = this.appendToSpool(kept);
      kept = spooled.record;
      this.ends.push(spooled.end);
    }
    this.queue.push(kept);
    this.queuedTotal++;
    this.schedule(this.queue.length >= this.batchSize ? 0 : this.intervalMs);
  }

  stats(): AuditStats {
    return { queued: this.queue.length, dropped: this.dropped, written: this.written, failures: this.failures };
  }

  query(q: AuditQuery): Promise<AuditPage> {
    return this.sink.query(q);
  }

  after(id: string | undefined, filter: AuditFilter, limit: number): Promise<StoredAuditRecord[]> {
    return this.sink.after(id, filter, limit);
  }

  lastId(): Promise<string | undefined> {
    return this.sink.lastId();
  }

  summarize(q: StatsQuery): Promise<AuditSummary> {
    return this.sink.summarize(q);
  }

  async flush(): Promise<void> {
    await this.settle(this.opts.flushTimeoutMs ?? 10_000);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.settle(this.opts.closeTimeoutMs ?? 5000);
    this.finished = true;
    if (this.queue.length > 0) {
      // A record whose append to the spool failed (its end is -1) is in memory only, even if later
      // appends worked again: it goes with the process.
      const lost = this.spool ? this.ends.filter((end) => end < 0).length : this.queue.length;
      const kept = this.queue.length - lost;
      if (kept > 0)
        this.opts.onEvent?.(
          'warn',
          `the ${this.sink.kind} audit sink still fails at shutdown: ${kept} records stay in the spool ${this.spool!.file} and are stored at the next start`,
        );
      if (lost > 0)
        this.opts.onEvent?.(
          'warn',
          `the ${this.sink.kind} audit sink still fails at shutdown: ${lost} records dropped${this.spool ? ' (their appends to the spool had failed)' : ''}`,
        );
      this.dropped += lost;
      this.settledTotal += this.queue.length;
      this.queue = [];
      this.ends = [];
      this.wake();
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.spool?.close();
    await this.sink.close();
  }

  /** Writes now, retrying a failing sink, until everything queued so far is settled or the time is up. */
  private async settle(timeoutMs: number): Promise<void> {
    const target = this.queuedTotal;
    if (this.settledTotal >= target) return;
    const done = new Promise<void>((resolve) => this.waiters.push({ target, resolve }));
    // A flush does not wait out the interval, nor a backoff longer than it has time for.
    this.retryAt = Math.min(this.retryAt, this.now());
    this.schedule(0);
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((resolve) => (timeout = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timeout);
  }

  private schedule(delayMs: number): void {
    if (this.draining || this.queue.length === 0) return;
    const wait = Math.max(delayMs, this.retryAt - this.now());
    if (this.timer) {
      if (wait > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => void this.drain(), wait);
    // A pending batch must not keep a CLI process alive; close() writes what is left.
    if (!this.closed) this.timer.unref();
  }

  private async drain(): Promise<void> {
    this.timer = undefined;
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        try {
          await this.store(this.queue.slice(0, this.batchSize));
        } catch (error) {
          if (this.finished) return;
          // The sink is down, busy or full: the records it has not taken stay at the head of the
          // queue, tried again as they are after a backoff.
          this.failures++;
          if (this.backoffMs === 0)
            this.opts.onEvent?.(
              'warn',
              `the ${this.sink.kind} audit sink failed (${error instanceof Error ? error.message : String(error)}); ${this.queue.length} records queued, retrying`,
            );
          this.backoffMs = Math.min(
            this.opts.maxBackoffMs ?? 30_000,
            this.backoffMs === 0 ? (this.opts.initialBackoffMs ?? 100) : this.backoffMs * 2,
          );
          this.retryAt = this.now() + this.backoffMs;
          return;
        }
        if (this.finished) return;
        if (this.backoffMs > 0) this.opts.onEvent?.('info', `the ${this.sink.kind} audit sink recovered`);
        this.backoffMs = 0;
        this.retryAt = 0;
        this.overflowReported = false;
      }
    } finally {
      this.draining = false;
      this.schedule(this.intervalMs);
    }
  }

  /**
   * Stores `batch`, the head of the queue, and settles what it stored. A batch refused for its own
   * records is split in halves, each stored in turn (first the first: the queue's order is kept),
   * down to the record at fault; only that one is replaced (storeInstead). Any other error is the
   * sink's and is thrown: what was stored before it stays stored, the rest stays queued.
   */
  private async store(batch: AuditRecord[]): Promise<void> {
    if (this.finished) return;
    try {
      await this.sink.insert(batch);
    } catch (error) {
      if (!(error instanceof UnstorableRecordError)) throw error;
      if (batch.length === 1) return this.storeInstead(batch[0]!, error);
      const half = Math.ceil(batch.length / 2);
      await this.store(batch.slice(0, half));
      await this.store(batch.slice(half));
      return;
    }
    this.settleHead(batch.length, true);
  }

  /**
   * A record that can never be stored as it is, alone at the head of the queue. It is replaced by
   * what can be stored of it (replacement()), not dropped: every decided call keeps its record, and
   * a call whose arguments were made to break the log is exactly one an operator must see. Only if
   * the sink refuses even that is the record dropped, counted and logged.
   */
  private async storeInstead(record: AuditRecord, error: UnstorableRecordError): Promise<void> {
    const instead = replacement(record, error);
    try {
      await this.sink.insert([instead]);
    } catch (again) {
      if (!(again instanceof UnstorableRecordError)) throw again;
      this.opts.onEvent?.('warn', `${describe(record)} could not be stored (${again.message}): dropped`);
      this.settleHead(1, false);
      return;
    }
    this.opts.onEvent?.(
      'warn',
      `${describe(record)} could not be stored whole (${error.message}): stored without its arguments`,
    );
    this.settleHead(1, true);
  }

  /** The first `n` queued records are stored (or, `stored` false, dropped). */
  private settleHead(n: number, stored: boolean): void {
    if (this.finished) return;
    this.queue.splice(0, n);
    if (this.spool) this.markShipped(this.ends.splice(0, n).at(-1)!);
    if (stored) this.written += n;
    else this.dropped += n;
    this.settledTotal += n;
    this.wake();
  }

  /**
   * The record as spooled, and where it ends in the spool (-1 when the append failed: the record is
   * then only in memory). A record that cannot be serialised could not be stored either: what can
   * be of it is spooled and queued instead.
   */
  private appendToSpool(record: AuditRecord): { record: AuditRecord; end: number } {
    try {
      const end = this.spool!.append(record);
      this.spoolFailed = false;
      return { record, end };
    } catch (error) {
      if (error instanceof UnstorableRecordError) {
        // Not the spool's fault. Even the shorter form failing, the record is queued as it is and
        // the sink refuses it too: it is then dropped, counted and logged (storeInstead()).
        if (record.unstored !== undefined) return { record, end: -1 };
        this.opts.onEvent?.(
          'warn',
          `${describe(record)} cannot be serialised (${error.message}): kept without its arguments`,
        );
        return this.appendToSpool(replacement(record, error));
      }
      if (!this.spoolFailed)
        this.opts.onEvent?.(
          'warn',
          `appending to the audit spool ${this.spool!.file} failed (${error instanceof Error ? error.message : String(error)}): records are kept in memory only until it works again`,
        );
      this.spoolFailed = true;
      return { record, end: -1 };
    }
  }

  private markShipped(end: number): void {
    if (end < 0) return;
    try {
      this.spool!.shipped(end);
    } catch (error) {
      // The records are stored; at worst the next start ships them again, and the sink stores them once.
      this.opts.onEvent?.(
        'warn',
        `recording how far the audit spool is stored failed (${error instanceof Error ? error.message : String(error)})`,
      );
    }
  }

  private wake(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.settledTotal < w.target) return true;
      w.resolve();
      return false;
    });
  }

  private async prune(): Promise<void> {
    try {
      await this.sink.prune?.(this.now() - this.opts.retentionMs!);
    } catch (error) {
      this.opts.onEvent?.(
        'warn',
        `deleting old audit records failed (${error instanceof Error ? error.message : String(error)}); tried again in an hour`,
      );
    }
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }
}

function withoutArguments(record: AuditRecord): AuditRecord {
  const { arguments: _dropped, ...rest } = record;
  return rest;
}

/** The longest text a replacement record keeps of each field. */
const REPLACEMENT_TEXT_CHARS = 256;

/**
 * What is stored of a record that cannot be stored whole: every field but `arguments` (the only
 * one of any shape), each text shortened (a tool name too long for an index), and `unstored`
 * saying why. Who called what, when, and what was decided are kept.
 */
function replacement(record: AuditRecord, error: Error): AuditRecord {
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(withoutArguments(record)))
    kept[key] = typeof value === 'string' ? shortText(value) : value;
  return { ...(kept as unknown as AuditRecord), unstored: shortText(error.message) };
}

function shortText(text: string): string {
  return shortened(text, REPLACEMENT_TEXT_CHARS);
}

/** A record named for a log line: the decision, its server and tool (shortened), its time. */
function describe(r: AuditRecord): string {
  const at = Number.isFinite(r.ts) ? new Date(r.ts).toISOString() : String(r.ts);
  return `the audit record of ${r.decision} ${shortText(String(r.server))}/${shortText(String(r.tool))} at ${at}`;
}
