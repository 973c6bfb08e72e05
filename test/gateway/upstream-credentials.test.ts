// Proves that the credentials an operator configures for upstreams — a stdio server's `env`, an
// HTTP server's `headers` — never leave the gateway, even when upstreams echo them: a real
// `gatehouse start` process (log level debug) runs in front of a stdio server that prints its API
// key, a database URL with a password and a random-looking setting on stderr at start-up (and a
// plain mode, which must stay readable), an HTTP server whose tool calls fail with a JSON-RPC error quoting the
// Authorization and X-Api-Key headers it received, and an HTTP server that refuses to start with a
// 401 body quoting them. Clients of both eras use all three (and /mcp); then every admin API GET
// route of the route table, policy explain, /readyz, /healthz and /metrics are read. No secret
// appears in the gateway's output, in any answer, or in anything a client received; the
// [REDACTED] marks where the upstream echoed one show that the secrets did reach the upstreams.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROUTES } from '../../src/http/admin-routes.js';
import { startGatehouse } from '../helpers/cli.js';
import {
  FEATURE_SERVER_PATH,
  TSX_LOADER,
  connectClient,
  stopProcess,
  type Era,
  type ReadyProcess,
} from '../helpers/index.js';

const SECRETS = {
  FEAT_API_KEY: 'env-secret-Qm7fZ2pL9xW4',
  FEAT_DB_PASSWORD: 'dsn-pass-Wq2Er4Ty8U',
  FEAT_SETTING: 'Zq81LmT0pXr4Wn7eBv3c',
  REMOTE_TOKEN: 'hdr-secret-Vb3nK8rT1yH6',
  REMOTE_KEY: 'hdr-secret-Jc5wP0sE2uN7',
  BROKEN_TOKEN: 'hdr-secret-Lx4dG9hQ6mZ1',
};
const ADMIN = 'credentials-admin-token-1f2e';
const AGENT = 'credentials-agent-token-3d4c';
const ERAS: Era[] = ['legacy', 'modern'];

/** Everything seen by anyone outside the gateway, by where it was seen. */
const seen: { where: string; text: string }[] = [];
const record = (where: string, value: unknown) =>
  seen.push({ where, text: typeof value === 'string' ? value : JSON.stringify(value) });

/** A legacy Streamable HTTP server by hand: tools/call fails quoting the credentials it was sent. */
function echoingServer(req: IncomingMessage, res: ServerResponse, body: string): void {
  if (req.method !== 'POST') return void res.writeHead(405).end();
  const msg = JSON.parse(body) as { id?: number; method: string };
  const answer = (result: unknown): void => {
    res
      .writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'one' })
      .end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, ...(result as object) }));
  };
  switch (msg.method) {
    case 'server/discover':
      return void res.writeHead(404).end();
    case 'initialize':
      return answer({
        result: {
          protocolVersion: '2025-06-18',
          capabilities: { tools: {} },
          serverInfo: { name: 'echoing', version: '1.0.0' },
        },
      });
    case 'tools/list':
      return answer({ result: { tools: [{ name: 'lookup', inputSchema: { type: 'object' } }] } });
    case 'tools/call':
      return answer({
        error: {
          code: -32001,
          message: `upstream refused the credentials ${req.headers.authorization}`,
          data: { 'x-api-key': req.headers['x-api-key'] },
        },
      });
    default:
      if (msg.id === undefined) return void res.writeHead(202).end();
      return answer({ result: {} });
  }
}

