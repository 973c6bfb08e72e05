// Attacks on replicas sharing one Redis: what a client can do with the way a legacy session moves
// from replica to replica, and with requests dressed up as forwarded by another replica. Two real
// `gatehouse start` processes in front of one Streamable HTTP server (so sessions can move).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  modernHeaders,
  post,
  spawnFixture,
  toolCall,
  type JsonObject,
  type ReadyProcess,
  type SpawnedFixture,
} from '../helpers/index.js';
import { startGatehouse } from '../helpers/cli.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../store/redis-support.js';

const AGENT = 'agent-token-for-replica-attacks';
const OTHER = 'other-token-for-replica-attacks';
const MAX_SESSIONS = 2;
const prefix = uniquePrefix();
const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-replica-attacks-'));
const urls = new Map<string, string>();
const procs: ReadyProcess[] = [];
let web: SpawnedFixture;

async function startReplica(id: string): Promise<void> {
  const port = await freePort();
  const file = path.join(dir, `${id}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      listen: { host: '127.0.0.1', port },
      state: redisUrl(prefix),
      audit: 'none',
      auth: { mode: 'grants', admin_token: 'admin-token-for-replica-attacks' },
      limits: { max_sessions_per_grant: MAX_SESSIONS },
      grants: { agent: { token: AGENT, servers: ['web'] }, other: { token: OTHER, servers: ['web'] } },
      servers: { web: { url: web.url, era: 'legacy' } },
      cluster: { id, advertise_url: `http://127.0.0.1:${port}` },
    }),
  );
  const proc = await startGatehouse(['-c', file], {
    ready: /(http:\/\/127\.0\.0\.1:\d+)\/mcp\/web/,
    timeoutMs: 60_000,
  });
  procs.push(proc);
  urls.set(id, `${proc.match}/mcp/web`);
}

beforeAll(async () => {
  web = await spawnFixture({ transport: 'http', era: 'legacy' });
  await Promise.all([startReplica('rep-a'), startReplica('rep-b')]);
}, 90_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.close()));
  await web?.close();
  await deletePrefix(prefix);
  rmSync(dir, { recursive: true, force: true });
});

const VERSION = '2025-06-18';

function initialize(on: string, token = AGENT) {
  return post(
    urls.get(on)!,
    {
      jsonrpc: '2.0',
      id: 'init',
      method: 'initialize',
      params: { protocolVersion: VERSION, capabilities: {}, clientInfo: { name: 'replica-attacks', version: '1.0.0' } },
    },
    { authorization: `Bearer ${token}` },
  );
}

/** A new legacy session on a replica: its id. */
async function openSession(on: string): Promise<string> {
  const res = await initialize(on);
  expect(res.status, res.text).toBe(200);
  const sid = res.headers.get('mcp-session-id')!;
  const ready = await post(
    urls.get(on)!,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { authorization: `Bearer ${AGENT}`, 'mcp-session-id': sid, 'mcp-protocol-version': VERSION },
  );
  expect(ready.status).toBe(202);
  return sid;
}

function echo(on: string, sid: string, message: string, headers: Record<string, string> = {}) {
  return post(urls.get(on)!, toolCall('legacy', message, 'echo', { message }), {
    authorization: `Bearer ${AGENT}`,
    'mcp-session-id': sid,
    'mcp-protocol-version': VERSION,
    ...headers,
  });
}

/** Ends a session (DELETE) on one replica. */
async function end(on: string, sid: string): Promise<void> {
  await fetch(urls.get(on)!, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${AGENT}`, 'mcp-session-id': sid },
  });
}

describe('legacy sessions moving between replicas', () => {
  it('a session continued from another replica counts against limits.max_sessions_per_grant like a new one', async () => {
    const onA = [await openSession('rep-a'), await openSession('rep-a')];
    const onB = [await openSession('rep-b'), await openSession('rep-b')];
    try {
      // The baseline: B refuses a third session of this grant.
      expect((await initialize('rep-b')).status).toBe(429);
      for (const sid of onB) expect((await echo('rep-b', sid, 'own')).status).toBe(200);
      // A's sessions presented to B would make B hold four: each is refused as a new one would be.
      for (const sid of onA) {
        const moved = await echo('rep-b', sid, 'moved');
        expect(moved.status, moved.text).toBe(429);
        expect(moved.text).toMatch(/limits\.max_sessions_per_grant/);
        expect(moved.messages.at(-1)?.['result']).toBeUndefined();
      }
      // They go on where they are.
      for (const sid of onA) expect((await echo('rep-a', sid, 'still on A')).status).toBe(200);
    } finally {
      // A's sessions end on B too, should B have taken them over.
      for (const sid of onB) await end('rep-b', sid);
      for (const sid of onA) await end('rep-b', sid);
      for (const sid of onA) await end('rep-a', sid);
    }
  }, 60_000);
});

describe('requests that look forwarded by another replica', () => {
  it('the forwarded-by header grants nothing: without a valid token the request is refused 401', async () => {
    const sid = await openSession('rep-a');
    for (const authorization of [undefined, 'Bearer not-a-token']) {
      const res = await post(urls.get('rep-b')!, toolCall('legacy', 1, 'echo', { message: 'forged' }), {
        'x-gatehouse-forwarded-by': 'rep-a',
        'mcp-session-id': sid,
        'mcp-protocol-version': VERSION,
        ...(authorization ? { authorization } : {}),
      });
      expect(res.status).toBe(401);
      expect(res.text).not.toContain('forged');
    }
    // Another grant's token with the header reaches neither the session nor its replica.
    const other = await post(urls.get('rep-b')!, toolCall('legacy', 2, 'echo', { message: 'forged' }), {
      authorization: `Bearer ${OTHER}`,
      'x-gatehouse-forwarded-by': 'rep-a',
      'mcp-session-id': sid,
      'mcp-protocol-version': VERSION,
    });
    expect(other.status).toBe(404);
    expect(other.text).not.toContain('forged');
    expect(other.text).not.toContain('rep-a');
    await end('rep-a', sid);
  }, 60_000);

  it('a requestState that was not sealed by a replica is never forwarded, whatever replica it names', async () => {
    const forged = Buffer.from(JSON.stringify({ park: 'x', rep: 'rep-a' } satisfies JsonObject)).toString('base64url');
    const retry = toolCall('modern', 4, 'echo', { message: 'forged' });
    (retry['params'] as JsonObject)['requestState'] = forged;
    const answer = await post(urls.get('rep-b')!, retry, { authorization: `Bearer ${AGENT}`, ...modernHeaders(retry) });
    expect(answer.text).toMatch(/Invalid requestState/);
    expect(answer.text).not.toContain('"forged"');
  }, 60_000);
});
