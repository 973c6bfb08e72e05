// Proves the audit log end to end, through the gateway with the official SDK clients of both eras:
// 1,000 mixed calls (allowed, denied, rate limited, hidden, failed upstream) leave exactly 1,000
// records with the right decisions, rules and outcomes, in SQLite and in a real PostgreSQL; a
// secret in the arguments never reaches the database, the gateway's logs or /metrics, while the
// policy's redact paths are honoured; approvals are recorded with who answered and through what;
// and a gateway stopped with SIGTERM under load, with clients of either era and either sink, has a
// record for every call that got an answer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import { readSink } from './read-sink.js';
import type { StoredAuditRecord } from '../../src/audit/query.js';
import { startGatehouse } from '../helpers/cli.js';
import {
  connectClient,
  featureEntry,
  startParsedGateway,
  stopProcess,
  type ConnectedClient,
  type Era,
} from '../helpers/index.js';
import { dropSchema, pgAuditUrl, uniqueSchema } from './pg.js';

const SECRET = 'sk-live-4f9c2e7d1b8a6350';
const CARD = '4111111111111111';

const POLICY = {
  version: '1',
  default: 'allow',
  hide: ['slow'],
  tools: {
    echo: { redact: ['card.number'] },
    whoami: { action: 'deny', reason: 'Not for agents.' },
    log: { limits: [{ max: 1, window: 'hour', scope: 'global' }] },
    add: {},
    touch: { action: 'require_approval', approval: { mode: 'retry' } },
  },
};

const server = () => featureEntry({ policy: POLICY }, 'both');

type Kind = 'allow' | 'deny' | 'rate_limited' | 'hidden' | 'failed';
/** The i-th call of the mix: 4 allowed, 2 denied, 2 of a once-an-hour tool, 1 hidden, 1 failing. */
function kindOf(i: number): Kind {
  const k = i % 10;
  if (k < 4) return 'allow';
  if (k < 6) return 'deny';
  if (k < 8) return 'rate_limited';
  return k === 8 ? 'hidden' : 'failed';
}

async function callOne(c: ConnectedClient, i: number): Promise<void> {
  const kind = kindOf(i);
  const call = (name: string, args: Record<string, unknown>) =>
    c.client.callTool({ name, arguments: args }).catch((e: unknown) => e);
  if (kind === 'allow') await call('echo', { message: `m-${i}`, api_key: SECRET, card: { number: CARD } });
  else if (kind === 'deny') await call('whoami', { password: SECRET });
  else if (kind === 'rate_limited') await call('log', { level: 'info', message: `l-${i}` });
  else if (kind === 'hidden') await call('slow', { ms: 1, token: SECRET });
  else await call('add', { a: 'not a number', b: 1 });
}

const schema = uniqueSchema();
afterAll(async () => {
  await dropSchema(schema);
});

