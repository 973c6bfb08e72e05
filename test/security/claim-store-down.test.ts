// Proves that the one-retry claim of a `requestState` fails closed when the state store cannot
// answer it: the retry is refused with a reason that names the store, nothing is forwarded to the
// upstream, the refusal is audited as blocked by the state store, and the gateway goes on serving.
// When nothing was claimed, the same state completes the call once the store is back; a claim that
// timed out on a stalled connection lands when Redis answers again and spends the state, unrun.
// Covered: Redis unreachable (the connection cut and new ones refused), Redis not answering (the
// connection stalled), Redis answering the claim with an error (out of memory), and an SQLite file
// whose write lock another process holds. The shared Redis is reached through a TCP proxy this
// test starts and breaks, under a key prefix of its own; the erroring Redis is a private one.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ALICE,
  FS_POLICY,
  httpDriver,
  received,
  recordingEntry,
  startHarness,
  textOf,
  toolCall,
  within,
  type Harness,
  type RawDriver,
} from './support.js';
import { TSX_LOADER, featureServerCommand, type JsonObject } from '../helpers/index.js';
import { readSink } from '../audit/read-sink.js';
import { PrivateRedis, REDIS_BASE, deletePrefix, redisUrl, uniquePrefix } from '../store/redis-support.js';
import { holdWriteLock } from '../store/hold-write-lock.js';

const TAP_SERVER = fileURLToPath(new URL('../fixtures/servers/tap-server.ts', import.meta.url));
const STORE_DOWN =
  /^\[POLICY DENIED\] The state store could not be reached to check this call's requestState, so it is blocked: /;

/**
 * A TCP proxy in front of Redis that a test can break for this gateway alone: `cut` resets every
 * connection and refuses new ones (Redis unreachable); `stall` lets nothing through either way
 * while every connection stays open (Redis not answering). `restore` mends both.
 */
