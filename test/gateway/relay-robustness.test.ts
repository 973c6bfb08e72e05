// Proves that the relay stays correct when stdio upstreams misbehave or are shared, with the
// official SDK client as the agent in both eras wherever the behaviour exists in both:
// - a child that crashes mid-call fails the call in flight with a clear error (never a hang), is
//   restarted with growing backoff, serves the next call, and /readyz recovers;
// - `isolation: session` gives each legacy session a child of its own (identity, tools, elicitation),
//   whose own tools the policy lets it call; modern clients, which still share the child, are not
//   told to set what is already set;
// - on a shared child, progress reaches only the client that asked for it, and an elicitation that
//   cannot be attributed to one client fails with advice to set `isolation: session`;
// - /healthz and /readyz report liveness and per-upstream readiness (with each upstream's era);
// - a stdio child receives its configured `env` and none of the gateway's own secrets;
// - `era: legacy | modern` pinned on a both-era fixture decides the era the upstream speaks;
// - a start that fails (at boot, or a restart after a crash) is tried again in the background until
//   it succeeds, so /readyz recovers without waiting for a call.
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ElicitResult } from '@modelcontextprotocol/client';
import type { Gateway } from '../../src/gateway/gateway.js';
import {
  EPHEMERAL,
  TSX_LOADER,
  connectClient,
  featureEntry,
  featureServerCommand,
  firstText,
  modernRequest,
  postModern,
  startParsedGateway,
  tempDir,
  type ConnectedClient,
  type Era,
  type TempDir,
} from '../helpers/index.js';
import { readUntil } from '../helpers/wait.js';

const ERAS: Era[] = ['legacy', 'modern'];
const CLI = resolve('src/cli/main.ts');

/** A stdio server entry running the feature fixture in the given era(s). */
const fixtureEntry = (era: Era | 'both', extra: Record<string, unknown> = {}) => featureEntry(extra, era);

function configOf(servers: Record<string, unknown>): Record<string, unknown> {
  return { ...EPHEMERAL, servers };
}

async function gatewayWith(servers: Record<string, unknown>, logs: string[] = []): Promise<Gateway> {
  return startParsedGateway(configOf(servers), { log: (line) => logs.push(line) });
}

/** Rejects when `promise` has not settled within `ms`: a hang fails the test instead of stalling it. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

type Outcome = { text: string; isError: boolean } | { error: { code: number; message: string } };

/** Calls a tool and returns its first text block, or the JSON-RPC error it answered. */
async function callOutcome(c: ConnectedClient, name: string, args: Record<string, unknown> = {}): Promise<Outcome> {
  return c.client.callTool({ name, arguments: args }).then(
    (r) => ({ text: firstText(r), isError: r.isError === true }),
    (e: unknown) => ({
      error: { code: Number((e as { code?: unknown }).code), message: String((e as Error).message) },
    }),
  );
}

async function readyz(gateway: Gateway): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gateway.url}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const sortedNames = async (c: ConnectedClient): Promise<string[]> =>
  (await c.client.listTools()).tools.map((t) => t.name).sort();

const http = (gateway: Gateway, server: string) => ({ kind: 'http' as const, url: `${gateway.url}/mcp/${server}` });

