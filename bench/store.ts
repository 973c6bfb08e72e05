// State store benchmark: limit checks per second (StateStore.reserve) against the memory store,
// SQLite on a temporary file and a real Redis, with 1, 16 and 128 checks in flight; then calls that
// count on three counters (the tool's, the server's and every tool's limit, each per grant),
// reserved one counter after another against all three in one step (StateStore.reserveAll, as the
// limiter does); then the share of a limited tool call's latency that the store adds, through a
// gateway on each store.
//
//   npm run bench:store -- [--seconds 3] [--redis redis://127.0.0.1:6379/0] [--calls 400]
//
// Redis keys live under a prefix of this run's own and are deleted afterwards. See bench/README.md.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Client } from '@modelcontextprotocol/client';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { ConfigSchema } from '../src/config/schema.js';
import { startGateway } from '../src/gateway/gateway.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { RedisStore } from '../src/store/redis-store.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import type { CounterReservation, StateStore, WindowSpec } from '../src/store/store.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379/0' },
    calls: { type: 'string', default: '400' },
  },
});
const SECONDS = Number(values.seconds);
const CALLS = Number(values.calls);
const prefix = `ghbench:${process.pid}:${randomBytes(3).toString('hex')}:`;
const redisBase = values.redis!;
const redisUrl = `${redisBase}?prefix=${encodeURIComponent(prefix)}`;
const tmp = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-store-'));

/** A realistic limit: 1,000 a minute per grant, over 1,000 grants, so no counter fills up. */
const SPEC: WindowSpec = { algorithm: 'sliding', windowMs: 60_000, max: 1000, cost: 1 };
const KEYS = 1000;

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function checksPerSecond(store: StateStore, inFlight: number): Promise<{ rate: number; p50: number }> {
  let n = 0;
  const lat: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async (_, w) => {
      while (performance.now() < end) {
        const t = performance.now();
        const r = await store.reserve(`rate|bench|grant:g${(n + w) % KEYS}|`, SPEC, Date.now());
        lat.push(performance.now() - t);
        if (!r.ok) throw new Error('a bench counter filled up: the bench measures admissions only');
        n++;
      }
    }),
  );
  return { rate: n / SECONDS, p50: median(lat) };
}

/**
 * Three limits of a call, each per grant (over 1,000 grants, as above): the tool's, the server's and
 * every tool's. Each counter holds few entries, so what is measured is the reservation's own work.
 */
function threeCounters(i: number): CounterReservation[] {
  const grant = `grant:g${i % KEYS}`;
  return [
    { key: `rate|bench|${grant}|`, spec: SPEC },
    { key: `rate|bench-server|${grant}|`, spec: SPEC },
    { key: `rate|bench-all|${grant}|`, spec: SPEC },
  ];
}

/** Calls each reserving three counters, `inFlight` at once, for `ms`: how many were made, and each one's time. */
async function threeCounterCalls(
  store: StateStore,
  inFlight: number,
  oneStep: boolean,
  ms: number,
): Promise<{ calls: number; lat: number[] }> {
  let n = 0;
  const lat: number[] = [];
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: inFlight }, async (_, w) => {
      while (performance.now() < end) {
        const counters = threeCounters(n + w);
        const now = Date.now();
        const t = performance.now();
        if (oneStep) {
          if (!(await store.reserveAll(counters, now)).ok) throw new Error('a bench counter filled up');
        } else {
          // What the limiter did before reserveAll: one counter after another.
          for (const c of counters)
            if (!(await store.reserve(c.key, c.spec, now)).ok) throw new Error('a bench counter filled up');
        }
        lat.push(performance.now() - t);
        n++;
      }
    }),
  );
  return { calls: n, lat };
}

/** The two ways side by side: chunks of 250 ms taking turns, so the machine's load hits both alike. */
async function compareThreeCounters(store: StateStore, inFlight: number): Promise<[string, number, number][]> {
  const ways = [
    { name: 'one after another', oneStep: false, calls: 0, lat: [] as number[] },
    { name: 'one step', oneStep: true, calls: 0, lat: [] as number[] },
  ];
  const rounds = Math.max(2, Math.round((SECONDS * 1000) / 250));
  for (let r = 0; r < rounds; r++)
    for (const way of r % 2 === 0 ? ways : [...ways].reverse()) {
      const { calls, lat } = await threeCounterCalls(store, inFlight, way.oneStep, 250);
      way.calls += calls;
      way.lat.push(...lat);
    }
  return ways.map((w) => [w.name, w.calls / (rounds * 0.25), median(w.lat)]);
}