class RedisLink {
  private mode: 'open' | 'cut' | 'stalled' = 'open';
  private readonly pairs = new Set<[Socket, Socket]>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<RedisLink> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const link = new RedisLink(server, (server.address() as { port: number }).port);
    server.on('connection', (client) => link.accept(client, target));
    return link;
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    if (this.mode === 'cut') return void client.destroy();
    const upstream = connect(target.port, target.host);
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => client.write(d));
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) s.on('close', end).on('error', end);
    if (this.mode === 'stalled') for (const s of pair) s.pause();
  }

  cut(): void {
    this.mode = 'cut';
    for (const pair of [...this.pairs]) for (const s of pair) s.destroy();
  }

  stall(): void {
    this.mode = 'stalled';
    for (const pair of this.pairs) for (const s of pair) s.pause();
  }

  restore(): void {
    this.mode = 'open';
    for (const pair of this.pairs) for (const s of pair) s.resume();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const MODERN_POLICY = { version: '1', default: 'allow' };

/** The feature fixture in the 2026-07-28 era behind the tap, so what reaches it is recorded. */
function tappedModern(record: string): Record<string, unknown> {
  const { command, args } = featureServerCommand('stdio', 'modern');
  return {
    command: process.execPath,
    args: ['--import', TSX_LOADER, TAP_SERVER, command, ...args],
    env: { RECORD_FILE: record },
    era: 'modern',
    timeout_ms: 20_000,
    policy: MODERN_POLICY,
  };
}

/**
 * A gateway on `state` (audit in a jsonl file): `fs` is the feature fixture in the 2026-07-28 era,
 * whose `ask_name` answers input_required with a state of its own; `my-srv` the legacy recording
 * fixture, whose `confirm` asks through elicitation, so the gateway parks the call.
 */
async function startGateway(state: string): Promise<{ h: Harness; dir: string; audit: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-claim-down-'));
  const audit = `jsonl:${join(dir, 'audit.jsonl')}`;
  const h = await startHarness({
    config: {
      state,
      audit,
      servers: {
        fs: tappedModern(join(dir, 'fs.jsonl')),
        'my-srv': recordingEntry(join(dir, 'my-srv.jsonl'), { policy: FS_POLICY }),
      },
    },
  });
  return { h, dir, audit };
}

const resultOf = (a: JsonObject) => (a['result'] ?? {}) as JsonObject;

/** Round one of a call that needs input: the state and the key its answer goes under. */
async function roundOne(d: RawDriver, id: string, name: string): Promise<{ state: string; key: string }> {
  const a = await d.request(toolCall('modern', id, name));
  const r = resultOf(a);
  expect(r['resultType'], JSON.stringify(a)).toBe('input_required');
  return { state: String(r['requestState']), key: Object.keys(r['inputRequests'] as JsonObject)[0]! };
}

function retryOf(id: string, name: string, round: { state: string; key: string }, answer: JsonObject): JsonObject {
  const m = toolCall('modern', id, name);
  Object.assign(m['params'] as JsonObject, {
    requestState: round.state,
    inputResponses: { [round.key]: { action: 'accept', content: answer } },
  });
  return m;
}

/** The tools/call messages `ask_name` received with the user's answer: the runs that completed. */
const answeredRuns = (record: string) =>
  received(record).filter((m) => {
    const p = (m['params'] ?? {}) as JsonObject;
    return m['method'] === 'tools/call' && p['inputResponses'] !== undefined;
  }).length;

/** Expects `answer` to be the store-down refusal: a blocked tool result, not an error or an allow. */
function expectStoreDown(answer: JsonObject, why: RegExp): void {
  const r = resultOf(answer);
  expect(r['isError'], JSON.stringify(answer)).toBe(true);
  expect(textOf(answer)).toMatch(STORE_DOWN);
  expect(textOf(answer)).toMatch(why);
}

/** The audit record of the request with this id, once the log is flushed. */
async function auditOf(h: Harness, dir: string, audit: string, id: string) {
  await h.gateway.core.audit.flush();
  return (await readSink(audit, dir)).find((r) => r.request_id === id);
}

describe('a requestState retry while the Redis state store cannot answer', () => {
  const prefix = uniquePrefix();
  const target = new URL(REDIS_BASE);
  let link: RedisLink;
  let h: Harness;
  let dir: string;
  let audit: string;
  let fs: RawDriver;
  let all: RawDriver;
  beforeAll(async () => {
    link = await RedisLink.start({ host: target.hostname, port: Number(target.port || 6379) });
    const db = target.pathname.replace(/^\//, '') || '0';
    ({ h, dir, audit } = await startGateway(redisUrl(prefix, `redis://127.0.0.1:${link.port}/${db}`)));
    fs = await httpDriver(h, 'modern', false, ALICE);
    all = await httpDriver(h, 'modern', true, ALICE);
  }, 60_000);
  afterEach(() => link?.restore());
  afterAll(async () => {
    await h?.close();
    await link?.close();
    await deletePrefix(prefix);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Waits until the gateway's Redis connection is back, as it reconnects on its own. */
  async function storeBack(): Promise<void> {
    const store = h.gateway.core.approvals.store;
    for (let i = 0; i < 100 && !(await store.ping()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await store.ping()).toBe(true);
  }

  it('Redis unreachable: the retry is refused with the reason, nothing reaches the upstream, it is audited as blocked by the state store, and the same state completes once Redis is back', async () => {
    const record = join(dir, 'fs.jsonl');
    const round = await roundOne(fs, 'down-1', 'ask_name');
    const before = received(record).length;
    link.cut();
    const refused = await within(10_000, fs.request(retryOf('down-2', 'ask_name', round, { name: 'Ada' })), 'retry');
    expectStoreDown(refused, /Redis state store at 127\.0\.0\.1:\d+\/\d+ is unreachable/);
    expect(received(record).length).toBe(before);
    expect(await auditOf(h, dir, audit, 'down-2')).toMatchObject({
      decision: 'deny',
      blocked_by: 'state_store',
      tool: 'ask_name',
      reason: expect.stringMatching(/state store could not be reached/),
    });
    // The gateway is up and still serves what needs no store.
    expect(resultOf(await fs.request(toolCall('modern', 'down-3', 'echo', { message: 'still here' })))).toMatchObject({
      content: [{ type: 'text', text: 'still here' }],
    });

    link.restore();
    await storeBack();
    // Nothing was claimed while the store was down: the state is still good for its one retry.
    expect(textOf(await fs.request(retryOf('down-4', 'ask_name', round, { name: 'Ada' })))).toBe('hello Ada');
    const replay = await fs.request(retryOf('down-5', 'ask_name', round, { name: 'Ada' }));
    expect(replay['error']).toMatchObject({ code: -32602, message: expect.stringMatching(/\(used\)/) });
    expect(answeredRuns(record)).toBe(1);
  });

  it('Redis not answering: the retry is refused within the 2 s command timeout instead of hanging, nothing reaches the upstream, and the claim that lands late spends the state without running the call', async () => {
    const record = join(dir, 'fs.jsonl');
    const runs = answeredRuns(record);
    const round = await roundOne(fs, 'stall-1', 'ask_name');
    const before = received(record).length;
    link.stall();
    const started = Date.now();
    const refused = await within(8_000, fs.request(retryOf('stall-2', 'ask_name', round, { name: 'Bo' })), 'retry');
    expectStoreDown(refused, /Command timed out/);
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(received(record).length).toBe(before);
    expect(await auditOf(h, dir, audit, 'stall-2')).toMatchObject({ decision: 'deny', blocked_by: 'state_store' });

    // The claim that timed out was on its way to Redis and lands once it answers again: the state
    // is spent without its call ever running, the safe way round (the client starts the call again).
    link.restore();
    await storeBack();
    const late = await fs.request(retryOf('stall-3', 'ask_name', round, { name: 'Bo' }));
    expect(late['error']).toMatchObject({ code: -32602, message: expect.stringMatching(/\(used\)/) });
    expect(answeredRuns(record)).toBe(runs);
    const again = await roundOne(fs, 'stall-4', 'ask_name');
    expect(textOf(await fs.request(retryOf('stall-5', 'ask_name', again, { name: 'Bo' })))).toBe('hello Bo');
    expect(answeredRuns(record)).toBe(runs + 1);
  });

  it('Redis unreachable: the retry of a call parked on a legacy upstream is refused and the upstream is not given the answer; the call completes once Redis is back', async () => {
    const record = join(dir, 'my-srv.jsonl');
    const round = await roundOne(all, 'park-1', 'my-srv__confirm');
    const before = received(record).length;
    link.cut();
    const refused = await within(
      10_000,
      all.request(retryOf('park-2', 'my-srv__confirm', round, { ok: true })),
      'retry',
    );
    expectStoreDown(refused, /is unreachable/);
    // The server's elicitation is still unanswered: the gateway sent it nothing.
    expect(received(record).length).toBe(before);
    expect(await auditOf(h, dir, audit, 'park-2')).toMatchObject({ decision: 'deny', blocked_by: 'state_store' });

    link.restore();
    await storeBack();
    const done = await all.request(retryOf('park-3', 'my-srv__confirm', round, { ok: true }));
    expect(textOf(done)).toBe('confirmed: {"action":"accept","content":{"ok":true}}');
  });
});

describe('a requestState retry while Redis answers the claim with an error', () => {
  let redis: PrivateRedis;
  let h: Harness;
  let dir: string;
  let audit: string;
  beforeAll(async () => {
    redis = await PrivateRedis.start();
    ({ h, dir, audit } = await startGateway(redisUrl(uniquePrefix(), redis.url)));
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('an out-of-memory Redis refusing the claim blocks the retry with its error, forwards nothing, and is audited', async () => {
    const fs = await httpDriver(h, 'modern', false, ALICE);
    const record = join(dir, 'fs.jsonl');
    const round = await roundOne(fs, 'oom-1', 'ask_name');
    const before = received(record).length;
    // This test's own Redis: a limit below what it uses makes it refuse every write.
    const admin = new Redis(redis.url);
    try {
      await admin.config('SET', 'maxmemory', '1');
      const refused = await fs.request(retryOf('oom-2', 'ask_name', round, { name: 'Cy' }));
      expectStoreDown(refused, /OOM command not allowed/);
      expect(received(record).length).toBe(before);
      expect(await auditOf(h, dir, audit, 'oom-2')).toMatchObject({ decision: 'deny', blocked_by: 'state_store' });
      await admin.config('SET', 'maxmemory', '0');
      expect(textOf(await fs.request(retryOf('oom-3', 'ask_name', round, { name: 'Cy' })))).toBe('hello Cy');
    } finally {
      admin.disconnect();
    }
  });
});

describe('a requestState retry while another process holds the SQLite write lock', () => {
  let h: Harness;
  let dir: string;
  let audit: string;
  let file: string;
  beforeAll(async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'gatehouse-claim-sqlite-'));
    file = join(stateDir, 'state.db');
    ({ h, dir, audit } = await startGateway(`sqlite:${file}`));
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (file) rmSync(join(file, '..'), { recursive: true, force: true });
  });

  it('a busy SQLite file blocks the retry once the busy timeout runs out, forwards nothing, and is audited', async () => {
    const fs = await httpDriver(h, 'modern', false, ALICE);
    const record = join(dir, 'fs.jsonl');
    const round = await roundOne(fs, 'busy-1', 'ask_name');
    const before = received(record).length;
    // Held past the store's 5 s busy timeout.
    const lock = await holdWriteLock(file, 15_000);
    try {
      lock.writing();
      const refused = await fs.request(retryOf('busy-2', 'ask_name', round, { name: 'Di' }));
      expectStoreDown(refused, /locked|busy/i);
      expect(lock.released()).toBe(false);
    } finally {
      await lock.end();
    }
    expect(received(record).length).toBe(before);
    expect(await auditOf(h, dir, audit, 'busy-2')).toMatchObject({ decision: 'deny', blocked_by: 'state_store' });
    expect(textOf(await fs.request(retryOf('busy-3', 'ask_name', round, { name: 'Di' })))).toBe('hello Di');
  });
});
