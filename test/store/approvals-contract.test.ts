// The approvals part of the StateStore contract, for every store: an approval is stored whole and
// read back equal, listed newest first by the filters the call path uses, moved between statuses
// only from the status the caller expects (so two answers to one approval cannot both win), and
// every change reaches the store's watchers — for SQLite also a change written by another store on
// the same file (the CLI answering an approval that a running gateway holds a call for), for Redis
// a change written through another replica's store, pushed at once and, after a lost connection,
// read back from the feed so that nothing is missed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Approval } from '../../src/approvals/approval.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { StateStore } from '../../src/store/store.js';
import { deletePrefix, PrivateRedis, redisUrl, uniquePrefix } from './redis-support.js';

let seq = 0;
function approval(over: Partial<Approval> = {}): Approval {
  seq++;
  return {
    id: `apr_test${seq}`,
    server: 'files',
    tool: 'delete_file',
    arguments: { path: '/tmp/x', token: '[REDACTED]' },
    args_hash: `hash${seq}`,
    grant: 'ci',
    agent: 'ci-bot',
    session: 'legacy:abc',
    rule: '/tools/delete_file',
    reason: 'Deletes need a person.',
    mode: 'hold',
    remember: 'none',
    notify: ['ops'],
    created: 1_800_000_000_000 + seq,
    expires: 1_800_000_600_000 + seq,
    status: 'pending',
    ...over,
  };
}

/** The next change a store's watchers see for one approval id. */
function nextChange(store: StateStore, id: string, status: Approval['status']): Promise<Approval> {
  return new Promise((resolve) => {
    const stop = store.watchApprovals((a) => {
      if (a.id === id && a.status === status) {
        stop();
        resolve(a);
      }
    });
  });
}

