// Proves the HTTP edge of DESIGN section 3 with auth.mode grants: a missing or unknown token is 401
// with a WWW-Authenticate challenge, a grant outside its servers is 403, an unknown server 404, an
// oversized body 413, malformed JSON-RPC 400 with a JSON-RPC error body (-32700, -32600), and a
// 2026-07-28 request whose headers disagree with its body 400 with -32020; that the grant's own
// Authorization header never reaches an upstream (a real HTTP upstream records what it receives),
// while the operator's configured upstream headers do; and that after all of it the gateway is
// healthy and still serves calls.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { McpServer } from '@modelcontextprotocol/server';
import type { Gateway } from '../../src/gateway/gateway.js';
import {
  EPHEMERAL,
  TSX_LOADER,
  connectClient,
  modernHeaders,
  modernRequest,
  post,
  startParsedGateway,
  type ConnectedClient,
  type Era,
  type JsonObject,
} from '../helpers/index.js';
import { serveMcp } from '../helpers/http-server.js';

const DATASET_SERVER = fileURLToPath(new URL('../fixtures/servers/dataset-server.ts', import.meta.url));
const CI_TOKEN = 'tok-ci-4f1e9b2c7d';
const OTHER_TOKEN = 'tok-other-8a3d5e6f0b';
const UPSTREAM_KEY = 'configured-upstream-key';
const APP = '0b6c1f2e-7a8d-4c1b-9a55-2f3d4e5a6b7c';

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'edge-test', version: '1.0.0' } },
};

/** A real Streamable HTTP MCP server (both eras) that records the headers of every request it gets. */
async function startRecordingUpstream(): Promise<{ url: string; seen: IncomingHttpHeaders[]; close(): Promise<void> }> {
  const seen: IncomingHttpHeaders[] = [];
  const upstream = await serveMcp(
    () => {
      const server = new McpServer({ name: 'header-recorder', version: '1.0.0' });
      server.registerTool(
        'echo',
        { description: 'Returns its message.', inputSchema: z.object({ message: z.string() }) },
        ({ message }) => ({
          content: [{ type: 'text', text: `echo: ${message}` }],
        }),
      );
      return server;
    },
    (req) => seen.push({ ...req.headers }),
  );
  return { ...upstream, seen };
}

