// Proves, end to end with the official SDK clients of both eras, how an approval lives and ends:
// one approval per call (two identical held calls are each answered on their own); an approval
// claimed by a call that a limit then blocks is kept for the retry; `remember` as a duration; a
// client that declared only URL-mode elicitation never gets a form question, even when its call
// joins an approval whose link it cannot be given; a 2025 client's open elicitation is cancelled
// when the call is answered elsewhere or cancelled; a policy that hides the tool while the call is
// held answers like a hidden tool; the stored approval's arguments are redacted like the audit log's
// while its hash is of the exact arguments; the default timeout is 10 minutes; a client that goes
// away withdraws its approval; and the pending-approvals metric leaves out approvals past expiry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import type { Approval } from '../../src/approvals/approval.js';
import { argsHash } from '../../src/approvals/service.js';
import { loadPolicy, type CompiledPolicy } from '../../src/policy/compile.js';
import {
  EPHEMERAL,
  connectClient,
  featureAllowing,
  firstText,
  startParsedGateway,
  type ConnectedClient,
  type Era,
} from '../helpers/index.js';

const ERAS: Era[] = ['legacy', 'modern'];

const server = (tools: Record<string, unknown>) => featureAllowing(tools, 'both');

const HOLD = { action: 'require_approval', approval: { timeout: '1m' } };
const SERVERS = {
  held: server({ add: HOLD }),
  limited: server({
    add: {
      approval_if: [{ when: 'args.a > 100' }],
      approval: { timeout: '1m' },
      limits: [{ max: 1, window: 'hour', scope: 'session', key: 'string(args.b)' }],
    },
  }),
  lasting: server({ add: { action: 'require_approval', approval: { mode: 'retry', remember: '2s' } } }),
  urlask: server({ add: { action: 'require_approval', approval: { notify: ['client'], remember: 'session' } } }),
  ask: server({ add: { action: 'require_approval', approval: { notify: ['client'], timeout: '1m' } } }),
  reload: server({ add: HOLD }),
  plain: server({ add: { action: 'require_approval', approval: { mode: 'retry' } } }),
};

let gw: Gateway;
const clients: ConnectedClient[] = [];

async function client(era: Era, srv: string, opts: Partial<Parameters<typeof connectClient>[0]> = {}) {
  const c = await connectClient({ era, downstream: { kind: 'http', url: `${gw.url}/mcp/${srv}` }, ...opts });
  clients.push(c);
  return c;
}

async function poll<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** The pending approvals of exactly these arguments, once there are `n` of them. */
function pendingFor(srv: string, args: unknown, n = 1): Promise<Approval[]> {
  return poll(`${n} pending approval(s) on ${srv}`, async () => {
    const found = await gw.core.store.listApprovals({ server: srv, args_hash: argsHash(args), status: ['pending'] });
    return found.length >= n ? found : undefined;
  });
}

function statusOf(id: string, want: string): Promise<string> {
  return poll(`approval ${id} to be ${want}`, async () => {
    const a = await gw.core.store.getApproval(id);
    return a?.status === want ? want : undefined;
  }).catch(async () => String((await gw.core.store.getApproval(id))?.status));
}

function decisionOf(r: CallToolResult): Record<string, unknown> {
  return (r._meta?.['gatehouse/decision'] ?? {}) as Record<string, unknown>;
}

const approve = (id: string) => gw.core.approvals.answer(id, { approve: true, by: 'ops', channel: 'api' });

beforeAll(async () => {
  gw = await startParsedGateway({ ...EPHEMERAL, servers: SERVERS });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await gw.close();
});