const tmp = mkdtempSync(path.join(tmpdir(), 'gatehouse-approvals-store-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const REDIS_PREFIX = uniquePrefix();
afterAll(async () => {
  await deletePrefix(REDIS_PREFIX);
});

const STORES: [string, () => StateStore][] = [
  ['memory', () => new MemoryStore()],
  ['sqlite', () => new SqliteStore(path.join(tmp, `contract-${++seq}.db`))],
  // A prefix per store, as the memory and SQLite stores are each empty when opened.
  ['redis', () => new RedisStore(redisUrl(`${REDIS_PREFIX}${++seq}:`))],
];

describe.each(STORES)('%s store: approvals', (_name, open) => {
  it('an approval is read back exactly as it was stored', async () => {
    const store = open();
    const a = approval({ remember: 3600, decision_reason: undefined });
    delete a.decision_reason;
    await store.createApproval(a);
    expect(await store.getApproval(a.id)).toEqual(a);
    expect(await store.getApproval('apr_missing')).toBeUndefined();
    await store.close();
  });

  it('lists newest first, by status, grant, server, tool and arguments hash, up to the limit', async () => {
    const store = open();
    const older = approval({ args_hash: 'same' });
    const newer = approval({ args_hash: 'same' });
    const other = approval({ grant: 'other', status: 'approved' });
    for (const a of [older, newer, other]) await store.createApproval(a);
    expect((await store.listApprovals({ args_hash: 'same' })).map((a) => a.id)).toEqual([newer.id, older.id]);
    expect((await store.listApprovals({ status: ['approved'] })).map((a) => a.id)).toEqual([other.id]);
    expect((await store.listApprovals({ grant: 'ci', server: 'files', tool: 'delete_file' })).length).toBe(2);
    expect((await store.listApprovals({ limit: 1 })).map((a) => a.id)).toEqual([other.id]);
    expect(await store.listApprovals({ status: [] })).toEqual([]);
    await store.close();
  });

  it('a transition happens only from an expected status: of two answers, exactly one wins', async () => {
    const store = open();
    const a = approval();
    await store.createApproval(a);
    const [approve, deny] = await Promise.all([
      store.transitionApproval(a.id, ['pending'], { status: 'approved', decided_by: 'alice', channel: 'api' }),
      store.transitionApproval(a.id, ['pending'], { status: 'denied', decided_by: 'bob', channel: 'cli' }),
    ]);
    expect([approve, deny].filter(Boolean)).toHaveLength(1);
    expect((await store.getApproval(a.id))?.status).toBe(approve ? 'approved' : 'denied');
    expect(await store.transitionApproval('apr_missing', ['pending'], { status: 'approved' })).toBeUndefined();
    await store.close();
  });

  it('watchers see every change, and stop seeing them once they unsubscribe', async () => {
    const store = open();
    const a = approval();
    const created = nextChange(store, a.id, 'pending');
    await store.createApproval(a);
    expect((await created).id).toBe(a.id);
    const approved = nextChange(store, a.id, 'approved');
    await store.transitionApproval(a.id, ['pending'], { status: 'approved', decided_by: 'alice', channel: 'api' });
    expect(await approved).toMatchObject({ status: 'approved', decided_by: 'alice' });
    const seen: string[] = [];
    const stop = store.watchApprovals((x) => seen.push(x.status));
    stop();
    await store.transitionApproval(a.id, ['approved'], { status: 'used' });
    await new Promise((r) => setTimeout(r, 400));
    expect(seen).toEqual([]);
    await store.close();
  });
});

describe('sqlite approvals shared by two stores on one file', () => {
  it("an answer written by another store (the CLI, another process) reaches this store's watchers", async () => {
    const file = path.join(tmp, 'shared.db');
    const gateway = new SqliteStore(file);
    const cli = new SqliteStore(file);
    try {
      const a = approval();
      await gateway.createApproval(a);
      const released = nextChange(gateway, a.id, 'denied');
      expect(
        await cli.transitionApproval(a.id, ['pending'], {
          status: 'denied',
          decided_by: 'ops',
          channel: 'cli',
          decision_reason: 'no',
        }),
      ).toBeDefined();
      expect(await released).toMatchObject({ status: 'denied', channel: 'cli', decision_reason: 'no' });
    } finally {
      await cli.close();
      await gateway.close();
    }
  });
});

describe('redis approvals shared by two replicas', () => {
  it("an answer written through another replica's store reaches this store's watchers", async () => {
    const prefix = `${REDIS_PREFIX}replicas:`;
    const a = new RedisStore(redisUrl(prefix));
    const b = new RedisStore(redisUrl(prefix));
    try {
      const held = approval();
      await a.createApproval(held);
      expect(await b.getApproval(held.id)).toEqual(held);
      const released = nextChange(a, held.id, 'approved');
      expect(
        await b.transitionApproval(held.id, ['pending'], { status: 'approved', decided_by: 'ops', channel: 'api' }),
      ).toMatchObject({ status: 'approved' });
      expect(await released).toMatchObject({ status: 'approved', decided_by: 'ops', channel: 'api' });
      expect((await a.listApprovals({ status: ['approved'] })).map((x) => x.id)).toEqual([held.id]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a change published while a replica was disconnected reaches its watchers when it reconnects', async () => {
    const redis = await PrivateRedis.start();
    const a = new RedisStore(redis.url);
    const b = new RedisStore(redis.url);
    const admin = new Redis(redis.url);
    try {
      const seen: Approval[] = [];
      a.watchApprovals((x) => seen.push(x));
      let missed: Approval | undefined;
      // Cut replica A's subscription and answer at once, before it has reconnected; until Redis
      // reports that the answer was published to nobody (A reconnects within 100 ms).
      for (let attempt = 0; attempt < 5 && !missed; attempt++) {
        const held = approval();
        await a.createApproval(held);
        expect(await b.getApproval(held.id)).toEqual(held);
        await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
        await b.transitionApproval(held.id, ['pending'], { status: 'denied', decided_by: 'ops', channel: 'cli' });
        const [, listeners] = (await admin.pubsub('NUMSUB', 'gatehouse:apr:changes')) as [string, number];
        if (listeners === 0) missed = held;
      }
      expect(missed, 'the answer was published while replica A was not subscribed').toBeDefined();
      // What was missed is read back from the feed: the approval as it is now.
      await vi.waitFor(
        () =>
          expect(seen.filter((x) => x.id === missed!.id).at(-1)).toMatchObject({ status: 'denied', channel: 'cli' }),
        { timeout: 10_000 },
      );
    } finally {
      admin.disconnect();
      await a.close();
      await b.close();
      await redis.stop();
    }
  }, 30_000);
});