describe('a stdio upstream that crashes mid-call', () => {
  const logs: string[] = [];
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await gatewayWith({ leg: fixtureEntry('legacy'), mod: fixtureEntry('modern') }, logs);
  });
  afterAll(async () => {
    await gateway?.close();
  });

  /** The backoff delays the gateway announced for one upstream, in order. */
  const restartDelays = (server: string): number[] =>
    logs.flatMap((l) => {
      const m = new RegExp(`upstream "${server}" exited; restarting in (\\d+) ms`).exec(l);
      return m ? [Number(m[1])] : [];
    });

  /**
   * Crashes the upstream with a call in flight and checks the call's error, /readyz while the
   * child is down, and the restart the gateway makes by itself (no call needed to trigger it).
   */
  async function crashAndRecover(c: ConnectedClient, server: string): Promise<void> {
    expect((await readyz(gateway)).status).toBe(200);
    const restartsBefore = restartDelays(server).length;

    const crashed = await within(15_000, callOutcome(c, 'crash'), 'the crashing call');
    expect(crashed).toMatchObject({ error: { code: -32000 } });
    expect('error' in crashed && crashed.error.message).toMatch(
      new RegExp(`Upstream "${server}" closed the connection before answering`),
    );

    // Right after the crash the upstream is not ready, and /readyz says which one.
    const down = await readyz(gateway);
    expect(down.status).toBe(503);
    expect((down.body['upstreams'] as Record<string, unknown>)[server]).toMatchObject({
      ready: false,
      error: 'exited',
    });

    const up = await readUntil(
      () => readyz(gateway),
      (r) => r.status === 200,
      15_000,
    );
    expect(up.status).toBe(200);
    expect(restartDelays(server)).toHaveLength(restartsBefore + 1);
  }

  for (const era of ERAS) {
    for (const server of ['leg', 'mod']) {
      it(`${era} client, ${server === 'leg' ? 'legacy' : 'modern'} upstream: the call in flight fails with a clear error, the child restarts and serves the next call, /readyz recovers`, async () => {
        const c = await connectClient({ era, downstream: http(gateway, server) });
        try {
          await crashAndRecover(c, server);
          expect(
            await within(15_000, c.callText('echo', { message: 'back again' }), 'the call after the restart'),
          ).toBe('back again');
        } finally {
          await c.close();
        }
      });
    }
  }

  it('restarts back off: a crash soon after the last restart waits longer than the one before', async () => {
    const c = await connectClient({ era: 'legacy', downstream: http(gateway, 'leg') });
    try {
      await crashAndRecover(c, 'leg');
      await crashAndRecover(c, 'leg');
    } finally {
      await c.close();
    }
    const [before, after] = restartDelays('leg').slice(-2);
    expect(before).toBeGreaterThan(0);
    expect(after).toBeGreaterThan(before!);
  });
});

