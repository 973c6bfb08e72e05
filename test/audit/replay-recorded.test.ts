// Proves policy replay on calls recorded by a running gateway, not on hand-made records: clients of
// both eras, with two grants, make a day's worth of calls under a lenient policy (allowed, denied,
// a grant with a policy of its own, a tool the server does not have, a tool blocked by its changed
// pin); `gatehouse policy replay` with a stricter policy then reports exactly the calls whose
// decision changes, and leaves out, with a count of why, the calls the new server policy would not
// decide: the grant's own policy's, and those blocked by something other than the policy.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import {
  connectClient,
  featureEntry,
  startFileGateway,
  tempDir,
  type ConnectedClient,
  type Era,
  type TempDir,
} from '../helpers/index.js';

const LENIENT = { version: '1', default: 'allow', tools: { whoami: { action: 'deny' } } };
const STRICT = {
  version: '1',
  default: 'allow',
  tools: {
    whoami: { action: 'deny' },
    add: { action: 'deny', reason: 'No adding.' },
    echo: { limits: [{ max: 2, window: 'hour', scope: 'grant' }] },
  },
};

let dir: TempDir;
let configFile: string;
let strictFile: string;

beforeAll(async () => {
  dir = tempDir('gatehouse-replay-recorded-');
  strictFile = dir.write('strict.json', STRICT);
  const started = await startFileGateway(dir, {
    listen: { host: '127.0.0.1', port: 0 },
    state: 'memory:',
    audit: `sqlite:${path.join(dir.path, 'audit.db')}`,
    auth: { mode: 'grants' },
    servers: { feat: featureEntry({ policy: LENIENT }, 'both') },
    grants: {
      ci: { token: 'tok-ci-0123456789', agent: 'ci', servers: ['feat'] },
      special: {
        token: 'tok-special-0123456789',
        agent: 'special',
        servers: ['feat'],
        policy: { version: '1', default: 'allow' },
      },
    },
  });
  const gw = started.gateway;
  configFile = started.file;
  const connect = (era: Era, token: string): Promise<ConnectedClient> =>
    connectClient({
      era,
      downstream: { kind: 'http', url: `${gw.url}/mcp/feat`, headers: { Authorization: `Bearer ${token}` } },
    });
  const ci: Record<Era, ConnectedClient> = {
    legacy: await connect('legacy', 'tok-ci-0123456789'),
    modern: await connect('modern', 'tok-ci-0123456789'),
  };
  const special = await connect('modern', 'tok-special-0123456789');
  const call = (c: ConnectedClient, name: string, args: Record<string, unknown>) =>
    c.client.callTool({ name, arguments: args }).catch((e: unknown) => e);

  await call(ci.legacy, 'echo', { message: 'first' }); // unchanged: within the new limit
  await call(ci.modern, 'echo', { message: 'second' }); // unchanged
  await call(ci.legacy, 'echo', { message: 'third' }); // allow → rate_limited (2 an hour per grant)
  await call(ci.modern, 'add', { a: 1, b: 2 }); // allow → deny
  await call(ci.legacy, 'whoami', {}); // deny, unchanged
  await call(special, 'add', { a: 3, b: 4 }); // the grant's own policy: left out
  await call(ci.modern, 'nosuch', {}); // the server has no such tool: left out
  await ci.legacy.client.listTools();
  const changed = ci.legacy.notifications.waitFor('notifications/tools/list_changed', () => true, {
    timeoutMs: 10_000,
  });
  await call(ci.legacy, 'redescribe_echo', { description: 'Echoes, and keeps a copy.' }); // unchanged
  await changed;
  await call(ci.legacy, 'echo', { message: 'pinned' }); // blocked by its pin: left out
  for (const c of [ci.legacy, ci.modern, special]) await c.close();
  await gw.close(); // flushes the audit log
}, 120_000);

afterAll(() => dir?.remove());

describe('gatehouse policy replay on recorded calls', () => {
  it('reports exactly the calls a stricter policy changes, and counts what it left out and why', async () => {
    const run = await runCli([
      'policy',
      'replay',
      '--policy',
      strictFile,
      '--server',
      'feat',
      '-c',
      configFile,
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as {
      replayed: number;
      skipped: Record<string, number>;
      counts: Record<string, number>;
      calls: { tool: string; grant: string; recorded: string; replayed: string; rule: string }[];
    };
    expect(out.calls.map((c) => [c.tool, c.grant, c.recorded, c.replayed, c.rule])).toEqual([
      ['echo', 'ci', 'allow', 'rate_limited', '/tools/echo/limits/0'],
      ['add', 'ci', 'allow', 'deny', '/tools/add'],
    ]);
    expect(out.counts).toEqual({ 'allow → rate_limited': 1, 'allow → deny': 1 });
    expect(out.skipped).toEqual({ grant_policy: 1, unknown_tool: 1, pin: 1 });
    expect(out.replayed).toBe(6);
  });

  it('without --server, the one server the period has is the one the file is for; the text says what was left out', async () => {
    const run = await runCli(['policy', 'replay', '--policy', strictFile, '-c', configFile]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Replayed 6 recorded calls of server feat');
    expect(run.stdout).toContain('Left out 3 calls the policy would not decide:');
    expect(run.stdout).toContain("1 blocked because the tool's definition changed since it was pinned");
    expect(run.stdout).toContain('2 decisions would change:');
  });
});
