// Proves how one stdio server shared by two grants ties what it sends out of turn to one client:
// - a call its client gave up on (cancelled, or timed out at the gateway) keeps counting as in
//   flight until the server answers it or 10 s pass, so a question the server asks meanwhile is
//   put to no other client; the server's late answer, or the end of the 10 s, lets the other
//   client's own questions through again. A question about the abandoned call itself reaches no
//   one: its client has its answer already;
// - a URL elicitation's completion reaches only the client whose elicitation had that
//   elicitationId, whichever client is busy when it comes, and one with an id no client was given
//   reaches no one.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ElicitResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import { EPHEMERAL, TSX_LOADER, connectClient, startParsedGateway, type ConnectedClient } from '../helpers/index.js';
import { readUntil, sleep } from '../helpers/wait.js';

const SERVER = fileURLToPath(new URL('../fixtures/servers/out-of-turn-server.ts', import.meta.url));
const ALICE = 'tok-alice-shared-grace-0001';
const BOB = 'tok-bob-shared-grace-0002';
/** The gateway's timeout for the shared server: `hold` outlives it. */
const TIMEOUT_MS = 1_000;
/** How long an abandoned call counts as in flight (ABANDONED_GRACE_MS in upstream-connection.ts). */
const GRACE_MS = 10_000;
const COMPLETE = 'notifications/elicitation/complete';
const REFUSED = /^Gatehouse cannot tell which client "elicitation\/create" is for/;

let gateway: Gateway;
beforeAll(async () => {
  gateway = await startParsedGateway({
    ...EPHEMERAL,
    auth: { mode: 'grants' },
    grants: { alice: { token: ALICE, servers: ['shared'] }, bob: { token: BOB, servers: ['shared'] } },
    servers: {
      shared: {
        command: process.execPath,
        args: ['--import', TSX_LOADER, SERVER],
        timeout_ms: TIMEOUT_MS,
        policy: { version: '1', default: 'allow' },
      },
    },
  });
}, 30_000);
afterAll(async () => {
  await gateway?.close();
});

/** A legacy client of one grant that accepts every elicitation; `asked` collects what it was asked. */
async function client(token: string, asked: string[] = []): Promise<ConnectedClient> {
  const c = await connectClient({
    era: 'legacy',
    name: token,
    capabilities: { elicitation: { form: {}, url: {} } },
    downstream: { kind: 'http', url: `${gateway.url}/mcp/shared`, headers: { authorization: `Bearer ${token}` } },
  });
  c.client.setRequestHandler('elicitation/create', (req): ElicitResult => {
    asked.push(String(req.params.message));
    return req.params.mode === 'url' ? { action: 'accept' } : { action: 'accept', content: { ok: true } };
  });
  return c;
}

/** The message of the error a call ended with (undefined if it did not fail). */
const failure = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (e: Error) => e.message,
  );

const ACCEPTED = JSON.stringify({ action: 'accept', content: { ok: true } });

/** Has the server answer a held call at last, so that it no longer counts (whatever a test left). */
const release = (c: ConnectedClient, key: string) => c.callText('release', { key }).catch(() => undefined);

/** The error message the server's question got instead of an answer, from what `ask` returned. */
const refusal = (answer: string): string | undefined =>
  (JSON.parse(answer) as { error?: { message?: string } }).error?.message;

