// Proves an upstream cannot make the gateway spin by its event stream's `retry:`: a server that
// answers every stream with `retry: 0` and closes it at once had the gateway reopen it about 700
// times a second, for as long as the server liked. Now a stream is reopened at most every
// MIN_SERVER_RETRY_MS (500 ms), and still reopened. Over both upstream transports that have such a
// stream: Streamable HTTP (a 2025 server's GET stream) and the legacy HTTP+SSE transport. A retry
// past what a Node timer holds (2^31 - 1 ms) is waited as that, not fired after 1 ms.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { MIN_SERVER_RETRY_MS } from '../../src/transports/upstream/sse-parser.js';
import { EPHEMERAL, startParsedGateway } from '../helpers/index.js';
import { sleep, waitUntil } from '../helpers/wait.js';

/** How long the event streams are counted for, from the first one. */
const WINDOW_MS = 2_000;

interface LoopingServer {
  url: string;
  /** Event streams (GETs) opened so far. */
  streams(): number;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    req.on('end', () => resolve(text));
  });
}

async function listen(handle: (req: IncomingMessage, res: ServerResponse, count: () => void) => Promise<void>) {
  let streams = 0;
  const server = createServer((req, res) => void handle(req, res, () => streams++));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    streams: () => streams,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A 2025 Streamable HTTP server with one tool, whose GET stream says `retry: <retry>` and ends at once. */
async function streamableServer(retry = '0'): Promise<LoopingServer> {
  const s = await listen(async (req, res, count) => {
    if (req.method === 'GET') {
      count();
      res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 's1' });
      res.end(`retry: ${retry}\nid: 1\ndata: \n\n`);
      return;
    }
    if (req.method === 'DELETE') return void res.writeHead(200).end();
    const msg = JSON.parse(await readBody(req)) as { id?: number; method: string };
    if (msg.id === undefined) return void res.writeHead(202).end();
    const result =
      msg.method === 'initialize'
        ? { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'looping', version: '1' } }
        : msg.method === 'tools/list'
          ? { tools: [{ name: 'noop', inputSchema: { type: 'object' } }] }
          : {};
    res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 's1' });
    res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
  });
  return { url: `${s.base}/mcp`, streams: s.streams, close: s.close };
}

/** A legacy HTTP+SSE server whose event stream names its endpoint, says `retry: 0` and ends at once. */
async function sseServer(): Promise<LoopingServer> {
  const s = await listen(async (req, res, count) => {
    if (req.method === 'GET') {
      count();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('retry: 0\nevent: endpoint\ndata: /messages\n\n');
      return;
    }
    await readBody(req);
    res.writeHead(202).end();
  });
  return { url: `${s.base}/sse`, streams: s.streams, close: s.close };
}

describe('an upstream event stream that asks to be reopened at once, over and over', { timeout: 30_000 }, () => {
  let gateway: Gateway | undefined;
  let upstream: LoopingServer | undefined;
  afterEach(async () => {
    await gateway?.close();
    await upstream?.close();
    gateway = upstream = undefined;
  });

  it.each([
    ['Streamable HTTP', () => streamableServer(), {}],
    ['legacy HTTP+SSE', sseServer, { transport: 'sse' }],
  ] as const)('%s: is reopened at most every 500 ms, and still reopened', async (_name, start, extra) => {
    upstream = await start();
    // Counted while the gateway starts: the legacy server never answers initialize (its stream is
    // gone), and the gateway waits for the answer until the server's timeout_ms.
    const starting = startParsedGateway({
      ...EPHEMERAL,
      servers: { looping: { url: upstream.url, timeout_ms: WINDOW_MS + 3_000, ...extra } },
    });
    await waitUntil(() => upstream!.streams() > 0, 10_000);
    const first = upstream.streams();
    const from = Date.now();
    await sleep(WINDOW_MS);
    const reopened = upstream.streams() - first;
    // The bound is taken over the time that did pass: on a loaded machine a timer fires late.
    const elapsed = Date.now() - from;
    gateway = await starting;
    expect(reopened).toBeGreaterThanOrEqual(2);
    expect(reopened).toBeLessThanOrEqual(Math.ceil(elapsed / MIN_SERVER_RETRY_MS) + 1);
  });

  it('Streamable HTTP: a retry longer than a timer can hold is not taken as 1 ms', async () => {
    upstream = await streamableServer('3000000000');
    gateway = await startParsedGateway({
      ...EPHEMERAL,
      servers: { looping: { url: upstream.url, timeout_ms: 5_000 } },
    });
    await waitUntil(() => upstream!.streams() > 0, 10_000);
    const first = upstream.streams();
    await sleep(WINDOW_MS);
    expect(upstream.streams() - first).toBe(0);
  });
});
