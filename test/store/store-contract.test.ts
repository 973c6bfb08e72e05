// One contract suite that every StateStore passes (DESIGN principle 5), run here against the
// MemoryStore, the SqliteStore on a real temporary file and the RedisStore on a real Redis (under a
// key prefix of this run's own): reservations are atomic and exact —
// in any interval of the window's length no more than `max` is admitted, under concurrency and for
// arrival times in any order — retry-after is right for sliding and calendar windows, release gives
// quota back, cost weighs, and for SQLite the counters are on disk: a second store (a restarted
// gateway, another process) sees them, and two processes racing on one file admit exactly max; for
// Redis two stores (two replicas) racing on one counter admit exactly max, and counters expire.
// A single-use claim (claimOnce) is true once, false while it lasts, and true again after it expires.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { StateStore, WindowSpec } from '../../src/store/store.js';
import { TSX_LOADER } from '../helpers/index.js';
import { deletePrefix, REDIS_BASE as REDIS_BASE_URL, redisUrl, uniquePrefix } from './redis-support.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** A realistic clock origin (2026-03-01T12:00:00Z), so that epoch-aligned windows are exercised. */
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);

const sliding = (max: number, windowMs: number, cost = 1): WindowSpec => ({
  algorithm: 'sliding',
  windowMs,
  max,
  cost,
});
const calendar = (max: number, windowMs: number, cost = 1): WindowSpec => ({
  algorithm: 'calendar',
  windowMs,
  max,
  cost,
});

let keySeq = 0;
/** A counter key no other test uses, so tests can share one store. */
const freshKey = (label: string): string => `test|${label}|${++keySeq}`;

