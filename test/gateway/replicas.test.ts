// Proves that three gateway processes sharing one Redis (state) and one PostgreSQL (audit) act as one
// gateway: 300 concurrent calls spread over the three against a `max: 50` limit admit exactly 50;
// a call held for approval on replica A is released when replica B's admin API approves it (pushed
// over the change feed, no restart, no polling interval to wait out); a grant created with
// `gatehouse grants create` on the shared state works on every replica and, once revoked through
// one of them, is refused by the others at their next request. Both protocol eras take part.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { RedisStore } from '../../src/store/redis-store.js';
import {
  connectClient,
  featureServerCommand,
  firstText,
  type ConnectedClient,
  type Era,
  type ReadyProcess,
} from '../helpers/index.js';
import { runCli, startGatehouse } from '../helpers/cli.js';
import { dropSchema, PG_BASE, pgAuditUrl, uniqueSchema } from '../audit/pg.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../store/redis-support.js';

const ADMIN = 'admin-token-for-replicas';
const AGENT = 'agent-token-for-replicas';
const prefix = uniquePrefix();
const schema = uniqueSchema();
const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-replicas-'));
const configFile = path.join(dir, 'gatehouse.json');

let replicas: { proc: ReadyProcess; url: string }[] = [];
let store: RedisStore;

beforeAll(async () => {
  const { command, args } = featureServerCommand('stdio', 'both');
  writeFileSync(
    configFile,
    JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      state: redisUrl(prefix),
      audit: pgAuditUrl(schema),
      auth: { mode: 'grants', admin_token: ADMIN },
      grants: { agent: { token: AGENT, servers: ['feat'] } },
      // Each replica takes 100 calls at once from one client: above the default of 64 in flight.
      limits: { max_inflight_per_session: 200 },
      servers: {
        feat: {
          command,
          args,
          policy: {
            version: '1',
            default: 'allow',
            tools: {
              add: { limits: [{ max: 50, window: 'hour' }] },
              echo: { action: 'require_approval', approval: { timeout: '5m' } },
            },
          },
        },
      },
    }),
  );
  replicas = await Promise.all(
    [0, 1, 2].map(async () => {
      const proc = await startGatehouse(['-c', configFile], {
        ready: /(http:\/\/127\.0\.0\.1:\d+)\/mcp\/feat/,
        timeoutMs: 60_000,
      });
      return { proc, url: proc.match };
    }),
  );
  store = new RedisStore(redisUrl(prefix));
}, 90_000);

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.proc.close()));
  await store?.close();
  await deletePrefix(prefix);
  await dropSchema(schema);
  rmSync(dir, { recursive: true, force: true });
});

function client(replica: number, era: Era, token = AGENT): Promise<ConnectedClient> {
  return connectClient({
    era,
    downstream: {
      kind: 'http',
      url: `${replicas[replica]!.url}/mcp/feat`,
      headers: { authorization: `Bearer ${token}` },
    },
  });
}

describe('three replicas on one Redis and one PostgreSQL', () => {
  it('300 concurrent calls spread over three replicas against max 50 admit exactly 50', async () => {
    const eras: Era[] = ['legacy', 'modern', 'modern'];
    const clients = await Promise.all(eras.map((era, i) => client(i, era)));
    try {
      const results = await Promise.all(
        Array.from(
          { length: 300 },
          (_, i) =>
            clients[i % 3]!.client.callTool({ name: 'add', arguments: { a: i, b: 1 } }) as Promise<CallToolResult>,
        ),
      );
      const admitted = results.filter((r) => !r.isError);
      expect(admitted).toHaveLength(50);
      const limited = results.filter((r) => r.isError);
      expect(limited.every((r) => /^\[RATE LIMITED\] /.test(firstText(r)))).toBe(true);
      // Every replica answered some of each: the limit is one counter, not three.
      for (let k = 0; k < 3; k++) expect(results.filter((_, i) => i % 3 === k).length).toBe(100);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    // The three replicas wrote their audit records to the one PostgreSQL schema.
    const db = new pg.Client({ connectionString: PG_BASE });
    await db.connect();
    try {
      let rows: { decision: string; n: string }[] = [];
      for (let i = 0; i < 100; i++) {
        rows = (
          await db.query<{ decision: string; n: string }>(
            `SELECT decision, count(*) AS n FROM "${schema}".gatehouse_audit WHERE tool = 'add' GROUP BY decision`,
          )
        ).rows;
        if (rows.reduce((s, r) => s + Number(r.n), 0) >= 300) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(Object.fromEntries(rows.map((r) => [r.decision, Number(r.n)]))).toEqual({ allow: 50, rate_limited: 250 });
    } finally {
      await db.end();
    }
  }, 120_000);

  it.each<Era>(['legacy', 'modern'])(
    '%s: a call held on replica A is released when replica B approves it through its admin API',
    async (era) => {
      const c = await client(0, era);
      try {
        const message = `held-${era}`;
        const call = c.client.callTool({ name: 'echo', arguments: { message } }) as Promise<CallToolResult>;
        let pending;
        for (let i = 0; i < 400 && !pending; i++) {
          [pending] = (await store.listApprovals({ server: 'feat', tool: 'echo', status: ['pending'] })).filter((a) =>
            JSON.stringify(a.arguments).includes(message),
          );
          if (!pending) await new Promise((r) => setTimeout(r, 25));
        }
        expect(pending, 'an approval was opened for the held call').toBeDefined();
        const res = await fetch(`${replicas[1]!.url}/api/v1/approvals/${pending!.id}/approve`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ by: 'ops' }),
        });
        expect(res.status).toBe(200);
        const r = await call;
        expect(r.isError, JSON.stringify(r)).toBeFalsy();
        expect(firstText(r)).toBe(message);
      } finally {
        await c.close();
      }
    },
    60_000,
  );

  it('a grant created with the CLI works on every replica; revoked through one, the others refuse it at the next request', async () => {
    const created = await runCli(['grants', 'create', 'bot', '--server', 'feat', '-c', configFile, '--json']);
    expect(created.code, created.stderr).toBe(0);
    const token = (JSON.parse(created.stdout) as { token: string }).token;
    const onA = await client(0, 'modern', token);
    const onC = await client(2, 'legacy', token);
    try {
      // Limits count per grant by default: the new grant's calls pass on its own counter.
      for (const c of [onA, onC])
        expect(firstText((await c.client.callTool({ name: 'add', arguments: { a: 0, b: 0 } })) as CallToolResult)).toBe(
          '0',
        );
      const revoked = await fetch(`${replicas[1]!.url}/api/v1/grants/bot`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(revoked.status, await revoked.text()).toBe(200);
      for (const c of [onA, onC])
        await expect(c.client.callTool({ name: 'add', arguments: { a: 0, b: 0 } })).rejects.toThrow(/revoked|401/i);
      await expect(client(0, 'modern', token)).rejects.toThrow(/revoked|401/i);
    } finally {
      await onA.close().catch(() => undefined);
      await onC.close().catch(() => undefined);
    }
  }, 60_000);
});
