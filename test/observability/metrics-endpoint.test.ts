// Proves /metrics on a running gateway, with official SDK clients making real calls through it to
// the feature fixture over stdio: the scrape parses as the Prometheus text format and shows the
// upstream up, the open sessions of each downstream transport (and their closing), the calls the
// clients made and a record fed to `core.metrics.observe`, a crashed upstream counted as restarted and up again, and the
// process metrics, and the audit queue of a log that keeps records. It also proves who may scrape: anyone on a loopback gateway without an admin
// token, only the admin token's holder when one is set, and nobody on a non-loopback gateway
// without one.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import {
  EPHEMERAL,
  connectClient,
  featureServerCommand,
  startParsedGateway,
  tempDir,
  type ConnectedClient,
} from '../helpers/index.js';
import { parseExposition, type Exposition } from './prom-text.js';
import { readUntil } from '../helpers/wait.js';

async function gatewayWith(config: Record<string, unknown>): Promise<Gateway> {
  return startParsedGateway({ ...EPHEMERAL, ...config });
}

async function scrape(gateway: Gateway): Promise<Exposition> {
  const res = await fetch(`${gateway.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

const eventually = (gateway: Gateway, ok: (m: Exposition) => boolean, timeoutMs = 15_000): Promise<Exposition> =>
  readUntil(() => scrape(gateway), ok, timeoutMs);

describe('/metrics on a gateway with real clients', { timeout: 60_000 }, () => {
  let gateway: Gateway;
  let http: ConnectedClient;
  let sse: ConnectedClient;

  beforeAll(async () => {
    const { command, args } = featureServerCommand('stdio', 'legacy');
    gateway = await gatewayWith({ servers: { leg: { command, args, timeout_ms: 20_000 } } });
    http = await connectClient({ era: 'legacy', downstream: { kind: 'http', url: `${gateway.url}/mcp/leg` } });
    sse = await connectClient({ era: 'legacy', downstream: { kind: 'sse', url: `${gateway.url}/sse/leg` } });
    expect(await http.callText('echo', { message: 'hello' })).toBe('hello');
    expect(await sse.callText('add', { a: 1, b: 2 })).toBe('3');
  }, 60_000);

  afterAll(async () => {
    await http?.client.close();
    await sse?.client.close();
    await gateway?.close();
  });

  it('shows the upstream up and one open session per downstream transport', async () => {
    const m = await scrape(gateway);
    expect(m.types.get('gatehouse_upstream_up')).toBe('gauge');
    expect(m.value('gatehouse_upstream_up', { server: 'leg' })).toBe(1);
    expect(m.value('gatehouse_sessions_open', { transport: 'streamable-http' })).toBe(1);
    expect(m.value('gatehouse_sessions_open', { transport: 'sse' })).toBe(1);
    expect(m.value('gatehouse_upstream_restarts_total', { server: 'leg' })).toBeUndefined();
  });

  it('counts the calls the clients made through the gateway, with their latency', async () => {
    const m = await scrape(gateway);
    expect(m.value('gatehouse_calls_total', { server: 'leg', tool: 'echo', decision: 'allow' })).toBe(1);
    expect(m.value('gatehouse_calls_total', { server: 'leg', tool: 'add', decision: 'allow' })).toBe(1);
    expect(m.value('gatehouse_call_duration_seconds_count', { server: 'leg', decision: 'allow' })).toBe(2);
    expect(m.value('gatehouse_upstream_duration_seconds_count', { server: 'leg', outcome: 'ok' })).toBe(2);
  });

  it('counts a record fed to core.metrics.observe in the next scrape', async () => {
    const before = await scrape(gateway);
    const count = (m: Exposition, name: string, labels: Record<string, string>) => m.value(name, labels) ?? 0;
    gateway.core.metrics.observe({
      ts: Date.now(),
      request_id: '2',
      server: 'leg',
      subject: 'tool',
      tool: 'whoami',
      grant: 'anonymous',
      agent: 'anonymous',
      session: 's',
      decision: 'deny',
      rule: '/tools/whoami',
      latency_ms: 12,
    });
    const after = await scrape(gateway);
    const calls = { server: 'leg', tool: 'whoami', decision: 'deny' };
    expect(count(after, 'gatehouse_calls_total', calls) - count(before, 'gatehouse_calls_total', calls)).toBe(1);
    const latency = { server: 'leg', decision: 'deny' };
    const seconds = 'gatehouse_call_duration_seconds_sum';
    expect(count(after, seconds, latency) - count(before, seconds, latency)).toBeCloseTo(0.012);
  });

  it('includes the Node.js process metrics', async () => {
    const m = await scrape(gateway);
    expect(m.value('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(m.all('nodejs_eventloop_lag_seconds')).toHaveLength(1);
  });

  it('counts a crashed upstream as restarted, and up again once it serves', async () => {
    await http.client.callTool({ name: 'crash', arguments: {} }).catch(() => undefined);
    const m = await eventually(
      gateway,
      (s) =>
        s.value('gatehouse_upstream_restarts_total', { server: 'leg' }) === 1 &&
        s.value('gatehouse_upstream_up', { server: 'leg' }) === 1,
    );
    expect(m.value('gatehouse_upstream_restarts_total', { server: 'leg' })).toBe(1);
    expect(m.value('gatehouse_upstream_up', { server: 'leg' })).toBe(1);
    expect(await http.callText('echo', { message: 'back' })).toBe('back');
  });

  it('counts sessions down as clients close them', async () => {
    const transport = http.transport as { terminateSession?: () => Promise<void> };
    await transport.terminateSession?.();
    await sse.client.close();
    const m = await eventually(
      gateway,
      (s) =>
        s.value('gatehouse_sessions_open', { transport: 'streamable-http' }) === 0 &&
        s.value('gatehouse_sessions_open', { transport: 'sse' }) === 0,
      5_000,
    );
    expect(m.value('gatehouse_sessions_open', { transport: 'streamable-http' })).toBe(0);
    expect(m.value('gatehouse_sessions_open', { transport: 'sse' })).toBe(0);
  });
});

describe('/metrics with an audit log that keeps records', () => {
  it('shows the audit queue depth and the records dropped', async () => {
    const dir = tempDir('gatehouse-metrics-');
    const gateway = await gatewayWith({ audit: `jsonl:${join(dir.path, 'audit.jsonl')}` });
    try {
      const m = await scrape(gateway);
      expect(m.value('gatehouse_audit_queue_depth')).toBe(0);
      expect(m.value('gatehouse_audit_dropped_total')).toBe(0);
    } finally {
      await gateway.close();
      dir.remove();
    }
  });
});

describe('who may scrape /metrics', () => {
  const gateways: Gateway[] = [];
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.close()));
  });

  it('asks for the admin token when one is set, and serves whoever presents it', async () => {
    const gateway = await gatewayWith({ auth: { mode: 'grants', admin_token: 'metrics-admin-secret' } });
    gateways.push(gateway);
    const none = await fetch(`${gateway.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const wrong = await fetch(`${gateway.url}/metrics`, { headers: { authorization: 'Bearer guess' } });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${gateway.url}/metrics`, {
      headers: { authorization: 'Bearer metrics-admin-secret' },
    });
    expect(right.status).toBe(200);
    expect(parseExposition(await right.text()).types.get('gatehouse_calls_total')).toBe('counter');
  });

  it('refuses every scrape on a non-loopback address without an admin token', async () => {
    const gateway = await gatewayWith({ listen: { host: '0.0.0.0', port: 0 }, auth: { mode: 'grants' } });
    gateways.push(gateway);
    const port = new URL(gateway.url).port;
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('auth.admin_token');
  });

  it('answers only GET and HEAD', async () => {
    const gateway = await gatewayWith({});
    gateways.push(gateway);
    expect((await fetch(`${gateway.url}/metrics`, { method: 'POST' })).status).toBe(405);
    const head = await fetch(`${gateway.url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });
});
