// Proves the webhook channel against a real HTTP receiver on 127.0.0.1: a new approval is POSTed to
// each channel its policy notifies, as the generic `approval.requested` JSON event or as a Slack
// message (escaped, with the page / approve / deny links that carry the approval's key); a 500 or
// 503 is retried with backoff until it is delivered; a 400 is not retried and shows as failed,
// as does a receiver that cannot be reached once the attempts run out; unknown channels and
// `client` are not posted to; and no log line carries the link key. End to end, in both eras, the
// approve link taken from a received payload, confirmed, releases the held call.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApprovalService } from '../../src/approvals/service.js';
import { WebhookNotifier } from '../../src/approvals/webhooks.js';
import type { ApprovalChannelConfig } from '../../src/approvals/config-schema.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { CallToolResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import { connectClient, featureAllowing, firstText } from '../helpers/index.js';
import {
  HELD_CALL,
  settings,
  startReceiver,
  startTestGateway,
  tempDir,
  type Receiver,
  type TempDir,
} from './support.js';

const BASE = 'https://gatehouse.example.com';

interface Setup {
  service: ApprovalService;
  notifier: WebhookNotifier;
  logs: string[];
  store: MemoryStore;
}

const open: Setup[] = [];

function setup(channels: Record<string, ApprovalChannelConfig>, attempts = 5): Setup {
  const store = new MemoryStore();
  const service = new ApprovalService(store);
  const logs: string[] = [];
  const notifier = new WebhookNotifier({
    channels,
    baseUrl: () => BASE,
    log: (level, msg) => logs.push(`${level}: ${msg}`),
    baseDelayMs: 10,
    attempts,
  });
  notifier.attach(service);
  const s = { service, notifier, logs, store };
  open.push(s);
  return s;
}

let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterEach(async () => {
  for (const s of open.splice(0)) {
    s.notifier.close();
    await s.store.close();
  }
  receiver.received.length = 0;
  receiver.script = [];
});
afterAll(async () => {
  await receiver?.close();
});

const json = (path: string, headers: Record<string, string> = {}): ApprovalChannelConfig => ({
  url: `${receiver.url}${path}`,
  format: 'json',
  headers,
});

