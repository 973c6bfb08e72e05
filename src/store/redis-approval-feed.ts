// The approvals change feed of the Redis store. Every write to an approval appends the approval's
// id to a stream and publishes the new document on a channel, in the same script: pub/sub brings a
// change to every replica at once (no polling), and the stream lets a replica that lost its
// connection read what it missed when it is back. Stream ids order the two: a change is delivered
// once, in the order it was written.
import type { Redis } from 'ioredis';
import type { Approval } from '../approvals/approval.js';
import { RedisConnection } from './redis-connection.js';

/** The stream keeps about this many changes for replicas catching up after a disconnection. */
export const FEED_LENGTH = 10_000;

/** A document as the store keeps it: the approval as created, then the patches of its transitions. */
export function assemble(parts: string[]): Approval {
  const a = JSON.parse(parts[0]!) as Approval;
  for (const p of parts.slice(1)) Object.assign(a, JSON.parse(p));
  return a;
}

/** Compares stream ids (`<ms>-<seq>`). */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am === bm ? (as === bs ? 0 : as < bs ? -1 : 1) : am < bm ? -1 : 1;
}

export class ApprovalFeed {
  private readonly listeners = new Set<(a: Approval) => void>();
  private sub: RedisConnection | undefined;
  /** The newest change delivered; undefined until the feed has found where the stream stands. */
  private lastId: string | undefined;
  /** Messages that arrive while the stream is being read after a (re)connection. */
  private buffer: { id: string; approval: Approval }[] | undefined;
  private started: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly main: RedisConnection,
    private readonly feedKey: string,
    private readonly channel: string,
    private readonly approvalKey: (id: string) => string,
  ) {}

  watch(listener: (a: Approval) => void): () => void {
    this.listeners.add(listener);
    void this.start().catch(() => undefined);
    return () => this.listeners.delete(listener);
  }

  /**
   * Starts listening, once. A write through this store waits for it (briefly: a subscription that
   * cannot be made does not stop the write), so that this store's own changes reach its watchers.
   */
  start(): Promise<void> {
    if (this.started) return this.started;
    let ready!: () => void;
    this.started = new Promise<void>((resolve) => (ready = resolve));
    const timer = setTimeout(ready, 3000);
    const sub = new RedisConnection(this.main.redis.options, this.main.where, {
      autoResubscribe: false,
      commandTimeout: undefined,
    });
    this.sub = sub;
    sub.redis.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.onMessage(message);
    });
    // Each (re)connection subscribes, then reads from the stream what was missed meanwhile.
    sub.redis.on('ready', () => {
      void this.catchUp(sub.redis).then(
        () => {
          clearTimeout(timer);
          ready();
        },
        () => sub.redis.disconnect(true),
      );
    });
    return this.started;
  }

  private async catchUp(sub: Redis): Promise<void> {
    this.buffer = [];
    await sub.subscribe(this.channel);
    const redis = this.main.redis;
    if (this.lastId === undefined) {
      const [newest] = await redis.xrevrange(this.feedKey, '+', '-', 'COUNT', 1);
      this.lastId = newest?.[0] ?? '0-0';
    } else {
      const missed = await redis.xrange(this.feedKey, `(${this.lastId}`, '+');
      // Each approval once, at its last change, with what the store holds now.
      const lastOf = new Map<string, string>();
      for (const [sid, fields] of missed) lastOf.set(fields[1]!, sid);
      for (const [id, sid] of [...lastOf].sort((x, y) => compareIds(x[1], y[1]))) {
        const h = await redis.hgetall(this.approvalKey(id));
        if (h.doc === undefined) continue;
        const n = Number(h.n ?? 0);
        const parts = [h.doc, ...Array.from({ length: n }, (_, i) => h[`p${i + 1}`]!)];
        this.deliver(sid, assemble(parts));
      }
      if (missed.length > 0) this.lastId = maxId(this.lastId, missed[missed.length - 1]![0]);
    }
    const waiting = this.buffer;
    this.buffer = undefined;
    for (const m of waiting) this.deliver(m.id, m.approval);
  }

  private onMessage(message: string): void {
    let parsed: string[];
    try {
      parsed = JSON.parse(message) as string[];
    } catch {
      return;
    }
    const [sid, , ...parts] = parsed;
    if (typeof sid !== 'string' || parts.length === 0) return;
    const approval = assemble(parts);
    if (this.buffer) this.buffer.push({ id: sid, approval });
    else this.deliver(sid, approval);
  }

  private deliver(sid: string, approval: Approval): void {
    if (this.closed || (this.lastId !== undefined && compareIds(sid, this.lastId) <= 0)) return;
    this.lastId = sid;
    for (const l of [...this.listeners]) {
      try {
        l({ ...approval });
      } catch {
        // One watcher's failure does not keep the change from the others.
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.sub?.close();
  }
}

function maxId(a: string, b: string): string {
  return compareIds(a, b) >= 0 ? a : b;
}