/** The StateStore contract: every store must pass all of it. */
function storeContract(name: string, open: () => StateStore): void {
  describe(`${name} store contract`, () => {
    let store: StateStore;
    beforeAll(() => {
      store = open();
    });
    afterAll(async () => {
      await store.close();
    });

    it('answers ping', async () => {
      expect(await store.ping()).toBe(true);
    });

    it('admits reservations up to max within one window', async () => {
      const key = freshKey('within');
      for (let i = 0; i < 3; i++) {
        const r = await store.reserve(key, sliding(3, MINUTE), T0 + i);
        expect(r.ok, `reservation ${i + 1}`).toBe(true);
        expect(r.ok && typeof r.token).toBe('string');
      }
    });

    it('refuses max+1 in a sliding window and says to wait until the oldest admission leaves it', async () => {
      const key = freshKey('retry');
      const spec = sliding(3, 60 * SECOND);
      for (const t of [0, 10, 20]) expect((await store.reserve(key, spec, T0 + t * SECOND)).ok).toBe(true);
      const refused = await store.reserve(key, spec, T0 + 30 * SECOND);
      expect(refused.ok).toBe(false);
      if (refused.ok) return;
      expect(refused.used).toBe(3);
      // The admission at t=0 leaves the window at t=60 s: from t=30 s that is 30 s away.
      expect(refused.retryAfterMs).toBeGreaterThanOrEqual(30 * SECOND);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(30 * SECOND + 1);
      // Just before t=60 s it is still full (and was not consumed by the refused calls).
      expect((await store.reserve(key, spec, T0 + 60 * SECOND - 1)).ok).toBe(false);
      // Waiting exactly as long as told is enough.
      expect((await store.reserve(key, spec, T0 + 30 * SECOND + refused.retryAfterMs)).ok).toBe(true);
    });

    it('retry-after points at the admission that frees enough room when several must expire', async () => {
      const key = freshKey('retry-cost');
      const spec = sliding(10, MINUTE);
      expect((await store.reserve(key, sliding(10, MINUTE, 4), T0)).ok).toBe(true);
      expect((await store.reserve(key, sliding(10, MINUTE, 4), T0 + 5 * SECOND)).ok).toBe(true);
      expect((await store.reserve(key, sliding(10, MINUTE, 2), T0 + 10 * SECOND)).ok).toBe(true);
      // Full (10). A call costing 5 needs the first two admissions (4 + 4) gone: at t=65 s.
      const refused = await store.reserve(key, { ...spec, cost: 5 }, T0 + 20 * SECOND);
      expect(refused.ok).toBe(false);
      if (refused.ok) return;
      expect(refused.used).toBe(10);
      expect(refused.retryAfterMs).toBeGreaterThanOrEqual(45 * SECOND);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(45 * SECOND + 1);
      expect((await store.reserve(key, { ...spec, cost: 5 }, T0 + 20 * SECOND + refused.retryAfterMs)).ok).toBe(true);
    });

    it('release gives the quota back, and releasing an unknown token changes nothing', async () => {
      const key = freshKey('release');
      const spec = sliding(2, MINUTE);
      const a = await store.reserve(key, spec, T0);
      const b = await store.reserve(key, spec, T0 + 1);
      expect(a.ok && b.ok).toBe(true);
      expect((await store.reserve(key, spec, T0 + 2)).ok).toBe(false);
      await store.release({ key, token: 'no-such-token' });
      await store.release({ key: freshKey('other'), token: a.ok ? a.token : '' });
      expect((await store.reserve(key, spec, T0 + 3)).ok).toBe(false);
      if (a.ok) await store.release({ key, token: a.token });
      expect((await store.reserve(key, spec, T0 + 4)).ok).toBe(true);
      expect((await store.reserve(key, spec, T0 + 5)).ok).toBe(false);
    });

    it('weighs each reservation by its cost', async () => {
      const key = freshKey('cost');
      expect((await store.reserve(key, sliding(10, MINUTE, 4), T0)).ok).toBe(true);
      expect((await store.reserve(key, sliding(10, MINUTE, 4), T0 + 1)).ok).toBe(true);
      const over = await store.reserve(key, sliding(10, MINUTE, 4), T0 + 2);
      expect(over).toMatchObject({ ok: false, used: 8 });
      expect((await store.reserve(key, sliding(10, MINUTE, 2), T0 + 3)).ok).toBe(true);
      expect((await store.reserve(key, sliding(10, MINUTE, 1), T0 + 4)).ok).toBe(false);
    });

    it('refuses a cost above max outright and consumes nothing', async () => {
      const key = freshKey('too-big');
      const refused = await store.reserve(key, sliding(5, MINUTE, 6), T0);
      expect(refused.ok).toBe(false);
      if (!refused.ok) {
        expect(refused.used).toBe(0);
        expect(refused.retryAfterMs).toBeGreaterThan(0);
      }
      for (let i = 0; i < 5; i++)
        expect((await store.reserve(key, sliding(5, MINUTE), T0 + 1 + i)).ok, `unit ${i + 1}`).toBe(true);
      expect((await store.reserve(key, sliding(5, MINUTE), T0 + 10)).ok).toBe(false);
    });

    it('reserveAll takes an entry on every counter, or on none when one of them refuses', async () => {
      const [a, b, c] = [freshKey('all-a'), freshKey('all-b'), freshKey('all-c')];
      expect((await store.reserve(b, sliding(1, MINUTE), T0)).ok).toBe(true);
      const refused = await store.reserveAll(
        [
          { key: a, spec: sliding(5, MINUTE) },
          { key: b, spec: sliding(1, MINUTE) },
          { key: c, spec: sliding(5, MINUTE) },
        ],
        T0 + 1,
      );
      expect(refused).toMatchObject({ ok: false, index: 1, used: 1 });
      if (!refused.ok) expect(refused.retryAfterMs).toBe(MINUTE);
      // Nothing was taken on the counters before or after the one that refused: nothing to give back.
      expect(await store.usage(a, sliding(5, MINUTE), T0 + 1)).toBe(0);
      expect(await store.usage(c, sliding(5, MINUTE), T0 + 1)).toBe(0);
      const taken = await store.reserveAll(
        [
          { key: a, spec: sliding(5, MINUTE, 2) },
          { key: c, spec: { ...sliding(5, MINUTE, 3), also: [{ algorithm: 'sliding', windowMs: HOUR, max: 3 }] } },
        ],
        T0 + 2,
      );
      expect(taken.ok).toBe(true);
      if (!taken.ok) return;
      expect(taken.tokens).toHaveLength(2);
      expect(await store.usage(a, sliding(5, MINUTE), T0 + 2)).toBe(2);
      expect(await store.usage(c, sliding(5, MINUTE), T0 + 2)).toBe(3);
      // Each token releases its own counter's entry.
      await store.release({ key: c, token: taken.tokens[1]! });
      expect(await store.usage(a, sliding(5, MINUTE), T0 + 2)).toBe(2);
      expect(await store.usage(c, sliding(5, MINUTE), T0 + 2)).toBe(0);
      // A window carried in `also` refuses for its counter too.
      const byAlso = await store.reserveAll(
        [
          { key: a, spec: sliding(5, MINUTE) },
          { key: c, spec: { ...sliding(5, MINUTE, 2), also: [{ algorithm: 'sliding', windowMs: HOUR, max: 1 }] } },
        ],
        T0 + 3,
      );
      expect(byAlso).toMatchObject({ ok: false, index: 1 });
      expect(await store.usage(a, sliding(5, MINUTE), T0 + 3)).toBe(2);
    });

    it('reserveAll refuses a counter given twice, and takes nothing', async () => {
      const key = freshKey('all-twice');
      await expect(
        store.reserveAll(
          [
            { key, spec: sliding(5, MINUTE) },
            { key, spec: sliding(5, MINUTE) },
          ],
          T0,
        ),
      ).rejects.toThrow(/each counter may be given once/);
      expect(await store.usage(key, sliding(5, MINUTE), T0)).toBe(0);
    });

    it('100 concurrent reserveAll calls, each on a counter of its own and a shared one of max 30, admit exactly 30 and take nothing for the rest', async () => {
      const shared = freshKey('all-shared');
      const own = Array.from({ length: 100 }, (_, i) => freshKey(`all-own-${i}`));
      const results = await Promise.all(
        own.map((key) =>
          store.reserveAll(
            [
              { key, spec: sliding(1, MINUTE) },
              { key: shared, spec: sliding(30, MINUTE) },
            ],
            T0,
          ),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(30);
      const owned = await Promise.all(own.map((key) => store.usage(key, sliding(1, MINUTE), T0)));
      results.forEach((r, i) => expect(owned[i], `call ${i}`).toBe(r.ok ? 1 : 0));
      expect(await store.usage(shared, sliding(30, MINUTE), T0)).toBe(30);
    });

    it('calendar windows reset at the UTC boundary and retry-after points at it', async () => {
      const key = freshKey('calendar-day');
      const endOfDay = Date.UTC(2026, 2, 1, 23, 59, 59, 0);
      const spec = calendar(2, DAY);
      expect((await store.reserve(key, spec, endOfDay - HOUR)).ok).toBe(true);
      expect((await store.reserve(key, spec, endOfDay)).ok).toBe(true);
      const refused = await store.reserve(key, spec, endOfDay);
      expect(refused.ok).toBe(false);
      if (!refused.ok) expect(refused.retryAfterMs).toBe(1000);
      const midnight = Date.UTC(2026, 2, 2, 0, 0, 0, 0);
      expect((await store.reserve(key, spec, midnight - 1)).ok).toBe(false);
      // A new UTC day: a sliding window would still be full, a calendar one is empty.
      expect((await store.reserve(key, spec, midnight)).ok).toBe(true);
      expect((await store.reserve(key, spec, midnight + 1)).ok).toBe(true);
      expect((await store.reserve(key, spec, midnight + 2)).ok).toBe(false);
    });

    it('calendar minute windows are aligned to the minute, not to the first call', async () => {
      const key = freshKey('calendar-minute');
      const spec = calendar(1, MINUTE);
      const lateInMinute = T0 + 59 * SECOND + 500;
      expect((await store.reserve(key, spec, lateInMinute)).ok).toBe(true);
      const refused = await store.reserve(key, spec, lateInMinute + 100);
      expect(refused.ok).toBe(false);
      if (!refused.ok) expect(refused.retryAfterMs).toBe(400);
      expect((await store.reserve(key, spec, T0 + MINUTE)).ok).toBe(true);
    });

    it('keeps counters with different keys independent', async () => {
      const a = freshKey('indep-a');
      const b = freshKey('indep-b');
      expect((await store.reserve(a, sliding(1, HOUR), T0)).ok).toBe(true);
      expect((await store.reserve(a, sliding(1, HOUR), T0 + 1)).ok).toBe(false);
      expect((await store.reserve(b, sliding(1, HOUR), T0 + 1)).ok).toBe(true);
      expect((await store.reserve(b, sliding(1, HOUR), T0 + 2)).ok).toBe(false);
    });

    it('200 concurrent reservations against max 50 admit exactly 50', async () => {
      const key = freshKey('concurrent');
      const results = await Promise.all(Array.from({ length: 200 }, () => store.reserve(key, sliding(50, MINUTE), T0)));
      expect(results.filter((r) => r.ok)).toHaveLength(50);
      const tokens = new Set(results.flatMap((r) => (r.ok ? [r.token] : [])));
      expect(tokens.size).toBe(50);
      expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.used === 50)).toBe(true);
    });

    it('a clock that steps back 1 ms after a reservation still admits no more than max in one window', async () => {
      // Replicas' clocks differ, and wall clocks step back: `now` is not monotonic across calls.
      const key = freshKey('clock-step');
      const spec = sliding(2, SECOND);
      expect((await store.reserve(key, spec, T0)).ok).toBe(true);
      expect((await store.reserve(key, spec, T0)).ok).toBe(true);
      // One window later the two are out of the window (0, 1000]: admitted.
      expect((await store.reserve(key, spec, T0 + SECOND)).ok).toBe(true);
      // Back to t=999: the window (-1, 999] still holds both admissions at t=0, so it is full.
      const back = await store.reserve(key, spec, T0 + SECOND - 1);
      expect(back.ok).toBe(false);
    });

    it('claimOnce is true the first time, false while the claim lasts, and true again once it has expired', async () => {
      const id = `claim-${++keySeq}-${Date.now()}`;
      const ttl = 300;
      // Redis times the claim itself (PX), the other stores by the clock given: both are real here.
      const t = Date.now();
      expect(await store.claimOnce(id, ttl, t)).toBe(true);
      expect(await store.claimOnce(id, ttl, t + 1)).toBe(false);
      expect(await store.claimOnce(id, ttl, Date.now())).toBe(false);
      expect(await store.claimOnce(`${id}-other`, ttl, Date.now()), 'another id is its own').toBe(true);
      await new Promise((r) => setTimeout(r, ttl + 100));
      expect(await store.claimOnce(id, ttl, Date.now())).toBe(true);
      expect(await store.claimOnce(id, ttl, Date.now())).toBe(false);
    });

    it('claimOnce: of 50 concurrent claims of one id exactly one is true', async () => {
      const id = `claim-race-${++keySeq}-${Date.now()}`;
      const got = await Promise.all(Array.from({ length: 50 }, () => store.claimOnce(id, 60_000, Date.now())));
      expect(got.filter(Boolean)).toHaveLength(1);
    });

    it('property: for sorted arrivals, a sliding window admits exactly what an exact sliding log admits', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 1, max: 200 }),
          fc.array(fc.integer({ min: 0, max: 600 }), { minLength: 1, maxLength: 60 }),
          async (max, windowMs, times) => {
            const key = freshKey('exact');
            const arrivals = [...times].sort((x, y) => x - y);
            const model: number[] = [];
            for (const t of arrivals) {
              const admit = model.filter((a) => a > t - windowMs).length < max;
              const r = await store.reserve(key, sliding(max, windowMs), T0 + t);
              expect(r.ok, `arrival at ${t}`).toBe(admit);
              if (admit) model.push(t);
            }
          },
        ),
        { numRuns: 150 },
      );
    });

    it('a refused call later than every entry does not prune what an earlier call must still be weighed against', async () => {
      // 61 and 94 are admitted, 95 is refused (94 is in its window). 77 is within a window of the
      // newest entry, so it is checked, and 61 is in its window: it must be refused too.
      // In milliseconds, and in seconds (a store may prune at most once a second).
      for (const unit of [1, SECOND]) {
        const key = freshKey('refused-late');
        const spec = sliding(1, 17 * unit);
        const got: boolean[] = [];
        for (const t of [61, 94, 95, 77]) got.push((await store.reserve(key, spec, T0 + t * unit)).ok);
        expect(got, `in units of ${unit} ms`).toEqual([true, true, false, false]);
      }
    });

    it('a counter shared by a short and a long window keeps what the long one counts, before its first check', async () => {
      // A per-second limit and a per-minute one (max 5) on one counter: twelve calls under the
      // short one over 4.5 s, then the long one's first check must still see them.
      const key = freshKey('shared-windows');
      const short = { ...sliding(100, SECOND), longestWindowMs: MINUTE };
      for (let i = 0; i < 12; i++) expect((await store.reserve(key, short, T0 + i * 400)).ok).toBe(true);
      const long = { ...sliding(5, MINUTE), longestWindowMs: MINUTE };
      const r = await store.reserve(key, long, T0 + 12 * 400);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.used).toBe(12);
    });

    it('property: for arrivals in any order, no interval of the window length admits more than max', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 1, max: 40 }),
          // Arrivals within a few windows of each other, so that windows fill up and expire often.
          fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 1, maxLength: 60 }),
          fc.boolean(),
          async (max, windowMs, times, sorted) => {
            const key = freshKey('any-order');
            const arrivals = sorted ? [...times].sort((x, y) => x - y) : times;
            const admitted: number[] = [];
            for (const t of arrivals)
              if ((await store.reserve(key, sliding(max, windowMs), T0 + t)).ok) admitted.push(t);
            // Brute force: every interval [a, a + window) that starts at an admitted time (the
            // fullest interval can always be shifted to start at one).
            for (const a of admitted) {
              const inside = admitted.filter((b) => b >= a && b < a + windowMs);
              expect(
                inside.length,
                `interval [${a}, ${a + windowMs}) admitted ${JSON.stringify(inside)}`,
              ).toBeLessThanOrEqual(max);
            }
          },
        ),
        { numRuns: 300 },
      );
    });
  });
}

