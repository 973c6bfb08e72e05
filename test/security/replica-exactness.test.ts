// Proves that replicas sharing one Redis keep Gatehouse's promises under real concurrency: a limit
// of `max: N` lets at most N calls through in total, whichever replica each call reaches (sliding
// and calendar windows, a cost expression, several limits on one counter), also when the replicas'
// clocks differ; a requestState nonce is claimed by one replica only.
import { afterAll, describe, expect, it } from 'vitest';
import { Limiter } from '../../src/limits/limiter.js';
import { loadPolicy } from '../../src/policy/compile.js';
import { decide, type CallFacts } from '../../src/policy/decide.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../store/redis-support.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const NOW = Date.parse('2026-03-02T10:00:30Z');
const FACTS = { grant: 'ci', agent: 'ci', session: 's', server: 'fx' };
const prefix = uniquePrefix();
const stores: RedisStore[] = [];

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await deletePrefix(prefix);
});

/** Three stores, each with its own connection to the one Redis, as three replicas have. */
function replicas(n = 3, under = ''): RedisStore[] {
  const made = Array.from({ length: n }, () => new RedisStore(redisUrl(prefix + under)));
  stores.push(...made);
  return made;
}

const call = (name: string, args: Record<string, unknown>): CallFacts => ({
  subject: 'tool',
  name,
  server: 'fx',
  args,
  grant: { name: 'ci', agent: 'ci', labels: {} },
  session: { id: 's' },
  now: new Date(NOW),
});

/** Fires `count` calls at once, round robin over the replicas, each stamped with its replica's clock. */
async function fire(
  policy: ReturnType<typeof loadPolicy>,
  tool: string,
  count: number,
  clocks: number[],
  args: (i: number) => Record<string, unknown> = () => ({}),
  under = '',
): Promise<{ admitted: number[]; refused: number }> {
  const limiters = replicas(clocks.length, under).map((s) => new Limiter(s));
  const outcomes = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const d = decide(policy, call(tool, args(i)));
      if (d.outcome !== 'allow') throw new Error(`expected allow, got ${d.outcome}`);
      const r = await limiters[i % clocks.length]!.reserve(d.limits, FACTS, clocks[i % clocks.length]!);
      return r.ok ? i : -1;
    }),
  );
  const admitted = outcomes.filter((i) => i >= 0);
  return { admitted, refused: count - admitted.length };
}

