// Proves, end to end, that the gateway enforces a policy on every call, for a legacy (2025) and a
// modern (2026-07-28) SDK client alike: the upstream is the real Piwik PRO tool set served by the
// dataset fixture over stdio, and the policy is DESIGN section 1's (default deny, audiences_create
// 30 a minute per grant) plus a denied tool with a reason and hidden tools. Allowed calls return the
// upstream's own answer; the 31st call is rate limited; denied, unlisted and hidden tools answer as
// the contract says, on /mcp/<server> and on the /mcp aggregate; a filtered tools/list is private to
// the caller; quota comes back only when the upstream call failed; and 200 concurrent calls against
// a limit of 50 admit exactly 50, with memory and with SQLite state.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import { datasetTools } from '../fixtures/servers/dataset-server.js';
import {
  TSX_LOADER,
  connectClient,
  firstText,
  modernRequest,
  post,
  postModern,
  startParsedGateway,
  type ConnectedClient,
  type Era,
} from '../helpers/index.js';

const DATASET_SERVER = fileURLToPath(new URL('../fixtures/servers/dataset-server.ts', import.meta.url));
const ERAS: Era[] = ['legacy', 'modern'];

/** DESIGN section 1's policy, plus a denied tool with a reason, hidden tools and test limits. */
const POLICY = {
  version: '1',
  default: 'deny',
  hide: ['apps_*'],
  tools: {
    audiences_create: { limits: [{ counter: 'audiences_create_rate', window: 'minute', max: 30, scope: 'grant' }] },
    audiences_delete: { action: 'deny', reason: 'Deleting audiences is not allowed.' },
    audiences_list: {},
    audiences_get: { limits: [{ max: 50, window: 'hour' }] },
    audiences_update: { limits: [{ max: 2, window: 'hour' }] },
    tags_get: { limits: [{ max: 1, window: 'hour' }] },
  },
};
const ALLOWED = ['audiences_create', 'audiences_get', 'audiences_list', 'audiences_update', 'tags_get'];

/** A second copy of the server, whose tags_update answers a JSON-RPC error (DATASET_FAIL). */
const FAILING_POLICY = {
  version: '1',
  default: 'deny',
  tools: {
    tags_update: { limits: [{ max: 2, window: 'hour' }] },
    tags_create: { limits: [{ max: 2, window: 'hour' }] },
    tags_get: { limits: [{ max: 1, window: 'hour' }] },
  },
};
const FAILING_ALLOWED = ['tags_create', 'tags_get', 'tags_update'];

function datasetServer(policy: unknown, env: Record<string, string> = {}) {
  return {
    command: process.execPath,
    args: ['--import', TSX_LOADER, DATASET_SERVER, '--server', 'piwik-pro'],
    env,
    policy,
    timeout_ms: 20_000,
  };
}

async function gatewayWith(
  servers: Record<string, unknown>,
  state = 'memory:',
  limits: Record<string, number> = {},
): Promise<Gateway> {
  return startParsedGateway({ listen: { host: '127.0.0.1', port: 0 }, state, audit: 'none', servers, limits });
}

const APP = '0b6c1f2e-7a8d-4c1b-9a55-2f3d4e5a6b7c';
const createArgs = (i: number) => ({
  app_id: APP,
  attributes: { name: `Audience ${i}`, membership_duration_days: 30 },
});

/** The decision a blocked result carries in `_meta["gatehouse/decision"]`. */
function decisionOf(r: CallToolResult): Record<string, unknown> | undefined {
  return r._meta?.['gatehouse/decision'] as Record<string, unknown> | undefined;
}

/** Calls a tool and returns the JSON-RPC error it answered (fails if it answered a result). */
async function callError(
  c: ConnectedClient,
  name: string,
  args: Record<string, unknown> = {},
): Promise<{ code: number; message: string }> {
  const outcome = await c.client.callTool({ name, arguments: args }).then(
    (result) => ({ result }),
    (error: unknown) => ({ error: error as { code?: number; message?: string } }),
  );
  if ('result' in outcome)
    throw new Error(`expected a JSON-RPC error from ${name}, got the result ${JSON.stringify(outcome.result)}`);
  return { code: Number(outcome.error.code), message: String(outcome.error.message) };
}

