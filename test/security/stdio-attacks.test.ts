// Attacks on `gatehouse stdio <server> --grant TOKEN`: a local client that writes any bytes it
// likes to the gateway's stdin. What reaches the server must be exactly what the grant's policy
// allows over HTTP, and no line, however long or malformed, may stop the gateway.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, type JsonObject } from '../helpers/index.js';
import {
  ALICE,
  FS_POLICY,
  received,
  receivedCalls,
  startHarness,
  stdioDriver,
  within,
  toolCall,
  type Harness,
} from './support.js';

/** FS_POLICY, with the secret resources hidden from every grant. */
const POLICY = { ...FS_POLICY, resources: { 'secret://*': { action: 'hide' } } };

/** What the upstream was asked to subscribe to. */
function subscribed(record: string): unknown[] {
  return received(record)
    .filter((m) => m['method'] === 'resources/subscribe')
    .map((m) => (m['params'] as JsonObject | undefined)?.['uri']);
}

function listen(id: string, uris: string[]): JsonObject {
  return {
    jsonrpc: '2.0',
    id,
    method: 'subscriptions/listen',
    params: { notifications: { resourceSubscriptions: uris }, _meta: envelope() },
  };
}

describe('gatehouse stdio: resource subscriptions follow the policy', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ policies: { fs: POLICY } });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  it('a 2026-07-28 subscriptions/listen over stdio never subscribes the server to a hidden resource', async () => {
    const stdio = await stdioDriver(h, 'modern', ALICE);
    try {
      stdio.peer.send(listen('s1', ['secret://stdio-keys', 'public://notes']));
      const ack = await stdio.peer.next((m) => m['method'] === 'notifications/subscriptions/acknowledged', 20_000);
      const honored = ((ack['params'] as JsonObject)['notifications'] ?? {}) as JsonObject;
      expect(honored['resourceSubscriptions']).toEqual(['public://notes']);
      // The shown resource was asked for upstream (so the record is read in time); the hidden one never was.
      expect(subscribed(h.records.fs)).toContain('public://notes');
      expect(subscribed(h.records.fs)).not.toContain('secret://stdio-keys');
    } finally {
      await stdio.close();
    }
  }, 60_000);

  it('a 2026-07-28 request over stdio whose method that revision lacks is refused -32601 as over HTTP, and never reaches the server', async () => {
    const stdio = await stdioDriver(h, 'modern', ALICE);
    try {
      const lacking: [string, JsonObject][] = [
        ['resources/subscribe', { uri: 'secret://stdio-modern-keys' }],
        ['resources/unsubscribe', { uri: 'public://notes' }],
        [
          'initialize',
          { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'forged', version: '1' } },
        ],
        ['logging/setLevel', { level: 'emergency' }],
        ['ping', {}],
      ];
      for (const [method, params] of lacking) {
        const answer = await stdio.request({
          jsonrpc: '2.0',
          id: `m-${method}`,
          method,
          params: { ...params, _meta: envelope() },
        });
        expect((answer['error'] as JsonObject | undefined)?.['code'], method).toBe(-32601);
        expect(String((answer['error'] as JsonObject)['message'])).toContain('does not exist in protocol revision');
      }
      // A call after them reaches the server, so the record below holds everything sent before it.
      const after = await stdio.request(toolCall('modern', 'after-lacking', 'read_file', { path: '/public/lacking' }));
      expect(after['result']).toBeDefined();
      const methods = received(h.records.fs);
      expect(receivedCalls(h.records.fs).map((c) => (c.arguments as JsonObject | undefined)?.['path'])).toContain(
        '/public/lacking',
      );
      expect(subscribed(h.records.fs)).not.toContain('secret://stdio-modern-keys');
      expect(methods.some((m) => m['method'] === 'resources/unsubscribe' || m['method'] === 'logging/setLevel')).toBe(
        false,
      );
      expect(JSON.stringify(methods)).not.toContain('forged');
    } finally {
      await stdio.close();
    }
  }, 60_000);
});

describe('gatehouse stdio: a line longer than limits.max_body_bytes', () => {
  const MAX = 4096;
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ config: { limits: { max_body_bytes: MAX } } });
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  it('is refused with -32600 Payload Too Large and never reaches the server, as an HTTP body over the limit is', async () => {
    const stdio = await stdioDriver(h, 'legacy', ALICE);
    try {
      const long = toolCall('legacy', 'long', 'read_file', { path: `/public/${'a'.repeat(2 * MAX)}` });
      stdio.peer.send(long);
      const refused = await stdio.peer.next((m) => 'error' in m, 20_000);
      expect(refused['id']).toBeNull();
      expect((refused['error'] as JsonObject)['code']).toBe(-32600);
      expect(String((refused['error'] as JsonObject)['message'])).toMatch(/Payload Too Large/);
      // The gateway goes on serving the same client.
      const short = await stdio.request(toolCall('legacy', 'short', 'read_file', { path: '/public/a' }));
      expect(short['result']).toBeDefined();
      const paths = receivedCalls(h.records.fs).map((c) => (c.arguments as JsonObject | undefined)?.['path']);
      expect(paths).toContain('/public/a');
      expect(paths.some((p) => typeof p === 'string' && p.length > MAX)).toBe(false);
    } finally {
      await stdio.close();
    }
  }, 60_000);

  it('of 64 MiB without a newline is discarded as it arrives and the gateway keeps answering', async () => {
    const stdio = await stdioDriver(h, 'modern', ALICE);
    try {
      const stdin = stdio.peer.child.stdin!;
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      for (let i = 0; i < 64; i++) {
        if (!stdin.write(chunk)) await new Promise((r) => stdin.once('drain', r));
      }
      stdin.write('\n');
      const refused = await stdio.peer.next((m) => 'error' in m, 30_000);
      expect(String((refused['error'] as JsonObject)['message'])).toMatch(/Payload Too Large/);
      const after = await within(
        20_000,
        stdio.request(toolCall('modern', 'after', 'read_file', { path: '/public/b' })),
        'the answer after the long line',
      );
      expect(after['result']).toBeDefined();
      expect(stdio.peer.child.exitCode).toBeNull();
    } finally {
      await stdio.close();
    }
  }, 90_000);
});
