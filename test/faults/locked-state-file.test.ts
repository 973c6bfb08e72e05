// A gateway whose SQLite state file is write-locked by another process (the command line, another
// gateway on the file, a backup) goes on serving: a call that needs the lock (a limited call's
// reservation) waits for it off the thread and goes on once it is let go, while a call that needs
// no write is answered meanwhile. With SQLite's own wait, the whole gateway stopped for as long as
// the lock was held. Both client eras, through the official SDK clients.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdWriteLock } from '../store/hold-write-lock.js';
import {
  connectClient,
  featureEntry,
  startFileGateway,
  type ConnectedClient,
  type FileGateway,
} from '../helpers/index.js';

describe.each(['legacy', 'modern'] as const)('a write-locked SQLite state file (%s client)', (era) => {
  let gw: FileGateway;
  let client: ConnectedClient;
  beforeAll(async () => {
    gw = await startFileGateway('gatehouse-locked-state-', {
      listen: { host: '127.0.0.1', port: 0 },
      // The audit log lives in the state file too (the default).
      state: 'sqlite:./state.db',
      servers: {
        feature: featureEntry(
          { policy: { version: '1', default: 'allow', tools: { echo: { limits: [{ max: 100, window: 'minute' }] } } } },
          'both',
        ),
      },
    });
    client = await connectClient({ era, downstream: { kind: 'http', url: `${gw.gateway.url}/mcp/feature` } });
    // The file's tables and the tools' pins are written before the lock is taken.
    expect(await client.callText('echo', { message: 'before' })).toBe('before');
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await gw?.close();
  });

  it('answers a call that needs no write while a limited call waits for the lock, then answers the limited call', async () => {
    // 4 s: inside the store's 5 s wait, so the limited call is not refused; far longer than a call.
    const lock = await holdWriteLock(path.join(gw.dir.path, 'state.db'), 4000);
    try {
      lock.writing();
      const limited = client.callText('echo', { message: 'waited' });
      expect(await client.callText('add', { a: 2, b: 3 })).toBe('5');
      // Answered while the other process still held the lock: the gateway's thread was not waiting.
      expect(lock.released()).toBe(false);
      await lock.end();
      expect(await limited).toBe('waited');
    } finally {
      await lock.end();
    }
  });
});
