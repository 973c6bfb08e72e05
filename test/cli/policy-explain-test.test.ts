// Proves `gatehouse policy explain` and `gatehouse policy test` as users meet them, running
// `node --import tsx src/cli/main.ts` as a real process against a config whose server is the
// bundled example server: explain prints the decision and the chain (the matched entry and the
// losers, the category from the server's catalog, conditions and limits), reads each limit's usage
// from the configured SQLite state store without reserving, explains a tool the server does not
// list, uses a grant's policy, agent and labels, prints JSON with --json, and exits 2 for usage
// errors. `policy test` exits 0 when every case passes, 1 with the explanation of a failing case,
// 2 for an invalid file, and tests rate limits with `calls`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const EXAMPLE_SERVER = fileURLToPath(new URL('../../src/example-server/main.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
// Each run starts node, tsx and (for explain) the example server; allow for a busy machine.
const SPAWN_TIMEOUT_MS = 90_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function gatehouse(args: string[]): Promise<Run> {
  return runCli(args, { cwd: dir });
}

let dir: string;
const file = (name: string) => join(dir, name);

const NOTES_POLICY = `
version: '1'
default: deny
hide: ['debug_*']
categories:
  read: {}
tools:
  write_note:
    limits: [{ counter: notes_written, key: args.title, max: 3, window: hour, scope: global }]
  'delete_*': { action: deny, reason: No deleting. }
  delete_note:
    require: [{ when: has(args.reason), reason: Say why. }]
`;

