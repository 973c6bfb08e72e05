// Proves that every request inside a legacy session is decided with the identity its own token gives,
// not the one of the token that opened the session. A session belongs to a principal (a JWT's issuer
// and subject, or a grant); a later request of that principal may present a token with fewer servers
// or other labels, and a created grant's policy file may have been rewritten since: each request is
// judged by what holds for it. Real gateways, real HTTP, raw JSON-RPC so that the wire is as written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { EPHEMERAL, featureEntry, startFileGateway, startParsedGateway, type FileGateway } from '../helpers/gateway.js';
import { ACCEPT_BOTH, parseSse, type JsonObject } from '../helpers/wire.js';
import { sleep } from '../helpers/wait.js';
import { AUDIENCE, ISSUER, grantsHome, mint, signingKey, type SigningKey } from '../identity/support.js';

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 'init',
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'per-request', version: '1' } },
};
const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };

const call = (id: number, name: string): JsonObject => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: { message: `call ${id}` } },
});

/** POSTs one message on a legacy session (none for initialize) and answers the message with its id. */
async function send(url: string, token: string, message: JsonObject, session?: string): Promise<JsonObject> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: ACCEPT_BOTH,
      authorization: `Bearer ${token}`,
      ...(session ? { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' } : {}),
    },
    body: JSON.stringify(message),
  });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  const messages = type.includes('text/event-stream') ? parseSse(text) : text.trim() ? [JSON.parse(text)] : [];
  const answer = (messages as JsonObject[]).find((m) => m.id === message.id);
  return { ...answer, httpStatus: res.status, sessionId: res.headers.get('mcp-session-id') ?? undefined };
}

/** Opens a legacy session on `url` with `token` and returns its id. */
async function openSession(url: string, token: string): Promise<string> {
  const init = await send(url, token, INITIALIZE);
  expect(init.httpStatus, JSON.stringify(init)).toBe(200);
  const sid = String(init.sessionId);
  await send(url, token, INITIALIZED, sid);
  return sid;
}

const textOf = (answer: JsonObject): string =>
  String(((answer.result as JsonObject | undefined)?.content as JsonObject[] | undefined)?.[0]?.text ?? '');

const toolNames = (answer: JsonObject): string[] =>
  (((answer.result as JsonObject | undefined)?.tools ?? []) as JsonObject[]).map((t) => String(t.name));

