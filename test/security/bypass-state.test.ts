// Proves that state a client carries or races cannot widen what it may do: a `requestState` that
// is tampered with, replayed after its call finished, expired, presented by another grant, or
// reused for a different call is refused (-32602) and starts nothing upstream; that each state
// is good for one retry, so a replay neither runs a call again past its limit or its approval nor
// gives quota back; and that calls
// fired while the policy file is rewritten again and again (including half-written files) are
// each decided by the old policy or the new one, never by neither.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALICE,
  BOB,
  FS_POLICY,
  httpDriver,
  isBlocked,
  received,
  receivedCalls,
  startHarness,
  textOf,
  toolCall,
  type Harness,
  type RawDriver,
} from './support.js';
import { featureServerCommand, type JsonObject } from '../helpers/index.js';
import { readSink } from '../audit/read-sink.js';
import { skipReason } from '../../src/audit/replay.js';

const resultOf = (a: JsonObject) => (a['result'] ?? {}) as JsonObject;

describe('requestState of a call bridged to a legacy server', () => {
  let h: Harness;
  let alice: RawDriver;
  let bob: RawDriver;
  beforeAll(async () => {
    h = await startHarness();
    alice = await httpDriver(h, 'modern', false, ALICE);
    bob = await httpDriver(h, 'modern', false, BOB);
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  let n = 0;
  /** Starts `confirm`, which the server answers with an elicitation: the gateway hands out a state. */
  async function start(): Promise<{ state: string; key: string }> {
    const a = await alice.request(toolCall('modern', `start-${n++}`, 'confirm'));
    const r = resultOf(a);
    expect(r['resultType'], JSON.stringify(a)).toBe('input_required');
    return { state: String(r['requestState']), key: Object.keys(r['inputRequests'] as JsonObject)[0]! };
  }
  const retry = (d: RawDriver, state: string, key: string, name = 'confirm', args: JsonObject = {}) => {
    const m = toolCall('modern', `retry-${n++}`, name, args);
    const params = m['params'] as JsonObject;
    params['requestState'] = state;
    params['inputResponses'] = { [key]: { action: 'accept', content: { ok: true } } };
    return d.request(m);
  };
  /** Completes a parked call, so the next elicitation on the shared server has one call to go with. */
  const finish = async (state: string, key: string) => expect(isBlocked(await retry(alice, state, key))).toBe(false);
  const confirmsReceived = () => receivedCalls(h.records.fs).filter((c) => c.name === 'confirm').length;

  it('the sealed round trip works: the right state with an answer completes the call once', async () => {
    const { state, key } = await start();
    const done = await retry(alice, state, key);
    expect(textOf(done)).toBe('confirmed: {"action":"accept","content":{"ok":true}}');
  });

  it('AES-GCM seal: a tampered state is refused as forged', async () => {
    const { state, key } = await start();
    const i = Math.floor(state.length / 2);
    const flipped = `${state.slice(0, i)}${state[i] === 'A' ? 'B' : 'A'}${state.slice(i + 1)}`;
    for (const bad of [flipped, `${state}x`, 'gh1.AAAA', 'not-a-state', state.replace('gh1.', 'gh2.')]) {
      const a = await retry(alice, bad, key);
      expect(a['error'], bad.slice(0, 20)).toMatchObject({
        code: -32602,
        message: expect.stringMatching(/Invalid requestState \((forged|malformed)\)/),
      });
    }
    await finish(state, key);
  });

  it("principal bound into the seal: another grant presenting alice's state is refused as forged", async () => {
    const { state, key } = await start();
    const a = await retry(bob, state, key);
    expect(a['error']).toMatchObject({
      code: -32602,
      message: expect.stringMatching(/Invalid requestState \(forged\)/),
    });
    await finish(state, key);
  });

  it('expiry inside the seal: a state past its time is refused as expired', async () => {
    const { state, key } = await start();
    const sealer = h.gateway.core.ctx.sealer;
    const opened = sealer.unseal(state, 'grant:alice');
    expect(opened.ok).toBe(true);
    // The same payload sealed with the gateway's own key, already expired.
    const expired = sealer.seal(opened.ok ? opened.payload : {}, 'grant:alice', -1_000);
    const a = await retry(alice, expired, key);
    expect(a['error']).toMatchObject({
      code: -32602,
      message: expect.stringMatching(/Invalid requestState \(expired\)/),
    });
    await finish(state, key);
  });

  it('call hash inside the seal: a state reused for another tool or other arguments is refused', async () => {
    const { state, key } = await start();
    const other = await retry(alice, state, key, 'read_file', { path: '/public/x' });
    expect(other['error']).toMatchObject({ code: -32602, message: expect.stringMatching(/issued for another call/) });
    const args = await retry(alice, state, key, 'confirm', { extra: 1 });
    expect(args['error']).toMatchObject({ code: -32602, message: expect.stringMatching(/issued for another call/) });
    await finish(state, key);
  });

  it('one parked call per state: replaying a state after its call finished is refused and starts nothing upstream', async () => {
    const { state, key } = await start();
    expect(isBlocked(await retry(alice, state, key))).toBe(false);
    const before = confirmsReceived();
    const replay = await retry(alice, state, key);
    expect(replay['error']).toMatchObject({
      code: -32602,
      message: expect.stringMatching(/Invalid requestState \(used\)/),
    });
    expect(confirmsReceived()).toBe(before);
  });
});

const USED = { code: -32602, message: expect.stringMatching(/^Invalid requestState \(used\): .*good for one retry/) };

/**
 * A stdio upstream that writes every line it receives to `record`, then hands it to `command`:
 * here the feature fixture, a 2026-07-28 server whose tools answer input_required.
 */
function tappedEntry(record: string, command: { command: string; args: string[] }, extra: Record<string, unknown>) {
  const tap = [
    "const { spawn } = require('node:child_process');",
    "const { appendFileSync } = require('node:fs');",
    'const [file, cmd, ...args] = process.argv.slice(1);',
    "const child = spawn(cmd, args, { stdio: ['pipe', 'inherit', 'inherit'] });",
    "process.stdin.on('data', (d) => { appendFileSync(file, d); child.stdin.write(d); });",
    "process.stdin.on('end', () => child.stdin.end());",
    "process.on('SIGTERM', () => { child.kill(); process.exit(0); });",
    "child.on('exit', (code) => process.exit(code ?? 0));",
  ].join('\n');
  return {
    command: process.execPath,
    args: ['-e', tap, '--', record, command.command, ...command.args],
    era: 'modern',
    timeout_ms: 20_000,
    ...extra,
  };
}

describe('each requestState is good for one retry (2026-07-28 client, 2026-07-28 upstream)', () => {
  let h: Harness;
  let dir: string;
  let alice: RawDriver;
  let bob: RawDriver;
  /** On /mcp: `my-srv__ask_name` is the fixture under APPROVED's policy. */
  let aliceAll: RawDriver;
  const records = () => ({ fs: join(dir, 'fs.jsonl'), 'my-srv': join(dir, 'my-srv.jsonl') });
  const LIMITED = { version: '1', default: 'deny', tools: { ask_name: { limits: [{ max: 1, window: 'hour' }] } } };
  const APPROVED = {
    version: '1',
    default: 'deny',
    tools: {
      ask_name: {
        action: 'require_approval',
        reason: 'Asking needs a person.',
        approval: { mode: 'retry', remember: 'none' },
      },
    },
  };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-once-'));
    const modern = featureServerCommand('stdio', 'modern');
    h = await startHarness({
      config: {
        audit: `jsonl:${join(dir, 'audit.jsonl')}`,
        servers: {
          fs: tappedEntry(records().fs, modern, { policy: LIMITED }),
          'my-srv': tappedEntry(records()['my-srv'], modern, { policy: APPROVED }),
        },
      },
    });
    alice = await httpDriver(h, 'modern', false, ALICE);
    bob = await httpDriver(h, 'modern', false, BOB);
    aliceAll = await httpDriver(h, 'modern', true, ALICE);
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let n = 0;
  /** The ask_name calls a server received that carried the user's answer: the runs that completed. */
  const answeredRuns = (server: 'fs' | 'my-srv') =>
    received(records()[server]).filter((m) => {
      const p = (m['params'] ?? {}) as JsonObject;
      return m['method'] === 'tools/call' && p['name'] === 'ask_name' && p['inputResponses'] !== undefined;
    }).length;
  const call = (name: string) => toolCall('modern', `once-${n++}`, name);
  async function roundOne(d: RawDriver, name: string): Promise<string> {
    const a = await d.request(call(name));
    const r = resultOf(a);
    expect(r['resultType'], JSON.stringify(a)).toBe('input_required');
    return String(r['requestState']);
  }
  const retryOf = (name: string, state: string) => {
    const m = call(name);
    Object.assign(m['params'] as JsonObject, {
      requestState: state,
      inputResponses: { name: { action: 'accept', content: { name: 'Ada' } } },
    });
    return m;
  };

  it('a replayed retry of an input_required call is refused -32602 (used), the upstream runs the tool once, and the refusal is audited as blocked by its requestState', async () => {
    const state = await roundOne(alice, 'ask_name');
    const done = await alice.request(retryOf('ask_name', state));
    expect(textOf(done), JSON.stringify(done)).toBe('hello Ada');
    const runs = answeredRuns('fs');
    const sent = Array.from({ length: 4 }, () => retryOf('ask_name', state));
    const replays: JsonObject[] = [];
    for (const m of sent) replays.push(await alice.request(m));
    expect(answeredRuns('fs')).toBe(runs);
    for (const r of replays) expect(r['error']).toMatchObject(USED);
    // Audited as blocked by its requestState, not as a policy decision, so a policy replay leaves it out.
    await h.gateway.core.audit.flush();
    const records = await readSink(`jsonl:${join(dir, 'audit.jsonl')}`, dir);
    const refused = records.find((r) => r.request_id === String(sent[0]!['id']));
    expect(refused).toMatchObject({ decision: 'deny', blocked_by: 'request_state', tool: 'ask_name' });
    expect(skipReason(refused!)).toBe('request_state');
  });

  it('under max: 1, a retry raced by four replays of it runs the call once, and the next call is rate limited', async () => {
    const before = answeredRuns('fs');
    const state = await roundOne(bob, 'ask_name');
    const answers = await Promise.all(Array.from({ length: 5 }, () => bob.request(retryOf('ask_name', state))));
    expect(
      answers.filter((a) => textOf(a) === 'hello Ada'),
      JSON.stringify(answers),
    ).toHaveLength(1);
    expect(answers.filter((a) => 'error' in a)).toHaveLength(4);
    for (const a of answers) if ('error' in a) expect(a['error']).toMatchObject(USED);
    expect(answeredRuns('fs') - before).toBe(1);
    expect(textOf(await bob.request(call('ask_name')))).toMatch(/RATE LIMITED/);
  });

  it('an approval good for one call runs it once: replays of its retry are refused and never reach the upstream', async () => {
    const name = 'my-srv__ask_name';
    expect(textOf(await aliceAll.request(call(name)))).toMatch(/is pending/);
    const [approval] = await h.gateway.core.approvals.list({ status: ['pending'], tool: 'ask_name' });
    const answered = await h.gateway.core.approvals.answer(approval!.id, { approve: true, by: 'ops', channel: 'api' });
    expect(answered.ok).toBe(true);
    const state = await roundOne(aliceAll, name);
    expect(textOf(await aliceAll.request(retryOf(name, state)))).toBe('hello Ada');
    const replays: JsonObject[] = [];
    for (let i = 0; i < 4; i++) replays.push(await aliceAll.request(retryOf(name, state)));
    expect(answeredRuns('my-srv')).toBe(1);
    for (const r of replays) expect(r['error']).toMatchObject(USED);
  });
});

describe('each requestState is good for one retry (2026-07-28 client, legacy upstream: a parked call)', () => {
  let h: Harness;
  let alice: RawDriver;
  beforeAll(async () => {
    const limited = { ...FS_POLICY, tools: { ...FS_POLICY.tools, confirm: { limits: [{ max: 1, window: 'hour' }] } } };
    h = await startHarness({ policies: { fs: limited, 'my-srv': limited } });
    alice = await httpDriver(h, 'modern', false, ALICE);
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('replays of a finished bridged call are refused and give no quota back: under max: 1 the next call is rate limited', async () => {
    const first = resultOf(await alice.request(toolCall('modern', 'p-1', 'confirm')));
    expect(first['resultType']).toBe('input_required');
    const m = toolCall('modern', 'p-2', 'confirm');
    Object.assign(m['params'] as JsonObject, {
      requestState: first['requestState'],
      inputResponses: {
        [Object.keys(first['inputRequests'] as JsonObject)[0]!]: { action: 'accept', content: { ok: true } },
      },
    });
    expect(textOf(await alice.request(m))).toMatch(/^confirmed/);
    const replays: JsonObject[] = [];
    for (let i = 0; i < 4; i++) replays.push(await alice.request({ ...m, id: `p-r${i}` }));
    const next = await alice.request(toolCall('modern', 'p-3', 'confirm'));
    expect(textOf(next), JSON.stringify(next)).toMatch(/RATE LIMITED/);
    expect(receivedCalls(h.records.fs).filter((c) => c.name === 'confirm')).toHaveLength(1);
    for (const r of replays) expect(r['error']).toMatchObject(USED);
  });
});

describe('calls during a policy reload', () => {
  let h: Harness;
  let policyFile: string;
  const A = { version: '1', default: 'deny', tools: { read_file: {} } };
  const B = { version: '1', default: 'deny', tools: { Read_File: {} } };
  beforeAll(async () => {
    policyFile = join(mkdtempSync(join(tmpdir(), 'gatehouse-reload-race-')), 'policy.json');
    writeFileSync(policyFile, JSON.stringify(A));
    h = await startHarness({ policies: { fs: policyFile, 'my-srv': A } });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    if (policyFile) rmSync(dirname(policyFile), { recursive: true, force: true });
  });

  it('atomic policy swap: while the file is rewritten 40 times, no call that neither policy allows reaches the upstream, and every call is answered', async () => {
    const drivers = [
      await httpDriver(h, 'modern', false),
      await httpDriver(h, 'legacy', false),
      await httpDriver(h, 'modern', true),
    ];
    let stop = false;
    const writer = (async () => {
      for (let i = 0; i < 40; i++) {
        const text = JSON.stringify(i % 2 ? B : A);
        // Half-written files too: the reloader must keep the last good policy through them.
        if (i % 5 === 0) writeFileSync(policyFile, text.slice(0, text.length / 2));
        writeFileSync(policyFile, text);
        await new Promise((r) => setTimeout(r, 60));
      }
      stop = true;
    })();
    let n = 0;
    const answers: JsonObject[] = [];
    const fire = async (d: RawDriver) => {
      while (!stop) {
        for (const tool of ['read_file', 'Read_File', 'delete_file', 'secret_tool']) {
          answers.push(await d.request(toolCall(d.era, `race-${n++}`, d.shown(tool), { path: '/race' })));
        }
      }
    };
    await Promise.all([writer, ...drivers.map(fire)]);
    for (const d of drivers) await d.close();
    expect(h.gateway.core.reloader.reloads).toBeGreaterThan(0);
    expect(answers.length).toBeGreaterThan(drivers.length * 4);
    for (const a of answers) expect('result' in a || 'error' in a, JSON.stringify(a)).toBe(true);
    const names = new Set(receivedCalls(h.records.fs).map((c) => c.name));
    for (const name of names) expect(['read_file', 'Read_File']).toContain(name);
    expect(names.size).toBeGreaterThan(0);
  }, 60_000);
});
