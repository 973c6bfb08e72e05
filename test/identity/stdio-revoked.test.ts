// `gatehouse stdio --grant` looks at its grant between messages too: revoked while the client sends
// nothing, the grant is refused (and logged) within a check interval, not only at the next message;
// the next message is refused as before. A 2026-07-28 call still in flight then (held for a
// person's approval) is answered with why the session ended, not left without an answer.
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { hashToken } from '../../src/identity/grants.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { runStdio } from '../../src/transports/downstream/stdio.js';
import { featureEntry, tempDir, type TempDir } from '../helpers/gateway.js';
import { modernRequest } from '../helpers/index.js';
import { readUntil } from '../helpers/wait.js';

const TOKEN = 'stdio-revoked-grant-token-0001';

let home: TempDir | undefined;
afterEach(() => home?.remove());

/** `gatehouse stdio --grant` for the grant `name` on the feature fixture under `policy`, checked every 200 ms. */
async function stdioUnderGrant(name: string, policy: unknown) {
  home = tempDir('gatehouse-stdio-revoked-');
  const state = `${home.path}/state.db`;
  const store = new SqliteStore(state);
  await store.createGrant({
    name,
    token_hash: hashToken(TOKEN),
    agent: name,
    servers: ['fx'],
    labels: {},
    created: Date.now(),
  });
  const file = home.write('gatehouse.json', {
    state: `sqlite:${state}`,
    audit: 'none',
    servers: { fx: featureEntry({ policy }) },
  });
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const out: Record<string, unknown>[] = [];
  let buffered = '';
  stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) if (line.trim()) out.push(JSON.parse(line) as Record<string, unknown>);
  });
  const logged: string[] = [];
  const running = runStdio(await loadConfig({ file }), 'fx', {
    stdin,
    stdout,
    log: (line) => logged.push(line),
    grant: TOKEN,
    grantCheckMs: 200,
  });
  return {
    store,
    logged,
    send: (m: unknown) => stdin.write(`${JSON.stringify(m)}\n`),
    answer: (id: number) =>
      readUntil(
        async () => out.find((m) => m['id'] === id),
        (m) => m !== undefined,
        30_000,
      ),
    refusedLog: () =>
      readUntil(
        async () => logged.filter((l) => l.includes('--grant refused')),
        (lines) => lines.length > 0,
        10_000,
      ),
    stop: async () => {
      stdin.end();
      await running;
      await store.close();
    },
  };
}

describe('gatehouse stdio --grant between messages', () => {
  it('a grant revoked while the client is silent is refused within a check interval, and the next message is refused', async () => {
    const io = await stdioUnderGrant('quiet', { version: '1', default: 'allow' });
    try {
      io.send({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'quiet', version: '1' } },
      });
      expect((await io.answer(1))?.['result']).toBeDefined();
      io.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      // Every message so far has been checked and handled before the grant is revoked.
      io.send({ jsonrpc: '2.0', id: 2, method: 'ping' });
      expect((await io.answer(2))?.['result']).toBeDefined();
      expect(io.logged.filter((l) => l.includes('--grant refused'))).toEqual([]);
      await io.store.revokeGrant('quiet', Date.now());
      expect(await io.refusedLog()).toEqual([
        expect.stringMatching(/--grant refused: The grant "quiet" has been revoked/),
      ]);
      io.send({ jsonrpc: '2.0', id: 3, method: 'tools/list' });
      expect((await io.answer(3))?.['error']).toMatchObject({
        message: expect.stringMatching(/^Unauthorized: .*revoked/),
      });
    } finally {
      await io.stop();
    }
  }, 60_000);

  it('a 2026-07-28 call held for approval when the grant is revoked is answered with why the session ended', async () => {
    const io = await stdioUnderGrant('held', {
      version: '1',
      default: 'allow',
      tools: { echo: { action: 'require_approval', approval: { mode: 'hold', timeout: '1m' } } },
    });
    try {
      io.send(modernRequest(1, 'tools/call', { name: 'echo', arguments: { message: 'held' } }));
      await readUntil(
        async () => (await io.store.listApprovals({ status: ['pending'] })).length,
        (n) => n === 1,
        10_000,
      );
      await io.store.revokeGrant('held', Date.now());
      expect((await io.answer(1))?.['error']).toMatchObject({
        message: 'The session ended before this request\'s answer was sent: The grant "held" has been revoked.',
      });
    } finally {
      await io.stop();
    }
  }, 60_000);
});
