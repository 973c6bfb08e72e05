// Proves, end to end with the official SDK clients of both eras, that `require_approval` holds a
// call until a person answers (DESIGN section 7): hold approved (the agent gets the upstream's real
// result), hold denied (the reason reaches the agent), hold timed out, progress while waiting,
// cancellation withdrawing the approval, retry mode with the same and with different arguments,
// remember: session, elicitation to the client's own user (approve and decline), a tampered or
// replayed requestState refused, and a pending approval that survives a gateway restart.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { runCli } from '../helpers/cli.js';
import { waitUntil } from '../helpers/wait.js';
import { parseExposition } from '../observability/prom-text.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import type { Approval } from '../../src/approvals/approval.js';
import {
  connectClient,
  featureAllowing,
  firstText,
  modernRequest,
  postModern,
  startFileGateway,
  startParsedGateway,
  tempDir,
  type ConnectedClient,
  type Era,
  type FileGateway,
} from '../helpers/index.js';

const ERAS: Era[] = ['legacy', 'modern'];

const server = (tools: Record<string, unknown>) => featureAllowing(tools, 'both');

const SERVERS = {
  held: server({
    add: { action: 'require_approval', reason: 'Adding needs a second pair of eyes.', approval: { timeout: '1m' } },
    echo: { action: 'require_approval', approval: { timeout: 2 } },
  }),
  retry: server({ add: { action: 'require_approval', approval: { mode: 'retry' } } }),
  // Three seconds: long enough for an answer to reach a held call on a loaded machine.
  lapsing: server({ add: { action: 'require_approval', approval: { mode: 'retry', timeout: 3 } } }),
  remember: server({ add: { action: 'require_approval', approval: { remember: 'session' } } }),
  'remember-brief': server({ add: { action: 'require_approval', approval: { remember: 'session', timeout: 3 } } }),
  ask: server({ add: { action: 'require_approval', approval: { notify: ['client'] } } }),
  cond: server({
    add: { approval_if: [{ when: 'args.a > 100' }], limits: [{ max: 1, window: 'hour', key: 'string(args.b)' }] },
  }),
};

async function gatewayWith(state: string, audit = 'none'): Promise<Gateway> {
  return startParsedGateway({ listen: { host: '127.0.0.1', port: 0 }, state, audit, servers: SERVERS });
}

