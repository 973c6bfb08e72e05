// Proves that a gateway killed with SIGKILL under load and started again loses nothing it had
// answered or decided, with SQLite (state and audit) and with Redis state and a PostgreSQL audit:
// every call that got an answer before the kill has exactly one audit record; the rate-limit
// counter carries on (what the two lives admit together stays within the limit, and the new life
// admits only what remained); the pins hold (a tool whose definition changed stays blocked, an
// accepted one passes); a pending approval is still pending and, once approved, the agent's retry
// goes through; and a grant created with `gatehouse grants create` still works. One protocol era
// per store combination, both eras in all.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { readSink } from '../audit/read-sink.js';
import { dropSchema, pgAuditUrl, uniqueSchema } from '../audit/pg.js';
import { runCli, startGatehouse } from '../helpers/cli.js';
import {
  connectClient,
  firstText,
  spawnFixture,
  stopProcess,
  type ConnectedClient,
  type Era,
  type ReadyProcess,
} from '../helpers/index.js';
import { deletePrefix, redisUrl, uniquePrefix } from '../store/redis-support.js';

const ADMIN = 'admin-token-for-kill9';
const MAX = 200;
const WORKERS = 8;
/** Arguments of calls made after the restart start here, apart from those made before. */
const AFTER = 1_000_000;

const schema = uniqueSchema();
const prefix = uniquePrefix();
afterAll(async () => {
  await dropSchema(schema);
  await deletePrefix(prefix);
});

const setups: [string, Era, (dir: string) => { state: string; audit: string }][] = [
  ['SQLite state and audit', 'legacy', () => ({ state: 'sqlite:./state.db', audit: 'sqlite:./state.db' })],
  ['Redis state, PostgreSQL audit', 'modern', () => ({ state: redisUrl(prefix), audit: pgAuditUrl(schema) })],
];

