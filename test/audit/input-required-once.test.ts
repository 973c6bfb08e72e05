// Proves that an input_required retry is the same logical call for the audit log and the metrics
// (DESIGN section 5): a 2026-07-28 client whose call needs an elicitation round — the gateway
// parking a legacy upstream's call, a modern upstream's own round, and the gateway's own approval
// question answered by the client's user — leaves exactly one audit record per call, with its
// final outcome, and counts once in gatehouse_calls_total; a call retried through an upstream's
// rounds is recorded from the time its first round arrived, with a latency covering every round. A 2025 client, whose rounds the gateway turns into real requests
// inside one call, leaves one record too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult, ElicitResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import { openAuditSink } from '../../src/audit/open-audit-log.js';
import type { StoredAuditRecord } from '../../src/audit/query.js';
import { connectClient, featureServerCommand, firstText, startParsedGateway, type Era } from '../helpers/index.js';
import { parseExposition } from '../observability/prom-text.js';

const POLICY = {
  version: '1',
  default: 'allow',
  tools: {
    ask_name: { limits: [{ max: 5, window: 'hour' }] },
    add: { action: 'require_approval', approval: { notify: ['client'] } },
  },
};

function server(era: Era) {
  return { ...featureServerCommand('stdio', era), timeout_ms: 20_000, policy: POLICY };
}

let dir: string;
let gw: Gateway;
let records: StoredAuditRecord[] = [];
let metrics = '';
/** When the client was asked, for each call in order: after its first round arrived, before its last. */
const askedAt: number[] = [];

/** Answers the upstream's name question and the gateway's approval question. */
function answer(params: { message?: string }): ElicitResult {
  return params.message?.includes('name')
    ? { action: 'accept', content: { name: 'Ada' } }
    : { action: 'accept', content: { decision: 'approve' } };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-rounds-'));
  const sink = `sqlite:${path.join(dir, 'audit.db')}`;
  gw = await startParsedGateway(
    {
      listen: { host: '127.0.0.1', port: 0 },
      state: 'memory:',
      audit: sink,
      servers: { 'legacy-up': server('legacy'), 'modern-up': server('modern') },
    },
    { dir },
  );
  for (const [era, srv] of [
    ['modern', 'legacy-up'],
    ['modern', 'modern-up'],
    ['legacy', 'modern-up'],
  ] as [Era, string][]) {
    const c = await connectClient({ era, downstream: { kind: 'http', url: `${gw.url}/mcp/${srv}` } });
    let asked = 0;
    c.client.setRequestHandler('elicitation/create', (req) => {
      asked++;
      askedAt.push(Date.now());
      return answer(req.params as { message?: string });
    });
    const hello = (await c.client.callTool({ name: 'ask_name', arguments: {} })) as CallToolResult;
    expect(firstText(hello)).toBe('hello Ada');
    const sum = (await c.client.callTool({ name: 'add', arguments: { a: 2, b: srv.length } })) as CallToolResult;
    expect(firstText(sum)).toBe(String(2 + srv.length));
    expect(asked).toBe(2); // one round each: the name, then the approval
    await c.close();
  }
  metrics = await (await fetch(`${gw.url}/metrics`)).text();
  await gw.close();
  const reader = openAuditSink(sink, dir)!;
  records = (await reader.query({ limit: 100 })).records.reverse();
  await reader.close();
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a call retried through input_required rounds', () => {
  it('leaves one record per logical call, with its final outcome', () => {
    expect(records.map((r) => [r.server, r.tool, r.decision, r.outcome])).toEqual([
      ['legacy-up', 'ask_name', 'allow', 'ok'],
      ['legacy-up', 'add', 'allow', 'ok'],
      ['modern-up', 'ask_name', 'allow', 'ok'],
      ['modern-up', 'add', 'allow', 'ok'],
      ['modern-up', 'ask_name', 'allow', 'ok'],
      ['modern-up', 'add', 'allow', 'ok'],
    ]);
  });

  it('the approval answered in a round is on the one record of the call', () => {
    const adds = records.filter((x) => x.tool === 'add');
    expect(adds.length).toBeGreaterThan(0);
    for (const r of adds) expect(r).toMatchObject({ approval_channel: 'elicitation', approval_id: expect.any(String) });
  });

  it("an upstream's rounds: the record starts when the first round arrived, and its latency covers every round", () => {
    expect(askedAt).toHaveLength(records.length);
    records.forEach((r, i) => {
      if (r.tool !== 'ask_name') return;
      expect(r.ts, `${r.server} ${r.tool}`).toBeLessThanOrEqual(askedAt[i]!);
      expect(r.ts + r.latency_ms).toBeGreaterThanOrEqual(askedAt[i]!);
    });
  });

  it('counts once in gatehouse_calls_total', () => {
    const m = parseExposition(metrics);
    expect(m.value('gatehouse_calls_total', { server: 'legacy-up', tool: 'ask_name', decision: 'allow' })).toBe(1);
    expect(m.value('gatehouse_calls_total', { server: 'modern-up', tool: 'ask_name', decision: 'allow' })).toBe(2);
    expect(m.value('gatehouse_calls_total', { server: 'modern-up', tool: 'add', decision: 'allow' })).toBe(2);
    expect(m.all('gatehouse_calls_total', { decision: 'approval_pending' })).toEqual([]);
  });
});