describe('isolation: session gives each legacy client session its own child', () => {
  let gateway: Gateway;
  let alice: ConnectedClient;
  let bob: ConnectedClient;
  beforeAll(async () => {
    gateway = await gatewayWith({
      iso: fixtureEntry('legacy', { isolation: 'session' }),
      // The same, under a policy that allows everything: the policy must see each session's own tools.
      'iso-policy': fixtureEntry('legacy', { isolation: 'session', policy: { version: '1', default: 'allow' } }),
    });
    alice = await connectClient({ era: 'legacy', name: 'alice', downstream: http(gateway, 'iso') });
    bob = await connectClient({
      era: 'legacy',
      name: 'bob',
      downstream: { kind: 'sse', url: `${gateway.url}/sse/iso` },
    });
  });
  afterAll(async () => {
    await alice?.close();
    await bob?.close();
    await gateway?.close();
  });

  it("whoami in each session reports that client's own clientInfo name (its child was initialized by it)", async () => {
    const [a, b] = await Promise.all([alice.callText('whoami'), bob.callText('whoami')]);
    expect((JSON.parse(a) as { name?: string }).name).toBe('alice');
    expect((JSON.parse(b) as { name?: string }).name).toBe('bob');
  });

  it("add_tool in one session adds the tool to that session's list only", async () => {
    const bobBefore = await sortedNames(bob);
    const added = await alice.callText('add_tool');
    expect(added).toMatch(/^extra_\d+$/);
    expect(await sortedNames(alice)).toContain(added);
    expect(await alice.callText(added)).toBe(added);
    const bobAfter = await sortedNames(bob);
    expect(bobAfter).not.toContain(added);
    expect(bobAfter).toEqual(bobBefore);
  });

  it("under a policy, a tool added in a session's own child is callable in that session", async () => {
    const c = await connectClient({ era: 'legacy', name: 'carol', downstream: http(gateway, 'iso-policy') });
    try {
      const added = await c.callText('add_tool');
      expect(await sortedNames(c)).toContain(added);
      // The tool is in this session's list, so the policy (default allow) must let the call through.
      const outcome = await callOutcome(c, added);
      expect(outcome, JSON.stringify(outcome)).toEqual({ text: added, isError: false });
    } finally {
      await c.close();
    }
  });

  it('modern clients share the child even with isolation: session, and an unattributable elicitation does not advise setting it again', async () => {
    const busy = await connectClient({ era: 'modern', downstream: http(gateway, 'iso') });
    const asker = await connectClient({ era: 'modern', downstream: http(gateway, 'iso') });
    try {
      let started!: () => void;
      const slowStarted = new Promise<void>((r) => (started = r));
      const slow = busy.client.callTool({ name: 'slow', arguments: { ms: 1500 } }, { onprogress: () => started() });
      slow.catch(() => undefined); // awaited below; a failure before then must not go unhandled
      await within(10_000, slowStarted, 'slow to start');
      const outcome = await within(15_000, callOutcome(asker, 'ask_name'), 'ask_name with another call in flight');
      expect(firstText(await within(15_000, slow, 'slow'))).toBe('slept 1500');
      const message = 'error' in outcome ? outcome.error.message : outcome.text;
      expect(message, JSON.stringify(outcome)).toMatch(/cannot tell which client "elicitation\/create" is for/);
      // The server already has isolation: session; advice to set it cannot help the operator.
      expect(message).not.toMatch(/Set "isolation: session"/);
    } finally {
      await busy.close();
      await asker.close();
    }
  });

  it('two sessions in ask_name at the same time each get their own elicitation answer back', async () => {
    // Neither client answers until both have been asked: the two elicitations are in flight together.
    let asked = 0;
    let bothAsked!: () => void;
    const barrier = new Promise<void>((r) => (bothAsked = r));
    const answerWith = (name: string) => async (): Promise<ElicitResult> => {
      if (++asked === 2) bothAsked();
      await within(10_000, barrier, 'waiting for the other session to be asked');
      return { action: 'accept', content: { name } };
    };
    alice.client.setRequestHandler('elicitation/create', answerWith('Ada'));
    bob.client.setRequestHandler('elicitation/create', answerWith('Grace'));
    const [a, b] = await within(
      20_000,
      Promise.all([alice.callText('ask_name'), bob.callText('ask_name')]),
      'ask_name',
    );
    expect(asked).toBe(2);
    expect(a).toBe('hello Ada');
    expect(b).toBe('hello Grace');
  });
});

