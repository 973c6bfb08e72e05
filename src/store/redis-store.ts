// The shared store for several gateway replicas. Each limit check is one Lua script (one round
// trip, atomic on the server) applying the same admission rule as the SQLite store; approvals,
// pins and grants are shared; the approvals change feed is pushed over pub/sub. Times are the
// caller's clock, as in the other stores. Redis is one server (or a primary with failover), not a
// Cluster: scripts touch keys of several kinds at once.
//
// Keys, all under the prefix (default `gatehouse:`):
//   rl:<counter>, rr:<counter>     a limit counter and its retention; expire 2 windows + 1 min after the last call
//   apr:<id>                       an approval; expires after its expiry (pending) or RETENTION (finished)
//   apr:all, apr:st:<status>, apr:m:<hash>   indexes of approvals (newest first by creation)
//   apr:feed, channel apr:changes  the change feed
//   pins, grants, grants:hash, grants:revoked
//   cl:seal                        the key that seals requestState, shared by every replica
//   cl:rep:<id>                    a replica's advertised URL; expires unless its heartbeat renews it
//   cl:ses:<sha256 of id>          a legacy session's binding; expires when the session goes idle
//   once:<id>                      a single-use id that was claimed (a used requestState); expires with its claim
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ClusterStore } from '../cluster/cluster-store.js';
import type { Approval, ApprovalFilter, ApprovalPatch } from '../approvals/approval.js';
import { matchesApproval } from '../approvals/filter.js';
import type { Pin } from '../catalog/pins.js';
import type { StoredGrant } from '../identity/stored-grant.js';
import { ApprovalFeed, assemble, FEED_LENGTH } from './redis-approval-feed.js';
import { RedisConnection } from './redis-connection.js';
import {
  CREATE_APPROVAL_LUA,
  CREATE_GRANT_LUA,
  GRANT_BY_HASH_LUA,
  RESERVE_LUA,
  REVOKE_GRANT_LUA,
  TRANSITION_APPROVAL_LUA,
} from './redis-scripts.js';
import { parseRedisUrl } from './redis-url.js';
import {
  assertDistinctCounters,
  oneOf,
  relevantSpan,
  usedAt,
  windowsOf,
  type CounterReservation,
  type Reservation,
  type ReserveAllResult,
  type ReserveResult,
  type StateStore,
  type WindowSpec,
} from './store.js';

/** How long a finished approval is kept (longer when it is remembered or still in force). */
export const APPROVAL_RETENTION_MS = 7 * 24 * 3600 * 1000;

