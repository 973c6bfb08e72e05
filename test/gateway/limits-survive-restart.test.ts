// Proves that with SQLite state, rate-limit counters live on disk: a limit of 10 an hour that has
// admitted 6 calls admits only 4 more after the gateway is closed and a new one is started on the
// same state file — a restart does not hand an agent a fresh quota.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { CallToolResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import { TSX_LOADER, connectClient, firstText, startParsedGateway, type Era } from '../helpers/index.js';

const DATASET_SERVER = fileURLToPath(new URL('../fixtures/servers/dataset-server.ts', import.meta.url));
const APP = '0b6c1f2e-7a8d-4c1b-9a55-2f3d4e5a6b7c';

function startOn(stateFile: string): Promise<Gateway> {
  return startParsedGateway({
    listen: { host: '127.0.0.1', port: 0 },
    state: `sqlite:${stateFile}`,
    audit: 'none',
    servers: {
      'piwik-pro': {
        command: process.execPath,
        args: ['--import', TSX_LOADER, DATASET_SERVER, '--server', 'piwik-pro'],
        policy: { version: '1', default: 'deny', tools: { audiences_list: { limits: [{ max: 10, window: 'hour' }] } } },
      },
    },
  });
}

/** Makes `n` calls through a fresh gateway client and returns their results. */
async function calls(gateway: Gateway, era: Era, n: number): Promise<CallToolResult[]> {
  const c = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/piwik-pro` } });
  try {
    const out: CallToolResult[] = [];
    for (let i = 0; i < n; i++)
      out.push((await c.client.callTool({ name: 'audiences_list', arguments: { app_id: APP } })) as CallToolResult);
    return out;
  } finally {
    await c.close();
  }
}

describe.each<Era>(['legacy', 'modern'])('limits survive a gateway restart (SQLite state, %s client)', (era) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-restart-'));
  const stateFile = path.join(dir, 'state.db');
  let gateway: Gateway | undefined;
  afterAll(async () => {
    await gateway?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('6 calls, restart, then 4 pass and the 5th is rate limited', async () => {
    gateway = await startOn(stateFile);
    const before = await calls(gateway, era, 6);
    for (const r of before) expect(firstText(r)).toBe(`audiences_list ok: ${JSON.stringify({ app_id: APP })}`);
    await gateway.close();
    gateway = undefined;

    gateway = await startOn(stateFile);
    const after = await calls(gateway, era, 5);
    for (const r of after.slice(0, 4)) {
      expect(r.isError, JSON.stringify(r)).toBeFalsy();
      expect(firstText(r)).toMatch(/^audiences_list ok: /);
    }
    const fifth = after[4]!;
    expect(fifth.isError).toBe(true);
    expect(firstText(fifth)).toMatch(/^\[RATE LIMITED\] /);
    const d = fifth._meta?.['gatehouse/decision'] as Record<string, unknown> | undefined;
    expect(d).toMatchObject({ decision: 'rate_limited', rule: '/tools/audiences_list/limits/0' });
    // The oldest of the 10 admissions is seconds old: the wait is close to the whole hour.
    expect(d?.['retry_after_s']).toBeGreaterThan(3500);
    expect(d?.['retry_after_s']).toBeLessThanOrEqual(3600);
  });
});
