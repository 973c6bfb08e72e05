// Proves what `gatehouse start` does with logs and metrics as a user runs it: with stderr not a
// terminal, every line it writes there is a JSON object with a level and a message (the level set
// by `log.level` in the config), stdout lists /metrics among the endpoints and that URL answers a
// scrape, and the shutdown on SIGTERM is logged the same way.
import { describe, expect, it } from 'vitest';
import { startGatehouse } from '../helpers/cli.js';
import { EPHEMERAL, featureEntry, stopProcess, tempDir } from '../helpers/index.js';
import { parseExposition } from './prom-text.js';

describe('gatehouse start', () => {
  it('logs JSON lines on a non-terminal stderr and serves the /metrics it lists', async () => {
    const dir = tempDir('gatehouse-obs-');
    const file = dir.write('gatehouse.json', {
      ...EPHEMERAL,
      log: { level: 'debug' },
      servers: { leg: featureEntry() },
    });
    const proc = await startGatehouse(['-c', file], {
      ready: /^\s+(http:\S+\/metrics)\s+Prometheus metrics$/m,
      timeoutMs: 30_000,
    });
    try {
      const res = await fetch(proc.match);
      expect(res.status).toBe(200);
      expect(parseExposition(await res.text()).value('gatehouse_upstream_up', { server: 'leg' })).toBe(1);
    } finally {
      await stopProcess(proc.child);
      dir.remove();
    }
    const entries = proc
      .stderr()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: string; msg: string; time: string });
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) {
      expect(['trace', 'debug', 'info', 'warn', 'error']).toContain(e.level);
      expect(typeof e.msg).toBe('string');
    }
    expect(entries).toContainEqual(
      expect.objectContaining({ level: 'warn', msg: expect.stringContaining('has no policy') }),
    );
    expect(entries).toContainEqual(
      expect.objectContaining({ level: 'info', msg: expect.stringMatching(/^upstream "leg" ready/) }),
    );
    expect(entries).toContainEqual(
      expect.objectContaining({ level: 'info', msg: 'SIGTERM received: closing the gateway' }),
    );
  }, 60_000);
});