describe('shared stdio children with pinned eras on a both-era fixture', () => {
  const SECRET = 'gatehouse-admin-secret-for-the-env-test';
  const configured = { FIXTURE_CONFIGURED: 'set by the operator' };
  const previousToken = process.env['GATEHOUSE_ADMIN_TOKEN'];
  let gateway: Gateway;
  let configFile: string;
  let configDir: TempDir | undefined;
  beforeAll(async () => {
    // The gateway's own environment holds a secret that no child may inherit.
    process.env['GATEHOUSE_ADMIN_TOKEN'] = SECRET;
    const servers = {
      leg: fixtureEntry('both', { era: 'legacy', env: configured }),
      mod: fixtureEntry('both', { era: 'modern', env: configured }),
    };
    gateway = await gatewayWith(servers);
    configDir = tempDir('gatehouse-robustness-');
    configFile = configDir.write('gatehouse.json', configOf(servers));
  });
  afterAll(async () => {
    await gateway?.close();
    configDir?.remove();
    if (previousToken === undefined) delete process.env['GATEHOUSE_ADMIN_TOKEN'];
    else process.env['GATEHOUSE_ADMIN_TOKEN'] = previousToken;
  });

  it('/healthz answers 200, and /readyz 200 with the era of each upstream once all are ready', async () => {
    const health = await fetch(`${gateway.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await readyz(gateway);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: 'ready',
      upstreams: { leg: { ready: true, era: 'legacy' }, mod: { ready: true, era: 'modern' } },
    });
  });

  for (const era of ERAS) {
    it(`${era} client: the pinned era is the one the upstream speaks (modern gets the client's envelope, legacy was initialized by gatehouse)`, async () => {
      const name = `pin-check-${era}`;
      const toLegacy = await connectClient({ era, name, downstream: http(gateway, 'leg') });
      const toModern = await connectClient({ era, name, downstream: http(gateway, 'mod') });
      try {
        // Left on auto, this both-era fixture would be found modern; pinned legacy, it was
        // initialized once by the gateway, so it knows the gateway's clientInfo, not the client's.
        expect((JSON.parse(await toLegacy.callText('whoami')) as { name?: string }).name).toBe('gatehouse');
        expect((JSON.parse(await toModern.callText('whoami')) as { name?: string }).name).toBe(name);
      } finally {
        await toLegacy.close();
        await toModern.close();
      }
    });

    it(`${era} client: the configured env reaches the stdio child and the gateway's GATEHOUSE_ADMIN_TOKEN does not`, async () => {
      expect(process.env['GATEHOUSE_ADMIN_TOKEN']).toBe(SECRET);
      for (const server of ['leg', 'mod']) {
        const c = await connectClient({ era, downstream: http(gateway, server) });
        try {
          expect(await c.callText('env', { name: 'FIXTURE_CONFIGURED' })).toBe('set by the operator');
          expect(await c.callText('env', { name: 'GATEHOUSE_ADMIN_TOKEN' })).toBe('');
        } finally {
          await c.close();
        }
      }
    });

    for (const server of ['leg', 'mod']) {
      it(`${era} clients, ${server === 'leg' ? 'legacy' : 'modern'} child: two concurrent progress calls each receive only their own progress`, async () => {
        const a = await connectClient({ era, name: 'progress-a', downstream: http(gateway, server) });
        const b = await connectClient({ era, name: 'progress-b', downstream: http(gateway, server) });
        try {
          const seenA: number[] = [];
          const seenB: number[] = [];
          const [ta, tb] = await within(
            20_000,
            Promise.all([
              a.callText('progress', { steps: 6 }, { onprogress: (p) => seenA.push(p.progress) }),
              b.callText('progress', { steps: 9 }, { onprogress: (p) => seenB.push(p.progress) }),
            ]),
            'two progress calls',
          );
          expect([ta, tb]).toEqual(['done', 'done']);
          // On the wire each client received exactly its own steps, and nothing of the other's call.
          const wire = (c: ConnectedClient) => c.notifications.progress.map((p) => [p['progress'], p['total']]);
          expect(wire(a)).toEqual([1, 2, 3, 4, 5, 6].map((i) => [i, 6]));
          expect(wire(b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => [i, 9]));
          // The SDK hands them to each call's own onprogress (it may drop a last step that arrives
          // together with the result, so only a non-empty prefix of its own steps is required).
          expect(seenA.length).toBeGreaterThan(0);
          expect(seenA).toEqual([1, 2, 3, 4, 5, 6].slice(0, seenA.length));
          expect(seenB.length).toBeGreaterThan(0);
          expect(seenB).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].slice(0, seenB.length));
        } finally {
          await a.close();
          await b.close();
        }
      });
    }

    it(`${era} clients, shared legacy child: an elicitation while two clients have calls in flight fails and says to set isolation: session`, async () => {
      const busy = await connectClient({ era, name: 'busy', downstream: http(gateway, 'leg') });
      const asker = await connectClient({ era, name: 'asker', downstream: http(gateway, 'leg') });
      try {
        // Alone on the child, the elicitation is attributed to the asker and answered.
        expect(await within(15_000, asker.callText('ask_name'), 'ask_name alone')).toBe('hello Ada');

        // Another client's call in flight: the server's elicitation/create could be for either.
        let started!: () => void;
        const slowStarted = new Promise<void>((r) => (started = r));
        const slow = busy.client.callTool({ name: 'slow', arguments: { ms: 1500 } }, { onprogress: () => started() });
        slow.catch(() => undefined); // awaited below; a failure before then must not go unhandled
        await within(10_000, slowStarted, 'slow to start');
        const outcome = await within(15_000, callOutcome(asker, 'ask_name'), 'ask_name with another call in flight');
        // The other client's call is unharmed.
        expect(firstText(await within(15_000, slow, 'slow'))).toBe('slept 1500');
        const message = 'error' in outcome ? outcome.error.message : outcome.isError ? outcome.text : '';
        expect(message, JSON.stringify(outcome)).toMatch(/cannot tell which client "elicitation\/create" is for/);
        expect(message).toMatch(/Set "isolation: session" on server "leg"/);
      } finally {
        await busy.close();
        await asker.close();
      }
    });
  }

  it('through gatehouse stdio too, the child gets the configured env and not the secret the gateway process holds', async () => {
    const c = await connectClient({
      era: 'legacy',
      downstream: {
        kind: 'stdio',
        command: process.execPath,
        args: ['--import', TSX_LOADER, CLI, 'stdio', 'leg', '-c', configFile],
        env: { GATEHOUSE_ADMIN_TOKEN: SECRET },
      },
    });
    try {
      expect(await c.callText('env', { name: 'FIXTURE_CONFIGURED' })).toBe('set by the operator');
      expect(await c.callText('env', { name: 'GATEHOUSE_ADMIN_TOKEN' })).toBe('');
    } finally {
      await c.close();
    }
  });
});

