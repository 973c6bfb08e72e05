// A malicious or compromised MCP server reached over HTTP (Streamable HTTP or the legacy HTTP+SSE
// transport) against Gatehouse: each server here is a few lines of node:http that speaks just
// enough MCP to be connected to, then misbehaves in one way. What they must not achieve: hang the
// gateway's clients, grow its memory without bound, hold its connections after a call is done, or
// have a call that ran given its quota back because its answer could not be read.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { EPHEMERAL, modernHeaders, startParsedGateway, type JsonObject } from '../helpers/index.js';
import { textOf, toolCall, within } from './support.js';

const TIMEOUT_MS = 1_500;
/** "Never hangs": every answer must come well inside this, whatever the upstream does. */
const BOUND_MS = 10_000;
const ALLOW_ALL = { version: '1', default: 'allow' };
const LEGACY_VERSION = '2025-06-18';

interface Rpc {
  id?: unknown;
  method?: string;
  params?: JsonObject;
}

/** Handles one POSTed message in a hostile way; returns false to let the honest server answer. */
type Twist = (m: Rpc, req: IncomingMessage, res: ServerResponse) => boolean;
/** Handles a GET (the stream of server-initiated messages); default 405, no such stream. */
type GetTwist = (req: IncomingMessage, res: ServerResponse) => void;

interface Hostile {
  url: string;
  server: Server;
  /** Sockets the gateway has open to this server right now. */
  open: Set<Socket>;
  /** Requests received: method, or `GET`. */
  seen: string[];
}

const started: { servers: Server[]; gateways: Gateway[]; timers: NodeJS.Timeout[] } = {
  servers: [],
  gateways: [],
  timers: [],
};

afterEach(async () => {
  for (const t of started.timers.splice(0)) clearInterval(t);
  for (const g of started.gateways.splice(0)) await g.close();
  for (const s of started.servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

/** A legacy (2025-06-18) Streamable HTTP server: honest but for what `twist` does. */
async function hostileServer(twist: Twist = () => false, get?: GetTwist): Promise<Hostile> {
  const open = new Set<Socket>();
  const seen: string[] = [];
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      seen.push('GET');
      if (get) return get(req, res);
      return void res.writeHead(405).end();
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const m = JSON.parse(body) as Rpc;
      seen.push(String(m.method ?? 'response'));
      if (twist(m, req, res)) return;
      honest(m, res);
    });
  });
  server.on('connection', (s: Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  started.servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server, open, seen };
}

function json(res: ServerResponse, value: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));
}

function honest(m: Rpc, res: ServerResponse): void {
  const answer = (result: unknown) => json(res, { jsonrpc: '2.0', id: m.id, result }, { 'mcp-session-id': 's-1' });
  switch (m.method) {
    case 'server/discover':
      return void res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'Method not found' } }));
    case 'initialize':
      return answer({
        protocolVersion: LEGACY_VERSION,
        capabilities: { tools: {} },
        serverInfo: { name: 'hostile', version: '1.0.0' },
      });
    case 'tools/list':
      return answer({ tools: [{ name: 'echo', inputSchema: { type: 'object' } }] });
    case 'tools/call':
      return answer({ content: [{ type: 'text', text: 'echoed' }] });
    default:
      if (m.id === undefined || m.method === undefined) return void res.writeHead(202).end();
      return answer({});
  }
}

async function gatewayFor(servers: Record<string, JsonObject>): Promise<Gateway> {
  const entries: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(servers)) entries[name] = { timeout_ms: TIMEOUT_MS, policy: ALLOW_ALL, ...s };
  const g = await startParsedGateway({ ...EPHEMERAL, servers: entries });
  started.gateways.push(g);
  return g;
}