describe.each([
  ['sqlite', (dir: string) => `sqlite:${path.join(dir, 'audit.db')}`],
  ['postgres', () => pgAuditUrl(schema)],
])('1,000 mixed calls through the gateway, %s sink', (_name, sinkUrl) => {
  let dir: string;
  let gw: Gateway;
  let logs = '';
  let metrics = '';
  let records: StoredAuditRecord[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-audit-e2e-'));
    gw = await startParsedGateway(
      {
        listen: { host: '127.0.0.1', port: 0 },
        state: 'memory:',
        audit: { sink: sinkUrl(dir), arguments: 'redacted' },
        log: { level: 'debug' },
        servers: { feat: server() },
      },
      { dir, log: (line) => (logs += `${line}\n`) },
    );
    const clients: Record<Era, ConnectedClient> = {
      legacy: await connectClient({ era: 'legacy', downstream: { kind: 'http', url: `${gw.url}/mcp/feat` } }),
      modern: await connectClient({ era: 'modern', downstream: { kind: 'http', url: `${gw.url}/mcp/feat` } }),
    };
    // Half of the calls from each era, eight at a time.
    for (let i = 0; i < 1000; i += 8) {
      await Promise.all(
        Array.from({ length: Math.min(8, 1000 - i) }, (_, j) =>
          callOne(clients[(i + j) % 2 === 0 ? 'legacy' : 'modern'], i + j),
        ),
      );
    }
    metrics = await (await fetch(`${gw.url}/metrics`)).text();
    await clients.legacy.close();
    await clients.modern.close();
    await gw.close(); // flushes the audit log
    records = await readSink(sinkUrl(dir), dir);
  }, 180_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every call has exactly one record', () => {
    expect(records).toHaveLength(1000);
  });

  it('each record has the decision the policy made, with its rule', () => {
    const count = (d: string) => records.filter((r) => r.decision === d).length;
    // 400 echo + 100 failing add + the one log call the hourly limit admits.
    expect(count('allow')).toBe(501);
    expect(count('deny')).toBe(200);
    expect(count('rate_limited')).toBe(199);
    expect(count('hidden')).toBe(100);
    expect(records.filter((r) => r.decision === 'deny').every((r) => r.rule === '/tools/whoami')).toBe(true);
    expect(records.filter((r) => r.decision === 'rate_limited').every((r) => r.rule === '/tools/log/limits/0')).toBe(
      true,
    );
    expect(records.filter((r) => r.decision === 'hidden').every((r) => r.rule === '/hide')).toBe(true);
  });

  it('the upstream outcome is recorded: ok for echo, an error for the failing add, none when not forwarded', () => {
    const echo = records.filter((r) => r.tool === 'echo');
    expect(echo.length).toBeGreaterThan(0);
    expect(echo.every((r) => r.outcome === 'ok' && typeof r.upstream_ms === 'number')).toBe(true);
    const add = records.filter((r) => r.tool === 'add');
    expect(add).toHaveLength(100);
    expect(add.every((r) => r.outcome === 'is_error' || r.outcome === 'error')).toBe(true);
    const blocked = records.filter((r) => r.decision !== 'allow');
    expect(blocked.length).toBeGreaterThan(0);
    expect(blocked.every((r) => r.outcome === undefined)).toBe(true);
  });

  it('records carry the server, grant, agent, session, time and latency', () => {
    for (const r of records) {
      expect(r.server).toBe('feat');
      expect(r.grant).toBe('anonymous');
      expect(r.session).toMatch(/^(legacy|principal):/);
      expect(r.ts).toBeGreaterThan(Date.now() - 600_000);
      expect(r.latency_ms).toBeGreaterThanOrEqual(0);
    }
    expect(new Set(records.map((r) => r.session)).size).toBe(2); // one legacy session, one modern principal
  });

  it('a secret in the arguments never reaches the database, the logs or the metrics', async () => {
    const echo = records.find((r) => r.tool === 'echo')!;
    expect(echo.arguments).toMatchObject({ message: expect.stringMatching(/^m-\d+$/), api_key: '[REDACTED]' });
    expect((echo.arguments as { card: { number: string } }).card.number).toBe('[REDACTED]');
    const stored = JSON.stringify(records);
    expect(stored).not.toContain(SECRET);
    expect(stored).not.toContain(CARD);
    expect(logs).not.toContain(SECRET);
    expect(metrics).not.toContain(SECRET);
    expect(metrics).toMatch(/gatehouse_calls_total\{[^}]*decision="rate_limited"[^}]*\} 199/);
  });
});

