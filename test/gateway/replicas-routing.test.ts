// Proves that replicas sharing one Redis need no affinity for 2026-07-28 clients: a call to a
// legacy server that asks for elicitation mid-call is parked on the replica that took its first
// round, and the retry sent to another replica is forwarded there and completes with the real
// result; when the holding replica advertises no URL, the retry fails with an error that names it
// and says to make the call again; a state presented by another grant is refused, never forwarded.
// Legacy (2025) sessions: one opened on replica A against a Streamable HTTP server continues on
// replica B, bound to the same principal and the same upstream session (another grant's token is
// refused there); one on a stdio server presented to B gets a 404 saying it cannot move.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  connectClient,
  featureServerCommand,
  firstText,
  post,
  spawnFixture,
  type SpawnedFixture,
  freePort,
  modernRequest,
  postModern,
  toolCall,
  type JsonObject,
  type ReadyProcess,
} from '../helpers/index.js';
import { startGatehouse } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../store/redis-support.js';

const AGENT = 'agent-token-for-routing';
const OTHER = 'other-token-for-routing';
const prefix = uniquePrefix();
const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-routing-'));

interface Replica {
  id: string;
  url: string;
  proc: ReadyProcess;
}
const replicas = new Map<string, Replica>();
let web: SpawnedFixture;

async function startReplica(id: string, advertise: boolean, servers: JsonObject): Promise<Replica> {
  const port = await freePort();
  const file = path.join(dir, `${id}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      state: redisUrl(prefix),
      audit: 'none',
      auth: { mode: 'grants', admin_token: 'admin-token-for-routing' },
      grants: {
        agent: { token: AGENT, servers: Object.keys(servers) },
        other: { token: OTHER, servers: Object.keys(servers) },
      },
      servers,
      cluster: { id, ...(advertise ? { advertise_url: `http://127.0.0.1:${port}` } : {}) },
    }),
  );
  const proc = await startGatehouse(['-c', file], {
    ready: /(http:\/\/127\.0\.0\.1:\d+)\/mcp\/feat/,
    timeoutMs: 60_000,
  });
  return { id, url: proc.match, proc };
}

beforeAll(async () => {
  web = await spawnFixture({ transport: 'http', era: 'legacy' });
  const servers = {
    feat: { ...featureServerCommand('stdio', 'legacy'), era: 'legacy' },
    web: { url: web.url, era: 'legacy' },
  };
  const started = await Promise.all([
    startReplica('rep-a', true, servers),
    startReplica('rep-b', true, servers),
    startReplica('rep-c', false, servers),
  ]);
  for (const r of started) replicas.set(r.id, r);
}, 90_000);

afterAll(async () => {
  await Promise.all([...replicas.values()].map((r) => r.proc.close()));
  await web?.close();
  await deletePrefix(prefix);
  rmSync(dir, { recursive: true, force: true });
});

function endpoint(id: string, server = 'feat'): string {
  return `${replicas.get(id)!.url}/mcp/${server}`;
}

function askName(id: number, extra: JsonObject = {}): JsonObject {
  return modernRequest(id, 'tools/call', { name: 'ask_name', arguments: {}, ...extra }, { elicitation: {} });
}

/** Round one of ask_name on a replica: the input_required result with its sealed state. */
async function firstRound(on: string): Promise<{ requestState: string; key: string }> {
  const res = await postModern(endpoint(on), askName(1), { authorization: `Bearer ${AGENT}` });
  expect(res.status, res.text).toBe(200);
  const result = res.messages.at(-1)!['result'] as JsonObject;
  expect(result['resultType']).toBe('input_required');
  const [key] = Object.keys(result['inputRequests'] as JsonObject);
  return { requestState: result['requestState'] as string, key: key! };
}

function retry(state: { requestState: string; key: string }): JsonObject {
  return askName(2, {
    requestState: state.requestState,
    inputResponses: { [state.key]: { action: 'accept', content: { name: 'Ada' } } },
  });
}

