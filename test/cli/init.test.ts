// Proves `gatehouse init`: the starter gatehouse.yaml and policies/example.yaml it writes load and
// pass `gatehouse policy check` as they are, `gatehouse start` serves them (an SDK client sees an
// allowed call pass and a denied one blocked), and existing files are refused without --force.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { runCli, startGatehouse } from '../helpers/cli.js';
import { connectClient, firstText, freePort, stopProcess } from '../helpers/index.js';

const SPAWN_TIMEOUT_MS = 120_000;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-init-'));
  const run = await runCli(['init'], { cwd: dir });
  expect(run.code, run.stderr).toBe(0);
  expect(run.stdout).toContain('Wrote gatehouse.yaml and policies/example.yaml');
}, SPAWN_TIMEOUT_MS);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gatehouse init', { timeout: SPAWN_TIMEOUT_MS }, () => {
  it('writes a commented config whose policy file passes gatehouse policy check', async () => {
    const config = readFileSync(join(dir, 'gatehouse.yaml'), 'utf8');
    expect(config).toMatch(/^# Gatehouse configuration/);
    expect(config).toContain('policy: ./policies/example.yaml');
    const loaded = await loadConfig({ cwd: dir });
    expect(loaded.path).toBe(join(dir, 'gatehouse.yaml'));
    expect(Object.keys(loaded.config.servers)).toEqual(['example']);
    const check = await runCli(['policy', 'check', 'policies/example.yaml'], { cwd: dir });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toBe('policies/example.yaml: ok\n');
  });

  it('is served by gatehouse start: an allowed call passes and a denied call is blocked', async () => {
    // The starter listens on 8080; the test moves it to a free port so that it cannot collide.
    const served = mkdtempSync(join(tmpdir(), 'gatehouse-init-served-'));
    const port = await freePort();
    const text = readFileSync(join(dir, 'gatehouse.yaml'), 'utf8').replace('port: 8080', `port: ${port}`);
    writeFileSync(join(served, 'gatehouse.yaml'), text);
    const init = await runCli(['init', '--force'], { cwd: served });
    expect(init.code).toBe(0);
    writeFileSync(join(served, 'gatehouse.yaml'), text);
    const proc = await startGatehouse([], {
      cwd: served,
      ready: /Gatehouse is running on (http:\/\/\S+)/,
      timeoutMs: 60_000,
    });
    try {
      const c = await connectClient({ era: 'legacy', downstream: { kind: 'http', url: `${proc.match}/mcp/example` } });
      try {
        expect(await c.callText('echo', { message: 'hello' })).toBe('hello');
        const blocked = await c.client.callTool({ name: 'delete_note', arguments: { id: '1' } });
        expect(blocked.isError).toBe(true);
        expect(firstText(blocked)).toBe('[POLICY DENIED] Deleting notes is not allowed by the example policy.');
      } finally {
        await c.close();
      }
    } finally {
      await stopProcess(proc.child);
      rmSync(served, { recursive: true, force: true });
    }
  });

  it('refuses to overwrite without --force (exit 2, naming the files and the flag)', async () => {
    writeFileSync(join(dir, 'policies', 'example.yaml'), '# edited\n');
    const run = await runCli(['init'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('gatehouse.yaml and policies/example.yaml already exist; add --force to overwrite');
    expect(readFileSync(join(dir, 'policies', 'example.yaml'), 'utf8')).toBe('# edited\n');
  });
});
