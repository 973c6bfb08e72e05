// Proves that one stdio server shared by clients of different grants never hands one grant what the
// server sent about another's call:
// - a log message that cannot be tied to one client (both grants have calls in flight) reaches
//   neither client, while a client alone on the server still gets its own log lines;
// - a server request the server sends for a call that timed out at the gateway is not put to the
//   other grant's client that has a call in flight by then, and that client's answer never reaches
//   the server as the answer to it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ElicitResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import {
  EPHEMERAL,
  connectClient,
  startParsedGateway,
  tempDir,
  type ConnectedClient,
  type TempDir,
} from '../helpers/index.js';
import { sleep } from '../helpers/wait.js';

const ALICE = 'tok-alice-shared-upstream-0001';
const BOB = 'tok-bob-shared-upstream-0002';
/** The gateway's timeout for the shared server: the `late_ask` call below outlives it. */
const TIMEOUT_MS = 3_000;

/**
 * A legacy stdio server that talks about each caller's arguments the way a careless one does:
 * `work` logs "started/finished ... secret=<secret>" (notifications unrelated to any request id),
 * `late_ask` waits past the gateway's timeout and then asks for confirmation of its account, and
 * `answers` returns what each of those questions was answered with.
 */
const SERVER = `
import { createInterface } from 'node:readline';
const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (t) => ({ content: [{ type: 'text', text: t }] });
const waiting = new Map();
const answers = [];
let asked = 0;
const log = (data) => send({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', logger: 'shared', data } });
createInterface({ input: process.stdin }).on('line', async (line) => {
  const m = JSON.parse(line);
  if (m.id === undefined) return;
  if (!m.method) return waiting.get(m.id)?.(m.result ?? { error: m.error });
  const ok = (result) => send({ jsonrpc: '2.0', id: m.id, result });
  switch (m.method) {
    case 'initialize':
      return ok({ protocolVersion: m.params.protocolVersion, capabilities: { tools: {}, logging: {} }, serverInfo: { name: 'shared', version: '1' } });
    case 'logging/setLevel': return ok({});
    case 'tools/list':
      return ok({ tools: ['work', 'late_ask', 'answers'].map((name) => ({ name, inputSchema: { type: 'object' } })) });
    case 'tools/call': {
      const a = m.params.arguments ?? {};
      if (m.params.name === 'work') {
        log('started work secret=' + a.secret);
        await sleep(a.ms ?? 0);
        log('finished work secret=' + a.secret);
        return ok(text('worked'));
      }
      if (m.params.name === 'late_ask') {
        await sleep(a.delay ?? 0);
        const qid = 'q-' + ++asked;
        send({ jsonrpc: '2.0', id: qid, method: 'elicitation/create', params: { message: 'Confirm wire transfer for account ' + a.account + '?', requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } } } } });
        const answer = await new Promise((r) => waiting.set(qid, r));
        answers.push({ account: a.account, answer });
        return ok(text(JSON.stringify(answer)));
      }
      if (m.params.name === 'answers') return ok(text(JSON.stringify(answers)));
      return send({ jsonrpc: '2.0', id: m.id, error: { code: -32602, message: 'unknown tool' } });
    }
    default: return send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'Method not found' } });
  }
});
`;

