// Proves the approvals routes of the admin API against a running gateway: they need the admin
// token; the list filters by status, server and limit (and refuses an unknown status); an
// approval's detail carries how its webhook went (a 400 from the receiver shows as failed, and the
// links use approvals.public_url); approve and deny answer through channel `api` with the body's
// reason and by; a second answer, or one after expiry, is 409 with the current status; an unknown
// id is 404; and the event stream sends a snapshot, then each change, and stops watching the store
// when the client goes away.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Approval } from '../../src/approvals/approval.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import {
  HELD_CALL,
  settings,
  startReceiver,
  startTestGateway,
  tempDir,
  type Receiver,
  type TempDir,
} from './support.js';

const ADMIN = 'admin-6b0e9d12';
const PUBLIC_URL = 'https://approvals.example.com/gatehouse';

let dir: TempDir;
let gateway: Gateway;
let receiver: Receiver;
const logs: string[] = [];

beforeAll(async () => {
  dir = tempDir('gatehouse-approvals-api-');
  receiver = await startReceiver();
  gateway = await startTestGateway(
    dir,
    {
      auth: { mode: 'none', admin_token: ADMIN },
      approvals: { public_url: PUBLIC_URL, channels: { ops: { url: `${receiver.url}/ops` } } },
    },
    (line) => logs.push(line),
  );
});
afterAll(async () => {
  await gateway?.close();
  await receiver?.close();
  dir?.remove();
});

async function api(path: string, init: { method?: string; body?: unknown; token?: string | null } = {}) {
  const headers: Record<string, string> = {};
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? ADMIN}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${gateway.url}/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const open = (over: Partial<typeof HELD_CALL> = {}, timeoutS = 600, notify: string[] = []) =>
  gateway.core.approvals.open({ ...HELD_CALL, ...over }, settings(notify, timeoutS));
const ids = (body: Record<string, unknown>) => (body.approvals as Approval[]).map((a) => a.id);

describe('approvals in the admin API', () => {
  it('needs the admin token', async () => {
    expect((await api('/approvals', { token: null })).status).toBe(401);
    expect((await api('/approvals', { token: 'wrong' })).status).toBe(401);
  });

  it('lists approvals newest first, filtered by status, server and limit', async () => {
    const a = await open({ server: 'fixture' });
    const b = await open({ server: 'billing' });
    await gateway.core.approvals.answer(a.approval.id, { approve: true, by: 'x', channel: 'api' });

    const all = await api('/approvals');
    expect(all.status).toBe(200);
    expect(ids(all.body)).toEqual(expect.arrayContaining([a.approval.id, b.approval.id]));
    const created = (all.body.approvals as Approval[]).map((x) => x.created);
    expect(created).toEqual([...created].sort((x, y) => y - x));
    expect(JSON.stringify(all.body)).not.toContain('link_hash');

    const pending = ids((await api('/approvals?status=pending')).body);
    expect(pending).toContain(b.approval.id);
    expect(pending).not.toContain(a.approval.id);
    expect(ids((await api('/approvals?status=approved,denied&server=fixture')).body)).toContain(a.approval.id);
    expect(ids((await api('/approvals?server=billing')).body)).toEqual([b.approval.id]);
    expect(ids((await api('/approvals?limit=1')).body)).toHaveLength(1);

    const bad = await api('/approvals?status=waiting');
    expect(bad).toMatchObject({ status: 400, body: { code: 'invalid_query' } });
    expect((await api('/approvals?limit=0')).status).toBe(400);
  });

  it("an approval's detail shows its webhook delivery, failed when the receiver answers 400", async () => {
    receiver.script = [400];
    const { approval, linkKey } = await open({}, 600, ['ops']);
    await gateway.core.webhooks.idle();
    const got = receiver.received.at(-1)!.body as { links: { page: string } };
    expect(got.links.page).toBe(`${PUBLIC_URL}/ui/approvals/${approval.id}?key=${linkKey}`);

    const r = await api(`/approvals/${approval.id}`);
    expect(r.status).toBe(200);
    expect(r.body.approval).toMatchObject({ id: approval.id, status: 'pending', server: 'fixture' });
    expect(r.body.deliveries).toEqual([
      expect.objectContaining({ channel: 'ops', state: 'failed', attempts: 1, last_status: 400, delivered: false }),
    ]);
    expect(gateway.core.webhooks.failures()).toBeGreaterThanOrEqual(1);
    expect(logs.some((l) => l.includes('webhook "ops" not delivered'))).toBe(true);
  });

  it('approves with the reason and name given, through channel api', async () => {
    const { approval } = await open();
    const r = await api(`/approvals/${approval.id}/approve`, {
      method: 'POST',
      body: { reason: 'change ticket 42', by: 'alice' },
    });
    expect(r.status).toBe(200);
    expect(r.body.approval).toMatchObject({
      status: 'approved',
      channel: 'api',
      decided_by: 'alice',
      decision_reason: 'change ticket 42',
    });
  });

  it('denies without a body, as the admin token’s name; a second answer is 409 with the current status', async () => {
    const { approval } = await open();
    const r = await api(`/approvals/${approval.id}/deny`, { method: 'POST' });
    expect(r.status).toBe(200);
    expect(r.body.approval).toMatchObject({ status: 'denied', channel: 'api', decided_by: 'admin_token' });

    const again = await api(`/approvals/${approval.id}/approve`, { method: 'POST', body: {} });
    expect(again).toMatchObject({ status: 409, body: { code: 'not_pending', status: 'denied' } });
  });

  it('answering an expired approval is 409 with status expired', async () => {
    const { approval } = await open({}, 0);
    const r = await api(`/approvals/${approval.id}/approve`, { method: 'POST', body: {} });
    expect(r).toMatchObject({ status: 409, body: { code: 'not_pending', status: 'expired' } });
    expect((await api(`/approvals/${approval.id}`)).body.approval).toMatchObject({ status: 'expired' });
  });

  it('an unknown id is 404; a bad body is 400', async () => {
    const unknown = 'apr_ffffffffffffffffffffffffffffffff';
    expect(await api(`/approvals/${unknown}`)).toMatchObject({ status: 404, body: { code: 'not_found' } });
    expect(await api(`/approvals/${unknown}/deny`, { method: 'POST', body: {} })).toMatchObject({
      status: 404,
      body: { code: 'not_found' },
    });
    const { approval } = await open();
    const bad = await api(`/approvals/${approval.id}/approve`, { method: 'POST', body: { reason: 7 } });
    expect(bad).toMatchObject({ status: 400, body: { code: 'invalid_body' } });
  });
});