describe('limits shared by three replicas on one Redis', () => {
  const policy = loadPolicy({
    version: '1',
    default: 'allow',
    tools: {
      sliding: { limits: [{ counter: 'sliding', max: 50, window: 'hour' }] },
      calendar: { limits: [{ counter: 'calendar', max: 50, window: 'hour', algorithm: 'calendar' }] },
      pay: { limits: [{ counter: 'pay', max: 100, window: 'hour', cost: 'args.amount' }] },
      shared: {
        limits: [
          { counter: 'shared', max: 100, window: 'hour' },
          { counter: 'shared', max: 6, window: 'minute' },
          { counter: 'shared', max: 9, window: 'minute', algorithm: 'calendar' },
        ],
      },
    },
  });

  it.each(['sliding', 'calendar'])(
    '%s: 300 calls at once over three replicas against max 50 admit exactly 50',
    async (tool) => {
      const { admitted } = await fire(policy, tool, 300, [NOW, NOW, NOW]);
      expect(admitted).toHaveLength(50);
    },
  );

  it('a cost expression: 300 calls of cost 1..9 at once over three replicas never spend more than 100', async () => {
    const amount = (i: number) => (i % 9) + 1;
    const { admitted } = await fire(policy, 'pay', 300, [NOW, NOW, NOW], (i) => ({ amount: amount(i) }));
    const spent = admitted.reduce((s, i) => s + amount(i), 0);
    expect(spent).toBeLessThanOrEqual(100);
    expect(spent).toBeGreaterThan(90);
  });

  it('three limits on one counter: 300 calls at once over three replicas admit exactly the tightest max (6), not 0', async () => {
    const { admitted } = await fire(policy, 'shared', 300, [NOW, NOW, NOW], undefined, 'shared-limiter:');
    expect(admitted).toHaveLength(6);
  });

  it('a refused call names the first limit in the policy that is full, as policy explain does, not the counter reserved first', async () => {
    const p = loadPolicy({
      version: '1',
      default: 'allow',
      tools: {
        order: {
          limits: [
            { counter: 'x', max: 100, window: 'hour' },
            { counter: 'y', max: 1, window: 'hour' },
            { counter: 'x', max: 1, window: 'minute' },
          ],
        },
      },
    });
    const limiter = new Limiter(new MemoryStore());
    const limits = () => {
      const d = decide(p, call('order', {}));
      if (d.outcome !== 'allow') throw new Error(`expected allow, got ${d.outcome}`);
      return d.limits;
    };
    expect((await limiter.reserve(limits(), FACTS, NOW)).ok).toBe(true);
    const second = await limiter.reserve(limits(), FACTS, NOW);
    expect(second.ok).toBe(false);
    expect(!second.ok && second.reason).toMatch(/counter y/);
  });

  it.each([
    ['SQLite', () => new SqliteStore(join(mkdtempSync(join(tmpdir(), 'gatehouse-limits-')), 'state.db'))],
    ['memory', () => new MemoryStore()],
  ])('three limits on one counter in a %s store: 8 calls at once admit exactly 6, not 0', async (_kind, make) => {
    const store = make();
    try {
      const limiter = new Limiter(store);
      const results = await Promise.all(
        Array.from({ length: 8 }, () => {
          const d = decide(policy, call('shared', {}));
          if (d.outcome !== 'allow') throw new Error(`expected allow, got ${d.outcome}`);
          return limiter.reserve(d.limits, FACTS, NOW);
        }),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(6);
      const refused = results.find((r) => !r.ok);
      expect(refused && !refused.ok && refused.reason).toMatch(/at most 6 per minute/);
    } finally {
      await store.close();
    }
  });

  it.each(['sliding', 'calendar'])(
    '%s: replicas whose clocks differ by up to 40 s admit at most 50 a window, wave after wave',
    async (tool) => {
      // Waves a few seconds apart on the gateways' clocks; one replica 20 s behind, one 20 s ahead.
      const skews = [0, -20_000, 20_000];
      const p = loadPolicy({
        version: '1',
        default: 'allow',
        tools: {
          [tool]: {
            limits: [
              {
                counter: `skew-${tool}`,
                max: 50,
                window: 'minute',
                ...(tool === 'calendar' ? { algorithm: 'calendar' } : {}),
              },
            ],
          },
        },
      });
      const stamps: number[] = [];
      for (let wave = 0; wave < 40; wave++) {
        const real = NOW + wave * 4_000;
        const clocks = skews.map((s) => real + s);
        const { admitted } = await fire(p, tool, 60, clocks);
        for (const i of admitted) stamps.push(clocks[i % 3]!);
      }
      stamps.sort((a, b) => a - b);
      // On the stamps' own clock: no window holds more than 50.
      let worst = 0;
      for (const end of stamps) {
        const inWindow =
          tool === 'calendar'
            ? stamps.filter((t) => Math.floor(t / 60_000) === Math.floor(end / 60_000)).length
            : stamps.filter((t) => t > end - 60_000 && t <= end).length;
        worst = Math.max(worst, inWindow);
      }
      expect(worst).toBeLessThanOrEqual(50);
      expect(stamps.length).toBeGreaterThan(0);
    },
    60_000,
  );
});

describe('single-use claims shared by three replicas on one Redis', () => {
  it('one requestState nonce claimed by 30 attempts at once over three replicas is claimed once', async () => {
    const [a, b, c] = replicas(3);
    const won = await Promise.all(
      Array.from({ length: 30 }, (_, i) => [a, b, c][i % 3]!.claimOnce('rs:nonce-one', 60_000, NOW)),
    );
    expect(won.filter(Boolean)).toHaveLength(1);
  });
});