const tmp = mkdtempSync(path.join(tmpdir(), 'gatehouse-store-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

storeContract('memory', () => new MemoryStore());
storeContract('sqlite', () => new SqliteStore(path.join(tmp, 'contract.db')));

const REDIS_PREFIX = uniquePrefix();
afterAll(async () => {
  await deletePrefix(REDIS_PREFIX);
});
storeContract('redis', () => new RedisStore(redisUrl(REDIS_PREFIX)));

describe('redis store shared by replicas', () => {
  it('two stores (two replicas) racing 100 reservations each on one counter admit exactly 50 in total', async () => {
    const key = freshKey('replicas');
    const a = new RedisStore(redisUrl(REDIS_PREFIX));
    const b = new RedisStore(redisUrl(REDIS_PREFIX));
    try {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).reserve(key, sliding(50, MINUTE), T0)),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(50);
      // A release through one replica is seen by the other.
      const one = results.find((r) => r.ok);
      if (one?.ok) await a.release({ key, token: one.token });
      expect((await b.reserve(key, sliding(50, MINUTE), T0 + 1)).ok).toBe(true);
      expect((await a.reserve(key, sliding(50, MINUTE), T0 + 2)).ok).toBe(false);
      expect(await b.usage(key, sliding(50, MINUTE), T0 + 3)).toBe(50);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('two stores (two replicas) claiming one id at once: exactly one claim is true, kept as once:<id> for its ttl', async () => {
    const a = new RedisStore(redisUrl(REDIS_PREFIX));
    const b = new RedisStore(redisUrl(REDIS_PREFIX));
    const probe = new Redis(REDIS_BASE_URL);
    try {
      const id = `replicas-${++keySeq}`;
      const got = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).claimOnce(id, MINUTE, Date.now())),
      );
      expect(got.filter(Boolean)).toHaveLength(1);
      const ttl = await probe.pttl(`${REDIS_PREFIX}once:${id}`);
      expect(ttl).toBeGreaterThan(MINUTE - 10 * SECOND);
      expect(ttl).toBeLessThanOrEqual(MINUTE);
    } finally {
      probe.disconnect();
      await a.close();
      await b.close();
    }
  });

  it('a counter key expires two windows and a minute after its last call, and only its own keys are under the prefix', async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore(redisUrl(prefix));
    const probe = new Redis(REDIS_BASE_URL);
    try {
      expect((await store.reserve('rate|ttl', sliding(5, 10 * SECOND), Date.now())).ok).toBe(true);
      const ttl = await probe.pttl(`${prefix}rl:rate|ttl`);
      expect(ttl).toBeGreaterThan(MINUTE + 10 * SECOND);
      expect(ttl).toBeLessThanOrEqual(MINUTE + 20 * SECOND);
      expect(await probe.pttl(`${prefix}rr:rate|ttl`)).toBeLessThanOrEqual(MINUTE + 20 * SECOND);
      expect((await probe.keys(`${prefix}*`)).sort()).toEqual([`${prefix}rl:rate|ttl`, `${prefix}rr:rate|ttl`]);
    } finally {
      probe.disconnect();
      await store.close();
      await deletePrefix(prefix);
    }
  });
});

