// Proves that a call's limits on several counters are taken in one atomic step, in every store: a
// call refused by one counter holds nothing on the others, not even for a moment, so a call that
// arrives with it is not refused for quota the refused call never used.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Limiter, counterKey, windowOf } from '../../src/limits/limiter.js';
import { loadPolicy } from '../../src/policy/compile.js';
import { decide, type CallFacts, type LimitRequest } from '../../src/policy/decide.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { StateStore } from '../../src/store/store.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../store/redis-support.js';

const NOW = Date.parse('2026-03-02T10:00:00Z');
const FACTS = { grant: 'ci', agent: 'ci', session: 's', server: 'fx' };

const POLICY = loadPolicy({
  version: '1',
  default: 'deny',
  tools: {
    // Counts on the shared counter and on one of its own.
    both: {
      limits: [
        { counter: 'shared', max: 1, window: 'minute' },
        { counter: 'own', max: 1, window: 'minute' },
      ],
    },
    only_shared: { limits: [{ counter: 'shared', max: 1, window: 'minute' }] },
    only_own: { limits: [{ counter: 'own', max: 1, window: 'minute' }] },
    // One counter per account, charged for the account paid from and the one paid to.
    transfer: {
      limits: [
        { counter: 'account', key: 'args.from', max: 1, window: 'day' },
        { counter: 'account', key: 'args.to', max: 1, window: 'day' },
      ],
    },
  },
});

function limitsOf(name: string, args: Record<string, unknown> = {}): LimitRequest[] {
  const facts: CallFacts = {
    subject: 'tool',
    name,
    server: 'fx',
    args,
    grant: { name: 'ci', agent: 'ci', labels: {} },
    session: { id: 's' },
    now: new Date(NOW),
  };
  const d = decide(POLICY, facts);
  if (d.outcome !== 'allow') throw new Error(`expected ${name} to be allowed`);
  return d.limits;
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-all-or-nothing-'));
const prefix = uniquePrefix();
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await deletePrefix(prefix);
});

describe.each<[string, () => StateStore]>([
  ['memory', () => new MemoryStore()],
  ['sqlite', () => new SqliteStore(join(dir, `state-${Math.random().toString(36).slice(2)}.db`))],
  ['redis', () => new RedisStore(redisUrl(`${prefix}${Math.random().toString(36).slice(2)}:`))],
])('%s store', (_name, open) => {
  /** Runs `body` on a fresh store and a limiter over it, and closes the store after. */
  async function withLimiter(body: (store: StateStore, limiter: Limiter) => Promise<void>): Promise<void> {
    const store = open();
    try {
      await body(store, new Limiter(store));
    } finally {
      await store.close();
    }
  }
  /** What the store holds on the counter of `l` at `at`. */
  const used = (store: StateStore, l: LimitRequest, at: number): Promise<number> =>
    store.usage(counterKey(l, FACTS), { ...windowOf(l.limit), cost: 1 }, at);

  it('a call refused by its second counter holds nothing on its first: a call arriving with it on that counter is admitted', () =>
    withLimiter(async (store, limiter) => {
      // Its own counter is full, so `both` must be refused.
      expect((await limiter.reserve(limitsOf('only_own'), FACTS, NOW)).ok).toBe(true);
      const [refused, admitted] = await Promise.all([
        limiter.reserve(limitsOf('both'), FACTS, NOW + 1),
        limiter.reserve(limitsOf('only_shared'), FACTS, NOW + 1),
      ]);
      expect(refused.ok).toBe(false);
      expect(admitted.ok).toBe(true);
      const shared = limitsOf('only_shared')[0]!;
      expect(await used(store, shared, NOW + 1)).toBe(1);
    }));

  it('key values that differ only in an unpaired surrogate are counters of their own, each charged once by a call naming both', () =>
    withLimiter(async (store, limiter) => {
      // Redis stores both as U+FFFD: as they are, they would be one counter, checked twice without
      // the call's own entry and charged twice.
      const both = limitsOf('transfer', { from: '\uD800', to: '\uDBFF' });
      expect((await limiter.reserve(both, FACTS, NOW)).ok).toBe(true);
      for (const l of both) expect(await used(store, l, NOW + 1), l.keyValue).toBe(1);
      expect((await limiter.reserve(limitsOf('transfer', { from: '\uD800', to: 'x' }), FACTS, NOW + 2)).ok).toBe(false);
      expect((await limiter.reserve(limitsOf('transfer', { from: 'y', to: '\uDBFF' }), FACTS, NOW + 3)).ok).toBe(false);
      expect((await limiter.reserve(limitsOf('transfer', { from: '\uDBFF\uDC00', to: 'z' }), FACTS, NOW + 4)).ok).toBe(
        true,
      );
    }));

  it('a call admitted on both counters takes one entry on each, and gives both back on release', () =>
    withLimiter(async (_store, limiter) => {
      const taken = await limiter.reserve(limitsOf('both'), FACTS, NOW);
      expect(taken.ok).toBe(true);
      if (!taken.ok) return;
      expect(taken.reservations.map((r) => r.key)).toEqual(limitsOf('both').map((l) => counterKey(l, FACTS)));
      expect((await limiter.reserve(limitsOf('only_shared'), FACTS, NOW + 1)).ok).toBe(false);
      expect((await limiter.reserve(limitsOf('only_own'), FACTS, NOW + 1)).ok).toBe(false);
      await limiter.release(taken.reservations);
      expect((await limiter.reserve(limitsOf('only_shared'), FACTS, NOW + 2)).ok).toBe(true);
      expect((await limiter.reserve(limitsOf('only_own'), FACTS, NOW + 2)).ok).toBe(true);
    }));
});
