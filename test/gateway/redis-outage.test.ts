// Proves how a gateway on Redis state lives through an outage, in both protocol eras: while Redis
// cannot be reached, calls with limits are blocked with a reason that says so (fail closed), calls
// without limits go on, /readyz reports the store unreachable, and nothing crashes; when Redis is
// back the limits work again without a restart. With `state_failure: open` limited calls pass during
// the outage and the log says so at error level. Redis here is a private redis-server this test
// starts, kills and starts again, and a port where nothing listens.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import {
  connectClient,
  featureServerCommand,
  firstText,
  freePort,
  startParsedGateway,
  type ConnectedClient,
  type Era,
} from '../helpers/index.js';
import { PrivateRedis } from '../store/redis-support.js';

const POLICY = {
  version: '1',
  default: 'allow',
  tools: { add: { limits: [{ max: 1000, window: 'minute' }] } },
};

async function gatewayOn(state: string, extra: Record<string, unknown> = {}, log?: (line: string) => void) {
  const { command, args } = featureServerCommand('stdio', 'both');
  return startParsedGateway(
    {
      listen: { host: '127.0.0.1', port: 0 },
      state,
      audit: 'none',
      servers: { feat: { command, args, policy: POLICY, ...extra } },
    },
    { log },
  );
}

const add = (c: ConnectedClient) =>
  c.client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }) as Promise<CallToolResult>;
const echo = (c: ConnectedClient) =>
  c.client.callTool({ name: 'echo', arguments: { message: 'hi' } }) as Promise<CallToolResult>;

async function readyz(gateway: Gateway): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gateway.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function expectStoreBlocked(r: CallToolResult): void {
  expect(r.isError, JSON.stringify(r)).toBe(true);
  expect(firstText(r)).toMatch(/store is unavailable.*Redis state store at 127\.0\.0\.1:\d+\/0 is unreachable/);
}

describe.each<Era>(['legacy', 'modern'])('Redis outage (%s client)', (era) => {
  it('a store on a port where nothing listens: limited calls are blocked with the reason, others pass, /readyz says so', async () => {
    const port = await freePort();
    // Pins would need the store to check each tool; this shows the limits path alone.
    const gateway = await gatewayOn(`redis://127.0.0.1:${port}/0`, { pins: 'off' });
    const c = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/feat` } });
    try {
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? add(c) : echo(c))));
      for (const [i, r] of results.entries()) {
        if (i % 2) expectStoreBlocked(r);
        else expect(firstText(r)).toBe('hi');
      }
      const ready = await readyz(gateway);
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ status: 'store_unreachable', store: { kind: 'redis', reachable: false } });
    } finally {
      await c.close();
      await gateway.close();
    }
  });

  describe('Redis killed under load and started again', () => {
    let redis: PrivateRedis;
    let gateway: Gateway;
    let c: ConnectedClient;
    beforeAll(async () => {
      redis = await PrivateRedis.start();
      gateway = await gatewayOn(redis.url);
      c = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/feat` } });
    });
    afterAll(async () => {
      await c?.close();
      await gateway?.close();
      await redis?.stop();
    });

    it('blocks limited calls while it is down, lets the others through, and limits work again once it is back', async () => {
      expect(firstText(await add(c))).toBe('3');
      expect((await readyz(gateway)).body).toMatchObject({ store: { kind: 'redis', reachable: true } });
      // Calls keep coming while Redis dies.
      const during = Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? add(c) : echo(c))));
      await redis.stop();
      await during;
      const down = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? add(c) : echo(c))));
      for (const [i, r] of down.entries()) {
        if (i % 2) expectStoreBlocked(r);
        else expect(firstText(r)).toBe('hi');
      }
      const ready = await readyz(gateway);
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ store: { reachable: false } });

      await redis.start();
      await vi.waitFor(async () => expect(firstText(await add(c))).toBe('3'), { timeout: 15_000, interval: 200 });
      expect((await readyz(gateway)).body).toMatchObject({ store: { reachable: true } });
      // The counter is the fresh server's: a limit is enforced again, not merely skipped.
      const after = await Promise.all(Array.from({ length: 20 }, () => add(c)));
      expect(after.every((r) => firstText(r) === '3')).toBe(true);
    }, 60_000);
  });

  it('state_failure: open lets limited calls through while the store is down and logs it at error level', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const gateway = await gatewayOn(`redis://127.0.0.1:${port}/0`, { pins: 'off', state_failure: 'open' }, (l) =>
      lines.push(l),
    );
    const c = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/feat` } });
    try {
      const results = await Promise.all(Array.from({ length: 5 }, () => add(c)));
      expect(results.map((r) => firstText(r))).toEqual(['3', '3', '3', '3', '3']);
      const reports = lines.filter((l) => /passed WITHOUT their rate limits/.test(l));
      // Reported, but not once per call: at most one line per server every ten seconds.
      expect(reports.length).toBe(1);
      expect(reports[0]).toMatch(/error/i);
      expect(reports[0]).toMatch(/state_failure: open/);
    } finally {
      await c.close();
      await gateway.close();
    }
  });
});