describe('the approval event stream', () => {
  it('sends a snapshot of pending approvals, then each change, and unwatches on disconnect', async () => {
    const store = gateway.core.store;
    const watch = store.watchApprovals.bind(store);
    let watching = 0;
    store.watchApprovals = (listener) => {
      watching += 1;
      const stop = watch(listener);
      return () => {
        watching -= 1;
        stop();
      };
    };
    const pending = await open();
    const abort = new AbortController();
    const res = await fetch(`${gateway.url}/api/v1/approvals/events`, {
      headers: { authorization: `Bearer ${ADMIN}` },
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = readEvents(res.body!);

    const snapshot = await events.next('snapshot');
    expect((snapshot.approvals as Approval[]).map((a) => a.id)).toContain(pending.approval.id);
    expect(watching).toBe(1);

    await api(`/approvals/${pending.approval.id}/approve`, { method: 'POST', body: { by: 'bob' } });
    const change = await events.next('approval');
    expect(change).toMatchObject({ id: pending.approval.id, status: 'approved', decided_by: 'bob' });

    abort.abort();
    await expect.poll(() => watching, { timeout: 5000 }).toBe(0);
    store.watchApprovals = watch;
  });
});

/** Reads `event:` / `data:` frames from a stream, handing out the next one of a given event. */
function readEvents(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const queue: Array<{ event: string; data: Record<string, unknown> }> = [];
  let buffer = '';
  const pump = async (): Promise<void> => {
    const { value, done } = await reader.read();
    if (done) throw new Error('the event stream ended');
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (event && data) queue.push({ event, data: JSON.parse(data) as Record<string, unknown> });
    }
  };
  return {
    async next(event: string): Promise<Record<string, unknown>> {
      const deadline = Date.now() + 5000;
      for (;;) {
        const i = queue.findIndex((e) => e.event === event);
        if (i >= 0) return queue.splice(i, 1)[0]!.data;
        if (Date.now() > deadline) throw new Error(`no ${event} event`);
        await pump();
      }
    },
  };
}