describe('sqlite store on disk', () => {
  it("a second store opened on the same file sees the first one's reservations (counters survive a restart)", async () => {
    const file = path.join(tmp, 'restart.db');
    const key = freshKey('restart');
    const first = new SqliteStore(file);
    for (let i = 0; i < 6; i++) expect((await first.reserve(key, sliding(10, HOUR), T0 + i)).ok).toBe(true);
    await first.close();
    const second = new SqliteStore(file);
    try {
      for (let i = 0; i < 4; i++)
        expect((await second.reserve(key, sliding(10, HOUR), T0 + 100 + i)).ok, `call ${7 + i}`).toBe(true);
      const refused = await second.reserve(key, sliding(10, HOUR), T0 + 200);
      expect(refused).toMatchObject({ ok: false, used: 10 });
    } finally {
      await second.close();
    }
  });

  it('two stores open on one file at once share the counter: 200 interleaved reservations admit exactly 50', async () => {
    const file = path.join(tmp, 'shared.db');
    const key = freshKey('shared');
    const a = new SqliteStore(file);
    const b = new SqliteStore(file);
    try {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).reserve(key, sliding(50, MINUTE), T0)),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(50);
      // A release through one store is seen by the other.
      const one = results.find((r) => r.ok);
      if (one?.ok) await a.release({ key, token: one.token });
      expect((await b.reserve(key, sliding(50, MINUTE), T0 + 1)).ok).toBe(true);
      expect((await a.reserve(key, sliding(50, MINUTE), T0 + 2)).ok).toBe(false);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('two processes racing 100 reservations each on one file admit exactly 50 in total', async () => {
    const file = path.join(tmp, 'race.db');
    const script = path.join(tmp, 'race-worker.mts');
    const storeModule = fileURLToPath(new URL('../../src/store/sqlite-store.ts', import.meta.url));
    writeFileSync(
      script,
      [
        `import { SqliteStore } from ${JSON.stringify(storeModule)};`,
        `const store = new SqliteStore(process.argv[2]);`,
        `process.stdout.write('READY\\n');`,
        `process.stdin.once('data', async () => {`,
        `  let ok = 0;`,
        `  for (let i = 0; i < 100; i++) if ((await store.reserve('race', { algorithm: 'sliding', windowMs: 60000, max: 50, cost: 1 }, ${T0})).ok) ok++;`,
        `  await store.close();`,
        `  process.stdout.write('ADMITTED ' + ok + '\\n');`,
        `  process.exit(0);`,
        `});`,
      ].join('\n'),
    );
    // The schema is created before the race, as a running gateway would have done.
    await new SqliteStore(file).close();
    const workers = [0, 1].map(() => {
      const child = spawn(process.execPath, ['--import', TSX_LOADER, script, file], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('READY')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`race worker exited (${code}) before it was ready: ${err}`)));
      });
      const admitted = new Promise<number>((resolve, reject) => {
        child.once('exit', (code) => {
          const m = /ADMITTED (\d+)/.exec(out);
          if (code === 0 && m) resolve(Number(m[1]));
          else reject(new Error(`race worker failed (${code}): ${err}`));
        });
      });
      return { child, ready, admitted };
    });
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.child.stdin.write('go\n');
    const counts = await Promise.all(workers.map((w) => w.admitted));
    expect(counts[0]! + counts[1]!).toBe(50);
    const check = new SqliteStore(file);
    try {
      expect(await check.reserve('race', sliding(50, MINUTE), T0)).toMatchObject({ ok: false, used: 50 });
    } finally {
      await check.close();
    }
  }, 30_000);
});