describe.each(setups)('kill -9 under load, %s, %s client', (_name, era, stores) => {
  it('answered calls keep their records; limits, pins, approvals and grants are as they were', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-kill9-'));
    // The upstream outlives the gateway, so a definition it changed is still changed after the restart.
    const upstream = await spawnFixture({ transport: 'http', era: 'both' });
    const { state, audit } = stores(dir);
    const configFile = path.join(dir, 'gatehouse.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        state,
        audit,
        auth: { mode: 'grants', admin_token: ADMIN },
        servers: {
          feat: {
            url: upstream.url,
            policy: {
              version: '1',
              default: 'allow',
              tools: {
                add: { limits: [{ max: MAX, window: 'hour' }] },
                touch: { action: 'require_approval', approval: { mode: 'retry', timeout: '1h' } },
              },
            },
          },
        },
      }),
    );
    const start = (): Promise<ReadyProcess> =>
      startGatehouse(['-c', configFile], {
        ready: /(http:\/\/127\.0\.0\.1:\d+)\/mcp\/feat/,
        timeoutMs: 60_000,
      });
    let gateway: ReadyProcess | undefined;
    const clients: ConnectedClient[] = [];
    try {
      gateway = await start();
      const created = await runCli(['grants', 'create', 'bot', '--server', 'feat', '-c', configFile, '--json']);
      expect(created.code, created.stderr).toBe(0);
      const token = (JSON.parse(created.stdout) as { token: string }).token;
      const connect = async (url: string): Promise<ConnectedClient> => {
        const c = await connectClient({
          era,
          downstream: { kind: 'http', url: `${url}/mcp/feat`, headers: { authorization: `Bearer ${token}` } },
        });
        clients.push(c);
        return c;
      };
      const call = (c: ConnectedClient, name: string, args: Record<string, unknown>) =>
        c.client.callTool({ name, arguments: args }) as Promise<CallToolResult>;

      // First life: tools pinned at first sight, then echo changed under the gateway.
      const before = await connect(gateway.match);
      expect(firstText(await call(before, 'echo', { message: 'pinned' }))).toBe('pinned');
      expect(firstText(await call(before, 'redescribe_echo', { description: 'Sends it elsewhere.' }))).toBe(
        'redescribed',
      );
      const blocked = '[POLICY DENIED] definition of echo changed since it was pinned';
      let echo = '';
      for (let i = 0; i < 200 && echo !== blocked; i++) {
        echo = firstText(await call(before, 'echo', { message: 'after change' }));
        if (echo !== blocked) await new Promise((r) => setTimeout(r, 25));
      }
      expect(echo).toBe(blocked);

      // A held approval in retry mode: the agent is told to come back once it is answered.
      const held = await call(before, 'touch', { uri: 'demo://kill9' });
      const approvalId = (held._meta?.['gatehouse/decision'] as { approval_id?: string } | undefined)?.approval_id;
      expect(approvalId, JSON.stringify(held)).toBeTruthy();

      // Load on the limited tool, then SIGKILL while the calls are in flight.
      const answered = new Map<number, boolean>(); // a -> admitted
      let stop = false;
      const workers = Array.from({ length: WORKERS }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          const a = w * 100_000 + i;
          try {
            const r = await call(before, 'add', { a, b: 1 });
            answered.set(a, !r.isError);
          } catch {
            return; // the gateway is gone
          }
        }
      });
      while (answered.size < 60) await new Promise((r) => setTimeout(r, 5));
      gateway.child.kill('SIGKILL');
      await new Promise<void>((r) => gateway!.child.once('exit', () => r()));
      stop = true;
      await Promise.all(workers);
      const admittedBefore = [...answered.values()].filter(Boolean).length;
      expect(admittedBefore).toBeGreaterThan(0);

      // Second life, same config and stores.
      gateway = await start();
      const after = await connect(gateway.match);
      // The grant still works (this client authenticates with it); the accepted tool passes and
      // the changed one is still blocked.
      expect(firstText(await call(after, 'echo', { message: 'again' }))).toBe(blocked);

      // The limit carries on: admissions are one counter across both lives.
      const results: boolean[] = [];
      for (let i = 0; i < MAX; i += WORKERS)
        results.push(
          ...(await Promise.all(
            Array.from({ length: WORKERS }, (_, k) =>
              call(after, 'add', { a: AFTER + i + k, b: 1 }).then((r) => !r.isError),
            ),
          )),
        );
      const admittedAfter = results.filter(Boolean).length;
      // Calls in flight at the kill may have been counted without an answer: at most one per worker.
      expect(admittedBefore + admittedAfter).toBeLessThanOrEqual(MAX);
      expect(admittedBefore + admittedAfter).toBeGreaterThanOrEqual(MAX - WORKERS);
      const limited = await call(after, 'add', { a: AFTER + MAX, b: 1 });
      expect(firstText(limited)).toMatch(/^\[RATE LIMITED\] /);

      // The approval is still pending; approved now, the agent's retry goes through.
      const pending = await fetch(`${gateway.match}/api/v1/approvals/${approvalId}`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(pending.status).toBe(200);
      expect(((await pending.json()) as { approval: { status: string } }).approval.status).toBe('pending');
      const approved = await fetch(`${gateway.match}/api/v1/approvals/${approvalId}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(approved.status, await approved.text()).toBe(200);
      expect(firstText(await call(after, 'touch', { uri: 'demo://kill9' }))).toBe('touched demo://kill9');

      for (const c of clients.splice(0)) await c.close().catch(() => undefined);
      await stopProcess(gateway.child);

      // Every call answered before the kill has exactly one record, as has every call after it.
      const records = await readSink(audit, dir);
      const count = new Map<number, number>();
      for (const r of records) {
        const a = (r.arguments as { a?: unknown } | undefined)?.a;
        if (r.tool === 'add' && typeof a === 'number') count.set(a, (count.get(a) ?? 0) + 1);
      }
      const wrong = [...answered.keys()].filter((a) => count.get(a) !== 1);
      expect(wrong.map((a) => [a, count.get(a) ?? 0])).toEqual([]);
      for (let i = 0; i <= MAX; i++) expect(count.get(AFTER + i)).toBe(1);
    } finally {
      for (const c of clients) await c.close().catch(() => undefined);
      if (gateway) await stopProcess(gateway.child);
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