describe('webhook payloads', () => {
  it('posts the generic approval.requested event with the approval facts and its three links', async () => {
    const s = setup({ ops: json('/ops', { authorization: 'Bearer hook-secret' }) });
    const { approval, linkKey } = await s.service.open(HELD_CALL, settings(['ops']));
    await s.notifier.idle();

    expect(receiver.received).toHaveLength(1);
    const [got] = receiver.received;
    expect(got!.path).toBe('/ops');
    expect(got!.headers['content-type']).toBe('application/json');
    expect(got!.headers.authorization).toBe('Bearer hook-secret');
    expect(got!.headers['x-gatehouse-delivery']).toBe(`${approval.id}:ops`);
    const key = encodeURIComponent(linkKey);
    expect(got!.body).toEqual({
      type: 'approval.requested',
      approval: {
        id: approval.id,
        server: 'fixture',
        tool: 'delete_repository',
        subject: 'tool',
        arguments: HELD_CALL.shownArgs,
        grant: 'ci-runner',
        agent: 'ci',
        session: 'sess-1',
        rule: '/tools/delete_*',
        reason: 'Deleting a repository needs a person.',
        created: new Date(approval.created).toISOString(),
        expires: new Date(approval.expires).toISOString(),
      },
      links: {
        page: `${BASE}/ui/approvals/${approval.id}?key=${key}`,
        approve: `${BASE}/ui/approvals/${approval.id}/approve?key=${key}`,
        deny: `${BASE}/ui/approvals/${approval.id}/deny?key=${key}`,
      },
    });
    // The exact arguments never leave the gateway, only what approvers may see.
    expect(JSON.stringify(got!.body)).not.toContain('secret-1');
    expect(s.notifier.deliveries(approval.id)).toEqual([
      expect.objectContaining({ channel: 'ops', state: 'delivered', delivered: true, attempts: 1, last_status: 200 }),
    ]);
  });

  it('posts a Slack message: the same facts as escaped mrkdwn and the links as buttons', async () => {
    const s = setup({ chat: { url: `${receiver.url}/slack`, format: 'slack', headers: {} } });
    const { approval, linkKey } = await s.service.open(HELD_CALL, settings(['chat']));
    await s.notifier.idle();

    const body = receiver.received[0]!.body as { text: string; blocks: Array<Record<string, unknown>> };
    const key = encodeURIComponent(linkKey);
    expect(body.text).toContain('fixture/delete_repository');
    expect(body.text).toContain('agent ci (grant ci-runner)');
    expect(body.text).toContain(`${BASE}/ui/approvals/${approval.id}?key=${key}`);
    const actions = body.blocks.find((b) => b.type === 'actions') as { elements: Array<{ url: string }> };
    expect(actions.elements.map((e) => e.url)).toEqual([
      `${BASE}/ui/approvals/${approval.id}/approve?key=${key}`,
      `${BASE}/ui/approvals/${approval.id}/deny?key=${key}`,
      `${BASE}/ui/approvals/${approval.id}?key=${key}`,
    ]);
    const text = JSON.stringify(body.blocks);
    expect(text).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp;');
    expect(text).not.toContain('<script>');
    expect(text).toContain('Deleting a repository needs a person.');
  });

  it('names what a prompt approval is for: the subject in the JSON event, "prompt" in the Slack message', async () => {
    const s = setup({ ops: json('/ops'), chat: { url: `${receiver.url}/slack`, format: 'slack', headers: {} } });
    await s.service.open(
      { ...HELD_CALL, subject: 'prompt', tool: 'deploy', rule: '/prompts/deploy' },
      settings(['ops', 'chat']),
    );
    await s.notifier.idle();
    const event = receiver.received.find((r) => r.path === '/ops')!.body as { approval: { subject: string } };
    expect(event.approval.subject).toBe('prompt');
    const slack = receiver.received.find((r) => r.path === '/slack')!.body as { text: string; blocks: unknown[] };
    expect(slack.text).toContain('fixture/prompt deploy');
    expect(JSON.stringify(slack.blocks)).toContain('*Prompt*\\ndeploy');
  });

  it('posts only to configured channels: client is left to elicitation, an unknown name is skipped and logged', async () => {
    const s = setup({ ops: json('/ops') });
    const { approval } = await s.service.open(HELD_CALL, settings(['client', 'ops', 'nosuch']));
    await s.notifier.idle();
    expect(receiver.received.map((r) => r.path)).toEqual(['/ops']);
    expect(s.notifier.deliveries(approval.id)).toEqual([
      expect.objectContaining({ channel: 'ops', state: 'delivered' }),
      expect.objectContaining({ channel: 'nosuch', state: 'skipped', attempts: 0 }),
    ]);
    expect(s.logs.some((l) => l.startsWith('warn:') && l.includes('"nosuch"'))).toBe(true);
  });
});

