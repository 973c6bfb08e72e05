// Proves the limits on what one caller can hold open, each configurable under `limits` with a safe
// default: a grant past limits.max_sessions_per_grant (Streamable HTTP and HTTP+SSE counted
// together) is answered 429 naming the key, while another grant is unaffected and a closed session
// frees its place; a session (or, for 2026-07-28 requests, a principal) past
// limits.max_inflight_per_session is answered 429 naming the key, and is served again once its
// calls finish.
import { readSink } from '../audit/read-sink.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/validate.js';
import { waitUntil } from '../helpers/wait.js';
import { ACCEPT_BOTH, modernHeaders, modernRequest, type JsonObject } from '../helpers/index.js';
import {
  ALICE,
  BOB,
  LEGACY_INIT,
  httpDriver,
  isBlocked,
  hangsReceived,
  startHarness,
  textOf,
  toolCall,
  type Harness,
} from './support.js';

const ALLOW_ALL = { version: '1', default: 'allow' };

/** A 2026-07-28 request POSTed as `token`: the response as it comes (a listen stream stays open). */
function postModernAs(url: string, token: string, m: JsonObject, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: ACCEPT_BOTH,
      authorization: `Bearer ${token}`,
      ...modernHeaders(m),
    },
    body: JSON.stringify(m),
    ...(signal ? { signal } : {}),
  });
}

async function initialize(h: Harness, token: string): Promise<Response> {
  return fetch(`${h.gateway.url}/mcp/fs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH, authorization: `Bearer ${token}` },
    body: JSON.stringify(LEGACY_INIT),
  });
}

describe('limits on sessions and requests in flight', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      policies: { fs: ALLOW_ALL, 'my-srv': ALLOW_ALL },
      serverExtra: { timeout_ms: 2_000 },
      config: { limits: { max_sessions_per_grant: 2, max_inflight_per_session: 2 } },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('limits.max_sessions_per_grant: the third session of a grant is 429 naming the key, another grant still gets one, and closing one frees a place', async () => {
    const first = await initialize(h, ALICE);
    expect(first.status).toBe(200);
    const sse = await fetch(`${h.gateway.url}/sse/fs`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${ALICE}` },
    });
    expect(sse.status).toBe(200);
    const third = await initialize(h, ALICE);
    expect(third.status).toBe(429);
    expect(((await third.json()) as { error: { message: string } }).error.message).toMatch(
      /Too many sessions.*limits\.max_sessions_per_grant/,
    );
    const sseThird = await fetch(`${h.gateway.url}/sse/fs`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${ALICE}` },
    });
    expect(sseThird.status).toBe(429);
    expect((await initialize(h, BOB)).status).toBe(200);
    const closed = await fetch(`${h.gateway.url}/mcp/fs`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ALICE}`, 'mcp-session-id': first.headers.get('mcp-session-id')! },
    });
    expect(closed.status).toBe(200);
    expect((await initialize(h, ALICE)).status).toBe(200);
    await sse.body?.cancel();
  });

  it('limits.max_inflight_per_session: a legacy session with two calls hanging gets 429 for a third, and is served once they end', async () => {
    const d = await httpDriver(h, 'legacy', false, BOB);
    try {
      const before = hangsReceived(h);
      const hanging = [d.request(toolCall('legacy', 'h1', 'hang')), d.request(toolCall('legacy', 'h2', 'hang'))];
      await waitUntil(() => hangsReceived(h) >= before + 2, 5_000, 'the hanging calls did not reach the server');
      const third = await d.raw(JSON.stringify(toolCall('legacy', 'h3', 'read_file', { path: '/x' })));
      expect(third.status).toBe(429);
      expect(JSON.stringify(third.messages[0])).toMatch(
        /Too many requests in flight.*limits\.max_inflight_per_session/,
      );
      // The hanging calls end at the server's timeout_ms with an error; then the session is served.
      for (const a of await Promise.all(hanging)) expect(a['error']).toMatchObject({ code: -32001 });
      expect(isBlocked(await d.request(toolCall('legacy', 'h4', 'read_file', { path: '/x' })))).toBe(false);
    } finally {
      await d.close();
    }
  }, 30_000);

  it('limits.max_inflight_per_session: 2026-07-28 requests count per principal', async () => {
    const url = `${h.gateway.url}/mcp/fs`;
    const call = (id: string, name: string) => postModernAs(url, ALICE, toolCall('modern', id, name, { path: '/x' }));
    const before = hangsReceived(h);
    const hanging = [call('m1', 'hang'), call('m2', 'hang')];
    await waitUntil(() => hangsReceived(h) >= before + 2, 5_000, 'the hanging calls did not reach the server');
    const third = await call('m3', 'read_file');
    expect(third.status).toBe(429);
    expect(await third.text()).toMatch(/limits\.max_inflight_per_session/);
    await Promise.all(hanging);
    expect((await call('m4', 'read_file')).status).toBe(200);
  }, 30_000);

  it('limits.max_inflight_per_session: an open 2026-07-28 listen stream counts as a request in flight until it closes', async () => {
    const url = `${h.gateway.url}/mcp/fs`;
    const post = (m: JsonObject, signal?: AbortSignal) => postModernAs(url, ALICE, m, signal);
    const listen = (id: string, notifications: JsonObject = { toolsListChanged: true }) =>
      modernRequest(id, 'subscriptions/listen', { notifications });
    const streams = [new AbortController(), new AbortController()];
    const open = await Promise.all(streams.map((c, i) => post(listen(`l${i}`), c.signal)));
    for (const r of open) expect(r.status).toBe(200);
    const third = await post(listen('l3'));
    expect(third.status).toBe(429);
    expect(await third.text()).toMatch(/limits\.max_inflight_per_session/);
    expect((await post(toolCall('modern', 'c1', 'read_file', { path: '/x' }))).status).toBe(429);
    streams[0]!.abort();
    await expect(open[0]!.text()).rejects.toThrow();
    let after = 429;
    for (let i = 0; i < 50 && after === 429; i++) {
      after = (await post(toolCall('modern', `c2-${i}`, 'read_file', { path: '/x' }))).status;
      if (after === 429) await new Promise((r) => setTimeout(r, 20));
    }
    expect(after).toBe(200);
    streams[1]!.abort();
  }, 30_000);

  it('a listen stream asking for more than 1,000 resource subscriptions is refused, naming the limit', async () => {
    const uris = Array.from({ length: 1_001 }, (_, i) => `file:///public/${i}`);
    const m = modernRequest('many', 'subscriptions/listen', { notifications: { resourceSubscriptions: uris } });
    const r = await postModernAs(`${h.gateway.url}/mcp/fs`, BOB, m);
    expect(await r.text()).toMatch(/1001 resourceSubscriptions on one stream; at most 1000/);
  }, 30_000);
});