interface Scripts {
  /** Keys and arguments as RESERVE_LUA takes them, after the number of keys. */
  ghReserve(numberOfKeys: number, ...keysAndArgs: string[]): Promise<(number | string)[]>;
  ghCreateApproval(k1: string, k2: string, ...args: string[]): Promise<string>;
  ghTransitionApproval(k1: string, k2: string, ...args: string[]): Promise<string[] | null>;
  ghCreateGrant(k1: string, k2: string, k3: string, ...args: string[]): Promise<number>;
  ghRevokeGrant(k1: string, k2: string, k3: string, ...args: string[]): Promise<number>;
  ghGrantByHash(k1: string, k2: string, k3: string, ...args: string[]): Promise<[string, string | null] | null>;
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class RedisStore implements StateStore, ClusterStore {
  readonly kind = 'redis';
  readonly prefix: string;
  private readonly conn: RedisConnection;
  private readonly feed: ApprovalFeed;

  constructor(readonly url: string) {
    const target = parseRedisUrl(url);
    this.prefix = target.prefix;
    this.conn = new RedisConnection(target.options, target.where);
    const r = this.conn.redis;
    // The number of keys is given at each call: two per counter.
    r.defineCommand('ghReserve', { lua: RESERVE_LUA });
    r.defineCommand('ghCreateApproval', { numberOfKeys: 2, lua: CREATE_APPROVAL_LUA });
    r.defineCommand('ghTransitionApproval', { numberOfKeys: 2, lua: TRANSITION_APPROVAL_LUA });
    r.defineCommand('ghCreateGrant', { numberOfKeys: 3, lua: CREATE_GRANT_LUA });
    r.defineCommand('ghRevokeGrant', { numberOfKeys: 3, lua: REVOKE_GRANT_LUA });
    r.defineCommand('ghGrantByHash', { numberOfKeys: 3, lua: GRANT_BY_HASH_LUA, readOnly: true });
    this.feed = new ApprovalFeed(this.conn, this.key('apr:feed'), this.key('apr:changes'), (id) =>
      this.key(`apr:${id}`),
    );
  }

  /** Where the store is (host:port/db), for messages. */
  get where(): string {
    return this.conn.where;
  }

  private key(name: string): string {
    return this.prefix + name;
  }

  private run<T>(op: (scripts: Scripts) => Promise<T>): Promise<T> {
    return this.conn.run((redis) => op(redis as unknown as Scripts));
  }

  async reserve(key: string, spec: WindowSpec, now: number): Promise<ReserveResult> {
    return oneOf(await this.reserveAll([{ key, spec }], now));
  }

  /** Every counter, each against every window of its spec (see RESERVE_LUA), in one script. */
  async reserveAll(counters: CounterReservation[], now: number): Promise<ReserveAllResult> {
    assertDistinctCounters(counters);
    const keys = counters.flatMap(({ key }) => [this.key(`rl:${key}`), this.key(`rr:${key}`)]);
    const args = counters.flatMap(({ spec }) => {
      const windows = windowsOf(spec);
      const longest = Math.max(0, ...windows.map((s) => s.longestWindowMs ?? s.windowMs));
      return [
        String(spec.cost),
        randomUUID(),
        String(longest),
        String(windows.length),
        ...windows.flatMap((w) => [w.algorithm, String(w.windowMs), String(w.max)]),
      ];
    });
    const [ok, ...rest] = await this.run((s) => s.ghReserve(keys.length, ...keys, String(now), ...args));
    if (ok === 1) return { ok: true, tokens: rest.map(String) };
    return { ok: false, index: Number(rest[0]), retryAfterMs: Number(rest[1]), used: Number(rest[2]) };
  }

  async usage(key: string, spec: WindowSpec, now: number): Promise<number> {
    const { from, to } = relevantSpan(spec, now);
    const raw = await this.conn.run((r) =>
      r.zrangebyscore(this.key(`rl:${key}`), String(from), `(${to}`, 'WITHSCORES'),
    );
    const entries: { ts: number; cost: number }[] = [];
    for (let i = 0; i < raw.length; i += 2)
      entries.push({ ts: Number(raw[i + 1]), cost: Number(raw[i]!.slice(raw[i]!.lastIndexOf(':') + 1)) });
    return usedAt(spec, now, entries);
  }

  async release(r: Reservation): Promise<void> {
    await this.conn.run((redis) => redis.zrem(this.key(`rl:${r.key}`), r.token));
  }

  // Pins: one hash, field `<server>\0<tool>`.
  async getPin(server: string, tool: string): Promise<Pin | undefined> {
    const doc = await this.conn.run((r) => r.hget(this.key('pins'), `${server}\0${tool}`));
    return doc === null ? undefined : (JSON.parse(doc) as Pin);
  }

  async putPin(pin: Pin): Promise<void> {
    await this.conn.run((r) => r.hset(this.key('pins'), `${pin.server}\0${pin.tool}`, JSON.stringify(pin)));
  }

  async listPins(server?: string): Promise<Pin[]> {
    const all = await this.conn.run((r) => r.hvals(this.key('pins')));
    return all
      .map((d) => JSON.parse(d) as Pin)
      .filter((p) => server === undefined || p.server === server)
      .sort((a, b) => byText(a.server, b.server) || byText(a.tool, b.tool));
  }

  // Grants: the document by name, the name by token hash, and revocations apart from the document,
  // so that a revocation is a write of one field, never a rewrite of the document.
  private grantKeys(): [string, string, string] {
    return [this.key('grants'), this.key('grants:hash'), this.key('grants:revoked')];
  }

  async createGrant(g: StoredGrant): Promise<boolean> {
    const { revoked, ...doc } = g;
    const created = await this.run((s) =>
      s.ghCreateGrant(
        ...this.grantKeys(),
        g.name,
        g.token_hash,
        JSON.stringify(doc),
        revoked === undefined ? '' : String(revoked),
      ),
    );
    return created === 1;
  }

  async grantByTokenHash(hash: string): Promise<StoredGrant | undefined> {
    const found = await this.run((s) => s.ghGrantByHash(...this.grantKeys(), hash));
    if (!found) return undefined;
    const g = JSON.parse(found[0]) as StoredGrant;
    return found[1] === null ? g : { ...g, revoked: Number(found[1]) };
  }

  async listGrants(): Promise<StoredGrant[]> {
    const [docs, revoked] = await this.conn.run((r) =>
      Promise.all([r.hgetall(this.key('grants')), r.hgetall(this.key('grants:revoked'))]),
    );
    return Object.keys(docs)
      .sort(byText)
      .map((name) => {
        const g = JSON.parse(docs[name]!) as StoredGrant;
        return revoked[name] === undefined ? g : { ...g, revoked: Number(revoked[name]) };
      });
  }

  async revokeGrant(name: string, at: number): Promise<boolean> {
    return (await this.run((s) => s.ghRevokeGrant(...this.grantKeys(), name, String(at)))) === 1;
  }

  // Approvals.
  private matchKey(a: Pick<Approval, 'grant' | 'server' | 'tool' | 'args_hash'>): string {
    const h = createHash('sha256')
      .update(JSON.stringify([a.grant, a.server, a.tool, a.args_hash]))
      .digest('hex');
    return this.key(`apr:m:${h.slice(0, 32)}`);
  }

  async createApproval(a: Approval): Promise<void> {
    await this.feed.start();
    const ttl = Math.max(1000, a.expires - a.created) + APPROVAL_RETENTION_MS;
    await this.run((s) =>
      s.ghCreateApproval(
        this.key(`apr:${a.id}`),
        this.key('apr:feed'),
        this.prefix,
        a.id,
        JSON.stringify(a),
        a.status,
        String(a.created),
        String(Math.floor(ttl)),
        this.matchKey(a),
        this.key('apr:changes'),
        String(FEED_LENGTH),
      ),
    );
  }

  async getApproval(id: string): Promise<Approval | undefined> {
    const h = await this.conn.run((r) => r.hgetall(this.key(`apr:${id}`)));
    return h.doc === undefined ? undefined : assemble(partsOf(h));
  }

  async listApprovals(f: ApprovalFilter = {}): Promise<Approval[]> {
    const limit = f.limit ?? 100;
    if ((f.status && f.status.length === 0) || limit <= 0) return [];
    // The narrowest index that holds every approval the filter can select.
    const index =
      f.grant !== undefined && f.server !== undefined && f.tool !== undefined && f.args_hash !== undefined
        ? this.matchKey({ grant: f.grant, server: f.server, tool: f.tool, args_hash: f.args_hash })
        : f.status?.length === 1
          ? this.key(`apr:st:${f.status[0]}`)
          : this.key('apr:all');
    const out: Approval[] = [];
    const page = Math.max(100, limit);
    return this.conn.run(async (r) => {
      for (let start = 0; out.length < limit; start += page) {
        const ids = await r.zrevrange(index, start, start + page - 1);
        if (ids.length === 0) break;
        const pipe = r.pipeline();
        for (const id of ids) pipe.hgetall(this.key(`apr:${id}`));
        const rows = (await pipe.exec()) ?? [];
        const gone: string[] = [];
        rows.forEach(([err, h], i) => {
          if (err) throw err;
          const row = h as Record<string, string>;
          if (row.doc === undefined) gone.push(ids[i]!);
          else {
            const a = assemble(partsOf(row));
            if (out.length < limit && matchesApproval(a, f)) out.push(a);
          }
        });
        // Entries of approvals whose keys expired: dropped from the index they were found in.
        if (gone.length > 0) {
          await r.zrem(index, ...gone);
          start -= gone.length;
        }
        if (ids.length < page) break;
      }
      return out;
    });
  }

  async transitionApproval(
    id: string,
    from: Approval['status'][],
    patch: ApprovalPatch,
  ): Promise<Approval | undefined> {
    if (from.length === 0) return undefined;
    await this.feed.start();
    const parts = await this.run((s) =>
      s.ghTransitionApproval(
        this.key(`apr:${id}`),
        this.key('apr:feed'),
        this.prefix,
        id,
        from.join(','),
        JSON.stringify(patch),
        patch.status,
        String(Date.now()),
        String(APPROVAL_RETENTION_MS),
        this.key('apr:changes'),
        String(FEED_LENGTH),
      ),
    );
    return parts ? assemble(parts) : undefined;
  }

  watchApprovals(listener: (approval: Approval) => void): () => void {
    return this.feed.watch(listener);
  }

  async sharedSealKey(): Promise<Buffer> {
    const key = this.key('cl:seal');
    const fresh = randomBytes(32).toString('base64');
    // SET NX: the first replica's key wins; every other replica reads the same one.
    await this.conn.run((r) => r.set(key, fresh, 'NX'));
    const stored = await this.conn.run((r) => r.get(key));
    const bytes = Buffer.from(stored ?? '', 'base64');
    if (bytes.length !== 32) throw new Error(`The sealing key in ${this.where} (${key}) is not 32 bytes.`);
    return bytes;
  }

  async registerReplica(id: string, url: string, ttlMs: number): Promise<void> {
    await this.conn.run((r) => r.set(this.key(`cl:rep:${id}`), url, 'PX', ttlMs));
  }

  async replicaUrl(id: string): Promise<string | undefined> {
    return (await this.conn.run((r) => r.get(this.key(`cl:rep:${id}`)))) ?? undefined;
  }

  async unregisterReplica(id: string): Promise<void> {
    await this.conn.run((r) => r.del(this.key(`cl:rep:${id}`)));
  }

  /** A session id is a credential of sorts: the store keeps only its hash. */
  private sessionKey(id: string): string {
    return this.key(`cl:ses:${createHash('sha256').update(id).digest('base64url')}`);
  }

  async putSessionBinding(id: string, binding: string, ttlMs: number): Promise<void> {
    await this.conn.run((r) => r.set(this.sessionKey(id), binding, 'PX', ttlMs));
  }

  async sessionBinding(id: string): Promise<string | undefined> {
    return (await this.conn.run((r) => r.get(this.sessionKey(id)))) ?? undefined;
  }

  async dropSessionBinding(id: string): Promise<void> {
    await this.conn.run((r) => r.del(this.sessionKey(id)));
  }

  async claimOnce(id: string, ttlMs: number, _now: number): Promise<boolean> {
    // The claim's time is the Redis server's: PX counts from when SET runs.
    const set = await this.conn.run((r) =>
      r.set(this.key(`once:${id}`), '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'),
    );
    return set === 'OK';
  }

  /** Answers at once while Redis is known to be away; waits briefly for a first connection. */
  async ping(): Promise<boolean> {
    try {
      return (await this.conn.run((r) => r.ping())) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.feed.close();
    await this.conn.close();
  }
}

function partsOf(h: Record<string, string>): string[] {
  const n = Number(h.n ?? 0);
  return [h.doc!, ...Array.from({ length: n }, (_, i) => h[`p${i + 1}`]!)];
}
