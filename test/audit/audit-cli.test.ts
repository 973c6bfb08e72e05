// Proves `gatehouse audit`: it reads the sink the config names; each filter flag selects exactly
// its records; --json prints them with the cursor of the next page; --since leaves out older
// records; a wrong flag is a usage error (exit 2); and --follow prints records stored after it started.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { SqliteAuditSink } from '../../src/audit/sqlite-sink.js';
import { CLI_MAIN, runCli } from '../helpers/cli.js';
import { TSX_LOADER } from '../helpers/fixture.js';
import { makeRecord, recordSeries } from './make-record.js';
import { waitUntil } from '../helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-audit-cli-'));
const db = join(dir, 'audit.db');
const config = join(dir, 'gatehouse.yaml');
const now = Date.now();
// 30 records of the last 30 seconds, and one from two hours ago.
const recent = recordSeries(30, now - 30_000);
const old = makeRecord({ ts: now - 2 * 3600_000, request_id: 'old', server: 'memory', decision: 'deny' });

beforeAll(async () => {
  writeFileSync(
    config,
    `state: "memory:"\naudit: "sqlite:${db}"\nservers:\n  github: { command: npx }\n  memory: { command: npx }\n`,
  );
  const sink = new SqliteAuditSink(db);
  await sink.insert([old, ...recent]);
  await sink.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const audit = async (...args: string[]) => {
  const run = await runCli(['audit', '-c', config, ...args]);
  return { ...run, json: run.code === 0 && args.includes('--json') ? JSON.parse(run.stdout) : undefined };
};
const ids = (records: AuditRecord[]) => records.map((r) => r.request_id).sort();

describe('gatehouse audit', () => {
  it('--json prints every record of the filter, oldest first, and no next cursor when all fit', async () => {
    const { json } = await audit('--server', 'memory', '--json');
    const expected = [old, ...recent].filter((r) => r.server === 'memory');
    expect(json.records.map((r: AuditRecord) => r.request_id)).toEqual(expected.map((r) => r.request_id));
    expect(json.next_cursor).toBeNull();
  });

  it('combines --tool, --grant, --agent and --decision', async () => {
    const { json } = await audit('--tool', 'delete_repo', '--grant', 'support', '--decision', 'deny', '--json');
    const expected = recent.filter((r) => r.tool === 'delete_repo' && r.grant === 'support' && r.decision === 'deny');
    expect(expected.length).toBeGreaterThan(0);
    expect(ids(json.records)).toEqual(ids(expected));
    const byAgent = await audit('--agent', 'ci-bot', '--json');
    expect(ids(byAgent.json.records)).toEqual(ids([old, ...recent].filter((r) => r.agent === 'ci-bot')));
  });

  it('--since leaves out older records, and --limit gives the newest and a cursor', async () => {
    const { json } = await audit('--since', '1h', '--json', '--limit', '1000');
    expect(json.records).toHaveLength(30);
    const limited = await audit('--limit', '5', '--json');
    expect(limited.json.records.map((r: AuditRecord) => r.request_id)).toEqual(['25', '26', '27', '28', '29']);
    expect(typeof limited.json.next_cursor).toBe('string');
  });

  it('prints a table by default', async () => {
    const { code, stdout } = await audit('--decision', 'deny', '--since', '1h');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+SERVER\s+TOOL\s+GRANT\s+AGENT\s+DECISION/);
    expect(lines).toHaveLength(1 + recent.filter((r) => r.decision === 'deny').length);
    expect(lines.slice(1).every((l) => / deny /.test(l))).toBe(true);
  });

  it('refuses an unknown decision and a bad time with exit 2', async () => {
    expect((await audit('--decision', 'maybe')).code).toBe(2);
    const bad = await audit('--since', 'yesterday');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since');
  });

  it('--follow prints records stored after it started', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        TSX_LOADER,
        CLI_MAIN,
        'audit',
        '-c',
        config,
        '--follow',
        '--json',
        '--limit',
        '1',
        '--server',
        'github',
      ],
      { env: { ...process.env, GATEHOUSE_CONFIG: '' } },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      await until(() => out.split('\n').filter(Boolean).length >= 1);
      const sink = new SqliteAuditSink(db);
      await sink.insert([
        makeRecord({ ts: Date.now(), request_id: 'live-1', server: 'github' }),
        makeRecord({ ts: Date.now(), request_id: 'live-2', server: 'memory' }),
        makeRecord({ ts: Date.now(), request_id: 'live-3', server: 'github' }),
      ]);
      await sink.close();
      await until(() => out.includes('live-3'));
      const seen = out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as AuditRecord).request_id);
      expect(seen).toEqual(['28', 'live-1', 'live-3']);
    } finally {
      child.kill();
    }
  });
});

const until = (check: () => boolean, ms = 15_000): Promise<void> =>
  waitUntil(check, ms, 'timed out waiting for the command', 50);
