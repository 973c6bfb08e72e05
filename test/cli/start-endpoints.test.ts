// Proves that `gatehouse start` prints the dashboard and the admin API among its endpoints (DESIGN
// section 4), and that the dashboard URL it prints answers with the dashboard's page.
import { describe, expect, it } from 'vitest';
import { startGatehouse } from '../helpers/cli.js';
import { EPHEMERAL, featureEntry, stopProcess, tempDir } from '../helpers/index.js';

describe('gatehouse start', () => {
  it('lists the admin API and the dashboard, and the printed dashboard URL serves it', async () => {
    const dir = tempDir('gatehouse-start-');
    const file = dir.write('gatehouse.json', {
      ...EPHEMERAL,
      auth: { mode: 'none', admin_token: 'an-admin-token-for-the-start-test' },
      servers: { leg: featureEntry() },
    });
    const proc = await startGatehouse(['-c', file], {
      // The admin API line, then the dashboard line whose URL is captured.
      ready:
        /^\s+http:\S+\/api\/v1\s+admin API \(admin token\)\n\s+(http:\S+\/ui\/)\s+dashboard \(sign in with an admin token\)$/m,
      timeoutMs: 30_000,
    });
    try {
      const res = await fetch(proc.match);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await res.text()).toContain('<div id="app"');
    } finally {
      await stopProcess(proc.child);
      dir.remove();
    }
  }, 60_000);
});