describe('a call its client gave up on, on a shared server', () => {
  it('a cancelled call counts as in flight until the server answers it: meanwhile another client is not put its own question, then it is', async () => {
    const askedAlice: string[] = [];
    const askedBob: string[] = [];
    const alice = await client(ALICE, askedAlice);
    const bob = await client(BOB, askedBob);
    try {
      const cancel = new AbortController();
      const cancelled = failure(
        bob.client.callTool({ name: 'hold', arguments: { key: 'cancelled' } }, { signal: cancel.signal }),
      );
      // The call is at the server before it is cancelled.
      await readUntil(
        () => alice.callText('holding'),
        (keys) => (JSON.parse(keys) as string[]).includes('cancelled'),
        10_000,
      );
      cancel.abort();
      expect(await cancelled).toBeDefined();
      // The server may still ask about Bob's call: Alice, the one client busy, is not the one to ask.
      expect(refusal(await alice.callText('ask', { who: 'alice' }))).toMatch(REFUSED);
      expect(askedAlice).toEqual([]);
      // The server answers Bob's call at last: it is done with it, and Alice is asked again at once.
      expect(await alice.callText('release', { key: 'cancelled' })).toBe('released');
      expect(await alice.callText('ask', { who: 'alice' })).toBe(ACCEPTED);
      expect(askedAlice).toEqual(['Question for alice?']);
      expect(askedBob).toEqual([]);
    } finally {
      await release(alice, 'cancelled');
      await alice.close();
      await bob.close();
    }
  });

  it('a call that timed out counts as in flight for 10 s, then no longer: another client is not put its own question within them, and is after', async () => {
    const askedAlice: string[] = [];
    const alice = await client(ALICE, askedAlice);
    const bob = await client(BOB);
    try {
      const timedOut = await failure(bob.client.callTool({ name: 'hold', arguments: { key: 'timed-out' } }));
      expect(timedOut).toMatch(/did not answer tools\/call within 1000 ms/);
      // The gateway gave up on the call just before Bob got the error: the grace ends by then.
      const graceEnds = Date.now() + GRACE_MS;
      expect(refusal(await alice.callText('ask', { who: 'alice' }))).toMatch(REFUSED);
      expect(askedAlice).toEqual([]);
      await sleep(graceEnds - Date.now() + 500);
      // The server never answered Bob's call, yet it no longer keeps Alice from her questions.
      expect(await alice.callText('ask', { who: 'alice' })).toBe(ACCEPTED);
      expect(askedAlice).toEqual(['Question for alice?']);
    } finally {
      await release(alice, 'timed-out');
      await alice.close();
      await bob.close();
    }
  }, 30_000);

  it('a question the server asks late about a call that timed out is put to no one, its own client included', async () => {
    const askedBob: string[] = [];
    const bob = await client(BOB, askedBob);
    try {
      const timedOut = await failure(
        bob.client.callTool({ name: 'ask', arguments: { who: 'bob-late', delay: TIMEOUT_MS + 500 } }),
      );
      expect(timedOut).toMatch(/did not answer tools\/call within 1000 ms/);
      // The question comes 500 ms after the call timed out, and is answered. Bob asks after it
      // came (a call of his in flight then would be a call the question could be for), and again
      // until the server has its answer.
      await sleep(1_000);
      const answers = await readUntil(
        async () => JSON.parse(await bob.callText('answers')) as { who: string; answer: unknown }[],
        (all) => all.some((a) => a.who === 'bob-late'),
        10_000,
      );
      expect(answers.find((a) => a.who === 'bob-late')?.answer).toMatchObject({
        error: { message: expect.stringMatching(/no single client has a call in flight/) },
      });
      expect(askedBob).toEqual([]);
    } finally {
      await bob.close();
    }
  });
});

describe("a URL elicitation's completion on a shared server", () => {
  let alice: ConnectedClient;
  let bob: ConnectedClient;
  beforeAll(async () => {
    alice = await client(ALICE);
    bob = await client(BOB);
  });
  afterAll(async () => {
    await alice?.close();
    await bob?.close();
  });

  const completions = (c: ConnectedClient) => c.notifications.of(COMPLETE).map((p) => p['elicitationId']);

  it('reaches only the client whose elicitation had its elicitationId, not the client busy when it comes', async () => {
    // Alice's id comes in a -32042 error, Bob's in an elicitation/create request put to him.
    expect(await failure(alice.client.callTool({ name: 'url_required', arguments: { id: 'el-alice' } }))).toMatch(
      /sign in first/,
    );
    expect(await bob.callText('url_ask', { id: 'el-bob' })).toBe(JSON.stringify({ action: 'accept' }));
    // Each completion is sent while the other client alone has a call in flight.
    expect(await alice.callText('complete', { id: 'el-bob' })).toBe('sent');
    await bob.notifications.waitFor(COMPLETE, (p) => p['elicitationId'] === 'el-bob', { includePast: true });
    expect(await bob.callText('complete', { id: 'el-alice' })).toBe('sent');
    await alice.notifications.waitFor(COMPLETE, (p) => p['elicitationId'] === 'el-alice', { includePast: true });
    await sleep(300); // anything still on its way arrives
    expect(completions(alice)).toEqual(['el-alice']);
    expect(completions(bob)).toEqual(['el-bob']);
  });

  it('with an elicitationId no client was given, or one already completed, reaches no one, not even the one client busy', async () => {
    expect(await alice.callText('url_ask', { id: 'el-once' })).toBe(JSON.stringify({ action: 'accept' }));
    expect(await bob.callText('complete', { id: 'el-once' })).toBe('sent');
    await alice.notifications.waitFor(COMPLETE, (p) => p['elicitationId'] === 'el-once', { includePast: true });
    alice.notifications.clear();
    bob.notifications.clear();
    for (const id of ['el-unknown', 'el-once']) {
      expect(await alice.callText('complete', { id })).toBe('sent');
      expect(await bob.callText('complete', { id })).toBe('sent');
    }
    await sleep(300);
    expect(completions(alice)).toEqual([]);
    expect(completions(bob)).toEqual([]);
  });
});
