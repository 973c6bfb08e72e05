// Proves that a misbehaving upstream cannot take the gateway down or make it hang, beyond what
// relay-robustness.test.ts already shows for a crashing child: a stdio server that writes garbage
// to stdout (before the handshake and mid-session), floods notifications, hangs on a call, or never
// answers initialize; and an HTTP server that answers 500, drops the connection, or never answers.
// Each affected call gets a clear JSON-RPC error within the configured timeout_ms (checked against a
// generous bound), the gateway keeps serving other calls and /healthz, a crashed child is
// restarted, and no child process outlives the gateway.
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import {
  ACCEPT_BOTH,
  EPHEMERAL,
  modernHeaders,
  startFileGateway,
  type FileGateway,
  type JsonObject,
} from '../helpers/index.js';
import { RECORDING_SERVER, textOf, toolCall, within } from './support.js';
import { TSX_LOADER } from '../helpers/index.js';
import { waitUntil } from '../helpers/wait.js';

const TIMEOUT_MS = 1_500;
/** "Never hangs": every answer must come well inside this, whatever the upstream does. */
const BOUND_MS = 15_000;
const ALLOW_ALL = { version: '1', default: 'allow' };

/** A recording server in FIXTURE_MODE `mode`; `tag` (an argument it ignores) tells its children apart in `ps`. */
function stdioEntry(mode: string, timeoutMs = TIMEOUT_MS, tag = mode): Record<string, unknown> {
  return {
    command: process.execPath,
    args: ['--import', TSX_LOADER, RECORDING_SERVER, `--mode=${tag}`],
    env: { FIXTURE_MODE: mode },
    timeout_ms: timeoutMs,
    policy: ALLOW_ALL,
  };
}

/**
 * The child processes of this process that run the recording fixture, all of them or those with one
 * tag: the server that never answers initialize is restarted on its own schedule, so a count of
 * every child changes under a test that watches one server.
 */
function fixtureChildren(tag?: string): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when there are none
  }
  return out
    .split('\n')
    .filter((l) => l.includes('recording-server'))
    .filter((l) => tag === undefined || l.trim().split(/\s+/).includes(`--mode=${tag}`))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

