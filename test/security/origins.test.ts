// Proves the DNS-rebinding and cross-origin defences of the HTTP edge: a loopback-bound gateway
// refuses (403) a Host that is not a loopback name and an Origin of another site (including
// "null"), while its own origin and other loopback origins pass; CORS headers appear only for an
// origin listed in listen.cors_origins, whose preflight is answered; the public protected-resource
// metadata stays readable from anywhere; and a request target that is not a valid path is a 400.
// Every spelling of a loopback listen address that may run without tokens keeps the Host check.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/validate.js';
import { ALICE, startHarness, toolCall, type Harness } from './support.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    // An IPv6 address connects without the brackets the URL writes around it.
    const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const req = httpRequest({ host: hostname, port: url.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const CALL = JSON.stringify(toolCall('legacy', 1, 'read_file', { path: '/public/o' }));
const INIT = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'o', version: '1' } },
});
const APP = 'https://app.example';

describe('Host and Origin on a loopback-bound gateway', () => {
  let h: Harness;
  let host: string;
  const mcp = (headers: Record<string, string>) =>
    send(
      h.gateway.url,
      'POST',
      '/mcp/fs',
      {
        host,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${ALICE}`,
        ...headers,
      },
      INIT,
    );
  beforeAll(async () => {
    h = await startHarness({ config: { listen: { host: '127.0.0.1', port: 0, cors_origins: [APP] } } });
    host = new URL(h.gateway.url).host;
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('Host check: a request naming Host evil.example is refused 403 (DNS rebinding), on MCP, API and health paths', async () => {
    for (const path of ['/mcp/fs', '/mcp', '/sse/fs', '/api/v1/catalog', '/healthz']) {
      const a = await send(
        h.gateway.url,
        'POST',
        path,
        { host: 'evil.example', 'content-type': 'application/json' },
        CALL,
      );
      expect(a.status, path).toBe(403);
      expect(a.body).toMatch(/loopback/);
    }
  });

  it('Origin check: a foreign Origin, "null", or an unparsable one is refused 403 and names listen.cors_origins', async () => {
    for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1.evil.example', 'not a url']) {
      const a = await mcp({ origin });
      expect(a.status, origin).toBe(403);
      expect(a.body).toMatch(/listen\.cors_origins/);
      expect(a.headers['access-control-allow-origin']).toBeUndefined();
    }
  });

  it("Origin check: the gateway's own origin and loopback origins pass, without CORS headers", async () => {
    for (const origin of [`http://${host}`, 'http://localhost:5173', 'http://127.0.0.1:3000']) {
      const a = await mcp({ origin });
      expect(a.status, origin).toBe(200);
      expect(a.headers['access-control-allow-origin']).toBeUndefined();
    }
    const none = await mcp({});
    expect(none.status).toBe(200);
    expect(none.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('CORS only where configured: a listed origin gets its CORS headers and a preflight answer', async () => {
    const a = await mcp({ origin: APP });
    expect(a.status).toBe(200);
    expect(a.headers['access-control-allow-origin']).toBe(APP);
    expect(String(a.headers['access-control-expose-headers'])).toMatch(/mcp-session-id/);
    const pre = await send(h.gateway.url, 'OPTIONS', '/mcp/fs', {
      host,
      origin: APP,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe(APP);
    expect(String(pre.headers['access-control-allow-headers'])).toMatch(/authorization/);
  });

  it('public metadata: the protected-resource metadata answers any origin (its Host is still checked)', async () => {
    const a = await send(h.gateway.url, 'GET', '/.well-known/oauth-protected-resource/mcp/fs', {
      host,
      origin: 'https://evil.example',
    });
    expect(a.status).not.toBe(403);
    const b = await send(h.gateway.url, 'GET', '/.well-known/oauth-protected-resource/mcp/fs', {
      host: 'evil.example',
    });
    expect(b.status).toBe(403);
  });

  it('request target parsing: a target that is not a valid path ("//") is a 400, not a 500', async () => {
    const a = await send(h.gateway.url, 'GET', '//', { host });
    expect(a.status).toBe(400);
  });

  it('request target: a target naming a host (absolute URL or "//host/...") is a 400 for an MCP path too, so no host a client names is ever used', async () => {
    const port = new URL(h.gateway.url).port;
    const headers = {
      host,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${ALICE}`,
    };
    for (const target of [`http://127.0.0.1:${port}/mcp/fs`, `//127.0.0.1:${port}/mcp/fs`]) {
      const a = await send(h.gateway.url, 'POST', target, headers, INIT);
      expect(a.status, target).toBe(400);
      expect(a.body).toMatch(/request target is not a valid path/);
    }
    expect((await send(h.gateway.url, 'POST', '/mcp/fs', headers, INIT)).status).toBe(200);
  });
});

describe('listen.cors_origins in the config', () => {
  it('config validation: an entry that is not an origin is a problem at its path', () => {
    const r = validateConfig({ listen: { cors_origins: ['https://ok.example', 'https://bad.example/path'] } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.path)).toContain('/listen/cors_origins/1');
  });
});

describe('a loopback bind without tokens, however its address is spelled', () => {
  // Each of these passes the config's loopback rule, so it may run with auth.mode none; each must
  // then serve only loopback Host names, or a rebinding page could call every tool with no token.
  for (const listenHost of ['0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'LOCALHOST']) {
    it(`listen.host ${listenHost} with auth none refuses Host evil.example 403 and serves its own loopback Host`, async () => {
      const h = await startHarness({
        config: { listen: { host: listenHost, port: 0 }, auth: { mode: 'none' }, grants: {} },
      });
      try {
        const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
        const port = new URL(h.gateway.url).port;
        const rebound = await send(
          h.gateway.url,
          'POST',
          '/mcp/fs',
          { ...headers, host: `evil.example:${port}`, origin: `http://evil.example:${port}` },
          INIT,
        );
        expect(rebound.status).toBe(403);
        expect(rebound.body).toContain('serves only loopback Host names');
        // What a browser on this machine sends for the gateway's own address: the URL's form of it.
        const own = new URL(h.gateway.url).host;
        const served = await send(h.gateway.url, 'POST', '/mcp/fs', { ...headers, host: own }, INIT);
        expect(served.status).toBe(200);
        expect(served.body).toContain('"protocolVersion"');
      } finally {
        await h.close();
      }
    }, 60_000);
  }
});
