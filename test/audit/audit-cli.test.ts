// Proves `gatehouse audit`: it reads the sink the config names; each filter flag selects exactly
// its records; --json prints them with the cursor of the next page; --since leaves out older
// records; a wrong flag is a usage error (exit 2); --follow prints records stored after it started;
// and the table shows control characters in client-chosen text escaped, one record to a line.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLine } from '../../src/audit/format-table.js';
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
// Text a client chose, meant to move the cursor, erase rows, recolour, and print a forged row.
const ESCAPES = '\x1b[1A\x1b[2K\x1b[32mOK\x1b[0m\r\n';
const FORGED = `denied\n${new Date(now).toISOString().slice(0, 19)}Z github       get_issue   ci   ci-bot   allow`;
// Three hours old, of a server and agent of its own: the other tests' filters leave it out.
const hostile = makeRecord({
  ts: now - 3 * 3600_000,
  request_id: 'hostile',
  server: 'evil',
  agent: 'evil-bot',
  tool: ESCAPES,
  decision: 'deny',
  rule: '/tools/x\x9b2J',
  reason: FORGED,
});
/** C0, DEL and C1 controls, and the Unicode line separators and bidirectional overrides. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

beforeAll(async () => {
  writeFileSync(
    config,
    `state: "memory:"\naudit: "sqlite:${db}"\nservers:\n  github: { command: npx }\n  memory: { command: npx }\n`,
  );
  const sink = new SqliteAuditSink(db);
  await sink.insert([hostile, old, ...recent]);
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

  it('prints client-chosen text with its control characters escaped, one record to a line', async () => {
    const { code, stdout } = await audit('--server', 'evil', '--since', '4h');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.some((l) => UNPRINTABLE.test(l))).toBe(false);
    expect(lines[1]).toContain('\\x1b[1A\\x1b[2K');
    expect(lines[1]).toContain('/tools/x\\x9b2J denied\\n');
  });

  it('--json prints the same record as JSON with every control character escaped, the text it holds unchanged', async () => {
    const { code, stdout } = await audit('--server', 'evil', '--since', '4h', '--json');
    expect(code).toBe(0);
    // Line breaks are the JSON's own layout; no other control character is printed as it is.
    expect(UNPRINTABLE.test(stdout.replaceAll('\n', ''))).toBe(false);
    const printed = JSON.parse(stdout) as { records: unknown[] };
    expect(printed.records).toHaveLength(1);
    expect(printed.records[0]).toMatchObject({ tool: ESCAPES, rule: '/tools/x\x9b2J', reason: FORGED });
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

describe('the audit table', () => {
  it('shows every control and invisible character of every field escaped, so that no field drives the terminal or hides text', () => {
    const line = auditLine(
      makeRecord({
        server: 'gh\u202eevil',
        tool: ESCAPES,
        grant: 'g\x00\x07',
        agent: 'a\x7fb',
        decision: 'deny',
        rule: '/tools/x\x9b2J',
        reason: `${FORGED}\u2028\t`,
        outcome: 'error',
        error: '-32000 \x1b]0;title\x07',
      }),
    );
    expect(UNPRINTABLE.test(line)).toBe(false);
    expect(line).toContain('gh\\u202eevil');
    expect(line).toContain('\\x1b[1A\\x1b[2K');
    expect(line).toContain('g\\x00\\x07');
    expect(line).toContain('a\\x7fb');
    expect(line).toContain(`/tools/x\\x9b2J ${FORGED.replace('\n', '\\n')}\\u2028\\t`);
    expect(line).toContain('[upstream error: -32000 \\x1b]0;title\\x07]');
    // Nor can a field hide text a terminal shows as nothing: zero-width, bidi marks, tag characters.
    const hidden = auditLine(makeRecord({ tool: 'pay\u200b', agent: 'a\u200fb', reason: 'ok\u{e0041}\ufeff' }));
    expect(hidden).not.toMatch(/[\u200b\u200f\ufeff]|\u{e0041}/u);
    expect(hidden).toContain('pay\\u200b');
    expect(hidden).toContain('a\\u200fb');
    expect(hidden).toContain('ok\\udb40\\udc41\\ufeff');
    // Printable text is left as it is.
    expect(auditLine(makeRecord({ tool: 'get_issue', reason: 'Not for agents.', rule: '/tools/get_*' }))).toMatch(
      /get_issue +ci +ci-bot +allow +12 +\/tools\/get_\* Not for agents\.$/,
    );
  });
});
