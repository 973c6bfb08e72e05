// Proves that `gatehouse stdio` logs as `gatehouse start` does: through pino to stderr, one JSON
// object per line when stderr is not a terminal, with `level`, `time` and `msg`, at the config's
// `log.level` (lines below it are not written), while stdout carries only the MCP stream: a real
// SDK client of each era completes its calls over it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_MAIN } from '../helpers/cli.js';
import { TSX_LOADER, connectClient, featureServerCommand, type Era } from '../helpers/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-stdio-logs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs one call through `gatehouse stdio` with the given log level; returns what it wrote to stderr. */
async function stderrOf(era: Era, level: string): Promise<string> {
  const file = path.join(dir, `gatehouse-${era}-${level}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      state: 'memory:',
      audit: 'none',
      log: { level },
      // No policy: the gateway warns about it at start.
      servers: { feat: { ...featureServerCommand('stdio', 'both'), timeout_ms: 20_000 } },
    }),
  );
  const c = await connectClient({
    era,
    downstream: {
      kind: 'stdio',
      command: process.execPath,
      args: ['--import', TSX_LOADER, CLI_MAIN, 'stdio', 'feat', '-c', file],
      env: { GATEHOUSE_CONFIG: '' },
    },
    timeoutMs: 30_000,
  });
  try {
    expect(await c.callText('echo', { message: `over stdio, ${era}` })).toBe(`over stdio, ${era}`);
  } finally {
    await c.close();
  }
  return c.stderr();
}

function entries(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe.each<Era>(['legacy', 'modern'])('gatehouse stdio logs, %s client', (era) => {
  it('writes JSON lines to stderr at log.level info: the warning and the info line', async () => {
    const lines = entries(await stderrOf(era, 'info'));
    for (const l of lines) {
      expect(l).toHaveProperty('time');
      expect(['info', 'warn', 'error']).toContain(l.level);
    }
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'warn', msg: expect.stringContaining('server "feat" has no policy') }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'info', msg: expect.stringContaining('upstream "feat" ready') }),
    );
  }, 60_000);

  it('leaves out what is below log.level warn', async () => {
    const lines = entries(await stderrOf(era, 'warn'));
    expect(lines.some((l) => String(l.msg).includes('has no policy'))).toBe(true);
    expect(lines.filter((l) => l.level === 'info' || l.level === 'debug')).toEqual([]);
  }, 60_000);
});