/** Waits until the server's tool has a pending approval, and returns it. */
async function pendingApproval(gw: Gateway, srv: string, tool: string, notBefore = 0): Promise<Approval> {
  for (let i = 0; i < 200; i++) {
    const [a] = await gw.core.store.listApprovals({ server: srv, tool, status: ['pending'] });
    if (a && a.created >= notBefore) return a;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no pending approval for ${srv}/${tool}`);
}

async function statusOf(gw: Gateway, id: string, want: string): Promise<string | undefined> {
  for (let i = 0; i < 200; i++) {
    const a = await gw.core.store.getApproval(id);
    if (a?.status === want) return want;
    await new Promise((r) => setTimeout(r, 25));
  }
  return (await gw.core.store.getApproval(id))?.status;
}

/** How many calls to held/add /metrics counts as ended by a withdrawn approval. */
async function withdrawnCalls(): Promise<number> {
  const m = parseExposition(await (await fetch(`${gw.url}/metrics`)).text());
  return m.value('gatehouse_calls_total', { server: 'held', tool: 'add', decision: 'approval_withdrawn' }) ?? 0;
}

function decisionOf(r: CallToolResult): Record<string, unknown> {
  return (r._meta?.['gatehouse/decision'] ?? {}) as Record<string, unknown>;
}

let gw: Gateway;
const clients: ConnectedClient[] = [];

async function client(era: Era, srv: string, opts: Partial<Parameters<typeof connectClient>[0]> = {}) {
  const c = await connectClient({ era, downstream: { kind: 'http', url: `${gw.url}/mcp/${srv}` }, ...opts });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  gw = await gatewayWith('memory:');
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await gw.close();
});

describe.each(ERAS)('approvals, %s client', (era) => {
  it('hold: an approved call is forwarded and the agent gets the real result', async () => {
    const c = await client(era, 'held');
    const call = c.client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
    const a = await pendingApproval(gw, 'held', 'add');
    expect(a.arguments).toEqual({ a: 2, b: 3 });
    expect((await gw.core.approvals.answer(a.id, { approve: true, by: 'ops', channel: 'api' })).ok).toBe(true);
    const r = (await call) as CallToolResult;
    expect(r.isError).toBeFalsy();
    expect(firstText(r)).toBe('5');
    expect(await statusOf(gw, a.id, 'used')).toBe('used');
  });

  it("hold: a denied call answers [APPROVAL DENIED] with the approver's reason", async () => {
    const c = await client(era, 'held');
    const call = c.client.callTool({ name: 'add', arguments: { a: 7, b: 1 } });
    const a = await pendingApproval(gw, 'held', 'add');
    await gw.core.approvals.answer(a.id, { approve: false, by: 'ops', channel: 'api', reason: 'Not on a Friday.' });
    const r = (await call) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(firstText(r)).toMatch(/^\[APPROVAL DENIED\] Not on a Friday\./);
    expect(decisionOf(r)).toMatchObject({ decision: 'approval_denied', approval_id: a.id });
  });

  it('hold: an unanswered call times out with [APPROVAL TIMED OUT] and the approval expires', async () => {
    const c = await client(era, 'held');
    const r = (await c.client.callTool({ name: 'echo', arguments: { message: 'hi' } })) as CallToolResult;
    expect(firstText(r)).toMatch(/^\[APPROVAL TIMED OUT\]/);
    const id = String(decisionOf(r).approval_id);
    expect((await gw.core.store.getApproval(id))?.status).toBe('expired');
  });

  it('hold: a client that gave a progress token hears that the call is waiting', async () => {
    const c = await client(era, 'held');
    const call = c.client.callTool({ name: 'add', arguments: { a: 11, b: 1 } }, { onprogress: () => {} });
    const a = await pendingApproval(gw, 'held', 'add');
    const progress = await c.notifications.waitFor('notifications/progress', () => true, { includePast: true });
    expect(String(progress.message)).toContain(a.id);
    await gw.core.approvals.answer(a.id, { approve: true, by: 'ops', channel: 'api' });
    expect(firstText((await call) as CallToolResult)).toBe('12');
  });

  it('hold: a client that cancels the request withdraws the approval', async () => {
    const c = await client(era, 'held');
    const abort = new AbortController();
    const call = c.client.callTool({ name: 'add', arguments: { a: 40, b: 2 } }, { signal: abort.signal });
    const a = await pendingApproval(gw, 'held', 'add');
    const before = await withdrawnCalls();
    abort.abort();
    await expect(call).rejects.toThrow();
    expect(await statusOf(gw, a.id, 'withdrawn')).toBe('withdrawn');
    // Recorded as withdrawn, not as a person's denial (what the client was told).
    await waitUntil(
      async () => (await withdrawnCalls()) > before,
      5_000,
      'the withdrawn call was not recorded as approval_withdrawn',
    );
  });

  it('retry: pending at once; the same arguments pass once approved, and only once; other arguments need their own', async () => {
    const c = await client(era, 'retry');
    const args = { a: 1, b: era === 'legacy' ? 100 : 200 };
    const first = (await c.client.callTool({ name: 'add', arguments: args })) as CallToolResult;
    expect(firstText(first)).toMatch(/^\[APPROVAL PENDING\]/);
    const id = String(decisionOf(first).approval_id);
    expect(id).toMatch(/^apr_/);
    const again = (await c.client.callTool({ name: 'add', arguments: args })) as CallToolResult;
    expect(decisionOf(again).approval_id).toBe(id); // the same approval, not a second one
    await gw.core.approvals.answer(id, { approve: true, by: 'ops', channel: 'api' });
    const other = (await c.client.callTool({ name: 'add', arguments: { ...args, b: 1 } })) as CallToolResult;
    expect(firstText(other)).toMatch(/^\[APPROVAL PENDING\]/);
    expect(decisionOf(other).approval_id).not.toBe(id);
    expect(firstText((await c.client.callTool({ name: 'add', arguments: args })) as CallToolResult)).toBe(
      String(args.a + args.b),
    );
    const spent = (await c.client.callTool({ name: 'add', arguments: args })) as CallToolResult;
    expect(firstText(spent)).toMatch(/^\[APPROVAL PENDING\]/);
  });

  it('retry: an approval left unused for its timeout after the answer lapses, and the call asks again', async () => {
    const c = await client(era, 'lapsing');
    const args = { a: 2, b: era === 'legacy' ? 300 : 400 };
    const first = (await c.client.callTool({ name: 'add', arguments: args })) as CallToolResult;
    const id = String(decisionOf(first).approval_id);
    await gw.core.approvals.answer(id, { approve: true, by: 'ops', channel: 'api' });
    // The approval had three seconds to be answered; it now has three seconds to be used.
    await new Promise((r) => setTimeout(r, 3_300));
    const late = (await c.client.callTool({ name: 'add', arguments: args })) as CallToolResult;
    expect(firstText(late)).toMatch(/^\[APPROVAL PENDING\]/);
    expect(decisionOf(late).approval_id).not.toBe(id);
    expect(await gw.core.approvals.current(id)).toMatchObject({ status: 'expired', decided_by: 'ops' });
  });

  it('remember: session approves the same tool and arguments for the rest of the session', async () => {
    const c = await client(era, 'remember');
    const args = { a: 5, b: era === 'legacy' ? 5 : 6 };
    const call = c.client.callTool({ name: 'add', arguments: args });
    const a = await pendingApproval(gw, 'remember', 'add');
    await gw.core.approvals.answer(a.id, { approve: true, by: 'ops', channel: 'api' });
    await call;
    const second = (await c.client.callTool({ name: 'add', arguments: args })) as CallToolResult;
    expect(firstText(second)).toBe(String(args.a + args.b));
    expect((await gw.core.store.getApproval(a.id))?.status).toBe('approved');
  });

  it('remember: session lasts the legacy session; a 2026-07-28 client has none, so it lasts the timeout', async () => {
    const c = await client(era, 'remember-brief');
    const args = { a: 7, b: era === 'legacy' ? 7 : 8 };
    const call = c.client.callTool({ name: 'add', arguments: args });
    const a = await pendingApproval(gw, 'remember-brief', 'add');
    expect(a.remember).toBe(era === 'legacy' ? 'session' : 3);
    await gw.core.approvals.answer(a.id, { approve: true, by: 'ops', channel: 'api' });
    await call;
    // Past the three-second timeout from the answer: still approved in the session; asked again without one.
    await new Promise((r) => setTimeout(r, 3_300));
    const later = c.client.callTool({ name: 'add', arguments: args });
    if (era === 'legacy') expect(firstText((await later) as CallToolResult)).toBe(String(args.a + args.b));
    else {
      const again = await pendingApproval(gw, 'remember-brief', 'add');
      expect(again.id).not.toBe(a.id);
      await gw.core.approvals.answer(again.id, { approve: false, by: 'ops', channel: 'api' });
      expect(firstText((await later) as CallToolResult)).toMatch(/^\[APPROVAL DENIED\]/);
    }
  });

  it("elicitation: the client's own user approves and the call goes through", async () => {
    const c = await client(era, 'ask', { elicit: { action: 'accept', content: { decision: 'approve' } } });
    const r = (await c.client.callTool({
      name: 'add',
      arguments: { a: 20, b: era === 'legacy' ? 1 : 2 },
    })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    expect(firstText(r)).toBe(era === 'legacy' ? '21' : '22');
    const [a] = await gw.core.store.listApprovals({ server: 'ask', limit: 1 });
    expect(a).toMatchObject({ channel: 'elicitation', status: 'used' });
    expect(a!.decided_by).toContain('fixture-client');
  });

  it("elicitation: the client's user declines and the agent is told", async () => {
    const c = await client(era, 'ask', { elicit: { action: 'decline' } });
    const r = (await c.client.callTool({
      name: 'add',
      arguments: { a: 30, b: era === 'legacy' ? 1 : 2 },
    })) as CallToolResult;
    expect(firstText(r)).toMatch(/^\[APPROVAL DENIED\] The user declined/);
    expect(decisionOf(r).decision).toBe('approval_denied');
  });

  it('approval_if holds only matching calls, and the limits still apply after approval', async () => {
    const c = await client(era, 'cond');
    // Small numbers: no approval, one call an hour for this grant.
    const small = era === 'legacy' ? { a: 1, b: 1 } : { a: 1, b: 2 };
    expect(firstText((await c.client.callTool({ name: 'add', arguments: small })) as CallToolResult)).toMatch(/^\d+$/);
    const call = c.client.callTool({ name: 'add', arguments: { a: 500, b: small.b } });
    const a = await pendingApproval(gw, 'cond', 'add');
    await gw.core.approvals.answer(a.id, { approve: true, by: 'ops', channel: 'api' });
    const r = (await call) as CallToolResult;
    // One call an hour per value of b: the approved call is the second with this b.
    expect(firstText(r)).toMatch(/^\[RATE LIMITED\]/);
  });
});

describe('2026-07-28 approval requestState', () => {
  const call = (id: number, extra: Record<string, unknown> = {}, args: Record<string, unknown> = { a: 3, b: 4 }) =>
    modernRequest(id, 'tools/call', { name: 'add', arguments: args, ...extra }, { elicitation: { form: {} } });

  async function firstRound(): Promise<{ requestState: string; key: string }> {
    const res = await postModern(`${gw.url}/mcp/ask`, call(1));
    const result = res.messages.at(-1)?.result as Record<string, unknown>;
    expect(result.resultType).toBe('input_required');
    const key = Object.keys(result.inputRequests as object)[0]!;
    return { requestState: String(result.requestState), key };
  }

  it('a tampered requestState is refused', async () => {
    const { requestState, key } = await firstRound();
    const flipped = requestState.slice(0, -3) + (requestState.endsWith('A') ? 'BBB' : 'AAA');
    const res = await postModern(
      `${gw.url}/mcp/ask`,
      call(2, {
        requestState: flipped,
        inputResponses: { [key]: { action: 'accept', content: { decision: 'approve' } } },
      }),
    );
    expect(res.messages.at(-1)?.error).toMatchObject({ code: -32602 });
  });

  it('a requestState for other arguments is refused', async () => {
    const { requestState, key } = await firstRound();
    const res = await postModern(
      `${gw.url}/mcp/ask`,
      call(
        3,
        { requestState, inputResponses: { [key]: { action: 'accept', content: { decision: 'approve' } } } },
        { a: 1000, b: 4 },
      ),
    );
    expect(res.messages.at(-1)?.error).toMatchObject({ code: -32602 });
  });

  it('an answered requestState replayed is refused', async () => {
    const { requestState, key } = await firstRound();
    const retry = call(4, {
      requestState,
      inputResponses: { [key]: { action: 'accept', content: { decision: 'approve' } } },
    });
    const ok = await postModern(`${gw.url}/mcp/ask`, retry);
    expect((ok.messages.at(-1)?.result as CallToolResult).content).toEqual([{ type: 'text', text: '7' }]);
    const replay = await postModern(`${gw.url}/mcp/ask`, { ...retry, id: 5 });
    expect(replay.messages.at(-1)?.error).toMatchObject({ code: -32602 });
    expect(String((replay.messages.at(-1)?.error as { message: string }).message)).toMatch(/already used/);
  });
});

describe('a pending approval across a gateway restart', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-approvals-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(ERAS)(
    '%s: the approval outlives the gateway (the held call is told it is shutting down), is answered after the restart, and the retry succeeds',
    async (era) => {
      const state = `sqlite:${path.join(dir, `${era}.db`)}`;
      const auditFile = path.join(dir, `${era}-audit.jsonl`);
      const first = await gatewayWith(state, `jsonl:${auditFile}`);
      const c1 = await connectClient({ era, downstream: { kind: 'http', url: `${first.url}/mcp/held` } });
      const held = c1.client.callTool({ name: 'add', arguments: { a: 8, b: 8 } }).catch((e: unknown) => e);
      const a = await pendingApproval(first, 'held', 'add');
      await first.close();
      await held;
      await c1.close().catch(() => {});
      // The held call ended because the gateway stopped: its own reason, and the approval is still open.
      const records = readFileSync(auditFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(records.find((r) => r.approval_id === a.id)).toMatchObject({
        decision: 'approval_pending',
        reason: expect.stringMatching(/^Gatehouse is shutting down.*stays pending/),
      });

      const second = await gatewayWith(state);
      try {
        expect((await second.core.store.getApproval(a.id))?.status).toBe('pending');
        expect((await second.core.approvals.answer(a.id, { approve: true, by: 'ops', channel: 'cli' })).ok).toBe(true);
        const c2 = await connectClient({ era, downstream: { kind: 'http', url: `${second.url}/mcp/held` } });
        const r = (await c2.client.callTool({ name: 'add', arguments: { a: 8, b: 8 } })) as CallToolResult;
        expect(firstText(r)).toBe('16');
        await c2.close();
      } finally {
        await second.close();
      }
    },
    // Two gateways start one after the other, each with its fixture servers.
    90_000,
  );
});

describe('answering through the command line, the admin API and the approval page', () => {
  let started: FileGateway | undefined;
  let file: string;
  let gw2: Gateway;
  const ADMIN = 'admin-token-for-approvals';

  beforeAll(async () => {
    const home = tempDir('gatehouse-approvals-channels-');
    started = await startFileGateway(home, {
      listen: { host: '127.0.0.1', port: 0 },
      state: `sqlite:${path.join(home.path, 'state.db')}`,
      audit: 'none',
      auth: { mode: 'none', admin_token: ADMIN },
      servers: {
        held: SERVERS.held,
        page: server({ add: { action: 'require_approval', approval: { notify: ['client'] } } }),
      },
    });
    ({ gateway: gw2, file } = started);
  });
  afterAll(async () => {
    await started?.close();
  });

  it.each(ERAS)(
    "%s: a held call approved with `gatehouse approvals approve` gets the upstream's real result",
    async (era) => {
      const c = await connectClient({ era, downstream: { kind: 'http', url: `${gw2.url}/mcp/held` } });
      try {
        const call = c.client.callTool({ name: 'add', arguments: { a: 100, b: era === 'legacy' ? 1 : 2 } });
        const a = await pendingApproval(gw2, 'held', 'add');
        const cli = await runCli(['approvals', 'approve', a.id, '-c', file]);
        expect(cli.code, cli.stderr).toBe(0);
        expect(firstText((await call) as CallToolResult)).toBe(era === 'legacy' ? '101' : '102');
        expect(await gw2.core.store.getApproval(a.id)).toMatchObject({ status: 'used', channel: 'cli' });
      } finally {
        await c.close();
      }
    },
  );

  it.each(ERAS)("%s: a held call denied through the admin API gets the approver's reason", async (era) => {
    const c = await connectClient({ era, downstream: { kind: 'http', url: `${gw2.url}/mcp/held` } });
    try {
      const call = c.client.callTool({ name: 'add', arguments: { a: 200, b: era === 'legacy' ? 1 : 2 } });
      const a = await pendingApproval(gw2, 'held', 'add');
      const res = await fetch(`${gw2.url}/api/v1/approvals/${a.id}/deny`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'Change freeze until Monday.', by: 'sam' }),
      });
      expect(res.status).toBe(200);
      const r = (await call) as CallToolResult;
      expect(firstText(r)).toMatch(
        /^\[APPROVAL DENIED\] Change freeze until Monday\. \(approval apr_\w+, denied by sam\)/,
      );
    } finally {
      await c.close();
    }
  });

  it.each(ERAS)('%s: URL-mode elicitation opens the approval page, where the user approves', async (era) => {
    const c = await connectClient({
      era,
      downstream: { kind: 'http', url: `${gw2.url}/mcp/page` },
      capabilities: { elicitation: { url: {} } },
    });
    const seen: string[] = [];
    c.client.setRequestHandler('elicitation/create', async (request) => {
      const params = request.params as { mode?: string; url?: string; message: string };
      expect(params.mode).toBe('url');
      seen.push(params.message);
      // The user reads the page (it shows tool, server and arguments) and presses Approve.
      const pageRes = await fetch(params.url!);
      const html = await pageRes.text();
      expect(html).toContain('add');
      expect(html).toContain('page');
      const u = new URL(params.url!);
      const form = new URLSearchParams({ key: u.searchParams.get('key')!, reason: 'looks fine' });
      const answer = await fetch(`${u.origin}${u.pathname}/approve`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      expect(answer.status).toBe(200);
      return { action: 'accept' };
    });
    try {
      const r = (await c.client.callTool({
        name: 'add',
        arguments: { a: 300, b: era === 'legacy' ? 1 : 2 },
      })) as CallToolResult;
      expect(firstText(r)).toBe(era === 'legacy' ? '301' : '302');
      expect(seen[0]).toContain('Tool: add');
      const [a] = await gw2.core.store.listApprovals({ server: 'page', limit: 1 });
      expect(a).toMatchObject({ status: 'used', channel: 'link' });
    } finally {
      await c.close();
    }
  });
});