describe('webhook retries', () => {
  it('retries a 500 and a 503, then delivers; the retries carry the same delivery id', async () => {
    receiver.script = [500, 503];
    const s = setup({ ops: json('/ops') });
    const { approval, linkKey } = await s.service.open(HELD_CALL, settings(['ops']));
    await s.notifier.idle();
    expect(receiver.received).toHaveLength(3);
    expect(new Set(receiver.received.map((r) => r.headers['x-gatehouse-delivery']))).toEqual(
      new Set([`${approval.id}:ops`]),
    );
    expect(s.notifier.deliveries(approval.id)).toEqual([
      expect.objectContaining({ state: 'delivered', delivered: true, attempts: 3, last_status: 200 }),
    ]);
    expect(s.notifier.failures()).toBe(0);
    expect(s.logs.filter((l) => l.startsWith('warn:') && l.includes('retrying'))).toHaveLength(2);
    expect(s.logs.join('\n')).not.toContain(linkKey);
  });

  it('does not retry a 400: one attempt, failed, counted and logged as an error', async () => {
    receiver.script = [400];
    const s = setup({ ops: json('/ops') });
    const { approval, linkKey } = await s.service.open(HELD_CALL, settings(['ops']));
    await s.notifier.idle();
    expect(receiver.received).toHaveLength(1);
    expect(s.notifier.deliveries(approval.id)).toEqual([
      expect.objectContaining({
        channel: 'ops',
        state: 'failed',
        delivered: false,
        attempts: 1,
        last_status: 400,
        last_error: 'HTTP 400',
      }),
    ]);
    expect(s.notifier.failures()).toBe(1);
    expect(s.logs.some((l) => l.startsWith('error:') && l.includes('"ops"') && l.includes('HTTP 400'))).toBe(true);
    expect(s.logs.join('\n')).not.toContain(linkKey);
  });

  it('gives up on a receiver that cannot be reached after the configured attempts', async () => {
    const gone = await startReceiver();
    const url = `${gone.url}/hook`;
    await gone.close();
    const s = setup({ ops: { url, format: 'json', headers: {} } }, 3);
    const { approval } = await s.service.open(HELD_CALL, settings(['ops']));
    await s.notifier.idle();
    const [row] = s.notifier.deliveries(approval.id);
    expect(row).toMatchObject({ state: 'failed', attempts: 3, delivered: false });
    expect(row!.last_error).toMatch(/ECONNREFUSED/);
    expect(s.notifier.failures()).toBe(1);
    // The channel's URL may hold its secret: it is never logged.
    expect(s.logs.join('\n')).not.toContain(url);
  });
});

describe.each(['legacy', 'modern'] as const)('a webhook followed to the end, %s client', (era) => {
  let dir: TempDir;
  let gw: Gateway;
  beforeAll(async () => {
    dir = tempDir('gatehouse-webhook-e2e-');
    gw = await startTestGateway(dir, {
      approvals: { channels: { ops: { url: `${receiver.url}/e2e` } } },
      servers: {
        fixture: featureAllowing({ add: { action: 'require_approval', approval: { timeout: '1m', notify: ['ops'] } } }),
      },
    });
  });
  afterAll(async () => {
    await gw?.close();
    dir?.remove();
  });

  it('the approve link in the received payload, confirmed, releases the held call with the real result', async () => {
    const c = await connectClient({ era, downstream: { kind: 'http', url: `${gw.url}/mcp/fixture` } });
    try {
      const call = c.client.callTool({ name: 'add', arguments: { a: 40, b: 2 } });
      let payload: { approval: { id: string }; links: { approve: string } } | undefined;
      for (let i = 0; i < 400 && !payload; i++) {
        const got = receiver.received.find((r) => r.path === '/e2e');
        if (got) payload = got.body as typeof payload;
        else await new Promise((r) => setTimeout(r, 25));
      }
      expect(payload, 'the webhook was received').toBeDefined();
      // Opening the link only shows the confirmation form; the approval is still pending.
      const confirm = await fetch(payload!.links.approve);
      expect(confirm.status).toBe(200);
      const html = await confirm.text();
      expect((await gw.core.store.getApproval(payload!.approval.id))?.status).toBe('pending');
      const action = /<form method="post" action="([^"]+)">/.exec(html)?.[1];
      const key = /<input type="hidden" name="key" value="([^"]+)">/.exec(html)?.[1];
      expect(action && key).toBeTruthy();
      const answered = await fetch(new URL(action!, payload!.links.approve), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ key: key!, reason: 'ok from chat' }).toString(),
      });
      expect(answered.status).toBe(200);
      expect(firstText((await call) as CallToolResult)).toBe('42');
      expect(await gw.core.store.getApproval(payload!.approval.id)).toMatchObject({ status: 'used', channel: 'link' });
    } finally {
      await c.close();
    }
  });
});