/** POSTs a raw body (not necessarily JSON) and returns the status, headers and parsed JSON body. */
async function postRaw(
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: JsonObject | undefined }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body,
  });
  const text = await res.text();
  let json: JsonObject | undefined;
  try {
    json = JSON.parse(text) as JsonObject;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const rpcErrorCode = (json: JsonObject | undefined) => (json?.['error'] as { code?: number } | undefined)?.code;

describe('HTTP edge with grants', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gateway: Gateway;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    gateway = await startParsedGateway({
      ...EPHEMERAL,
      auth: { mode: 'grants' },
      limits: { max_body_bytes: 1024 },
      servers: {
        'piwik-pro': {
          command: process.execPath,
          args: ['--import', TSX_LOADER, DATASET_SERVER, '--server', 'piwik-pro'],
          policy: { version: '1', default: 'deny', tools: { audiences_list: {} } },
        },
        recorder: {
          url: upstream.url,
          headers: { 'x-upstream-key': UPSTREAM_KEY },
          policy: { version: '1', default: 'allow' },
        },
      },
      grants: {
        ci: { token: CI_TOKEN, servers: ['piwik-pro', 'recorder'] },
        other: { token: OTHER_TOKEN, servers: ['recorder'] },
      },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  const mcp = (server?: string) => `${gateway.url}/mcp${server ? `/${server}` : ''}`;

  it('a request without a token is 401 with a WWW-Authenticate Bearer challenge and a JSON-RPC error body', async () => {
    const res = await post(mcp('piwik-pro'), INITIALIZE);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    expect(res.messages[0]).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) as number } });
    const agg = await post(mcp(), INITIALIZE);
    expect(agg.status).toBe(401);
    expect(agg.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
  });

  it('an unknown token, or credentials that are not a bearer token, are 401 with WWW-Authenticate', async () => {
    for (const authorization of [
      'Bearer not-a-real-token',
      `Basic ${Buffer.from(`ci:${CI_TOKEN}`).toString('base64')}`,
      'Bearer',
    ]) {
      const res = await post(mcp('piwik-pro'), INITIALIZE, { authorization });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate'), authorization).toMatch(/^Bearer\b/);
    }
  });

  it('a grant whose servers do not include the server is 403', async () => {
    const res = await post(mcp('piwik-pro'), INITIALIZE, bearer(OTHER_TOKEN));
    expect(res.status).toBe(403);
    expect(res.messages[0]).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) as number } });
    // The same grant on its own server is served.
    const ok = await post(mcp('recorder'), INITIALIZE, bearer(OTHER_TOKEN));
    expect(ok.status).toBe(200);
  });

  it('an unknown server is 404', async () => {
    const res = await post(mcp('no-such-server'), INITIALIZE, bearer(CI_TOKEN));
    expect(res.status).toBe(404);
    expect(res.messages[0]).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) as number } });
  });

  it("a server name that is not valid percent-encoding is the client's error (4xx), not a server failure", async () => {
    const res = await post(`${gateway.url}/mcp/%E0%A4%A`, INITIALIZE, bearer(CI_TOKEN));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.messages[0]).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) as number } });
  });

  it('a body over max_body_bytes is 413, whether its length is declared or not', async () => {
    const big = JSON.stringify({ ...INITIALIZE, params: { ...INITIALIZE.params, padding: 'x'.repeat(2048) } });
    const declared = await postRaw(mcp('piwik-pro'), big, bearer(CI_TOKEN));
    expect(declared.status).toBe(413);
    expect(declared.json).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number) as number } });

    // Chunked: no Content-Length, so the limit must be enforced while reading.
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(mcp('piwik-pro'));
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            ...bearer(CI_TOKEN),
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 4; i++) req.write(big.slice(i * 600, (i + 1) * 600));
      req.end(big.slice(2400));
    });
    expect(status).toBe(413);
  });

  it('malformed JSON is 400 with a JSON-RPC parse error (-32700)', async () => {
    const res = await postRaw(mcp('piwik-pro'), '{"jsonrpc": "2.0", "id": 1, "method": ', bearer(CI_TOKEN));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
  });

  it('JSON that is not a JSON-RPC message is 400 with an invalid request error (-32600)', async () => {
    for (const body of ['{"hello": "world"}', '{"jsonrpc": "1.0", "id": 1, "method": "tools/list"}', '42']) {
      const res = await postRaw(mcp('piwik-pro'), body, bearer(CI_TOKEN));
      expect(res.status, body).toBe(400);
      expect(rpcErrorCode(res.json), body).toBe(-32600);
    }
  });

  it('a 2026-07-28 request whose Mcp-Method or Mcp-Name header disagrees with its body is 400 with -32020', async () => {
    const call = modernRequest(7, 'tools/call', { name: 'audiences_list', arguments: { app_id: APP } });
    const wrongMethod = await post(mcp('piwik-pro'), call, {
      ...modernHeaders(call),
      'mcp-method': 'tools/list',
      ...bearer(CI_TOKEN),
    });
    expect(wrongMethod.status).toBe(400);
    expect(wrongMethod.messages[0]).toMatchObject({ jsonrpc: '2.0', id: 7, error: { code: -32020 } });

    const wrongName = await post(mcp('piwik-pro'), call, {
      ...modernHeaders(call),
      'mcp-name': 'audiences_delete',
      ...bearer(CI_TOKEN),
    });
    expect(wrongName.status).toBe(400);
    expect(wrongName.messages[0]).toMatchObject({ id: 7, error: { code: -32020 } });

    // The same request with agreeing headers is served.
    const ok = await post(mcp('piwik-pro'), call, { ...modernHeaders(call), ...bearer(CI_TOKEN) });
    expect(ok.status).toBe(200);
    expect(ok.messages.find((m) => m['id'] === 7)).toMatchObject({
      result: { content: [{ type: 'text', text: `audiences_list ok: ${JSON.stringify({ app_id: APP })}` }] },
    });
  });

  it.each<Era>(['legacy', 'modern'])(
    "the grant's Authorization header never reaches the upstream (%s client)",
    async (era) => {
      const before = upstream.seen.length;
      const c: ConnectedClient = await connectClient({
        era,
        downstream: { kind: 'http', url: mcp('recorder'), headers: bearer(CI_TOKEN) },
      });
      try {
        expect(await c.callText('echo', { message: `hello ${era}` })).toBe(`echo: hello ${era}`);
      } finally {
        await c.close();
      }
      const during = upstream.seen.slice(before);
      expect(during.length).toBeGreaterThan(0);
      for (const headers of during) {
        expect(headers['authorization']).toBeUndefined();
        expect(JSON.stringify(headers)).not.toContain(CI_TOKEN);
        // What the operator configured for the upstream is sent.
        expect(headers['x-upstream-key']).toBe(UPSTREAM_KEY);
      }
    },
  );

  it('after all of that /healthz answers 200 and a normal call still works', async () => {
    const health = await fetch(`${gateway.url}/healthz`);
    expect(health.status).toBe(200);
    const c = await connectClient({
      era: 'legacy',
      downstream: { kind: 'http', url: mcp('piwik-pro'), headers: bearer(CI_TOKEN) },
    });
    try {
      expect(await c.callText('audiences_list', { app_id: APP })).toBe(
        `audiences_list ok: ${JSON.stringify({ app_id: APP })}`,
      );
    } finally {
      await c.close();
    }
  });
});