describe('readiness while an upstream cannot start', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await gatewayWith({
      good: fixtureEntry('legacy'),
      broken: { command: '/nonexistent/gatehouse-test-no-such-command', args: [], timeout_ms: 5_000 },
    });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('/healthz answers 200 while /readyz answers 503 naming the upstream that failed', async () => {
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    const ready = await readyz(gateway);
    expect(ready.status).toBe(503);
    const upstreams = ready.body['upstreams'] as Record<string, Record<string, unknown>>;
    expect(upstreams['good']).toMatchObject({ ready: true, era: 'legacy' });
    expect(upstreams['broken']).toMatchObject({ ready: false });
    expect(String(upstreams['broken']?.['error'])).toMatch(/ENOENT|not found|no such/i);
  });

  it('legacy client: initialize against the upstream that cannot start answers an error naming it, without hanging', async () => {
    const broken = await within(
      15_000,
      connectClient({ era: 'legacy', downstream: http(gateway, 'broken') }).then(
        () => new Error('connected to an upstream that cannot start'),
        (e: Error) => e,
      ),
      'initialize of the broken upstream',
    );
    expect(broken.message).toMatch(/Upstream "broken" could not be started/);
  });

  it('modern client: a call to the upstream that cannot start answers a JSON-RPC error naming it, without hanging', async () => {
    const call = modernRequest(1, 'tools/call', { name: 'echo', arguments: { message: 'x' } });
    const res = await within(
      15_000,
      postModern(`${gateway.url}/mcp/broken`, call),
      'tools/call to the broken upstream',
    );
    const answer = res.messages.find((m) => m['id'] === 1);
    expect(answer, res.text).toBeDefined();
    expect(answer!['error']).toMatchObject({ code: -32000 });
    expect(String((answer!['error'] as Record<string, unknown>)['message'])).toMatch(
      /Upstream "broken" could not be started/,
    );
    // The healthy upstream next to it is unaffected.
    const c = await connectClient({ era: 'modern', downstream: http(gateway, 'good') });
    try {
      expect(await c.callText('echo', { message: 'fine' })).toBe('fine');
    } finally {
      await c.close();
    }
  });
});