const CI_POLICY = `
version: '1'
default: deny
tools:
  echo:
    require: [{ when: "'team' in grant.labels && grant.labels.team == 'web'" }]
`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-explain-'));
  const server = { command: process.execPath, args: ['--import', TSX, EXAMPLE_SERVER] };
  writeFileSync(file('notes.policy.yaml'), NOTES_POLICY);
  writeFileSync(file('ci.policy.yaml'), CI_POLICY);
  writeFileSync(
    file('gatehouse.json'),
    JSON.stringify({
      state: 'sqlite:./state/state.db',
      servers: { notes: { ...server, policy: './notes.policy.yaml' }, open: server },
      grants: {
        ci: {
          token: 'ci-token',
          agent: 'ci-bot',
          servers: ['notes'],
          labels: { team: 'web' },
          policy: './ci.policy.yaml',
        },
        elsewhere: { token: 'other-token', servers: ['open'] },
      },
    }),
  );
  writeFileSync(
    file('pass.test.yaml'),
    `policy: ./notes.policy.yaml
cases:
  - { name: reads are allowed by category, tool: echo, category: read, expect: allow, rule: /categories/read }
  - { name: debug tools are hidden, tool: debug_dump, expect: hidden }
  - { name: a delete needs a reason, tool: delete_note, args: { id: '1' }, expect: deny }
  - name: the fourth note with one title in an hour is refused
    tool: write_note
    args: { title: groceries, body: milk }
    calls: 4
    expect: rate_limited
    rule: /tools/write_note/limits/0
`,
  );
  writeFileSync(
    file('fail.test.yaml'),
    `policy: ./notes.policy.yaml
cases:
  - { name: reads are allowed by category, tool: echo, category: read, expect: allow }
  - name: three notes pass
    tool: write_note
    args: { title: groceries }
    calls: 4
    expect: allow
`,
  );
  writeFileSync(
    file('invalid.test.yaml'),
    `policy: { version: '1', default: sometimes }
cases:
  - { name: typo, tool: echo, expect: allowed, calss: 2 }
`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.concurrent('gatehouse policy explain', { timeout: SPAWN_TIMEOUT_MS }, () => {
  it('prints the decision, the matched entry, the losing candidates and the deciding condition', async () => {
    const run = await gatehouse(['policy', 'explain', 'notes', 'delete_note', '--args', '{"id": "1"}']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('decision: deny');
    expect(run.stdout).toContain('decided by: /tools/delete_note/require/0/when');
    expect(run.stdout).toContain('reason: Say why.');
    expect(run.stdout).toContain('/tools/delete_note  chosen: exact key');
    expect(run.stdout).toContain('/tools/delete_*  lost: an exact key beats a glob');
    expect(run.stdout).toMatch(/has\(args.reason\) {2}= false {2}=> DECIDES: deny/);
    expect(run.stdout).toContain('category destructive, risk critical');
  });

  it("takes the tool's category from the server's catalog, so categories rules apply", async () => {
    const run = await gatehouse(['policy', 'explain', 'notes', 'echo', '--args', '{"message": "hi"}']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('decision: allow');
    expect(run.stdout).toContain('/categories/read  chosen: no tools entry matches; category read');
  });

  it('explains a tool the server does not list, saying so, with no category', async () => {
    const run = await gatehouse(['policy', 'explain', 'notes', 'frobnicate']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('note: notes does not list a tool "frobnicate"');
    expect(run.stdout).toContain('category unknown');
    expect(run.stdout).toContain('decided by: /default');
  });

  it("uses a grant's policy, agent and labels with --grant", async () => {
    const run = await gatehouse(['policy', 'explain', 'notes', 'echo', '--grant', 'ci']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('policy: grant ci');
    expect(run.stdout).toContain('grant ci (agent ci-bot, labels team=web)');
    expect(run.stdout).toMatch(/require +\/tools\/echo\/require\/0\/when .* = true/);
    expect(run.stdout).toContain('decision: allow');
  });

  it('says when a server has no policy: every call is forwarded', async () => {
    const run = await gatehouse(['policy', 'explain', 'open', 'delete_note']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('server open has no policy');
  });

  it.each([
    [
      'an unknown server',
      ['policy', 'explain', 'nope', 'echo'],
      'unknown server "nope"; configured servers: notes, open',
    ],
    ['--args that is not JSON', ['policy', 'explain', 'notes', 'echo', '--args', '{id: 1'], '--args is not valid JSON'],
    ['--args that is not an object', ['policy', 'explain', 'notes', 'echo', '--args', '[1]'], 'must be a JSON object'],
    ['an unknown grant', ['policy', 'explain', 'notes', 'echo', '--grant', 'bob'], 'configured grants: ci, elsewhere'],
    ['a --now without a zone', ['policy', 'explain', 'notes', 'echo', '--now', '2026-03-02 10:00'], '--now expects'],
    ['a missing tool argument', ['policy', 'explain', 'notes'], "missing required argument 'tool'"],
  ])('exits 2 for %s', async (_case, args, message) => {
    const run = await gatehouse(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
  });
});

describe('gatehouse policy explain with usage', { timeout: SPAWN_TIMEOUT_MS }, () => {
  it("reads each limit's usage from the state store, and explaining reserves nothing", async () => {
    const args = ['policy', 'explain', 'notes', 'write_note', '--args', '{"title": "groceries", "body": "milk"}'];
    const first = await gatehouse([...args, '--json']);
    expect(first.code).toBe(0);
    const before = JSON.parse(first.stdout) as {
      listed: boolean;
      explanation: {
        verdict: string;
        steps: { kind: string; limit?: { storeKey: string; usage: { used: number } } }[];
      };
    };
    expect(before.listed).toBe(true);
    expect(before.explanation.verdict).toBe('allow');
    const limit = before.explanation.steps.find((s) => s.kind === 'limit')!.limit!;
    expect(limit.storeKey).toBe('rate|notes_written|global|groceries');
    expect(limit.usage.used).toBe(0);

    // Three notes titled "groceries" were written through the gateway in the last hour.
    const store = new SqliteStore(file('state/state.db'));
    const spec = { algorithm: 'sliding' as const, windowMs: 3_600_000, max: 3, cost: 1 };
    for (let i = 0; i < 3; i++) expect((await store.reserve(limit.storeKey, spec, Date.now() - 1000)).ok).toBe(true);
    await store.close();

    const after = await gatehouse(args);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('decision: rate_limited');
    expect(after.stdout).toContain('used 3 of 3, 0 left: this call would not fit  => DECIDES: rate_limited');
    const check = new SqliteStore(file('state/state.db'));
    expect(await check.usage(limit.storeKey, spec, Date.now())).toBe(3);
    await check.close();
  });
});

describe.concurrent('gatehouse policy test', { timeout: SPAWN_TIMEOUT_MS }, () => {
  it('exits 0 and prints pass for every case when all pass, rate limits included', async () => {
    const run = await gatehouse(['policy', 'test', 'pass.test.yaml']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('pass.test.yaml (policy notes.policy.yaml)');
    expect(run.stdout).toContain('  pass  the fourth note with one title in an hour is refused');
    expect(run.stdout).toContain('  4 passed');
  });

  it('exits 1 and prints the explanation of a failing case', async () => {
    const run = await gatehouse(['policy', 'test', 'fail.test.yaml']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('  pass  reads are allowed by category');
    expect(run.stdout).toContain('  FAIL  three notes pass: expected allow, got rate_limited');
    expect(run.stdout).toContain('        decision: rate_limited');
    expect(run.stdout).toContain('used 3 of 3, 0 left');
    expect(run.stdout).toContain('  1 of 2 failed');
  });

  it('exits 2 for an invalid file, with every problem of the cases and the policy at its path', async () => {
    const run = await gatehouse(['policy', 'test', 'invalid.test.yaml', 'pass.test.yaml']);
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('invalid.test.yaml: invalid test file (3 problems)');
    expect(run.stdout).toContain('  /cases/0/expect: expected one of "allow", "deny"');
    expect(run.stdout).toContain('  /cases/0/calss: unknown key; did you mean "calls"?');
    expect(run.stdout).toContain('  /policy/default: expected one of "allow", "deny"; got "sometimes"');
    expect(run.stdout).toContain('2 files, 4 cases: 4 passed, 0 failed, 1 invalid file');
  });

  it('prints the results as JSON with --json', async () => {
    const run = await gatehouse(['policy', 'test', 'pass.test.yaml', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const [result] = JSON.parse(run.stdout) as {
      ok: boolean;
      cases: { name: string; passed: boolean; verdict: string }[];
    }[];
    expect(result!.ok).toBe(true);
    expect(result!.cases.map((c) => c.verdict)).toEqual(['allow', 'hidden', 'deny', 'rate_limited']);
  });

  it.each(['gatehouse policy explain', 'gatehouse policy test'])(
    '%s --help exits 0 and shows an example',
    async (command) => {
      const run = await gatehouse([...command.split(' ').slice(1), '--help']);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain(`Usage: ${command} `);
      expect(run.stdout).toMatch(/Examples?:\n {2}\$ gatehouse policy /);
    },
  );
});
