// Proves that a client which opens an event stream and stops reading it cannot make the gateway
// hold its session's answers without end: once MAX_UNREAD_BYTES wait unread, the stream is closed,
// its session ends, and the gateway goes on answering. Nor can a Streamable HTTP session that never
// opens its GET stream: what is kept for that stream is bounded by the same size.
import { once } from 'node:events';
import { get, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { MAX_UNREAD_BYTES } from '../../src/http/sse.js';
import { EPHEMERAL, featureEntry, startParsedGateway } from '../helpers/gateway.js';
import { ACCEPT_BOTH } from '../helpers/wire.js';

const MIB = 1024 * 1024;
/** Far more than the bound and the kernel's socket buffers together. */
const MAX_POSTS = Math.ceil((MAX_UNREAD_BYTES * 4) / MIB);

let gw: Gateway;

beforeAll(async () => {
  gw = await startParsedGateway({
    ...EPHEMERAL,
    servers: { feat: featureEntry({ policy: { version: '1', default: 'allow' } }) },
  });
});

afterAll(async () => {
  await gw?.close();
});

/** Opens /sse/feat and reads up to its `endpoint` event; the stream is then left paused. */
async function openPausedStream(): Promise<{ res: IncomingMessage; endpoint: string }> {
  const req = get(`${gw.url}/sse/feat`, { headers: { accept: 'text/event-stream' } });
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  // The gateway cuts the connection: the response then ends with an error (`aborted`), expected here.
  res.on('error', () => undefined);
  // Read with a listener: leaving a `for await` loop would destroy the stream.
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += String(chunk);
      const m = text.match(/event: endpoint\ndata: (\S+)\n\n/);
      if (!m) return;
      res.off('data', onData);
      res.pause();
      resolve({ res, endpoint: m[1]! });
    };
    res.on('data', onData);
    res.on('end', () => reject(new Error(`the stream ended before its endpoint event: ${text}`)));
  });
}

async function postMessage(endpoint: string, body: unknown): Promise<number> {
  const r = await fetch(`${gw.url}${endpoint}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH },
    body: JSON.stringify(body),
  });
  await r.text();
  return r.status;
}

it('a legacy SSE client that stops reading loses its stream and session once MAX_UNREAD_BYTES wait; others go on', async () => {
  const { res, endpoint } = await openPausedStream();
  const init = {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'unread', version: '1' },
  };
  expect(await postMessage(endpoint, { jsonrpc: '2.0', id: 0, method: 'initialize', params: init })).toBe(202);
  expect(await postMessage(endpoint, { jsonrpc: '2.0', method: 'notifications/initialized' })).toBe(202);
  // Each call is taken at once (202) and answered on the stream nobody reads: 1 MiB apiece.
  const message = 'x'.repeat(MIB);
  let posted = 0;
  let status = 202;
  while (status === 202 && posted < MAX_POSTS) {
    posted++;
    status = await postMessage(endpoint, {
      jsonrpc: '2.0',
      id: posted,
      method: 'tools/call',
      params: { name: 'echo', arguments: { message } },
    });
    // Answers go out while the next call is sent; a turn of the event loop lets them be written.
    await new Promise((r) => setTimeout(r, 20));
  }
  // The session was ended: the endpoint it named is gone.
  expect(status).toBe(404);
  expect(posted).toBeLessThan(MAX_POSTS);
  // What the client finds when it reads again: what the kernel held, then the end of the stream.
  let received = 0;
  res.on('data', (chunk: Buffer) => (received += chunk.length));
  const closed = new Promise((resolve) => res.on('close', resolve));
  res.resume();
  await closed;
  expect(received).toBeLessThan(posted * MIB);
  const health = await fetch(`${gw.url}/healthz`);
  expect(health.status).toBe(200);
  await health.text();
});

it('a Streamable HTTP session that never opens its GET stream has at most MAX_UNREAD_BYTES kept for it', async () => {
  // A gateway of its own: on a shared upstream still busy with the calls of the test above, a log
  // notification could not be tied to this session's call, and would be dropped, not kept.
  const own = await startParsedGateway({
    ...EPHEMERAL,
    servers: { feat: featureEntry({ policy: { version: '1', default: 'allow' } }) },
  });
  try {
    await keptForUnopenedStream(own);
  } finally {
    await own.close();
  }
});

async function keptForUnopenedStream(gw: Gateway): Promise<void> {
  const url = `${gw.url}/mcp/feat`;
  const init = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'silent', version: '1' } },
    }),
  });
  await init.text();
  const headers = {
    'content-type': 'application/json',
    // JSON answers only: a log notification of a call cannot ride on its answer and is kept for the GET stream.
    accept: 'application/json',
    'mcp-session-id': init.headers.get('mcp-session-id')!,
    'mcp-protocol-version': '2025-06-18',
  };
  const post = async (body: unknown): Promise<void> => {
    const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
    await r.text();
  };
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  await post({ jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'debug' } });
  const calls = Math.ceil((MAX_UNREAD_BYTES * 2) / MIB);
  const message = 'y'.repeat(MIB);
  for (let i = 0; i < calls; i++)
    await post({
      jsonrpc: '2.0',
      id: 10 + i,
      method: 'tools/call',
      params: { name: 'log', arguments: { level: 'info', message } },
    });
  // Now the stream: it gets what was kept, then nothing more.
  const stream = await fetch(url, { headers: { ...headers, accept: 'text/event-stream' } });
  const reader = stream.body!.getReader();
  let text = '';
  for (;;) {
    // Read until the stream has been quiet for a while (longer before its first bytes).
    const quiet = text === '' ? 10_000 : 3_000;
    const next = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), quiet))]);
    if (!next || next.done) break;
    text += new TextDecoder().decode(next.value);
  }
  await reader.cancel();
  const logged = text.split('\n').filter((l) => l.startsWith('data:') && l.includes('notifications/message'));
  expect(logged.length).toBeGreaterThan(0);
  expect(logged.length).toBeLessThan(calls);
  expect(text.length).toBeLessThanOrEqual(MAX_UNREAD_BYTES + MIB);
}