describe('JWT mode: a legacy session is decided with the token of each request', () => {
  let key: SigningKey;
  let gateway: Gateway;

  /** A token of the one subject `dana`, with these servers and team label. */
  const token = (servers: string[], team = 'payments') =>
    mint(key, { subject: 'dana', claims: { gatehouse_servers: servers, gatehouse_labels: { team } } });

  beforeAll(async () => {
    key = await signingKey('k1');
    gateway = await startParsedGateway({
      ...EPHEMERAL,
      auth: { mode: 'jwt', jwt: { issuer: ISSUER, audience: AUDIENCE, keys: [key.publicJwk] } },
      servers: {
        notes: featureEntry({
          policy: {
            version: '1',
            default: 'allow',
            tools: {
              echo: {
                deny_if: [{ when: "grant.labels.team != 'payments'", reason: 'Only the payments team may echo.' }],
              },
            },
          },
        }),
        other: featureEntry({ policy: { version: '1', default: 'allow' } }),
      },
    });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it("on /mcp, a later token without a server neither lists nor calls that server's tools in a session opened with it", async () => {
    const url = `${gateway.url}/mcp`;
    const both = await token(['notes', 'other']);
    const notesOnly = await token(['notes']);
    const sid = await openSession(url, both);
    // The opening token reaches the other server: the tool exists and the session works.
    expect(textOf(await send(url, both, call(1, 'other__echo'), sid))).toBe('call 1');

    const denied = await send(url, notesOnly, call(2, 'other__echo'), sid);
    expect(denied.error).toMatchObject({ code: -32602, message: 'Unknown tool: other__echo' });
    expect(denied.result).toBeUndefined();
    const list = await send(url, notesOnly, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, sid);
    expect(toolNames(list)).toContain('notes__echo');
    expect(toolNames(list).filter((n) => n.startsWith('other__'))).toEqual([]);
  });

  it("a label condition is judged with the labels of the request's token, in both directions", async () => {
    const url = `${gateway.url}/mcp/notes`;
    const payments = await token(['notes'], 'payments');
    const marketing = await token(['notes'], 'marketing');
    const sid = await openSession(url, payments);
    expect(textOf(await send(url, payments, call(1, 'echo'), sid))).toBe('call 1');
    expect(textOf(await send(url, marketing, call(2, 'echo'), sid))).toBe(
      '[POLICY DENIED] Only the payments team may echo.',
    );
    // A session opened by the marketing token lets a later payments token echo.
    const other = await openSession(url, marketing);
    expect(textOf(await send(url, payments, call(3, 'echo'), other))).toBe('call 3');
  });

  it('concurrent requests on one session with different tokens are each decided with their own', async () => {
    const url = `${gateway.url}/mcp/notes`;
    const payments = await token(['notes'], 'payments');
    const marketing = await token(['notes'], 'marketing');
    const sid = await openSession(url, payments);
    const ids = Array.from({ length: 8 }, (_, i) => i + 1);
    const answers = await Promise.all(
      ids.map((id) => send(url, id % 2 === 0 ? marketing : payments, call(id, 'echo'), sid)),
    );
    for (const [i, answer] of answers.entries()) {
      const id = ids[i]!;
      expect(textOf(answer), `request ${id}`).toBe(
        id % 2 === 0 ? '[POLICY DENIED] Only the payments team may echo.' : `call ${id}`,
      );
    }
  });

  it('over HTTP+SSE, a message posted with another token of the subject is judged with that token', async () => {
    const payments = await token(['notes'], 'payments');
    const marketing = await token(['notes'], 'marketing');
    const sse = await openSse(`${gateway.url}/sse/notes`, payments);
    try {
      await sse.post(payments, INITIALIZE);
      await sse.answer('init');
      await sse.post(payments, INITIALIZED);
      await sse.post(payments, call(1, 'echo'));
      expect(textOf(await sse.answer(1))).toBe('call 1');
      await sse.post(marketing, call(2, 'echo'));
      expect(textOf(await sse.answer(2))).toBe('[POLICY DENIED] Only the payments team may echo.');
    } finally {
      await sse.close();
    }
  });
});

describe('grants mode: a created grant whose policy file is rewritten', () => {
  const ADMIN = 'per-request-admin-token-7f3a';
  let started: FileGateway;

  beforeAll(async () => {
    const home = grantsHome('gatehouse-per-request-');
    home.write('echo-policy.json', { version: '1', default: 'allow' });
    started = await startFileGateway(home, {
      ...EPHEMERAL,
      auth: { mode: 'grants', admin_token: ADMIN },
      servers: { feat: featureEntry({ policy: { version: '1', default: 'allow' } }) },
    });
  });
  afterAll(async () => {
    await started?.close();
  });

  it('is denied on a session opened before the rewrite, from the next request after the file is read again', async () => {
    const url = `${started.gateway.url}/mcp/feat`;
    const created = await fetch(`${started.gateway.url}/api/v1/grants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'rewritten', servers: ['feat'], policy: 'echo-policy.json' }),
    });
    const body = (await created.json()) as { token: string };
    expect(created.status, JSON.stringify(body)).toBe(201);
    const grant = body.token;

    const sid = await openSession(url, grant);
    expect(textOf(await send(url, grant, call(1, 'echo'), sid))).toBe('call 1');

    started.dir.write('echo-policy.json', {
      version: '1',
      default: 'allow',
      tools: { echo: { action: 'deny', reason: 'Echo is withdrawn from this grant.' } },
    });
    // Gatehouse looks at a grant's policy file again at most once a second.
    await sleep(1_300);
    expect(textOf(await send(url, grant, call(2, 'echo'), sid))).toBe(
      '[POLICY DENIED] Echo is withdrawn from this grant.',
    );
  });
});

/** A legacy HTTP+SSE session: the stream's messages are collected as they come. */
async function openSse(
  url: string,
  token: string,
): Promise<{
  post(token: string, message: JsonObject): Promise<void>;
  answer(id: unknown): Promise<JsonObject>;
  close(): Promise<void>;
}> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let postUrl: string | undefined;
  const inbox: JsonObject[] = [];
  const pump = (async () => {
    for (;;) {
      const chunk = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (chunk.done) return;
      buffer += decoder.decode(chunk.value, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = /^data: (.*)$/m.exec(event)?.[1];
        if (data === undefined) continue;
        if (/^event: endpoint$/m.test(event)) postUrl = new URL(data, url).href;
        else inbox.push(JSON.parse(data) as JsonObject);
      }
    }
  })();
  const until = async <T>(get: () => T | undefined, what: string): Promise<T> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const v = get();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`no ${what} on the SSE stream`);
      await sleep(20);
    }
  };
  await until(() => postUrl, 'endpoint event');
  return {
    async post(as, message) {
      const r = await fetch(postUrl!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${as}` },
        body: JSON.stringify(message),
      });
      await r.text();
      expect(r.status).toBe(202);
    },
    answer: (id) => until(() => inbox.find((m) => m.id === id), `answer to ${String(id)}`),
    async close() {
      await reader.cancel().catch(() => undefined);
      await pump;
    },
  };
}
