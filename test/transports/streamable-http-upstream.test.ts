// Proves that Gatehouse's Streamable HTTP client transport (the one it talks to HTTP upstreams
// with) does on the wire what the SDK's client transport does, against the SDK's own servers on
// node:http: the session id from initialize on every later request, the protocol version, the
// operator's headers everywhere; the GET stream of server-initiated messages; progress on a POST
// stream before its answer; a stream the server closes mid-call resumed with Last-Event-ID; the
// modern headers derived from the body and the caller's Mcp-Param-* (which cannot override the
// transport's own); cancellation by a request's signal and by close(). Against bare servers: HTTP
// errors with their body, a modern 400 carrying the request's JSON-RPC error, same-origin
// redirects followed and others named, a call the server read and then dropped not sent again,
// pooled connections closed before the server's Keep-Alive timeout, invalid answers refused; and a session the server no longer knows (404) ends the transport
// so that the connection opens a new one. And the era probe on the same client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '@modelcontextprotocol/client';
import { probeHttpEra } from '../../src/transports/upstream/probe-http.js';
import { MAX_MESSAGE_BYTES } from '../../src/transports/upstream/message-reader.js';
import { StreamableHttpClientTransport } from '../../src/transports/upstream/streamable-http.js';
import { modernRequest } from '../helpers/index.js';
import {
  startLegacyServer,
  startModernServer,
  startRawServer,
  type LegacyServer,
  type TestServer,
} from './http-upstreams.js';
import { sleep, waitUntil } from '../helpers/wait.js';

type Msg = Record<string, unknown>;
const AUTH = { Authorization: 'Bearer upstream-token-123', 'X-Tenant': 'acme' };
const FAST_RECONNECT = { initialDelayMs: 10, maxDelayMs: 50, growFactor: 1.5, maxRetries: 2 };

/** A started transport that collects what it receives and reports. */
async function open(url: string, opts: ConstructorParameters<typeof StreamableHttpClientTransport>[1] = {}) {
  const t = new StreamableHttpClientTransport(new URL(url), { headers: AUTH, reconnection: FAST_RECONNECT, ...opts });
  const received: Msg[] = [];
  const errors: Error[] = [];
  let closed = 0;
  const waiters: { test: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  t.onmessage = (m: JSONRPCMessage) => {
    received.push(m as Msg);
    for (const w of [...waiters]) {
      if (!w.test(m as Msg)) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m as Msg);
    }
  };
  t.onerror = (e) => errors.push(e);
  t.onclose = () => closed++;
  await t.start();
  const next = (test: (m: Msg) => boolean) => {
    const seen = received.find(test);
    return seen ? Promise.resolve(seen) : new Promise<Msg>((resolve) => waiters.push({ test, resolve }));
  };
  /** Sends a request and resolves with its answer. */
  const request = async (id: number, method: string, params: Msg = {}, sendOpts = {}) => {
    const answer = next((m) => m.id === id && ('result' in m || 'error' in m));
    await t.send({ jsonrpc: '2.0', id, method, params } as JSONRPCMessage, sendOpts);
    return answer;
  };
  return { t, received, errors, closed: () => closed, next, request };
}