describe('an upstream whose start fails is started again in the background', () => {
  /**
   * The feature fixture behind a shell that, once (while `marker` exists), runs the Node script
   * `instead` in its place; `timeout_ms` bounds each start's handshake.
   */
  const onceInstead = (marker: string, instead: string, timeoutMs: number) => {
    const { command, args } = featureServerCommand('stdio', 'legacy');
    return {
      command: 'sh',
      args: [
        '-c',
        'if [ -e "$0" ]; then rm -f "$0"; exec "$2" -e "$1"; fi; shift; exec "$@"',
        marker,
        instead,
        command,
        ...args,
      ],
      era: 'legacy',
      timeout_ms: timeoutMs,
    };
  };
  /** Never answers: its start fails on the handshake's timeout, as a slow or wedged child's does. */
  const STALLS = 'setInterval(() => undefined, 60_000);';
  /**
   * The handshake's bound in the stalling cases. It bounds the real server's start after the stall
   * too, and that server runs under tsx: on a machine loaded with other tests it took over 3 s.
   */
  const STALL_TIMEOUT_MS = 8_000;
  /**
   * Answers initialize (with logging, so the gateway's handshake goes on to logging/setLevel) and
   * exits on notifications/initialized: the handshake's last steps fail, forgiven.
   */
  const QUITS = [
    "require('readline').createInterface({ input: process.stdin }).on('line', (l) => {",
    '  const m = JSON.parse(l);',
    "  if (m.method === 'initialize') process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: {",
    "    protocolVersion: m.params.protocolVersion, capabilities: { logging: {}, tools: {} }, serverInfo: { name: 'quitter', version: '1' } } }) + '\\n');",
    "  if (m.method === 'notifications/initialized') process.exit(1);",
    '});',
  ].join('\n');

  /**
   * /readyz within 45 s, expected to be 200 by then: time for a stalled start's timeout and a real
   * start after it on a machine busy with other tests.
   */
  async function recovered(gateway: Gateway): Promise<void> {
    const up = await readUntil(
      () => readyz(gateway),
      (r) => r.status === 200,
      45_000,
    );
    expect(up.status, JSON.stringify(up.body)).toBe(200);
  }

  /**
   * A gateway with `flaky`, whose child is crashed with `marker` in place, so that its restart runs
   * the script the marker stands for; then /readyz, with no call after the crash.
   */
  async function crashIntoMarker(flaky: (marker: string) => Record<string, unknown>): Promise<string[]> {
    const dir = tempDir('gatehouse-restart-');
    const marker = join(dir.path, 'once');
    const logs: string[] = [];
    const gateway = await gatewayWith({ flaky: flaky(marker) }, logs);
    try {
      const c = await connectClient({ era: 'legacy', downstream: http(gateway, 'flaky') });
      try {
        writeFileSync(marker, '');
        expect(await within(15_000, callOutcome(c, 'crash'), 'the crashing call')).toMatchObject({
          error: { code: -32000 },
        });
      } finally {
        await c.close();
      }
      await recovered(gateway);
      expect(existsSync(marker)).toBe(false);
      return logs;
    } finally {
      await gateway.close();
      dir.remove();
    }
  }

  it('a child that did not answer its handshake at boot is started again, and /readyz recovers without a call', async () => {
    const dir = tempDir('gatehouse-stall-');
    const marker = dir.write('stall', '');
    const logs: string[] = [];
    const gateway = await gatewayWith({ flaky: onceInstead(marker, STALLS, STALL_TIMEOUT_MS) }, logs);
    try {
      expect(existsSync(marker)).toBe(false);
      await recovered(gateway);
      expect(logs.join('\n')).toMatch(/upstream "flaky" could not be started; trying again in \d+ ms/);
    } finally {
      await gateway.close();
      dir.remove();
    }
  }, 90_000);

  it('a restart whose child exits right after answering initialize is tried again, and /readyz recovers without a call', async () => {
    const logs = await crashIntoMarker((marker) => onceInstead(marker, QUITS, 5_000));
    // Two exits, each restarted: the crash, then the child that quit during its handshake.
    expect(logs.filter((l) => /upstream "flaky" exited; restarting in/.test(l))).toHaveLength(2);
  }, 90_000);

  it('a restart after a crash whose child did not answer its handshake is tried again, and /readyz recovers without a call', async () => {
    const logs = await crashIntoMarker((marker) => onceInstead(marker, STALLS, STALL_TIMEOUT_MS));
    expect(logs.join('\n')).toMatch(/upstream "flaky" could not be started; trying again in \d+ ms/);
  }, 90_000);
});
