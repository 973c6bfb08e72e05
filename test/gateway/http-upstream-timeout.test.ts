// Proves that a call which times out at the gateway ends its HTTP exchange with a Streamable HTTP
// upstream at once: a modern (2026-07-28) upstream, for which closing a request's stream is the
// cancellation, stops the call's work then, not when the exchange falls silent minutes later. With
// the official SDK client of both eras as the agent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { EPHEMERAL, connectClient, startParsedGateway, type Era } from '../helpers/index.js';
import { waitUntil } from '../helpers/wait.js';
import { startModernServer, type TestServer } from '../transports/http-upstreams.js';

const ERAS: Era[] = ['legacy', 'modern'];

describe('a call that times out at the gateway, to a modern Streamable HTTP upstream', () => {
  let upstream: TestServer & { cancelled: string[] };
  let gw: Gateway;
  beforeAll(async () => {
    upstream = await startModernServer();
    gw = await startParsedGateway({
      ...EPHEMERAL,
      servers: { slow: { url: upstream.url, era: 'modern', timeout_ms: 300 } },
    });
  }, 30_000);
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  for (const era of ERAS) {
    it(`${era} client: the call fails naming the timeout, and the upstream's work is cancelled within a second`, async () => {
      const c = await connectClient({ era, downstream: { kind: 'http', url: `${gw.url}/mcp/slow` } });
      try {
        const tag = `timed-out-${era}`;
        await expect(c.client.callTool({ name: 'wait', arguments: { tag } })).rejects.toThrow(
          /did not answer tools\/call within 300 ms/,
        );
        // The upstream's tool resolves only when its request's abort signal fires.
        await waitUntil(() => upstream.cancelled.includes(tag), 1_000, 'the upstream call was not cancelled');
      } finally {
        await c.close();
      }
    });
  }
});
