// Gatehouse's own stdio client transport: what the SDK's does (environment, framing, errors, the
// shutdown sequence), plus one write per event-loop turn for the messages sent in it.
import { describe, expect, it } from 'vitest';
import { defaultEnvironment, StdioUpstreamTransport } from '../../src/transports/upstream/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { waitUntil } from '../helpers/wait.js';

/** A child that answers every line with how many lines arrived in the same read, and its env. */
const COUNTING_CHILD = `
let buf = '';
process.stdin.on('data', (chunk) => {
  buf += chunk;
  const lines = buf.split('\\n');
  buf = lines.pop();
  for (const line of lines) {
    const m = JSON.parse(line);
    process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { inRead: lines.length, secret: process.env.GATEHOUSE_TEST_SECRET ?? null, home: process.env.HOME ?? null } }) + '\\n');
  }
});
process.stderr.write('started\\n');
`;

function transport(script: string, env = defaultEnvironment()): StdioUpstreamTransport {
  return new StdioUpstreamTransport({ command: process.execPath, args: ['-e', script], env });
}

function collect(t: StdioUpstreamTransport): JSONRPCMessage[] {
  const got: JSONRPCMessage[] = [];
  t.onmessage = (m) => got.push(m);
  return got;
}

describe('stdio upstream transport', () => {
  it('writes the messages sent in one turn together, in order, and reads the answers', async () => {
    const t = transport(COUNTING_CHILD);
    const got = collect(t);
    await t.start();
    await Promise.all(Array.from({ length: 20 }, (_, i) => t.send({ jsonrpc: '2.0', id: i, method: 'ping' })));
    await waitUntil(() => got.length === 20);
    expect(got.map((m) => (m as { id: number }).id)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // All twenty arrived in one read of the child's stdin.
    expect(got.every((m) => (m as unknown as { result: { inRead: number } }).result.inRead === 20)).toBe(true);
    await t.close();
  });

  it("passes only the safe part of the gateway's environment, and stderr lines from the very start", async () => {
    process.env.GATEHOUSE_TEST_SECRET = 'hunter2';
    try {
      expect(defaultEnvironment()).not.toHaveProperty('GATEHOUSE_TEST_SECRET');
      const t = transport(COUNTING_CHILD);
      let stderr = '';
      t.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const got = collect(t);
      await t.start();
      await t.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
      await waitUntil(() => got.length === 1 && stderr.includes('started'));
      expect((got[0] as unknown as { result: { secret: unknown; home: unknown } }).result).toMatchObject({
        secret: null,
        home: process.env.HOME ?? null,
      });
      await t.close();
    } finally {
      delete process.env.GATEHOUSE_TEST_SECRET;
    }
  });

  it('reports a malformed message and still reads the lines after it; skips lines that are not JSON', async () => {
    const t = transport(
      `process.stdout.write('not json\\n{"jsonrpc":"2.0","id":1,"bogus":true}\\n{"jsonrpc":"2.0","id":2,"result":{}}\\n'); setInterval(() => {}, 1000);`,
    );
    const got = collect(t);
    const errors: Error[] = [];
    t.onerror = (e) => errors.push(e);
    await t.start();
    await waitUntil(() => got.length === 1);
    expect(got).toEqual([{ jsonrpc: '2.0', id: 2, result: {} }]);
    expect(errors).toHaveLength(1);
    await t.close();
  });

  it('stops a child that ignores the end of its input and SIGTERM, then refuses to send', async () => {
    const t = transport(`process.on('SIGTERM', () => {}); process.stdin.resume(); setInterval(() => {}, 1000);`);
    let closed = false;
    t.onclose = () => (closed = true);
    await t.start();
    const pid = t.pid!;
    await t.close();
    await waitUntil(() => closed);
    expect(() => process.kill(pid, 0)).toThrow();
    await expect(t.send({ jsonrpc: '2.0', id: 1, method: 'ping' })).rejects.toThrow('Not connected');
  }, 15_000);

  it('fails to start with the spawn error for a command that does not exist', async () => {
    const t = new StdioUpstreamTransport({ command: 'gatehouse-no-such-command', env: defaultEnvironment() });
    t.onerror = () => {};
    await expect(t.start()).rejects.toThrow(/ENOENT/);
  });
});
