// Proves policy replay: records made under a lenient policy, replayed under a stricter one, report
// exactly the calls whose decision changes — denials by action, by a condition on the arguments
// and by a grant label from the config, rate limits simulated in time order per grant, and a
// formerly denied call now allowed — with counts by change; unchanged calls, including one whose
// arguments were redacted (marked inexact), are not reported.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { replayRecords } from '../../src/audit/replay.js';
import { SqliteAuditSink } from '../../src/audit/sqlite-sink.js';
import { loadPolicy } from '../../src/policy/compile.js';
import { runCli } from '../helpers/cli.js';
import { makeRecord } from './make-record.js';

const STRICT = {
  version: '1',
  default: 'allow',
  tools: {
    delete_repo: { action: 'deny', reason: 'No deletes.' },
    drop_db: { action: 'deny' },
    create_issue: { limits: [{ max: 2, window: 'minute' }] },
    get_issue: { require: [{ when: 'args.n < 10' }] },
    update_issue: { deny_if: [{ when: "'env' in grant.labels && grant.labels.env == 'prod'" }] },
  },
};

const base = Date.now() - 3600_000;
let seq = 0;
const at = (s: number, over: Partial<AuditRecord>) =>
  makeRecord({ ts: base + s * 1000, request_id: `r${seq++}`, ...over });

// What the lenient policy (default allow, drop_db and admin_x denied) recorded.
const records: AuditRecord[] = [
  ...[0, 1, 2].map((s) => at(s, { tool: 'delete_repo' })), // allow → deny ×3
  ...[10, 11, 12, 13, 14].map((s) => at(s, { tool: 'create_issue', arguments: { title: 't' } })), // 2 pass, 3 → rate_limited
  at(15, { tool: 'create_issue', grant: 'support', agent: 'support-bot' }), // its own counter: unchanged
  at(20, { tool: 'get_issue', arguments: { n: 5 } }), // unchanged
  at(21, { tool: 'get_issue', arguments: { n: 50 } }), // allow → deny
  at(22, { tool: 'get_issue', arguments: { n: 5, token: '[REDACTED]' } }), // unchanged, inexact
  at(30, { tool: 'update_issue', grant: 'prod-bot', agent: 'prod-bot' }), // allow → deny (grant label)
  at(31, { tool: 'update_issue' }), // unchanged
  at(40, { tool: 'admin_x', decision: 'deny', rule: '/tools/admin_x' }), // deny → allow
  at(41, { tool: 'drop_db', decision: 'deny', rule: '/tools/drop_db' }), // unchanged
  at(42, { server: 'memory', tool: 'delete_repo' }), // another server: replayed only without --server
];
const CHANGED_ON_GITHUB = ['r0', 'r1', 'r2', 'r5', 'r6', 'r7', 'r10', 'r12', 'r14'];

const grantLabels = (g: string): Record<string, string> => (g === 'prod-bot' ? { env: 'prod' } : {});

describe('replayRecords', () => {
  it('reports exactly the calls whose decision changes, with counts by change', async () => {
    const github = records.filter((r) => r.server === 'github');
    const result = await replayRecords(github, loadPolicy(STRICT), { grantLabels });
    expect(result.replayed).toBe(github.length);
    expect(result.changes.map((c) => c.record.request_id)).toEqual(CHANGED_ON_GITHUB);
    expect(result.counts).toEqual({ 'allow → deny': 5, 'allow → rate_limited': 3, 'deny → allow': 1 });
    expect(result.inexact).toBe(
      github.filter((r) => !r.arguments || JSON.stringify(r.arguments).includes('[REDACTED]')).length,
    );
    const limited = result.changes.find((c) => c.replayed === 'rate_limited')!;
    expect(limited.rule).toBe('/tools/create_issue/limits/0');
  });

  it('without limit simulation, reports no rate limiting', async () => {
    const result = await replayRecords(records, loadPolicy(STRICT), { grantLabels, simulateLimits: false });
    expect(result.counts['allow → rate_limited']).toBeUndefined();
  });
});

describe('gatehouse policy replay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-replay-'));
  const config = join(dir, 'gatehouse.yaml');
  const policy = join(dir, 'strict.json');
  beforeAll(async () => {
    writeFileSync(policy, JSON.stringify(STRICT));
    writeFileSync(
      config,
      [
        'state: "memory:"',
        `audit: { sink: "sqlite:${join(dir, 'audit.db')}", arguments: redacted }`,
        'servers:',
        '  github: { command: npx }',
        '  memory: { command: npx }',
        'grants:',
        '  prod-bot: { token: t, servers: [github], labels: { env: prod } }',
      ].join('\n'),
    );
    const sink = new SqliteAuditSink(join(dir, 'audit.db'));
    await sink.insert([...records].reverse()); // stored out of order: replay sorts by time
    await sink.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--json lists exactly the changed calls of the server, and the counts', async () => {
    const run = await runCli(['policy', 'replay', '--policy', policy, '--server', 'github', '-c', config, '--json']);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.replayed).toBe(records.length - 1);
    expect(out.calls.map((c: { request_id: string }) => c.request_id)).toEqual(CHANGED_ON_GITHUB);
    expect(out.counts).toEqual({ 'allow → deny': 5, 'allow → rate_limited': 3, 'deny → allow': 1 });
    expect(out.notes.join(' ')).toContain('rate limits are simulated');
  });

  it('prints counts, then the calls; --since bounds the period', async () => {
    const run = await runCli([
      'policy',
      'replay',
      '--policy',
      policy,
      '--server',
      'github',
      '-c',
      config,
      '--since',
      '2h',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('9 decisions would change:');
    expect(run.stdout).toMatch(/allow → deny: 5\n\s+allow → rate_limited: 3\n\s+deny → allow: 1/);
    expect(run.stdout.split('\n').filter((l) => l.includes('delete_repo') && l.includes('allow → deny'))).toHaveLength(
      3,
    );
    const none = await runCli(['policy', 'replay', '--policy', policy, '-c', config, '--since', '1m']);
    expect(none.stdout).toContain('Replayed 0 recorded calls');
    expect(none.stdout).toContain('No decision would change.');
  });

  it('without --server, a period with calls of several servers is refused with exit 2, naming them', async () => {
    const run = await runCli(['policy', 'replay', '--policy', policy, '-c', config]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/of 2 servers \(github, memory\).*--server/);
  });

  it('refuses an invalid policy with exit 2', async () => {
    writeFileSync(join(dir, 'bad.json'), '{ "version": "1" }');
    const run = await runCli(['policy', 'replay', '--policy', join(dir, 'bad.json'), '-c', config]);
    expect(run.code).toBe(2);
  });
});
