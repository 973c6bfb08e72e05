// Proves the test harness itself: freePort() gives a port that can be bound, spawnFixture() starts
// http/sse fixtures on the requested or an OS-chosen port and close() really stops them, a stdio
// fixture writes nothing but JSON-RPC to stdout, and the notification recorder waits correctly.
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { NotificationRecorder, StdioPeer, featureServerCommand, freePort, spawnFixture } from '../helpers/index.js';

describe('harness', () => {
  it('freePort returns a port that can be listened on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1023);
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((r) => server.close(r));
  });

  it('spawnFixture listens on the port it was given and stops listening on close()', async () => {
    const port = await freePort();
    const fixture = await spawnFixture({ transport: 'sse', era: 'legacy', port });
    expect(fixture.url).toBe(`http://127.0.0.1:${port}/sse`);
    expect(fixture.downstream).toEqual({ kind: 'sse', url: fixture.url });
    await fixture.close();
    await expect(fetch(`http://127.0.0.1:${port}/sse`)).rejects.toThrow();
  });

  it('spawnFixture picks a free port itself when none is given', async () => {
    const fixture = await spawnFixture({ transport: 'http', era: 'both' });
    try {
      expect(fixture.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
      expect((await fetch(fixture.url!, { method: 'PUT' })).status).toBeGreaterThanOrEqual(400);
    } finally {
      await fixture.close();
    }
  });

  it('a stdio fixture is a command spec, and its stdout carries only JSON-RPC', async () => {
    const fixture = await spawnFixture({ transport: 'stdio', era: 'both' });
    expect(fixture.url).toBeUndefined();
    expect(fixture.downstream).toMatchObject({ kind: 'stdio', command: process.execPath });
    const { command, args } = featureServerCommand('stdio', 'both');
    const peer = StdioPeer.spawn(command, args);
    try {
      peer.send({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      });
      peer.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      peer.send({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'log', arguments: { level: 'error', message: 'x' } },
      });
      expect(await peer.response(2)).toMatchObject({ result: { content: [{ type: 'text', text: 'logged' }] } });
      expect(peer.nonJsonLines).toEqual([]);
      expect(peer.stderr).toContain('[feature-server] starting');
    } finally {
      await peer.close();
    }
  });

  it('NotificationRecorder.waitFor resolves on a matching notification and times out otherwise', async () => {
    const recorder = new NotificationRecorder();
    recorder.record({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'old' } });
    const waiting = recorder.waitFor('notifications/message', (p) => p['data'] === 'new');
    recorder.record({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'other' } });
    recorder.record({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'new' } });
    expect(await waiting).toEqual({ level: 'info', data: 'new' });
    expect(await recorder.waitFor('notifications/message', () => true, { includePast: true })).toMatchObject({
      data: 'old',
    });
    expect(recorder.logging).toHaveLength(3);
    await expect(recorder.waitFor('notifications/progress', () => true, { timeoutMs: 50 })).rejects.toThrow(
      /no notifications\/progress/,
    );
  });
});
