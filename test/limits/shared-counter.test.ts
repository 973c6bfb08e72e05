// Proves that limits naming the same counter count one call once, each checking its own window:
// a per-minute and a per-hour limit on one counter admit as many calls as the tighter of them,
// not half as many, in every store; a call refused by the second limit leaves nothing counted; and
// two limits of one tool without a counter of their own (a burst and a per-minute limit on
// `<tool>_rate`) keep the entries the longer window counts, also on calls where only the shorter
// one applies.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Limiter, counterKey } from '../../src/limits/limiter.js';
import { loadPolicy } from '../../src/policy/compile.js';
import { decide, type CallFacts } from '../../src/policy/decide.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { StateStore } from '../../src/store/store.js';

const NOW = Date.parse('2026-03-02T10:00:00Z');
const FACTS = { grant: 'ci', agent: 'ci', session: 's', server: 'fx' };

const call = (args: Record<string, unknown> = {}): CallFacts => ({
  subject: 'tool',
  name: 'echo',
  server: 'fx',
  args,
  grant: { name: 'ci', agent: 'ci', labels: {} },
  session: { id: 's' },
  now: new Date(NOW),
});

const POLICY = loadPolicy({
  version: '1',
  default: 'deny',
  all_tools: { limits: [{ counter: 'everything', max: 100, window: 'hour' }] },
  tools: {
    echo: {
      limits: [
        { counter: 'echoes', max: 6, window: 'minute' },
        { counter: 'echoes', max: 100, window: 'hour' },
        { counter: 'everything', max: 7, window: 'minute' },
      ],
    },
  },
});

async function admitted(store: StateStore, calls: number): Promise<number> {
  const limiter = new Limiter(store);
  let ok = 0;
  for (let i = 0; i < calls; i++) {
    const d = decide(POLICY, call());
    if (d.outcome !== 'allow') throw new Error('expected allow');
    const r = await limiter.reserve(d.limits, FACTS, NOW + i);
    if (r.ok) ok++;
  }
  return ok;
}

/** Whether a call to echo with `args`, `ms` after NOW, is admitted under `limits` on echo. */
function echoUnder(
  store: StateStore,
  limits: unknown[],
  allTools?: unknown[],
): (ms: number, args?: Record<string, unknown>) => Promise<boolean> {
  const limiter = new Limiter(store);
  const policy = loadPolicy({
    version: '1',
    default: 'deny',
    ...(allTools ? { all_tools: { limits: allTools } } : {}),
    tools: { echo: { limits } },
  });
  return async (ms, args = {}) => {
    const d = decide(policy, { ...call(args), now: new Date(NOW + ms) });
    if (d.outcome !== 'allow') throw new Error('expected allow');
    return (await limiter.reserve(d.limits, FACTS, NOW + ms)).ok;
  };
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-shared-counter-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each<[string, () => StateStore]>([
  ['memory', () => new MemoryStore()],
  ['sqlite', () => new SqliteStore(join(dir, `state-${Math.random().toString(36).slice(2)}.db`))],
])('%s store', (_name, open) => {
  it('a per-minute and a per-hour limit on one counter admit 6 of 8 calls (max 6 a minute), not 3', async () => {
    const store = open();
    try {
      expect(await admitted(store, 8)).toBe(6);
      // Six calls counted on "echoes", once each: the hour's limit sees 6 of its 100.
      const d = decide(POLICY, call());
      const hour =
        d.outcome === 'allow'
          ? d.limits.find((l) => l.counter === 'echoes' && l.limit.windowSeconds === 3600)
          : undefined;
      const key = counterKey(hour!, FACTS);
      expect(await store.usage(key, { algorithm: 'sliding', windowMs: 3_600_000, max: 100, cost: 1 }, NOW + 8)).toBe(6);
      // The two refused calls were charged on "everything" (all_tools comes first), then given back.
      const all =
        d.outcome === 'allow'
          ? d.limits.find((l) => l.counter === 'everything' && l.limit.windowSeconds === 3600)
          : undefined;
      expect(
        await store.usage(
          counterKey(all!, FACTS),
          { algorithm: 'sliding', windowMs: 3_600_000, max: 100, cost: 1 },
          NOW + 8,
        ),
      ).toBe(6);
    } finally {
      await store.close();
    }
  });

  it('2 per 10 s and 3 per minute on one tool, no counter named: a fourth call within the minute is refused', async () => {
    const store = open();
    try {
      const at = echoUnder(store, [
        { max: 2, window: '10s' },
        { max: 3, window: 'minute' },
      ]);
      // 20 s apart then 10 s apart: each alone in its 10 s, three in the minute.
      expect([await at(0), await at(20_000), await at(30_000)]).toEqual([true, true, true]);
      expect(await at(41_000)).toBe(false);
      expect(await at(61_000)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('a per-minute limit whose `when` is false on the calls between still sees them: 3 a minute holds', async () => {
    const store = open();
    try {
      const at = echoUnder(store, [
        { max: 3, window: 'minute', when: '!args.fast' },
        { max: 5, window: '10s', when: 'args.fast' },
      ]);
      for (const ms of [0, 1_000, 2_000, 25_000, 26_000]) expect(await at(ms, { fast: true })).toBe(true);
      // Five calls within the minute already: a slow one is the sixth, over its 3.
      expect(await at(30_000, { fast: false })).toBe(false);
    } finally {
      await store.close();
    }
  });

  it("the same when the short limit is all_tools' and the per-minute one the tool's own", async () => {
    const store = open();
    try {
      const at = echoUnder(
        store,
        [{ max: 3, window: 'minute', when: '!args.fast' }],
        [{ max: 5, window: '10s', when: 'args.fast' }],
      );
      for (const ms of [0, 1_000, 2_000, 25_000, 26_000]) expect(await at(ms, { fast: true })).toBe(true);
      expect(await at(30_000, { fast: false })).toBe(false);
    } finally {
      await store.close();
    }
  });
});
