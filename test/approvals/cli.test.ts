// Proves `gatehouse approvals` against a SQLite state file shared with a gateway's approval
// service: `list` shows pending approvals (id, server, tool, agent, age, expiry, abbreviated
// arguments; hidden characters made visible in the table and in JSON), `--all` every status,
// `--json` the records without their link hash; `approve` and `deny` answer as the OS user through
// channel `cli` — and a call waiting on the same file is released — while an unknown or already
// answered id exits 1 with a clear message; a memory: store exits 2 and points to the admin API;
// the installed command line wires it all up.
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApprovalService } from '../../src/approvals/service.js';
import { approvalsAnswerCommand, approvalsListCommand } from '../../src/cli/approvals.js';
import type { CliIo } from '../../src/cli/io.js';
import { reportFailure } from '../../src/cli/io.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { runCli } from '../helpers/cli.js';
import { HELD_CALL, settings, tempDir, type TempDir } from './support.js';

let dir: TempDir;
let config: string;
let store: SqliteStore;
let service: ApprovalService;

beforeAll(() => {
  dir = tempDir('gatehouse-approvals-cli-');
  config = dir.write('gatehouse.json', {
    state: 'sqlite:./state.db',
    audit: 'none',
    servers: { fixture: { command: 'true' } },
  });
  store = new SqliteStore(join(dir.path, 'state.db'));
  service = new ApprovalService(store);
});
afterAll(async () => {
  await store?.close();
  dir?.remove();
});

/** Runs a command in this process as main.ts would, with what it printed and its exit code. */
async function run(command: (io: CliIo) => Promise<number>) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (t) => out.push(t), err: (t) => err.push(t) };
  let code: number;
  try {
    code = await command(io);
  } catch (error) {
    code = reportFailure(error, io);
  }
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('gatehouse approvals', () => {
  it('list shows pending approvals with their facts and abbreviated arguments', async () => {
    const long = await service.open(
      { ...HELD_CALL, shownArgs: { body: 'x'.repeat(200) }, tool: 'send_email' },
      settings([], 900),
    );
    const r = await run((io) => approvalsListCommand({ config }, io));
    expect(r.code).toBe(0);
    const [header, ...rows] = r.out.split('\n');
    expect(header).toMatch(/^ID\s+SERVER\s+TOOL\s+AGENT\s+AGE\s+EXPIRES\s+ARGUMENTS$/);
    const row = rows.find((l) => l.startsWith(long.approval.id))!;
    expect(row).toMatch(/\bfixture\s+send_email\s+ci\s+\d+s\s+in 1[45]m\s+\{"body":"x+…$/);
    expect(row.length).toBeLessThan(200);
  });

  it('list and --json show hidden characters as \\uXXXX, and say where arguments were cut', async () => {
    const { approval } = await service.open(
      { ...HELD_CALL, shownArgs: { to: '\u202e1234-5678', env: 'prod\u200b' }, tool: 'pay\u200b' },
      settings([], 900),
    );
    const table = await run((io) => approvalsListCommand({ config }, io));
    const row = table.out.split('\n').find((l) => l.startsWith(approval.id))!;
    expect(row).toContain('pay\\u200b');
    expect(row).toContain('\\u202e1234-5678');
    expect(table.out).not.toMatch(/[\u202e\u200b]/);
    expect(table.out).toContain('--json shows them whole');
    const json = await run((io) => approvalsListCommand({ config, json: true }, io));
    expect(json.out).not.toMatch(/[\u202e\u200b]/);
    const listed = (JSON.parse(json.out) as { id: string; arguments: unknown }[]).find((a) => a.id === approval.id);
    expect(listed?.arguments).toEqual({ to: '\u202e1234-5678', env: 'prod\u200b' });
  });

  it('approve answers as the OS user through channel cli, releasing a call waiting on the same store', async () => {
    const { approval } = await service.open(HELD_CALL, settings());
    const waiting = service.wait(approval, {});
    const r = await run((io) => approvalsAnswerCommand(approval.id, true, { config, reason: 'ok by me' }, io));
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toContain(`approved ${approval.id}`);
    expect(await waiting).toMatchObject({
      status: 'approved',
      channel: 'cli',
      decided_by: userInfo().username,
      decision_reason: 'ok by me',
    });
  });

  it('deny records the reason; answering again exits 1 saying it is already denied', async () => {
    const { approval } = await service.open(HELD_CALL, settings());
    const r = await run((io) => approvalsAnswerCommand(approval.id, false, { config, reason: 'no' }, io));
    expect(r.code).toBe(0);
    expect(await service.get(approval.id)).toMatchObject({ status: 'denied', channel: 'cli', decision_reason: 'no' });

    const again = await run((io) => approvalsAnswerCommand(approval.id, true, { config }, io));
    expect(again.code).toBe(1);
    expect(again.err).toContain(`Approval "${approval.id}" is already denied.`);
  });

  it('an unknown id exits 1 and says how to list approvals', async () => {
    const r = await run((io) => approvalsAnswerCommand('apr_nope', true, { config }, io));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/No approval "apr_nope"\..*gatehouse approvals list/);
  });

  it('--all lists every status; --json gives the records without the link hash', async () => {
    const all = await run((io) => approvalsListCommand({ config, all: true }, io));
    expect(all.out.split('\n')[0]).toContain('STATUS');
    expect(all.out).toMatch(/denied \(/);
    expect(all.out).toMatch(/approved \(/);

    const json = await run((io) => approvalsListCommand({ config, json: true }, io));
    const list = JSON.parse(json.out) as Array<Record<string, unknown>>;
    expect(list.length).toBeGreaterThan(0);
    expect(list.every((a) => a.status === 'pending' && !('link_hash' in a))).toBe(true);
  });

  it('with a memory: store it exits 2 and points to the admin API', async () => {
    const memory = dir.write('memory.json', {
      state: 'memory:',
      audit: 'none',
      servers: { fixture: { command: 'true' } },
    });
    const r = await run((io) => approvalsListCommand({ config: memory }, io));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/live only inside the running gateway.*\/api\/v1\/approvals/);
  });

  it('the command line runs them: deny with --reason, then exit 1 on a second answer', async () => {
    const { approval } = await service.open(HELD_CALL, settings());
    const first = await runCli(['approvals', 'deny', approval.id, '--reason', 'outside the window', '-c', config]);
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toContain(`denied ${approval.id}`);
    const second = await runCli(['approvals', 'approve', approval.id, '-c', config]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('already denied');
    const usage = await runCli(['approvals', 'approve']);
    expect(usage.code).toBe(2);
  });
});