/** An HTTP server that refuses everyone with a 401 body quoting the credentials. */
function refusingServer(req: IncomingMessage, res: ServerResponse): void {
  res
    .writeHead(401, { 'content-type': 'application/json' })
    .end(JSON.stringify({ error: `bad credentials: ${req.headers.authorization}` }));
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => handler(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const urlOf = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/mcp`;

let dir: string;
let echoing: Server;
let refusing: Server;
let gateway: ReadyProcess;
let base: string;
let output = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-credentials-'));
  echoing = await listen(echoingServer);
  refusing = await listen(refusingServer);
  // A stdio server that, like many, prints its configuration on stderr when it starts.
  const announce =
    "process.stderr.write('starting with API_KEY=' + process.env.API_KEY + ' DATABASE_URL=' + process.env.DATABASE_URL + ' SETTING=' + process.env.SETTING + ' MODE=' + process.env.MODE + '\\n');" +
    "const c = require('node:child_process').spawn(process.argv[1], process.argv.slice(2), { stdio: 'inherit' });" +
    "c.on('exit', (code) => process.exit(code ?? 0)); process.on('SIGTERM', () => c.kill());";
  writeFileSync(
    join(dir, 'gatehouse.json'),
    JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      state: 'memory:',
      audit: 'none',
      log: { level: 'debug' },
      auth: { mode: 'grants', admin_token: ADMIN },
      servers: {
        feat: {
          command: process.execPath,
          args: ['-e', announce, process.execPath, '--import', TSX_LOADER, FEATURE_SERVER_PATH, '--era', 'legacy'],
          env: {
            API_KEY: '${FEAT_API_KEY}',
            DATABASE_URL: 'postgres://app:${FEAT_DB_PASSWORD}@db.internal/app',
            SETTING: '${FEAT_SETTING}',
            MODE: 'tags_update_mode',
          },
          timeout_ms: 20_000,
        },
        remote: {
          url: urlOf(echoing),
          headers: { Authorization: 'Bearer ${REMOTE_TOKEN}', 'X-Api-Key': '${REMOTE_KEY}' },
          timeout_ms: 5_000,
        },
        broken: { url: urlOf(refusing), headers: { Authorization: 'Bearer ${BROKEN_TOKEN}' }, timeout_ms: 5_000 },
      },
      grants: { agent: { token: AGENT, servers: ['feat', 'remote', 'broken'] } },
    }),
  );
  gateway = await startGatehouse(['-c', join(dir, 'gatehouse.json')], {
    env: SECRETS,
    ready: /^Gatehouse is running on (http:\S+)/m,
    timeoutMs: 60_000,
  });
  base = gateway.match;
  let stdout = '';
  gateway.child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  // What a client of every era receives from every server, the failing ones included.
  for (const era of ERAS) {
    for (const server of ['feat', 'remote', 'broken', '']) {
      const outcome = await connectClient({
        era,
        downstream: {
          kind: 'http',
          url: `${base}/mcp${server ? `/${server}` : ''}`,
          headers: { authorization: `Bearer ${AGENT}` },
        },
        timeoutMs: 15_000,
      }).then(
        async (c) => {
          record(`${era} ${server} tools/list`, await c.client.listTools().catch((e: Error) => e.message));
          const tool = server === 'feat' ? 'echo' : server === '' ? 'remote__lookup' : 'lookup';
          const call = await c.client
            .callTool({ name: tool, arguments: tool.endsWith('echo') ? { message: 'hi' } : {} })
            .catch((e: Error) => ({ error: e.message, data: (e as { data?: unknown }).data }));
          record(`${era} ${server} ${tool}`, call);
          await c.close();
        },
        (e: Error) => record(`${era} ${server} connect`, e.message),
      );
      void outcome;
    }
  }
  // Every admin API route that reads, for every server, and explain.
  const get = async (path: string, token?: string) => {
    const res = await fetch(`${base}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    const text = await res.text();
    record(`GET ${path} ${res.status}`, text);
  };
  for (const route of ADMIN_ROUTES.filter((r) => r.method === 'GET' && r.path !== '/approvals/events')) {
    for (const server of ['feat', 'remote', 'broken']) {
      const path = route.path
        .replace(/:server\??/, server)
        .replace(/:tool\??/, 'echo')
        .replace(/:id|:name/, 'agent');
      await get(`/api/v1${path}`, ADMIN);
    }
  }
  for (const server of ['feat', 'remote', 'broken']) {
    const res = await fetch(`${base}/api/v1/policy/explain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ server, tool: 'lookup', grant: 'agent' }),
    });
    record(`explain ${server} ${res.status}`, await res.text());
  }
  await get('/readyz');
  await get('/healthz');
  await get('/metrics', ADMIN);
  await stopProcess(gateway.child);
  output = `${stdout}\n${gateway.stderr()}`;
}, 180_000);

afterAll(async () => {
  if (gateway) await stopProcess(gateway.child);
  for (const s of [echoing, refusing]) {
    s?.closeAllConnections();
    s?.close();
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('upstream credentials', () => {
  it('reached the upstreams, which echoed them (redacted on the way)', () => {
    // A credential by its name, by its look, and in a URL; a value that is none stays readable.
    expect(output).toContain(
      'starting with API_KEY=[REDACTED] DATABASE_URL=postgres://app:[REDACTED]@db.internal/app SETTING=[REDACTED] MODE=tags_update_mode',
    );
    const remote = seen.filter((s) => / remote lookup$/.test(s.where));
    expect(remote).toHaveLength(2);
    for (const r of remote) expect(r.text).toContain('upstream refused the credentials [REDACTED]');
    const broken = seen.filter((s) => s.where.includes(' broken '));
    expect(broken.some((s) => s.text.includes('bad credentials: [REDACTED]'))).toBe(true);
  });

  it('never appear in the gateway’s log output', () => {
    expect(output.length).toBeGreaterThan(1000);
    for (const [name, secret] of Object.entries(SECRETS)) expect(output, name).not.toContain(secret);
  });

  it('never appear in what clients receive, in admin API answers, /readyz or /metrics', () => {
    expect(seen.length).toBeGreaterThan(40);
    expect(seen.some((s) => s.where.startsWith('GET /api/v1/catalog/broken 200'))).toBe(true);
    for (const s of seen)
      for (const [name, secret] of Object.entries(SECRETS))
        expect(s.text, `${name} in ${s.where}`).not.toContain(secret);
  });

  it('/readyz names the upstream that failed, in the gateway’s own words only', () => {
    const readyz = seen.find((s) => s.where.startsWith('GET /readyz'))!;
    expect(readyz.where).toBe('GET /readyz 503');
    const body = JSON.parse(readyz.text) as { upstreams: Record<string, { ready: boolean; error?: string }> };
    expect(body.upstreams['feat']).toMatchObject({ ready: true });
    expect(body.upstreams['broken']).toEqual({ ready: false, error: 'could not be started; the gateway log says why' });
  });
});