describe('approvals in the audit log', () => {
  it('a call let through by an approval records the approval, who answered it and through what', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-audit-approval-'));
    try {
      const url = `sqlite:${path.join(dir, 'audit.db')}`;
      const gw = await startParsedGateway(
        {
          listen: { host: '127.0.0.1', port: 0 },
          state: 'memory:',
          audit: url,
          servers: { feat: server() },
        },
        { dir },
      );
      const c = await connectClient({ era: 'modern', downstream: { kind: 'http', url: `${gw.url}/mcp/feat` } });
      const first = (await c.client.callTool({ name: 'touch', arguments: { uri: 'demo://a' } })) as CallToolResult;
      const id = (first._meta?.['gatehouse/decision'] as { approval_id: string }).approval_id;
      await gw.core.approvals.answer(id, { approve: true, by: 'dana', channel: 'api' });
      await c.client.callTool({ name: 'touch', arguments: { uri: 'demo://a' } });
      await c.close();
      await gw.close();
      const [approved, pending] = await readSink(url, dir);
      expect(pending).toMatchObject({ decision: 'approval_pending', approval_id: id, rule: '/tools/touch' });
      expect(approved).toMatchObject({
        decision: 'allow',
        approval_id: id,
        approver: 'dana',
        approval_channel: 'api',
        outcome: 'ok',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const sigtermSchema = uniqueSchema();
afterAll(async () => {
  await dropSchema(sigtermSchema);
});

describe.each([
  ['legacy', 'sqlite'],
  ['modern', 'sqlite'],
  ['modern', 'postgres'],
] as [Era, string][])('SIGTERM under load, %s clients, %s sink', (era, sinkKind) => {
  it('every call that got an answer before the gateway stopped has its record', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-audit-sigterm-'));
    const sink = sinkKind === 'sqlite' ? `sqlite:${path.join(dir, 'audit.db')}` : pgAuditUrl(sigtermSchema);
    try {
      writeFileSync(
        path.join(dir, 'gatehouse.json'),
        JSON.stringify({
          listen: { host: '127.0.0.1', port: 0 },
          state: 'memory:',
          audit: sink,
          servers: { feat: server() },
        }),
      );
      const proc = await startGatehouse(['-c', path.join(dir, 'gatehouse.json')], {
        ready: /(http:\/\/127\.0\.0\.1:\d+)\/mcp\/feat/,
        timeoutMs: 30_000,
      });
      const c = await connectClient({ era, downstream: { kind: 'http', url: `${proc.match}/mcp/feat` } });
      const answered = new Set<string>();
      let stop = false;
      const workers = Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          const message = `w${w}-${i}`;
          try {
            await c.client.callTool({ name: 'echo', arguments: { message } });
            answered.add(message);
          } catch {
            return; // the gateway is gone
          }
        }
      });
      while (answered.size < 300) await new Promise((r) => setTimeout(r, 10));
      proc.child.kill('SIGTERM');
      await new Promise<void>((r) => proc.child.once('exit', () => r()));
      stop = true;
      await Promise.all(workers);
      await c.close().catch(() => {});
      await stopProcess(proc.child);
      const recorded = new Set((await readSink(sink, dir)).map((r) => (r.arguments as { message: string }).message));
      const missing = [...answered].filter((m) => !recorded.has(m));
      expect(answered.size).toBeGreaterThanOrEqual(300);
      expect(missing).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe('shadow mode in the audit log', () => {
  it.each<Era>(['legacy', 'modern'])(
    '%s: with enforce false every call goes through, and each record says what enforcement would have done',
    async (era) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-audit-shadow-'));
      try {
        const url = `sqlite:${path.join(dir, 'audit.db')}`;
        const gw = await startParsedGateway(
          {
            listen: { host: '127.0.0.1', port: 0 },
            state: 'memory:',
            audit: url,
            servers: { feat: { ...server(), policy: { ...POLICY, enforce: false } } },
          },
          { dir },
        );
        const c = await connectClient({ era, downstream: { kind: 'http', url: `${gw.url}/mcp/feat` } });
        const results = [
          await c.client.callTool({ name: 'whoami', arguments: {} }),
          await c.client.callTool({ name: 'slow', arguments: { ms: 1 } }),
          await c.client.callTool({ name: 'log', arguments: { level: 'info', message: 'one' } }),
          await c.client.callTool({ name: 'log', arguments: { level: 'info', message: 'two' } }),
          await c.client.callTool({ name: 'touch', arguments: { uri: 'demo://b' } }),
        ] as CallToolResult[];
        expect(results.map((r) => r.isError ?? false)).toEqual([false, false, false, false, false]);
        await c.close();
        await gw.close();
        const records = (await readSink(url, dir)).reverse();
        expect(records.map((r) => [r.tool, r.decision, r.shadow_decision, r.outcome])).toEqual([
          ['whoami', 'allow', 'deny', 'ok'],
          ['slow', 'allow', 'hidden', 'ok'],
          ['log', 'allow', undefined, 'ok'],
          ['log', 'allow', 'rate_limited', 'ok'],
          ['touch', 'allow', 'approval_pending', 'ok'],
        ]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