describe.each(ERAS)('approval lifecycle, %s client', (era) => {
  const n = era === 'legacy' ? 1 : 2; // other arguments per era: approvals are per exact arguments

  it('two identical held calls each get an approval of their own, each released by its own answer', async () => {
    const c = await client(era, 'held');
    const args = { a: 60, b: n };
    const first = c.client.callTool({ name: 'add', arguments: args });
    const second = c.client.callTool({ name: 'add', arguments: args });
    const [x, y] = await pendingFor('held', args, 2);
    expect(x!.id).not.toBe(y!.id);
    await approve(x!.id);
    await gw.core.approvals.answer(y!.id, { approve: false, by: 'ops', channel: 'api', reason: 'Only once.' });
    const results = (await Promise.all([first, second])) as CallToolResult[];
    const passed = results.filter((r) => !r.isError);
    const denied = results.filter((r) => r.isError);
    expect(passed.map(firstText)).toEqual([String(60 + n)]);
    expect(denied).toHaveLength(1);
    expect(firstText(denied[0]!)).toMatch(/^\[APPROVAL DENIED\] Only once\./);
    expect(decisionOf(denied[0]!)).toMatchObject({ decision: 'approval_denied', approval_id: y!.id });
    expect((await gw.core.store.getApproval(x!.id))?.status).toBe('used');
  });

  it('an approved call that a limit then blocks keeps its approval, and the retry goes through on it', async () => {
    const c = await client(era, 'limited');
    const b = 10 + n;
    // Small numbers need no approval; this one uses the session's one call for this b.
    expect(firstText((await c.client.callTool({ name: 'add', arguments: { a: 1, b } })) as CallToolResult)).toBe(
      String(1 + b),
    );
    const args = { a: 500, b };
    const held = c.client.callTool({ name: 'add', arguments: args });
    const [a] = await pendingFor('limited', args);
    await approve(a!.id);
    const limited = (await held) as CallToolResult;
    expect(firstText(limited)).toMatch(/^\[RATE LIMITED\]/);
    expect((await gw.core.store.getApproval(a!.id))?.status).toBe('approved');
    // The retry, from a session whose own limit has room, is let through by the same approval.
    const other = await client('legacy', 'limited');
    const retry = (await other.client.callTool({ name: 'add', arguments: args })) as CallToolResult;
    expect(firstText(retry)).toBe(String(500 + b));
    expect((await gw.core.store.getApproval(a!.id))?.status).toBe('used');
    expect(await gw.core.store.listApprovals({ server: 'limited', args_hash: argsHash(args) })).toHaveLength(1);
  });

  it('remember: 2s lets the same call through again within 2 seconds of the answer, then asks anew', async () => {
    const c = await client(era, 'lasting');
    const args = { a: 70, b: n };
    const first = (await c.client.callTool({ name: 'add', arguments: args })) as CallToolResult;
    expect(firstText(first)).toMatch(/^\[APPROVAL PENDING\]/);
    const id = String(decisionOf(first).approval_id);
    const answered = await approve(id);
    expect(answered.ok).toBe(true);
    const decidedAt = answered.ok ? answered.approval.decided_at! : 0;
    const again = (await c.client.callTool({ name: 'add', arguments: args })) as CallToolResult;
    expect(firstText(again)).toBe(String(70 + n));
    // Called until it is asked again: that happens, with a new approval, and never before 2 s.
    const next = await poll('a new approval once 2s have passed', async () => {
      const r = (await c.client.callTool({ name: 'add', arguments: args })) as CallToolResult;
      if (!r.isError) return undefined;
      return { r, at: Date.now() };
    });
    expect(firstText(next.r)).toMatch(/^\[APPROVAL PENDING\]/);
    expect(decisionOf(next.r).approval_id).not.toBe(id);
    expect(next.at).toBeGreaterThanOrEqual(decidedAt + 2000);
    expect((await gw.core.store.getApproval(id))?.status).toBe('approved');
  });

  it('a client that declared only URL-mode elicitation is never asked with a form, even when it joins an approval', async () => {
    const args = { a: 80, b: n };
    const grant = 'anonymous';
    // An approval for exactly this call that nobody waits on (as after a restart): its link is unknown.
    const left = await gw.core.approvals.open(
      {
        server: 'urlask',
        tool: 'add',
        subject: 'tool',
        argsHash: argsHash(args),
        shownArgs: args,
        grant,
        agent: grant,
        session: 'earlier-session',
        rule: '/tools/add',
        reason: 'Needs approval.',
      },
      { timeoutS: 60, mode: 'hold', remember: 'session', notify: ['client'] },
    );
    const c = await client(era, 'urlask', { capabilities: { elicitation: { url: {} } } });
    const asked: unknown[] = [];
    c.client.setRequestHandler('elicitation/create', (request) => {
      asked.push(request.params);
      return { action: 'cancel' };
    });
    const call = c.client.callTool({ name: 'add', arguments: args }, { onprogress: () => {} });
    // The call joins the open approval and is held without a question: no form, no second approval.
    const progress = await c.notifications.waitFor('notifications/progress', () => true, { includePast: true });
    expect(String(progress.message)).toContain(left.approval.id);
    await approve(left.approval.id);
    expect(firstText((await call) as CallToolResult)).toBe(String(80 + n));
    expect(asked).toEqual([]);
    expect(await gw.core.store.listApprovals({ server: 'urlask', args_hash: argsHash(args) })).toHaveLength(1);
  });

  it('a policy that hides the tool while the call is held answers like a hidden tool, and keeps the approval', async () => {
    const c = await client(era, 'reload');
    const args = { a: 90, b: n };
    const policies = gw.core.policies as Map<string, CompiledPolicy>;
    const before = policies.get('reload')!;
    const held = c.client.callTool({ name: 'add', arguments: args });
    const [a] = await pendingFor('reload', args);
    policies.set('reload', loadPolicy({ version: '1', default: 'allow', hide: ['add'] }));
    try {
      await approve(a!.id);
      await expect(held).rejects.toThrow(/Unknown tool: add/);
    } finally {
      policies.set('reload', before);
    }
    expect((await gw.core.store.getApproval(a!.id))?.status).toBe('approved');
  });

  it('the stored approval shows redacted arguments, its hash is of the exact ones, and it expires in 10 minutes by default', async () => {
    const c = await client(era, 'plain');
    const args = { a: 3, b: n, api_key: `sk-live-${era}-4242` };
    const r = (await c.client.callTool({ name: 'add', arguments: args })) as CallToolResult;
    expect(firstText(r)).toMatch(/^\[APPROVAL PENDING\]/);
    const a = (await gw.core.store.getApproval(String(decisionOf(r).approval_id)))!;
    expect(a.arguments).toEqual({ a: 3, b: n, api_key: '[REDACTED]' });
    expect(JSON.stringify(a)).not.toContain('sk-live');
    expect(a.args_hash).toBe(argsHash(args));
    expect(a.expires - a.created).toBe(10 * 60_000);
  });

  it('a client that goes away (ends its session / drops its request) withdraws the approval', async () => {
    const c = await connectClient({ era, downstream: { kind: 'http', url: `${gw.url}/mcp/held` } });
    const args = { a: 95, b: n };
    const held = c.client.callTool({ name: 'add', arguments: args }).catch((e: unknown) => e);
    const [a] = await pendingFor('held', args);
    if (era === 'legacy') await (c.transport as unknown as { terminateSession(): Promise<void> }).terminateSession();
    await c.close();
    await held;
    expect(await statusOf(a!.id, 'withdrawn')).toBe('withdrawn');
    expect((await gw.core.store.getApproval(a!.id))?.decided_by).toBe('client');
  });
});