async function callLatency(state: string): Promise<{ limited: number; unlimited: number }> {
  const server = fileURLToPath(new URL('./echo-server.ts', import.meta.url));
  const config = ConfigSchema.parse({
    listen: { host: '127.0.0.1', port: 0 },
    state,
    audit: 'none',
    servers: {
      echo: {
        command: process.execPath,
        args: ['--import', 'tsx', server],
        pins: 'off',
        policy: { version: '1', default: 'allow', tools: { echo: { limits: [{ max: 1_000_000, window: 'hour' }] } } },
      },
      plain: { command: process.execPath, args: ['--import', 'tsx', server], pins: 'off' },
    },
  });
  const gw = await startGateway({ path: null, dir: tmp, config }, { log: () => undefined });
  try {
    const open = async (name: string) => {
      const client = new Client({ name: 'bench', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp/${name}`)));
      return client;
    };
    const limitedClient = await open('echo');
    const plainClient = await open('plain');
    // Alternating call by call, so that the machine's changing load hits both alike.
    const l: number[] = [];
    const u: number[] = [];
    for (let i = 0; i < CALLS + 50; i++) {
      for (const [client, out] of [
        [plainClient, u],
        [limitedClient, l],
      ] as const) {
        const t = performance.now();
        await client.callTool({ name: 'echo', arguments: { message: 'x' } });
        if (i >= 50) out.push(performance.now() - t);
      }
    }
    await limitedClient.close();
    await plainClient.close();
    return { limited: median(l), unlimited: median(u) };
  } finally {
    await gw.close();
  }
}

async function main(): Promise<void> {
  const stores: [string, () => StateStore, string][] = [
    ['memory', () => new MemoryStore(), 'memory:'],
    ['sqlite', () => new SqliteStore(path.join(tmp, 'bench.db')), `sqlite:${path.join(tmp, 'call.db')}`],
    ['redis', () => new RedisStore(redisUrl), redisUrl],
  ];
  const single = new Map<string, number>();
  console.log(`| store | in flight | checks/s | p50 per check (ms) |`);
  console.log(`| --- | ---: | ---: | ---: |`);
  for (const [name, open] of stores) {
    const store = open();
    await store.ping();
    for (const inFlight of [1, 16, 128]) {
      const { rate, p50 } = await checksPerSecond(store, inFlight);
      if (inFlight === 1) single.set(name, p50);
      console.log(`| ${name} | ${inFlight} | ${Math.round(rate).toLocaleString('en')} | ${p50.toFixed(3)} |`);
    }
    await store.close();
  }
  console.log(
    `\nCalls that count on three counters (the tool's, the server's and every tool's limit, each per grant):\n`,
  );
  console.log(`| store | in flight | reserved | calls/s | p50 per call (ms) | calls/s ÷ one after another |`);
  console.log(`| --- | ---: | --- | ---: | ---: | ---: |`);
  for (const [name, open] of stores) {
    const store = open();
    await store.ping();
    for (const inFlight of [1, 16]) {
      const rows = await compareThreeCounters(store, inFlight);
      const base = rows[0]![1];
      for (const [way, rate, p50] of rows)
        console.log(
          `| ${name} | ${inFlight} | ${way} | ${Math.round(rate).toLocaleString('en')} | ${p50.toFixed(3)} | ${(rate / base).toFixed(2)}× |`,
        );
    }
    await store.close();
  }
  // For scale: one bare round trip to the same Redis.
  const bare = new Redis(redisBase);
  const pings: number[] = [];
  const until = performance.now() + 1000;
  while (performance.now() < until) {
    const t = performance.now();
    await bare.ping();
    pings.push(performance.now() - t);
  }
  bare.disconnect();
  console.log(`\nRedis PING round trip, p50: ${median(pings).toFixed(3)} ms\n`);
  console.log(
    `| store | p50 call, unlimited tool (ms) | p50 call, limited tool (ms) | measured difference (ms) | one check at 1 in flight ÷ call |`,
  );
  console.log(`| --- | ---: | ---: | ---: | ---: |`);
  for (const [name, , state] of stores) {
    const { limited, unlimited } = await callLatency(state);
    console.log(
      `| ${name} | ${unlimited.toFixed(3)} | ${limited.toFixed(3)} | ${(limited - unlimited).toFixed(3)} | ${((100 * single.get(name)!) / limited).toFixed(1)}% |`,
    );
  }
  console.log('');
  console.log(
    `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${new Date().toISOString()}`,
  );
}

try {
  await main();
} finally {
  rmSync(tmp, { recursive: true, force: true });
  const redis = new Redis(redisBase);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}