async function initialize(c: Awaited<ReturnType<typeof open>>): Promise<void> {
  const init = await c.request(1, 'initialize', {
    protocolVersion: '2025-11-25',
    capabilities: {},
    clientInfo: { name: 'gatehouse-test', version: '1' },
  });
  c.t.setProtocolVersion((init.result as Msg).protocolVersion as string);
  await c.t.send({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
}

const call = (name: string, args: Msg, meta: Msg = {}) => ({ name, arguments: args, _meta: meta });
const textOf = (m: Msg) => ((m.result as Msg).content as { text: string }[])[0]?.text;

const eventually = (check: () => boolean, ms = 5_000): Promise<void> =>
  waitUntil(check, ms, 'condition not met in time');

describe('legacy (2025) sessionful server', () => {
  let server: LegacyServer;
  beforeAll(async () => (server = await startLegacyServer()));
  afterAll(() => server.close());

  it('initialize opens a session: every later request carries its id, the protocol version and the configured headers', async () => {
    const c = await open(server.url);
    await initialize(c);
    expect(c.t.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const answer = await c.request(2, 'tools/call', call('echo', { message: 'hi' }));
    expect(textOf(answer)).toBe('hi');
    const mine = server.seen.filter(
      (s) => s.headers['mcp-session-id'] === c.t.sessionId || s.body.includes('"initialize"'),
    );
    const init = mine.find((s) => s.body.includes('"initialize"'))!;
    expect(init.headers['mcp-session-id']).toBeUndefined();
    const later = mine.filter((s) => s !== init);
    expect(later.map((s) => s.method)).toEqual(expect.arrayContaining(['POST', 'GET']));
    for (const s of [init, ...later]) {
      expect(s.headers.authorization).toBe(AUTH.Authorization);
      expect(s.headers['x-tenant']).toBe('acme');
    }
    for (const s of later) expect(s.headers['mcp-protocol-version']).toBe('2025-11-25');
    const post = later.find((s) => s.body.includes('"tools/call"'))!;
    expect(post.headers['content-type']).toBe('application/json');
    expect(post.headers.accept).toBe('application/json, text/event-stream');
    expect(post.headers['mcp-method']).toBeUndefined(); // no modern header on a legacy exchange
    await c.t.close();
  });

  it('after notifications/initialized a GET stream is open, and a server-initiated message arrives on it', async () => {
    const c = await open(server.url);
    await initialize(c);
    await eventually(() =>
      server.seen.some((s) => s.method === 'GET' && s.headers['mcp-session-id'] === c.t.sessionId),
    );
    const get = server.seen.find((s) => s.method === 'GET' && s.headers['mcp-session-id'] === c.t.sessionId)!;
    expect(get.headers.accept).toBe('text/event-stream');
    expect(get.headers.authorization).toBe(AUTH.Authorization);
    await sleep(50); // the server attaches the stream after its headers go out
    await server.toolListChanged();
    const note = await c.next((m) => m.method === 'notifications/tools/list_changed');
    expect(note).toMatchObject({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    await c.t.close();
  });

  it('progress sent on a POST stream arrives in order before the answer', async () => {
    const c = await open(server.url);
    await initialize(c);
    const answer = await c.request(3, 'tools/call', call('progress', { steps: 3 }, { progressToken: 'p' }));
    expect(textOf(answer)).toBe('done');
    const order = c.received.filter((m) => m.method === 'notifications/progress' || m.id === 3);
    expect(order.map((m) => (m.id === 3 ? 'answer' : (m.params as Msg).progress))).toEqual([1, 2, 3, 'answer']);
    await c.t.close();
  });

  it('a POST stream the server closes mid-call is resumed with GET and Last-Event-ID, and the answer arrives', async () => {
    const c = await open(server.url);
    await initialize(c);
    const answer = await c.request(4, 'tools/call', call('poll', {}, { progressToken: 'q' }));
    expect(textOf(answer)).toBe('polled');
    const progress = c.received.filter(
      (m) => m.method === 'notifications/progress' && (m.params as Msg).progressToken === 'q',
    );
    expect(progress.map((m) => (m.params as Msg).progress)).toEqual([1, 2]);
    const resumed = server.seen.filter((s) => s.method === 'GET' && s.headers['last-event-id']);
    expect(resumed.length).toBeGreaterThan(0);
    expect(resumed[0]!.headers['mcp-session-id']).toBe(c.t.sessionId);
    expect(c.errors).toEqual([]);
    await c.t.close();
  });

  it('a session the server no longer knows (404): the request fails saying so, and the transport closes so a new session is opened', async () => {
    const c = await open(server.url);
    await initialize(c);
    await server.forgetSessions();
    const failed = await c.t
      .send({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: call('echo', { message: 'x' }) } as JSONRPCMessage)
      .then(
        () => undefined,
        (e: Error & { status?: number }) => e,
      );
    // Whether this request met the 404 itself or the GET stream met it first, it fails with it.
    expect(failed).toMatchObject({
      status: 404,
      message: expect.stringMatching(/no longer knows this session.*new session will be opened/),
    });
    await eventually(() => c.closed() === 1);
  });
});

describe('modern (2026-07-28) server', () => {
  let server: TestServer & { cancelled: string[] };
  beforeAll(async () => (server = await startModernServer()));
  afterAll(() => server.close());

  it('a request with the envelope carries MCP-Protocol-Version, Mcp-Method and Mcp-Name (non-ASCII base64-wrapped), and the caller’s Mcp-Param-*', async () => {
    const c = await open(server.url);
    const req = modernRequest(10, 'tools/call', { name: 'echo', arguments: { message: 'ünï' } });
    const answer = c.next((m) => m.id === 10);
    await c.t.send(req as JSONRPCMessage, {
      // The transport's own headers win over a caller's; others (Mcp-Param-*) are sent as given.
      headers: { 'Mcp-Param-Region': 'eu-west', 'Mcp-Method': 'forged', Authorization: 'Bearer forged' },
    });
    expect(textOf(await answer)).toBe('ünï');
    const seen = server.seen.find((s) => s.body.includes('"id":10'))!;
    expect(seen.headers).toMatchObject({
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': 'echo',
      'mcp-param-region': 'eu-west',
      authorization: AUTH.Authorization,
    });
    const nonAscii = modernRequest(11, 'tools/call', { name: 'naïve', arguments: {} });
    const refused = c.next((m) => m.id === 11);
    await c.t.send(nonAscii as JSONRPCMessage);
    expect(await refused).toHaveProperty('error'); // no such tool, but the header went out encoded
    const second = server.seen.find((s) => s.body.includes('"id":11'))!;
    expect(second.headers['mcp-name']).toBe(`=?base64?${Buffer.from('naïve').toString('base64')}?=`);
    await c.t.close();
  });

  it('cancellation: aborting a request’s signal closes its HTTP request, which the server sees; the send rejects and onerror is not told', async () => {
    const c = await open(server.url);
    const controller = new AbortController();
    const sent = c.t.send(
      modernRequest(20, 'tools/call', { name: 'wait', arguments: { tag: 'by-signal' } }) as JSONRPCMessage,
      {
        requestSignal: controller.signal,
      },
    );
    await eventually(() => server.seen.some((s) => s.body.includes('by-signal')));
    controller.abort(new Error('client gave up'));
    await expect(sent).rejects.toThrow('client gave up');
    await eventually(() => server.cancelled.includes('by-signal'));
    expect(c.errors).toEqual([]);
    await c.t.close();
  });

  it('close(): requests in flight are ended (the server sees them go), onclose fires once, a later send rejects', async () => {
    const c = await open(server.url);
    const sent = c.t.send(
      modernRequest(21, 'tools/call', { name: 'wait', arguments: { tag: 'by-close' } }) as JSONRPCMessage,
    );
    await eventually(() => server.seen.some((s) => s.body.includes('by-close')));
    await c.t.close();
    await c.t.close();
    await expect(sent).rejects.toThrow(/closed/);
    await eventually(() => server.cancelled.includes('by-close'));
    expect(c.closed()).toBe(1);
    await expect(c.t.send(modernRequest(22, 'ping', {}) as JSONRPCMessage)).rejects.toThrow(/closed/);
    expect(c.errors).toEqual([]);
  });

  it('the era probe finds the modern server modern, with its discover result', async () => {
    const probe = await probeHttpEra(server.url, AUTH, 5_000);
    expect(probe.era).toBe('modern');
    expect(probe.discover?.supportedVersions).toContain('2026-07-28');
    const seen = server.seen.find((s) => s.body.includes('server/discover'))!;
    expect(seen.headers).toMatchObject({ 'mcp-method': 'server/discover', authorization: AUTH.Authorization });
  });
});

describe('answers no SDK server gives', () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
  });
  const raw = async (answer: Parameters<typeof startRawServer>[0]) => {
    const s = await startRawServer(answer);
    servers.push(s);
    return s;
  };
  const reply = (body: string, id: unknown, result: Msg = {}) =>
    JSON.stringify({ jsonrpc: '2.0', id: (JSON.parse(body) as Msg).id ?? id, result });

  it('an HTTP error rejects the send with its status and body text, and onerror is told', async () => {
    const s = await raw((_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('database is down'));
    const c = await open(s.url);
    const e = await c.t.send({ jsonrpc: '2.0', id: 1, method: 'ping' } as JSONRPCMessage).catch((x: Error) => x);
    expect(e).toMatchObject({ status: 500, message: 'Error POSTing to endpoint: database is down' });
    expect(c.errors).toEqual([e]);
    await c.t.close();
  });

  it('the operator’s headers: Accept merged with the transport’s, User-Agent kept, a per-request header replaces one of the same name, URL user info sent as Basic', async () => {
    const s = await raw((_req, res, body) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(reply(body, 0)),
    );
    const url = new URL(s.url);
    url.username = 'ops';
    url.password = 'p@ss';
    const c = await open(url.href, {
      headers: { Accept: 'application/vnd.acme+json', 'User-Agent': 'acme-agent/2', 'X-Route': 'blue', Host: 'evil' },
    });
    await c.request(1, 'ping', {}, { headers: { 'x-route': 'green', 'Content-Length': '1' } });
    const seen = s.seen[0]!.headers;
    expect(seen.accept).toBe('application/vnd.acme+json, application/json, text/event-stream');
    expect(seen['user-agent']).toBe('acme-agent/2');
    expect(seen['x-route']).toBe('green');
    expect(seen.host).toBe(url.host);
    expect(seen.authorization).toBe(`Basic ${Buffer.from('ops:p@ss').toString('base64')}`);
    // A configured Authorization is the one sent, not both.
    const own = await open(url.href, { headers: { Authorization: 'Bearer own-token-42' } });
    await own.request(2, 'ping');
    expect(s.seen[1]!.headers.authorization).toBe('Bearer own-token-42');
    await c.t.close();
    await own.t.close();
  });

  it('a modern request refused with 400 and a JSON-RPC error for its id gets that error as its answer', async () => {
    const s = await raw((_req, res, body) =>
      res.writeHead(400, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          jsonrpc: '2.0',
          id: (JSON.parse(body) as Msg).id,
          error: { code: -32020, message: 'header mismatch' },
        }),
      ),
    );
    const c = await open(s.url);
    const answer = await c.request(7, 'tools/call', modernRequest(7, 'tools/call', { name: 'x' }).params as Msg);
    expect(answer).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32020, message: 'header mismatch' } });
    await c.t.close();
  });

  it('redirects: a 307 within the origin is followed with the same body; a 302 for a POST is not, and the error names its target', async () => {
    const s = await raw((req, res, body) => {
      if (req.url === '/mcp') return res.writeHead(307, { location: '/mcp/' }).end();
      if (req.url === '/mcp/')
        return res.writeHead(200, { 'content-type': 'application/json' }).end(reply(body, 1, { ok: true }));
      res.writeHead(404).end();
    });
    const c = await open(s.url);
    expect(await c.request(1, 'ping')).toMatchObject({ id: 1, result: { ok: true } });
    expect(s.seen.map((r) => r.body)).toEqual([s.seen[0]!.body, s.seen[0]!.body]);
    const moved = await raw((_req, res) => res.writeHead(302, { location: 'http://elsewhere.example/mcp' }).end());
    const c2 = await open(moved.url);
    await expect(c2.t.send({ jsonrpc: '2.0', id: 1, method: 'ping' } as JSONRPCMessage)).rejects.toThrow(
      'Redirect to http://elsewhere.example/mcp not followed',
    );
    await c.t.close();
    await c2.t.close();
  });

  it('a call the server read on a kept-alive connection and then dropped is not sent again: it fails, and ran once', async () => {
    let served = 0;
    const s = await raw((req, res, body) => {
      served++;
      // The second request on the connection is read, then the connection is lost before the
      // answer, as when an upstream dies mid-call: the call may have run.
      if (served === 2) return void setTimeout(() => req.socket.destroy(), 50);
      res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' }).end(reply(body, 0));
    });
    const c = await open(s.url);
    expect(await c.request(1, 'ping')).toMatchObject({ id: 1, result: {} });
    const failed = await c.t
      .send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'transfer' } } as JSONRPCMessage)
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(failed?.message).toMatch(/socket hang up|ECONNRESET/);
    // Give a resend, if there were one, time to arrive.
    await sleep(200);
    expect(served).toBe(2);
    await c.t.close();
  });

  it('pooled connections: reused while busy, closed a second before the server’s Keep-Alive timeout, and a long answer on a reused one is not cut', async () => {
    const closedAt: number[] = [];
    let connections = 0;
    const s = await raw((req, res, body) => {
      const delay = req.headers['x-delay'] ? Number(req.headers['x-delay']) : 0;
      // Announced as 2 s; the server itself keeps an idle connection 10 s, so any close before
      // that is Gatehouse's.
      const headers = { 'content-type': 'application/json', connection: 'keep-alive', 'keep-alive': 'timeout=2' };
      setTimeout(() => res.writeHead(200, headers).end(reply(body, 0)), delay);
    });
    s.server.keepAliveTimeout = 10_000;
    s.server.on('connection', (socket) => {
      connections++;
      socket.on('close', () => closedAt.push(Date.now()));
    });
    const c = await open(s.url);
    // Opened before the first request, so that the second follows it at once.
    const slow = await open(s.url, { headers: { 'X-Delay': '1500' } });
    expect(await c.request(1, 'ping')).toMatchObject({ id: 1 });
    // Past the 1 s idle limit, on the connection the first request left in the pool.
    expect(await slow.request(2, 'ping')).toMatchObject({ id: 2 });
    expect(connections).toBe(1);
    const idleFrom = Date.now();
    await eventually(() => closedAt.length === 1, 3_000);
    // Closed by Gatehouse about 1 s after it went idle, before the server's 2 s.
    expect(closedAt[0]! - idleFrom).toBeGreaterThanOrEqual(800);
    expect(closedAt[0]! - idleFrom).toBeLessThan(1_900);
    expect(await c.request(3, 'ping')).toMatchObject({ id: 3 });
    expect(connections).toBe(2);
    await c.t.close();
    await slow.t.close();
  });

  it('an answer that is not a JSON-RPC message, or not JSON or SSE, rejects the send and is not delivered', async () => {
    const s = await raw((req, res) => {
      if (req.headers['x-case'] === 'type') return res.writeHead(200, { 'content-type': 'text/html' }).end('<p>hi</p>');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"hello":"world"}');
    });
    const c = await open(s.url);
    await expect(c.t.send({ jsonrpc: '2.0', id: 1, method: 'ping' } as JSONRPCMessage)).rejects.toThrow(
      /invalid JSON-RPC/,
    );
    const typed = await open(s.url, { headers: { 'X-Case': 'type' } });
    await expect(typed.t.send({ jsonrpc: '2.0', id: 1, method: 'ping' } as JSONRPCMessage)).rejects.toThrow(
      'Unexpected content type: text/html',
    );
    expect([...c.received, ...typed.received]).toEqual([]);
    await c.t.close();
    await typed.t.close();
  });

  it('an answer past 10 MB, as a JSON body or one SSE event, is not read on: it fails saying so and its connection is closed', async () => {
    const big = 'x'.repeat(MAX_MESSAGE_BYTES);
    let closed = 0;
    const s = await raw((req, res) => {
      req.socket.once('close', () => closed++);
      // Written in pieces, as a server streams a large answer; the gateway stops reading first.
      const sse = req.headers['x-case'] === 'sse';
      res.writeHead(200, { 'content-type': sse ? 'text/event-stream' : 'application/json' });
      res.write(`${sse ? 'event: message\ndata: ' : ''}{"jsonrpc":"2.0","id":1,"result":{"text":"`);
      let sent = 0;
      const more = () => {
        while (sent < big.length && !res.destroyed) {
          const piece = big.slice(sent, sent + 65_536);
          sent += piece.length;
          if (!res.write(piece)) return void res.once('drain', more);
        }
        if (!res.destroyed) res.end(sse ? '"}}\n\n' : '}}');
      };
      more();
    });
    const c = await open(s.url);
    await expect(c.t.send({ jsonrpc: '2.0', id: 1, method: 'ping' } as JSONRPCMessage)).rejects.toThrow(
      /larger than 10485760 bytes/,
    );
    const sse = await open(s.url, { headers: { 'X-Case': 'sse' } });
    await sse.t.send({ jsonrpc: '2.0', id: 1, method: 'ping' } as JSONRPCMessage);
    await eventually(() => sse.errors.some((e) => /larger than 10485760 characters/.test(e.message)));
    // Closed at once, not kept for another request (an idle pooled connection is kept 4 s).
    await eventually(() => closed === 2, 2_000);
    expect([...c.received, ...sse.received]).toEqual([]);
    await c.t.close();
    await sse.t.close();
  });

  it('a notification answered 202 delivers nothing and sends no GET unless it is notifications/initialized', async () => {
    const s = await raw((_req, res) => res.writeHead(202).end());
    const c = await open(s.url);
    await c.t.send({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' } as JSONRPCMessage);
    await sleep(50);
    expect(s.seen.map((r) => r.method)).toEqual(['POST']);
    await c.t.send({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
    await eventually(() => s.seen.some((r) => r.method === 'GET'));
    await c.t.close();
  });

  it('the era probe takes a server that refuses server/discover for legacy, and gives up on a silent one within its timeout', async () => {
    const legacy = await raw((_req, res) => res.writeHead(404).end());
    expect((await probeHttpEra(legacy.url, {}, 5_000)).era).toBe('legacy');
    const silent = await raw(() => undefined);
    await expect(probeHttpEra(silent.url, {}, 300)).rejects.toThrow('no answer to server/discover within 300 ms');
  });

  it('the era probe reads an SSE answer as the standard has it: a priming event, a notification and a message over several data lines with CRLF endings still make a modern server', async () => {
    const discover = { supportedVersions: ['2026-07-28'], capabilities: {}, serverInfo: { name: 's', version: '1' } };
    const s = await raw((_req, res, body) => {
      const answer = JSON.stringify({ jsonrpc: '2.0', id: (JSON.parse(body) as Msg).id, result: discover }, null, 1);
      const notice = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info' } });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        `id: prime-1\r\ndata: \r\n\r\n` +
          `event: message\r\ndata: ${notice}\r\n\r\n` +
          `${answer
            .split('\n')
            .map((line) => `data: ${line}`)
            .join('\r\n')}\r\n\r\n`,
      );
    });
    const probe = await probeHttpEra(s.url, {}, 5_000);
    expect(probe).toEqual({ era: 'modern', discover });
  });

  it("the era probe takes a JSON answer for a modern server only when it carries the probe's id", async () => {
    const discover = { supportedVersions: ['2026-07-28'], capabilities: {}, serverInfo: { name: 's', version: '1' } };
    const answering = (id: (sent: unknown) => unknown) =>
      raw((_req, res, body) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: id((JSON.parse(body) as Msg).id), result: discover }));
      });
    const own = await answering((sent) => sent);
    expect(await probeHttpEra(own.url, {}, 5_000)).toEqual({ era: 'modern', discover });
    const other = await answering(() => 'someone-else');
    expect(await probeHttpEra(other.url, {}, 5_000)).toEqual({ era: 'legacy' });
  });
});