describe('limits on pending approvals', () => {
  let h: Harness;
  const APPROVE = {
    version: '1',
    default: 'deny',
    tools: { read_file: { action: 'require_approval', approval: { mode: 'retry' } } },
  };
  beforeAll(async () => {
    h = await startHarness({
      policies: { fs: APPROVE, 'my-srv': APPROVE },
      config: { limits: { max_pending_approvals_per_grant: 2 }, audit: 'jsonl:./audit.jsonl' },
    });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('limits.max_pending_approvals_per_grant: a call that would open one approval too many is blocked naming the key, and audited as blocked by that limit; other grants are unaffected', async () => {
    const alice = await httpDriver(h, 'modern', false, ALICE);
    const bob = await httpDriver(h, 'modern', false, BOB);
    const pending = (d: typeof alice, id: string, path: string) =>
      d.request(toolCall('modern', id, 'read_file', { path }));
    for (const path of ['/1', '/2']) {
      const a = await pending(alice, `p${path}`, path);
      expect(textOf(a)).toMatch(/^\[APPROVAL PENDING\]/);
    }
    // The same call again joins its own approval rather than opening another.
    expect(textOf(await pending(alice, 'p-again', '/1'))).toMatch(/^\[APPROVAL PENDING\]/);
    const third = await pending(alice, 'p3', '/3');
    expect(isBlocked(third)).toBe(true);
    expect(textOf(third)).toMatch(
      /^\[POLICY DENIED\] Too many approvals pending: .*limits\.max_pending_approvals_per_grant/,
    );
    expect(textOf(await pending(bob, 'pb', '/1'))).toMatch(/^\[APPROVAL PENDING\]/);
    expect((await h.gateway.core.approvals.list({ status: ['pending'] })).length).toBe(3);
    await h.gateway.core.audit.flush();
    const records = await readSink('jsonl:./audit.jsonl', h.dir);
    const refused = records.find((r) => r.request_id === 'p3');
    expect(refused).toMatchObject({
      decision: 'deny',
      blocked_by: 'approval_limit',
      rule: '/tools/read_file',
      reason: expect.stringMatching(/^Too many approvals pending: .*limits\.max_pending_approvals_per_grant/),
    });
  });
});

describe('the defaults of the limits', () => {
  it('a config that names no limits gets safe ones (100 sessions per grant, 64 requests in flight per session, 50 pending approvals per grant)', () => {
    const r = validateConfig({ servers: { fs: { command: 'node' } } });
    expect(r.ok).toBe(true);
    if (r.ok)
      expect(r.config.limits).toMatchObject({
        max_sessions_per_grant: 100,
        max_inflight_per_session: 64,
        max_pending_approvals_per_grant: 50,
      });
  });
});