async function call(gateway: Gateway, server: string, name: string, args: JsonObject = {}): Promise<JsonObject> {
  const m = toolCall('modern', `${server}-${name}-${Math.random()}`, name, args);
  const res = await fetch(`${gateway.url}/mcp/${server}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...modernHeaders(m) },
    body: JSON.stringify(m),
  });
  return (await res.json()) as JsonObject;
}

async function healthy(gateway: Gateway): Promise<number> {
  return (await fetch(`${gateway.url}/healthz`)).status;
}

/** A raw HTTP upstream that misbehaves in one way for every request. */
async function badHttpUpstream(mode: '500' | 'drop' | 'hang'): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    if (mode === '500') res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error');
    else if (mode === 'drop') req.socket.destroy();
    // hang: never answer
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server };
}

describe('misbehaving upstreams', () => {
  let started: FileGateway | undefined;
  let gateway: Gateway;
  const http: Server[] = [];
  beforeAll(async () => {
    const servers: Record<string, unknown> = {
      good: stdioEntry('normal'),
      // Relaying 20,000 notifications is work for this (busy) test process, not for the server:
      // the flood's call gets a timeout that measures the gateway, not the machine's load.
      flooding: stdioEntry('normal', 30_000, 'flooding'),
      'garbage-start': stdioEntry('garbage-start'),
      'no-init': stdioEntry('no-init'),
    };
    for (const mode of ['500', 'drop', 'hang'] as const) {
      const up = await badHttpUpstream(mode);
      http.push(up.server);
      servers[`http-${mode}`] = { url: up.url, timeout_ms: TIMEOUT_MS, policy: ALLOW_ALL };
    }
    started = await startFileGateway('gatehouse-faults-', { ...EPHEMERAL, servers });
    gateway = started.gateway;
    // A start that misses the short timeout_ms on a loaded machine is tried again in the
    // background; the tests begin once the servers that do start have.
    const fast = ['good', 'flooding', 'garbage-start'];
    await waitUntil(
      async () => {
        const ready = (await (await fetch(`${gateway.url}/readyz`)).json()) as {
          upstreams: Record<string, { ready: boolean }>;
        };
        return fast.every((name) => ready.upstreams[name]?.ready === true);
      },
      45_000,
      'the stdio servers did not become ready',
      100,
    );
  }, 60_000);
  afterAll(async () => {
    await started?.close();
    for (const s of http) {
      s.closeAllConnections();
      s.close();
    }
  });

  it('stdio parser tolerance: garbage on stdout before the handshake and mid-session is skipped; calls are still answered', async () => {
    expect(textOf(await within(BOUND_MS, call(gateway, 'garbage-start', 'read_file', { path: '/a' }), 'call'))).toBe(
      'read_file {"path":"/a"}',
    );
    expect(textOf(await within(BOUND_MS, call(gateway, 'good', 'garbage'), 'garbage call'))).toBe('after garbage');
    expect(textOf(await call(gateway, 'good', 'read_file', { path: '/b' }))).toBe('read_file {"path":"/b"}');
  });

  it('notification relay under flood: 20,000 notifications from the server do not stop the call being answered or the gateway serving', async () => {
    const flooded = await within(40_000, call(gateway, 'flooding', 'flood', { count: 20_000 }), 'flood call');
    expect(textOf(flooded)).toBe('flooded 20000');
    expect(await healthy(gateway)).toBe(200);
    expect(textOf(await call(gateway, 'flooding', 'read_file', { path: '/c' }))).toBe('read_file {"path":"/c"}');
  });

  it('timeout_ms: a call the server never answers gets -32001 naming the timeout, and other calls go on meanwhile', async () => {
    const hung = call(gateway, 'good', 'hang');
    expect(textOf(await call(gateway, 'good', 'read_file', { path: '/d' }))).toBe('read_file {"path":"/d"}');
    const a = await within(BOUND_MS, hung, 'hanging call');
    expect(a['error']).toMatchObject({ code: -32001, message: expect.stringMatching(`within ${TIMEOUT_MS} ms`) });
  });

  it('start timeout: a server that never answers initialize gives each call a clear error, and /readyz names it', async () => {
    const a = await within(BOUND_MS, call(gateway, 'no-init', 'read_file'), 'call to a server that never initializes');
    expect(a['error']).toMatchObject({
      code: expect.any(Number),
      message: expect.stringMatching(/initialize|no-init/),
    });
    const ready = (await (await fetch(`${gateway.url}/readyz`)).json()) as {
      upstreams: Record<string, { ready: boolean }>;
    };
    expect(ready.upstreams['no-init']?.ready).toBe(false);
    expect(await healthy(gateway)).toBe(200);
  });

  for (const mode of ['500', 'drop', 'hang'] as const) {
    it(
      `HTTP upstream that ${mode === '500' ? 'answers 500' : mode === 'drop' ? 'drops the connection' : 'never answers'}: each call gets a clear JSON-RPC error within the bound, the gateway stays up`,
      async () => {
        for (const era of ['modern', 'legacy'] as const) {
          const started = Date.now();
          let answer: JsonObject;
          if (era === 'modern')
            answer = await within(BOUND_MS, call(gateway, `http-${mode}`, 'read_file'), `${mode} call`);
          else {
            const res = await within(
              BOUND_MS,
              fetch(`${gateway.url}/mcp/http-${mode}`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH },
                body: JSON.stringify({
                  jsonrpc: '2.0',
                  id: 1,
                  method: 'initialize',
                  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'f', version: '1' } },
                }),
              }).then((r) => r.json() as Promise<JsonObject>),
              `${mode} initialize`,
            );
            answer = res;
          }
          expect(answer['error'], `${era}: ${JSON.stringify(answer)}`).toMatchObject({
            code: expect.any(Number),
            message: expect.any(String),
          });
          expect(Date.now() - started).toBeLessThan(BOUND_MS);
        }
        expect(await healthy(gateway)).toBe(200);
      },
      2 * BOUND_MS + 5_000,
    );
  }

  it('restart with backoff and no leaks: a crashed child is replaced by exactly one new one, and none outlives the gateway', async () => {
    expect(textOf(await call(gateway, 'good', 'read_file', { path: '/up' }))).toBe('read_file {"path":"/up"}');
    const before = fixtureChildren('normal');
    expect(before.length).toBe(1);
    const crashed = await within(BOUND_MS, call(gateway, 'good', 'crash'), 'crashing call');
    expect(crashed['error']).toMatchObject({ code: -32000 });
    let served: JsonObject = {};
    const deadline = Date.now() + BOUND_MS;
    while (Date.now() < deadline) {
      served = await call(gateway, 'good', 'read_file', { path: '/e' });
      if (!('error' in served)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(textOf(served)).toBe('read_file {"path":"/e"}');
    const after = fixtureChildren('normal');
    expect(after.length).toBe(1);
    expect(after).not.toEqual(before);
    await gateway.close();
    const gone = Date.now() + 5_000;
    while (fixtureChildren().length > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 100));
    expect(fixtureChildren()).toEqual([]);
  }, 40_000);
});