describe('a 2025 client asked through elicitation', () => {
  // Only 2025 clients are sent requests; a 2026-07-28 client is asked in its own call's result, and
  // nothing stays open on its side when the call ends.
  async function askedClient() {
    const c = await client('legacy', 'ask');
    const seen: { id?: unknown; aborted?: string } = {};
    c.client.setRequestHandler('elicitation/create', (_request, ctx) => {
      seen.id = ctx.mcpReq.id;
      return new Promise((resolve) => {
        ctx.mcpReq.signal.addEventListener('abort', () => {
          seen.aborted = String(ctx.mcpReq.signal.reason);
          resolve({ action: 'cancel' });
        });
      });
    });
    return { c, seen };
  }

  it('is told (notifications/cancelled) when the call is answered through another channel', async () => {
    const { c, seen } = await askedClient();
    const args = { a: 120, b: 1 };
    const call = c.client.callTool({ name: 'add', arguments: args });
    const [a] = await pendingFor('ask', args);
    await poll('the elicitation request', async () => seen.id);
    await approve(a!.id);
    expect(firstText((await call) as CallToolResult)).toBe('121');
    const cancelled = await c.notifications.waitFor('notifications/cancelled', (p) => p.requestId === seen.id, {
      includePast: true,
    });
    expect(String(cancelled.reason)).toMatch(/no longer needs the answer to elicitation\/create/);
    expect(await poll('the handler to be aborted', async () => seen.aborted)).toMatch(/no longer needs/);
  });

  it('is told (notifications/cancelled) when the call is cancelled', async () => {
    const { c, seen } = await askedClient();
    const args = { a: 130, b: 1 };
    const abort = new AbortController();
    const call = c.client.callTool({ name: 'add', arguments: args }, { signal: abort.signal });
    const [a] = await pendingFor('ask', args);
    await poll('the elicitation request', async () => seen.id);
    abort.abort();
    await expect(call).rejects.toThrow();
    expect(await statusOf(a!.id, 'withdrawn')).toBe('withdrawn');
    const cancelled = await c.notifications.waitFor('notifications/cancelled', (p) => p.requestId === seen.id, {
      includePast: true,
    });
    expect(cancelled.requestId).toBe(seen.id);
  });
});

describe('the pending-approvals metric', () => {
  it('counts approvals waiting for an answer and leaves out those past their expiry', async () => {
    const metric = async () => {
      const text = await (await fetch(`${gw.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('gatehouse_approvals_pending '));
      return Number(line?.split(' ')[1]);
    };
    const before = await metric();
    const base: Approval = {
      id: 'apr_metric_live',
      server: 'held',
      tool: 'add',
      arguments: {},
      args_hash: argsHash({ metric: true }),
      grant: 'g',
      agent: 'g',
      session: 's',
      rule: '/tools/add',
      reason: 'r',
      mode: 'retry',
      remember: 'none',
      notify: [],
      created: Date.now() - 120_000,
      expires: Date.now() + 600_000,
      status: 'pending',
    };
    await gw.core.store.createApproval(base);
    await gw.core.store.createApproval({ ...base, id: 'apr_metric_overdue', expires: Date.now() - 60_000 });
    expect((await gw.core.store.getApproval('apr_metric_overdue'))?.status).toBe('pending');
    expect(await metric()).toBe(before + 1);
  });
});