/** A 2026-07-28 tool call through the gateway (the gateway bridges it to the legacy upstream). */
async function call(gateway: Gateway, server: string, name = 'echo', args: JsonObject = {}): Promise<JsonObject> {
  const m = toolCall('modern', `${server}-${name}-${Math.random()}`, name, args);
  const res = await fetch(`${gateway.url}/mcp/${server}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...modernHeaders(m) },
    body: JSON.stringify(m),
  });
  return (await res.json()) as JsonObject;
}

async function until(done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** Keeps a response alive for ever by writing one byte of it a second. */
function drip(res: ServerResponse, byte = ' '): void {
  const t = setInterval(() => res.write(byte), 1_000);
  started.timers.push(t);
  res.on('close', () => clearInterval(t));
}

describe('Streamable HTTP upstream', () => {
  it('a 202 to notifications/initialized whose body never ends does not hang the calls waiting on the handshake', async () => {
    const up = await hostileServer((m, _req, res) => {
      if (m.method !== 'notifications/initialized') return false;
      res.writeHead(202, { 'content-length': '100000000' });
      drip(res);
      return true;
    });
    const g = await within(BOUND_MS, gatewayFor({ up: { url: up.url } }), 'gateway start');
    // The 202 is all that counts: its body is given up after timeout_ms, and the call goes through.
    expect(textOf(await within(BOUND_MS, call(g, 'up'), 'call after a stuck 202'))).toBe('echoed');
  }, 20_000);

  it('a POST stream kept open after its answer is closed by the gateway: calls do not pile up connections', async () => {
    const up = await hostileServer((m, _req, res) => {
      if (m.method !== 'tools/call') return false;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(
        `data: ${JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: 'streamed' }] } })}\n\n`,
      );
      drip(res, ':\n');
      return true;
    });
    const g = await within(BOUND_MS, gatewayFor({ up: { url: up.url } }), 'gateway start');
    for (let i = 0; i < 10; i++) expect(textOf(await within(BOUND_MS, call(g, 'up'), 'call'))).toBe('streamed');
    // One second of grace after each answer, then the gateway hangs up.
    await until(() => up.open.size <= 1, BOUND_MS);
    expect(up.open.size).toBeLessThanOrEqual(1);
  }, 30_000);

  it.each([
    ['hangs up once it has read the call', (res: ServerResponse) => res.socket?.destroy()],
    ['answers 502, as a proxy does when the server died', (res: ServerResponse) => void res.writeHead(502).end()],
  ])(
    'a call the server %s keeps its quota: the next call is rate limited, not sent',
    async (_what, fail) => {
      const up = await hostileServer((m, _req, res) => {
        if (m.method !== 'tools/call') return false;
        fail(res);
        return true;
      });
      const once = { version: '1', default: 'allow', tools: { echo: { limits: [{ max: 1, window: 'hour' }] } } };
      const g = await within(BOUND_MS, gatewayFor({ up: { url: up.url, policy: once } }), 'gateway start');
      expect(await within(BOUND_MS, call(g, 'up'), 'the failed call')).toHaveProperty('error');
      expect(textOf(await within(BOUND_MS, call(g, 'up'), 'the call after it'))).toContain('[RATE LIMITED]');
      expect(up.seen.filter((m) => m === 'tools/call')).toHaveLength(1);
    },
    30_000,
  );

  it('a call whose answer is too large to read keeps its quota: the next call is rate limited, not sent', async () => {
    const up = await hostileServer((m, _req, res) => {
      if (m.method !== 'tools/call') return false;
      // The call ran; its answer is past the 10 MiB a message may hold.
      json(res, { jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: 'x'.repeat(11 * 2 ** 20) }] } });
      return true;
    });
    const once = { version: '1', default: 'allow', tools: { echo: { limits: [{ max: 1, window: 'hour' }] } } };
    const g = await within(BOUND_MS, gatewayFor({ up: { url: up.url, policy: once } }), 'gateway start');
    const first = await within(BOUND_MS, call(g, 'up'), 'the call with a too large answer');
    expect(first).toHaveProperty('error');
    const second = await within(BOUND_MS, call(g, 'up'), 'the call after it');
    expect(textOf(second)).toContain('[RATE LIMITED]');
    expect(up.seen.filter((m) => m === 'tools/call')).toHaveLength(1);
  }, 30_000);
});

/** A legacy HTTP+SSE server: GET /sse is the stream, POST /messages takes messages (answered on the stream). */
async function hostileSseServer(opts: { stream?: (res: ServerResponse) => void; post?: Twist } = {}): Promise<Hostile> {
  const open = new Set<Socket>();
  const seen: string[] = [];
  let stream: ServerResponse | undefined;
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      seen.push('GET');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: endpoint\ndata: /messages\n\n');
      stream = res;
      opts.stream?.(res);
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const m = JSON.parse(body) as Rpc;
      seen.push(String(m.method ?? 'response'));
      if (opts.post?.(m, req, res)) return;
      res.writeHead(202).end();
      if (m.id === undefined || m.method === undefined) return;
      const fake = { writeHead: () => fake, end: (text: string) => stream?.write(`event: message\ndata: ${text}\n\n`) };
      honest(m, fake as unknown as ServerResponse);
    });
  });
  server.on('connection', (s: Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  started.servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sse`, server, open, seen };
}

describe('legacy HTTP+SSE upstream', () => {
  it('an honest server is answered through the bounded fetch: the call gets its result', async () => {
    const up = await hostileSseServer();
    const g = await within(BOUND_MS, gatewayFor({ up: { url: up.url, transport: 'sse' } }), 'gateway start');
    expect(textOf(await within(BOUND_MS, call(g, 'up'), 'call'))).toBe('echoed');
  }, 30_000);

  it('a 202 to notifications/initialized whose body never ends does not hang the calls waiting on the handshake', async () => {
    const up = await hostileSseServer({
      post: (m, _req, res) => {
        if (m.method !== 'notifications/initialized') return false;
        res.writeHead(202, { 'content-length': '100000000' });
        drip(res);
        return true;
      },
    });
    const g = await within(BOUND_MS, gatewayFor({ up: { url: up.url, transport: 'sse' } }), 'gateway start');
    const answer = await within(BOUND_MS, call(g, 'up'), 'call during a stuck handshake');
    expect(answer['error']).toMatchObject({ code: expect.any(Number), message: expect.stringMatching(/within/) });
  }, 30_000);

  it('an event-stream line that never ends is not read on past the 10 MiB message limit: the gateway hangs up', async () => {
    let written = 0;
    let closed = false;
    const up = await hostileSseServer({
      stream: (res) => {
        const chunk = Buffer.alloc(1 << 20, 'a');
        res.on('close', () => (closed = true));
        const more = () => {
          while (!closed && written < 64 << 20) {
            written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
        };
        setTimeout(more, 1_000);
      },
    });
    await within(BOUND_MS, gatewayFor({ up: { url: up.url, transport: 'sse' } }), 'gateway start');
    await until(() => closed || written >= 64 << 20, BOUND_MS);
    // 10 MiB is the limit; what the sockets buffer on both sides comes on top.
    expect(closed).toBe(true);
    expect(written).toBeLessThan(32 << 20);
  }, 30_000);
});