describe('one stdio server shared by two grants', () => {
  let dir: TempDir;
  let gateway: Gateway;
  beforeAll(async () => {
    dir = tempDir('gatehouse-shared-upstream-');
    const script = dir.write('server.mjs', SERVER);
    gateway = await startParsedGateway({
      ...EPHEMERAL,
      auth: { mode: 'grants' },
      grants: { alice: { token: ALICE, servers: ['shared'] }, bob: { token: BOB, servers: ['shared'] } },
      servers: {
        shared: {
          command: process.execPath,
          args: [script],
          timeout_ms: TIMEOUT_MS,
          policy: { version: '1', default: 'allow' },
        },
      },
    });
  }, 30_000);
  afterAll(async () => {
    await gateway?.close();
    dir?.remove();
  });

  /** A legacy client of one grant; `asked` collects the questions the server's elicitations put to it. */
  async function client(token: string, asked: string[] = []): Promise<ConnectedClient> {
    const c = await connectClient({
      era: 'legacy',
      name: token,
      downstream: { kind: 'http', url: `${gateway.url}/mcp/shared`, headers: { authorization: `Bearer ${token}` } },
    });
    c.client.setRequestHandler('elicitation/create', (req): ElicitResult => {
      asked.push(String(req.params.message));
      return { action: 'accept', content: { ok: true } };
    });
    await c.client.setLoggingLevel('debug');
    return c;
  }

  const logLines = (c: ConnectedClient) => c.notifications.logging.map((l) => String(l['data']));

  it('a log line sent while both grants have calls in flight reaches neither; one alone in flight gets its own', async () => {
    const alice = await client(ALICE);
    const bob = await client(BOB);
    try {
      // Alice alone on the server: her log line is hers.
      const aliceCall = alice.callText('work', { secret: 'ALICE-SECRET', ms: 2_500 });
      await alice.notifications.waitFor(
        'notifications/message',
        (p) => p['data'] === 'started work secret=ALICE-SECRET',
        {
          includePast: true,
        },
      );
      // Bob's call starts and ends while Alice's is in flight: the server's lines about it could be
      // either's, so they go to no one.
      expect(await bob.callText('work', { secret: 'BOB-SECRET', ms: 200 })).toBe('worked');
      // Alone again once Bob's call answered, Alice gets the end of her own.
      expect(await aliceCall).toBe('worked');
      await alice.notifications.waitFor(
        'notifications/message',
        (p) => p['data'] === 'finished work secret=ALICE-SECRET',
        { includePast: true },
      );
      await sleep(300); // anything still on its way arrives
      expect(logLines(alice)).toEqual(['started work secret=ALICE-SECRET', 'finished work secret=ALICE-SECRET']);
      expect(logLines(bob)).toEqual([]);
    } finally {
      await alice.close();
      await bob.close();
    }
  });

  it("an elicitation the server sends for a call that timed out is not put to another grant's client, nor answered with its answer", async () => {
    const askedAlice: string[] = [];
    const askedBob: string[] = [];
    const alice = await client(ALICE, askedAlice);
    const bob = await client(BOB, askedBob);
    try {
      // Bob's call times out at the gateway; the server asks about it 1 s later.
      const timedOut = await bob.client
        .callTool({ name: 'late_ask', arguments: { account: 'BOB-ACCT-9911', delay: TIMEOUT_MS + 1_000 } })
        .then(
          () => undefined,
          (e: Error) => e.message,
        );
      expect(timedOut).toMatch(/did not answer tools\/call within 3000 ms/);
      // Alice's call is in flight when the question about Bob's account arrives.
      expect(await alice.callText('work', { secret: 'a', ms: 2_000 })).toBe('worked');
      const answers = JSON.parse(await alice.callText('answers')) as { account: string; answer: unknown }[];
      expect(answers).toHaveLength(1);
      expect(answers[0]!.account).toBe('BOB-ACCT-9911');
      expect(answers[0]!.answer).toMatchObject({
        error: { message: expect.stringMatching(/cannot tell which client "elicitation\/create" is for/) },
      });
      expect(askedAlice).toEqual([]);
      // The server answered Bob's call at last, so Alice alone is asked her own question again.
      expect(await alice.callText('late_ask', { account: 'ALICE-ACCT-1234', delay: 0 })).toBe(
        JSON.stringify({ action: 'accept', content: { ok: true } }),
      );
      expect(askedAlice).toEqual(['Confirm wire transfer for account ALICE-ACCT-1234?']);
      expect(askedBob).toEqual([]);
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});