describe('2026-07-28 retries across replicas', () => {
  it('a retry sent to replica B is forwarded to replica A, which holds the parked call, and completes', async () => {
    const state = await firstRound('rep-a');
    const res = await postModern(endpoint('rep-b'), retry(state), { authorization: `Bearer ${AGENT}` });
    expect(res.status, res.text).toBe(200);
    const answer = res.messages.at(-1)!;
    expect(answer['error'], res.text).toBeUndefined();
    const result = answer['result'] as { content: { text: string }[]; resultType: string };
    expect(result.resultType).toBe('complete');
    expect(result.content[0]!.text).toBe('hello Ada');
  }, 60_000);

  it('a retry of a call parked on a replica without an advertised URL fails clearly on another replica', async () => {
    const state = await firstRound('rep-c');
    const res = await postModern(endpoint('rep-b'), retry(state), { authorization: `Bearer ${AGENT}` });
    const error = res.messages.at(-1)!['error'] as { message: string };
    expect(error.message).toMatch(/parked on replica "rep-c", which is not reachable .*make the call again/);
    // The call itself is still parked on C: the retry there completes.
    const onC = await postModern(endpoint('rep-c'), retry(state), { authorization: `Bearer ${AGENT}` });
    expect((onC.messages.at(-1)!['result'] as { content: { text: string }[] }).content[0]!.text).toBe('hello Ada');
  }, 60_000);

  it("another grant presenting the state on replica B is refused as forged, and A's call is not resumed", async () => {
    const state = await firstRound('rep-a');
    const stolen = await postModern(endpoint('rep-b'), retry(state), { authorization: `Bearer ${OTHER}` });
    const error = stolen.messages.at(-1)!['error'] as { message: string };
    expect(error.message).toMatch(/Invalid requestState \(forged\)/);
    const own = await postModern(endpoint('rep-b'), retry(state), { authorization: `Bearer ${AGENT}` });
    expect((own.messages.at(-1)!['result'] as { content: { text: string }[] }).content[0]!.text).toBe('hello Ada');
  }, 60_000);
});

describe('legacy sessions across replicas', () => {
  /** Opens a legacy session on replica A; returns the client, its session id and negotiated version. */
  async function sessionOnA(server: string) {
    const c = await connectClient({
      era: 'legacy',
      name: 'routing-client',
      downstream: { kind: 'http', url: endpoint('rep-a', server), headers: { authorization: `Bearer ${AGENT}` } },
    });
    const transport = c.transport as StreamableHTTPClientTransport;
    expect(transport.sessionId).toBeTruthy();
    return { c, sid: transport.sessionId!, version: transport.protocolVersion ?? '2025-11-25' };
  }

  function callInSession(on: string, server: string, sid: string, version: string, token: string, body: JsonObject) {
    return post(endpoint(on, server), body, {
      authorization: `Bearer ${token}`,
      'mcp-session-id': sid,
      'mcp-protocol-version': version,
    });
  }

  it('a session opened on A against a Streamable HTTP server continues on B, on the same upstream session', async () => {
    const { c, sid, version } = await sessionOnA('web');
    try {
      expect(await c.callText('echo', { message: 'on A' })).toBe('on A');
      const echo = await callInSession(
        'rep-b',
        'web',
        sid,
        version,
        AGENT,
        toolCall('legacy', 7, 'echo', { message: 'on B' }),
      );
      expect(echo.status, echo.text).toBe(200);
      expect(firstText(echo.messages.at(-1)!['result'] as CallToolResult)).toBe('on B');
      // The upstream saw the client A initialized it with: B continued that session, it opened none.
      const who = await callInSession('rep-b', 'web', sid, version, AGENT, toolCall('legacy', 8, 'whoami', {}));
      expect(JSON.parse(firstText(who.messages.at(-1)!['result'] as CallToolResult))).toMatchObject({
        name: 'routing-client',
      });
      // The session stays bound to its principal on B: another grant's token does not reach it.
      const stranger = await callInSession(
        'rep-b',
        'web',
        sid,
        version,
        OTHER,
        toolCall('legacy', 9, 'echo', { message: 'not yours' }),
      );
      expect(stranger.status).toBe(404);
      expect(stranger.text).not.toContain('not yours');
      // And it still works on A.
      expect(await c.callText('echo', { message: 'back on A' })).toBe('back on A');
    } finally {
      await c.close();
    }
  }, 60_000);

  it('a session on a stdio server presented to B is a 404 saying it lives on A and cannot move', async () => {
    const { c, sid, version } = await sessionOnA('feat');
    try {
      const res = await callInSession(
        'rep-b',
        'feat',
        sid,
        version,
        AGENT,
        toolCall('legacy', 3, 'echo', { message: 'x' }),
      );
      expect(res.status).toBe(404);
      const error = res.messages.at(-1)!['error'] as { message: string };
      expect(error.message).toMatch(/lives on replica "rep-a" and cannot move .*initialize a new one/);
      // The same id with another grant's token is a plain unknown session.
      const stranger = await callInSession(
        'rep-b',
        'feat',
        sid,
        version,
        OTHER,
        toolCall('legacy', 4, 'echo', { message: 'x' }),
      );
      expect(stranger.status).toBe(404);
      expect(stranger.text).not.toContain('rep-a');
    } finally {
      await c.close();
    }
  }, 60_000);
});
