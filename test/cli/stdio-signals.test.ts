// Proves that `gatehouse stdio`, stopped by the signal a client sends the command it launched
// (SIGTERM or SIGINT) right after a call was answered, still stores that call's audit record, and
// exits, as it does when its stdin closes.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_MAIN } from '../helpers/cli.js';
import { TSX_LOADER } from '../helpers/fixture.js';
import { featureEntry, tempDir } from '../helpers/gateway.js';
import { StdioPeer } from '../helpers/wire.js';

const dir = tempDir('gatehouse-stdio-signals-');
afterAll(() => dir.remove());

describe.each(['SIGTERM', 'SIGINT'] as const)('gatehouse stdio stopped with %s', (signal) => {
  it('stores the audit record of the call it just answered, then exits', async () => {
    const audit = join(dir.path, `audit-${signal}.jsonl`);
    const file = dir.write(`gatehouse-${signal}.json`, {
      state: 'memory:',
      audit: `jsonl:${audit}`,
      servers: { feat: featureEntry({ policy: { version: '1', default: 'allow' } }) },
    });
    const peer = StdioPeer.spawn(process.execPath, ['--import', TSX_LOADER, CLI_MAIN, 'stdio', 'feat', '-c', file], {
      GATEHOUSE_CONFIG: '',
    });
    peer.send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'signals', version: '1' } },
    });
    expect((await peer.response(1, 30_000)).result).toBeDefined();
    peer.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    peer.send({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'echo', arguments: { message: 'kept' } },
    });
    expect(await peer.response(2)).toMatchObject({ result: { content: [{ type: 'text', text: 'kept' }] } });
    const exited = new Promise<number | null>((resolve) => peer.child.on('exit', (code) => resolve(code)));
    peer.child.kill(signal);
    expect(await exited).not.toBeNull();
    expect(existsSync(audit)).toBe(true);
    const records = readFileSync(audit, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { tool: string; decision: string });
    expect(records).toContainEqual(expect.objectContaining({ tool: 'echo', decision: 'allow' }));
  }, 60_000);
});
