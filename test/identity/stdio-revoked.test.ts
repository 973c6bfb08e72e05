// `gatehouse stdio --grant` looks at its grant between messages too: revoked while the client sends
// nothing, the grant is refused (and logged) within a check interval, not only at the next message;
// the next message is refused as before.
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { hashToken } from '../../src/identity/grants.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { runStdio } from '../../src/transports/downstream/stdio.js';
import { featureEntry, tempDir, type TempDir } from '../helpers/gateway.js';
import { readUntil } from '../helpers/wait.js';

const TOKEN = 'stdio-revoked-grant-token-0001';

let home: TempDir | undefined;
afterEach(() => home?.remove());

describe('gatehouse stdio --grant between messages', () => {
  it('a grant revoked while the client is silent is refused within a check interval, and the next message is refused', async () => {
    home = tempDir('gatehouse-stdio-revoked-');
    const state = `${home.path}/state.db`;
    const store = new SqliteStore(state);
    await store.createGrant({
      name: 'quiet',
      token_hash: hashToken(TOKEN),
      agent: 'quiet',
      servers: ['fx'],
      labels: {},
      created: Date.now(),
    });
    const file = home.write('gatehouse.json', {
      state: `sqlite:${state}`,
      audit: 'none',
      servers: { fx: featureEntry({ policy: { version: '1', default: 'allow' } }) },
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
    const send = (m: unknown) => stdin.write(`${JSON.stringify(m)}\n`);
    const answer = (id: number) =>
      readUntil(
        async () => out.find((m) => m['id'] === id),
        (m) => m !== undefined,
        30_000,
      );
    try {
      send({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'quiet', version: '1' } },
      });
      expect((await answer(1))?.['result']).toBeDefined();
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      // Every message so far has been checked and handled before the grant is revoked.
      send({ jsonrpc: '2.0', id: 2, method: 'ping' });
      expect((await answer(2))?.['result']).toBeDefined();
      expect(logged.filter((l) => l.includes('--grant refused'))).toEqual([]);
      await store.revokeGrant('quiet', Date.now());
      const refusedLog = await readUntil(
        async () => logged.filter((l) => l.includes('--grant refused')),
        (lines) => lines.length > 0,
        10_000,
      );
      expect(refusedLog).toEqual([expect.stringMatching(/--grant refused: The grant "quiet" has been revoked/)]);
      send({ jsonrpc: '2.0', id: 3, method: 'tools/list' });
      expect((await answer(3))?.['error']).toMatchObject({
        message: expect.stringMatching(/^Unauthorized: .*revoked/),
      });
    } finally {
      stdin.end();
      await running;
      await store.close();
    }
  }, 60_000);
});