/** Modern raw requests: the SDK client may strip list caching hints, so read them off the wire. */
async function rawModernToolsList(url: string): Promise<Record<string, unknown>> {
  const res = await postModern(url, modernRequest(1, 'tools/list'));
  expect(res.status).toBe(200);
  const msg = res.messages.find((m) => m['id'] === 1);
  expect(msg, res.text).toBeDefined();
  return msg!['result'] as Record<string, unknown>;
}

describe.each(ERAS)('policy enforcement, %s client', (era) => {
  let gateway: Gateway;
  let c: ConnectedClient;
  let agg: ConnectedClient;
  let failing: ConnectedClient;

  beforeAll(async () => {
    gateway = await gatewayWith({
      'piwik-pro': datasetServer(POLICY),
      'piwik-failing': datasetServer(FAILING_POLICY, { DATASET_FAIL: 'tags_update' }),
    });
    c = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/piwik-pro` } });
    agg = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp` } });
    failing = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/piwik-failing` } });
  });
  afterAll(async () => {
    await c?.close();
    await agg?.close();
    await failing?.close();
    await gateway?.close();
  });

  it("tools/list lists exactly the allowed tools, with the upstream's real definitions", async () => {
    const { tools } = await c.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(ALLOWED);
    const real = new Map(datasetTools('piwik-pro').map((t) => [t.name, t]));
    for (const t of tools) {
      const r = real.get(t.name)!;
      expect(t.description).toBe(r.description);
      expect(t.inputSchema).toEqual(r.inputSchema);
      expect(t.annotations).toEqual(r.annotations);
    }
  });

  it("30 audiences_create calls pass with the upstream's answer; the 31st is rate limited with its decision", async () => {
    for (let i = 1; i <= 30; i++) {
      const r = (await c.client.callTool({ name: 'audiences_create', arguments: createArgs(i) })) as CallToolResult;
      expect(r.isError, `call ${i}: ${JSON.stringify(r)}`).toBeFalsy();
      expect(firstText(r)).toBe(`audiences_create ok: ${JSON.stringify(createArgs(i))}`);
    }
    const r = (await c.client.callTool({ name: 'audiences_create', arguments: createArgs(31) })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(firstText(r)).toMatch(/^\[RATE LIMITED\] /);
    const d = decisionOf(r);
    expect(d).toMatchObject({ decision: 'rate_limited', rule: '/tools/audiences_create/limits/0' });
    expect(typeof d?.['reason']).toBe('string');
    expect(firstText(r)).toBe(`[RATE LIMITED] ${String(d?.['reason'])}`);
    // The window is a minute and the first call was moments ago: the wait is under a minute, at least 1 s.
    expect(d?.['retry_after_s']).toBeGreaterThanOrEqual(1);
    expect(d?.['retry_after_s']).toBeLessThanOrEqual(60);
  });

  it('a tool the policy does not list answers [POLICY DENIED] with decision deny', async () => {
    const r = (await c.client.callTool({ name: 'tags_list', arguments: { app_id: APP } })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(firstText(r)).toMatch(/^\[POLICY DENIED\] /);
    expect(decisionOf(r)).toMatchObject({ decision: 'deny', rule: '/default' });
  });

  it('a denied tool answers with its reason exactly', async () => {
    const r = (await c.client.callTool({
      name: 'audiences_delete',
      arguments: { app_id: APP, audience_id: 'a-1' },
    })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(r.content).toEqual([{ type: 'text', text: '[POLICY DENIED] Deleting audiences is not allowed.' }]);
    expect(decisionOf(r)).toEqual({
      decision: 'deny',
      rule: '/tools/audiences_delete',
      reason: 'Deleting audiences is not allowed.',
    });
  });

  it('a hidden tool is absent from tools/list and a call answers -32602 Unknown tool', async () => {
    const { tools } = await c.client.listTools();
    expect(tools.some((t) => t.name.startsWith('apps_'))).toBe(false);
    const e = await callError(c, 'apps_list');
    expect(e.code).toBe(-32602);
    expect(e.message).toMatch(/Unknown tool: apps_list$/);
  });

  it('a hidden tool answers exactly like a tool that does not exist', async () => {
    const hidden = await callError(c, 'apps_list');
    const missing = await callError(c, 'no_such_tool');
    expect(missing.code).toBe(hidden.code);
    expect(missing.message.replace('no_such_tool', 'NAME')).toBe(hidden.message.replace('apps_list', 'NAME'));
  });

  it('on the /mcp aggregate the same rules hold with <server>__ names', async () => {
    const { tools } = await agg.client.listTools();
    const names = tools.map((t) => t.name).sort();
    expect(names).toEqual(
      [...ALLOWED.map((n) => `piwik-pro__${n}`), ...FAILING_ALLOWED.map((n) => `piwik-failing__${n}`)].sort(),
    );

    const ok = (await agg.client.callTool({
      name: 'piwik-pro__audiences_list',
      arguments: { app_id: APP },
    })) as CallToolResult;
    expect(firstText(ok)).toBe(`audiences_list ok: ${JSON.stringify({ app_id: APP })}`);

    const denied = (await agg.client.callTool({
      name: 'piwik-pro__audiences_delete',
      arguments: { app_id: APP, audience_id: 'a-1' },
    })) as CallToolResult;
    expect(denied.content).toEqual([{ type: 'text', text: '[POLICY DENIED] Deleting audiences is not allowed.' }]);
    expect(decisionOf(denied)).toMatchObject({ decision: 'deny', rule: '/tools/audiences_delete' });

    const unlisted = (await agg.client.callTool({
      name: 'piwik-pro__tags_list',
      arguments: { app_id: APP },
    })) as CallToolResult;
    expect(firstText(unlisted)).toMatch(/^\[POLICY DENIED\] /);
    expect(decisionOf(unlisted)).toMatchObject({ decision: 'deny', rule: '/default' });

    // audiences_update: 2 an hour, counted across both endpoints of the same grant.
    for (let i = 0; i < 2; i++) {
      const r = (await agg.client.callTool({
        name: 'piwik-pro__audiences_update',
        arguments: { app_id: APP, audience_id: `a-${i}`, attributes: {} },
      })) as CallToolResult;
      expect(firstText(r)).toMatch(/^audiences_update ok: /);
    }
    const limited = (await agg.client.callTool({
      name: 'piwik-pro__audiences_update',
      arguments: { app_id: APP, audience_id: 'a-3', attributes: {} },
    })) as CallToolResult;
    expect(firstText(limited)).toMatch(/^\[RATE LIMITED\] /);
    expect(decisionOf(limited)).toMatchObject({ decision: 'rate_limited', rule: '/tools/audiences_update/limits/0' });
    const alsoLimited = (await c.client.callTool({
      name: 'audiences_update',
      arguments: { app_id: APP, audience_id: 'a-4', attributes: {} },
    })) as CallToolResult;
    expect(decisionOf(alsoLimited)).toMatchObject({ decision: 'rate_limited' });
  });

  it('on the /mcp aggregate a hidden tool answers Unknown tool with the name the client used, like a missing one', async () => {
    const hidden = await callError(agg, 'piwik-pro__apps_list');
    const missing = await callError(agg, 'no-such-server__apps_list');
    expect(hidden.code).toBe(-32602);
    expect(missing.code).toBe(-32602);
    expect(missing.message).toMatch(/Unknown tool: no-such-server__apps_list$/);
    expect(hidden.message).toMatch(/Unknown tool: piwik-pro__apps_list$/);
  });

  // Cache hints exist only in the 2026-07-28 revision, so this test is defined for modern clients only.
  if (era === 'modern')
    it('a filtered tools/list is cacheScope "private" on the wire, per server and on the aggregate', async () => {
      const one = await rawModernToolsList(`${gateway.url}/mcp/piwik-pro`);
      expect(one['cacheScope']).toBe('private');
      expect((one['tools'] as { name: string }[]).map((t) => t.name).sort()).toEqual(ALLOWED);
      const all = await rawModernToolsList(`${gateway.url}/mcp`);
      expect(all['cacheScope']).toBe('private');
      expect((all['tools'] as { name: string }[]).some((t) => t.name === 'piwik-pro__apps_list')).toBe(false);
    });

  it('quota is given back when the upstream answers a JSON-RPC error', async () => {
    // max 2 an hour; every call fails upstream, so none of them may use up the quota.
    for (let i = 0; i < 5; i++) {
      const e = await callError(failing, 'tags_update', { app_id: APP, tag_id: `t-${i}`, attributes: {} });
      expect(e.message, `call ${i + 1}`).toContain('tags_update failed (DATASET_FAIL)');
    }
  });

  it('quota is kept when the upstream answers a result with isError', async () => {
    // Arguments the tool's schema refuses: the upstream answers a result with isError (max 2 an hour).
    for (let i = 0; i < 2; i++) {
      const r = (await failing.client.callTool({ name: 'tags_create', arguments: { app_id: 42 } })) as CallToolResult;
      expect(r.isError).toBe(true);
      expect(firstText(r)).toMatch(/^Input validation error/);
    }
    const third = (await failing.client.callTool({
      name: 'tags_create',
      arguments: { app_id: APP, attributes: {} },
    })) as CallToolResult;
    expect(firstText(third)).toMatch(/^\[RATE LIMITED\] /);
    expect(decisionOf(third)).toMatchObject({ decision: 'rate_limited', rule: '/tools/tags_create/limits/0' });
  });

  it("a tool limited by two servers' policies counts on a separate default counter per server", async () => {
    // tags_get: 1 an hour on each server. Using it on piwik-pro must not use up piwik-failing's.
    const first = (await c.client.callTool({
      name: 'tags_get',
      arguments: { app_id: APP, tag_id: 't-1' },
    })) as CallToolResult;
    expect(firstText(first)).toMatch(/^tags_get ok: /);
    const other = (await failing.client.callTool({
      name: 'tags_get',
      arguments: { app_id: APP, tag_id: 't-1' },
    })) as CallToolResult;
    expect(decisionOf(other)).toBeUndefined();
    expect(firstText(other)).toMatch(/^tags_get ok: /);
  });

  it('200 concurrent calls against a limit of 50 (memory state) admit exactly 50', async () => {
    const results = (await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        c.client.callTool({ name: 'audiences_get', arguments: { app_id: APP, audience_id: `c-${i}` } }),
      ),
    )) as CallToolResult[];
    const passed = results.filter((r) => !r.isError);
    expect(passed).toHaveLength(50);
    for (const r of passed) expect(firstText(r)).toMatch(/^audiences_get ok: /);
    const limited = results.filter((r) => r.isError);
    expect(limited.every((r) => decisionOf(r)?.['decision'] === 'rate_limited')).toBe(true);
  });
});

describe('200 concurrent calls with SQLite state', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-enforce-'));
  let gateway: Gateway;
  beforeAll(async () => {
    // One limit of 50 per era's tool, so both clients race on their own counter in one store.
    gateway = await gatewayWith(
      {
        'piwik-pro': datasetServer({
          version: '1',
          default: 'deny',
          tools: {
            audiences_get: { limits: [{ max: 50, window: 'hour' }] },
            audiences_list: { limits: [{ max: 50, window: 'hour' }] },
          },
        }),
      },
      `sqlite:${path.join(dir, 'state.db')}`,
      // 200 calls at once from one client: this is about the rate limit, not the in-flight cap
      // of 64 per session (a modern client's calls all count against its principal's).
      { max_inflight_per_session: 1000 },
    );
  });
  afterAll(async () => {
    await gateway?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['legacy', 'audiences_get'],
    ['modern', 'audiences_list'],
  ] as const)('%s client: 200 concurrent %s calls against max 50 admit exactly 50', async (era, tool) => {
    const c = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/piwik-pro` } });
    try {
      const results = (await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          c.client.callTool({ name: tool, arguments: { app_id: APP, audience_id: `s-${i}` } }),
        ),
      )) as CallToolResult[];
      expect(results.filter((r) => !r.isError)).toHaveLength(50);
      expect(results.filter((r) => decisionOf(r)?.['decision'] === 'rate_limited')).toHaveLength(150);
    } finally {
      await c.close();
    }
  });

  it('the legacy wire answers a rate-limited call as a result, not an error', async () => {
    // One more raw call over a fresh legacy session: the counter of audiences_get is full.
    const url = `${gateway.url}/mcp/piwik-pro`;
    const init = await post(url, {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    const sid = init.headers.get('mcp-session-id');
    expect(sid).toBeTruthy();
    await post(
      url,
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { 'mcp-session-id': sid!, 'mcp-protocol-version': '2025-11-25' },
    );
    const res = await post(
      url,
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'audiences_get', arguments: { app_id: APP, audience_id: 'x' } },
      },
      { 'mcp-session-id': sid!, 'mcp-protocol-version': '2025-11-25' },
    );
    const msg = res.messages.find((m) => m['id'] === 2)!;
    expect(msg['error']).toBeUndefined();
    const result = msg['result'] as CallToolResult;
    expect(result.isError).toBe(true);
    expect(decisionOf(result)).toMatchObject({ decision: 'rate_limited', rule: '/tools/audiences_get/limits/0' });
    expect(result).not.toHaveProperty('resultType');
  });
});
