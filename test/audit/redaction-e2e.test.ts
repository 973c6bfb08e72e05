// Proves redaction end to end, through a running gateway with the official SDK clients of both
// eras, in each `audit.arguments` mode (none, keys, redacted, full): a value under one of the
// policy's `redact` paths never reaches the database file, the gateway's log or /metrics, whatever
// decided the call — the tool's own rule, `hide`, an `all_tools` condition or limit, the `default`,
// a changed pin, or a tool the server does not have — because every rule that could match the tool
// contributes its paths. Secret-looking keys, and secrets inside strings (`password=…`), are hidden
// in every mode but `full`, which keeps what the policy does not name. Arguments nested 20,000
// levels deep, in `full` mode, are stored cut at 32 levels, and every call after them is stored too.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openAuditSink } from '../../src/audit/open-audit-log.js';
import type { StoredAuditRecord } from '../../src/audit/query.js';
import { ARGUMENT_MODES } from '../../src/audit/config-schema.js';
import {
  connectClient,
  featureEntry,
  modernHeaders,
  modernRequest,
  startParsedGateway,
  type Era,
} from '../helpers/index.js';
import { readSink } from './read-sink.js';

const CARD = '5555444433331111';
const EXPIRY = '09/31';
const TOKEN = 'ghp-9c1d77e0b4f2a8aa';

const POLICY = {
  version: '1',
  default: 'deny',
  hide: ['whoami'],
  all_tools: {
    deny_if: [{ when: "'stop' in args", reason: 'Stopped.' }],
    limits: [{ max: 1, window: 'hour', scope: 'global', when: "'burst' in args" }],
  },
  tools: {
    echo: { redact: ['card.number'] },
    whoami: { redact: ['card.number'] },
    'e*': { redact: ['card.expiry'] },
    'n*': { redact: ['card.number'] },
    add: { redact: ['card.number'] },
    redescribe_echo: {},
  },
};

function card() {
  return { number: CARD, expiry: EXPIRY };
}

interface Run {
  records: StoredAuditRecord[];
  stored: string;
  logs: string;
  metrics: string;
}

/** One gateway in `mode`; every kind of decision once from each era; what it stored, logged and exported. */
async function runMode(mode: (typeof ARGUMENT_MODES)[number]): Promise<Run> {
  const dir = mkdtempSync(path.join(tmpdir(), `gatehouse-redaction-${mode}-`));
  const file = path.join(dir, 'audit.db');
  try {
    let logs = '';
    const gw = await startParsedGateway(
      {
        listen: { host: '127.0.0.1', port: 0 },
        state: 'memory:',
        audit: { sink: `sqlite:${file}`, arguments: mode },
        log: { level: 'trace' },
        servers: { feat: featureEntry({ policy: POLICY }, 'both') },
      },
      { dir, log: (line) => (logs += `${line}\n`) },
    );
    for (const era of ['legacy', 'modern'] as Era[]) {
      const c = await connectClient({ era, downstream: { kind: 'http', url: `${gw.url}/mcp/feat` } });
      const call = (name: string, args: Record<string, unknown>) =>
        c.client.callTool({ name, arguments: args }).catch((e: unknown) => e);
      await call('echo', { message: `ok-${era}`, card: card(), api_key: TOKEN }); // allowed: /tools/echo
      await call('whoami', { card: card() }); // /hide
      await call('echo', { message: 'x', stop: true, card: card() }); // /all_tools/deny_if/0
      await call('echo', { message: 'x', burst: true, card: card() }); // admitted (global, once an hour)...
      await call('echo', { message: 'x', burst: true, card: card() }); // ...so /all_tools/limits/0 blocks
      await call('nosuch', { card: card() }); // the server has no such tool
      await call('add', { a: `password=${TOKEN}`, b: 1, card: card() }); // a secret inside a string
      await c.close();
    }
    // A changed definition: echo is blocked by its pin, before any rule decides.
    const c = await connectClient({ era: 'legacy', downstream: { kind: 'http', url: `${gw.url}/mcp/feat` } });
    await c.client.listTools();
    const changed = c.notifications.waitFor('notifications/tools/list_changed', () => true, { timeoutMs: 10_000 });
    await c.callText('redescribe_echo', { description: 'Now sends the message elsewhere.' });
    await changed;
    await c.client.callTool({ name: 'echo', arguments: { message: 'pinned', card: card() } });
    await c.close();
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    await gw.close();
    const sink = openAuditSink(`sqlite:${file}`, dir)!;
    const records = (await sink.query({ limit: 1000 })).records.reverse();
    await sink.close();
    const wal = `${file}-wal`;
    const stored =
      readFileSync(file).toString('latin1') + (existsSync(wal) ? readFileSync(wal).toString('latin1') : '');
    return { records, stored, logs, metrics };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.each(ARGUMENT_MODES)('audit.arguments: %s', (mode) => {
  let run: Run;
  beforeAll(async () => {
    run = await runMode(mode);
  }, 120_000);

  it('every call of both eras left its record, decided where the policy says', () => {
    const decided = run.records.map((r) => [r.tool, r.decision, r.rule ?? null]);
    const perEra = [
      ['echo', 'allow', '/tools/echo'],
      ['whoami', 'hidden', '/hide'],
      ['echo', 'deny', '/all_tools/deny_if/0/when'],
      ['echo', 'allow', '/tools/echo'],
      ['echo', 'rate_limited', '/all_tools/limits/0'],
      ['nosuch', 'hidden', null],
      ['add', 'allow', '/tools/add'],
    ];
    // The hourly global limit admits one burst call in the whole run: the second era's is blocked too.
    const second = perEra.map((d, i) => (i === 3 ? ['echo', 'rate_limited', '/all_tools/limits/0'] : d));
    expect(decided).toEqual([
      ...perEra,
      ...second,
      ['redescribe_echo', 'allow', '/tools/redescribe_echo'],
      ['echo', 'deny', '/pins'],
    ]);
  });

  // Booleans, so that a failure does not print the database file.
  it("a value under a rule's redact path never reaches the database, the log or /metrics, whatever decided", () => {
    // Something was captured in each place, so the checks below read real output.
    expect(run.stored.length).toBeGreaterThan(0);
    expect(run.logs.length).toBeGreaterThan(0);
    expect(run.metrics.includes('gatehouse_calls_total')).toBe(true);
    expect(run.stored.includes(CARD)).toBe(false);
    expect(run.logs.includes(CARD)).toBe(false);
    expect(run.metrics.includes(CARD)).toBe(false);
    expect(run.metrics.includes(TOKEN)).toBe(false);
    expect(run.logs.includes(TOKEN)).toBe(false);
  });

  it('each record keeps what the mode allows; echo also matches e*, whose path applies too', () => {
    const withCard = run.records.filter((r) => r.tool !== 'redescribe_echo');
    for (const r of withCard) {
      const args = r.arguments as { card?: unknown } | undefined;
      const expiry = r.tool === 'echo' ? '[REDACTED]' : EXPIRY;
      if (mode === 'none') expect(args).toBeUndefined();
      else if (mode === 'keys') expect(args?.card).toEqual({ number: 'string', expiry: 'string' });
      else expect(args?.card, `${r.tool} ${r.decision} ${r.rule}`).toEqual({ number: '[REDACTED]', expiry });
    }
  });

  const kept = mode === 'full' ? 'kept (full keeps what the policy does not name)' : 'never stored';
  it(`a secret-looking key, and a secret inside a string, are ${kept}`, () => {
    const echo = run.records.find((r) => r.tool === 'echo' && r.decision === 'allow')!;
    const add = run.records.find((r) => r.tool === 'add')!;
    const key = (echo.arguments as { api_key?: string } | undefined)?.api_key;
    const text = (add.arguments as { a?: string } | undefined)?.a;
    if (mode === 'full') {
      expect(key).toBe(TOKEN);
      expect(text).toBe(`password=${TOKEN}`);
      return;
    }
    expect(run.stored.includes(TOKEN)).toBe(false);
    expect(key).toBe(mode === 'none' ? undefined : mode === 'keys' ? 'string' : '[REDACTED]');
    expect(text).toBe(mode === 'none' ? undefined : mode === 'keys' ? 'string' : 'password=[REDACTED]');
  });
});

describe('audit.arguments: full, with arguments nested 20,000 levels deep', () => {
  it('stores the denied call, its arguments cut at 32 levels, and every call after it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-redaction-deep-'));
    const sink = `sqlite:${path.join(dir, 'audit.db')}`;
    try {
      const gw = await startParsedGateway(
        {
          listen: { host: '127.0.0.1', port: 0 },
          state: 'memory:',
          audit: { sink, arguments: 'full' },
          servers: {
            feat: featureEntry(
              { policy: { version: '1', default: 'allow', tools: { whoami: { action: 'deny', reason: 'No.' } } } },
              'both',
            ),
          },
        },
        { dir },
      );
      const url = `${gw.url}/mcp/feat`;
      // Written as text: JSON.stringify itself could not serialise it.
      const depth = 20_000;
      const call = modernRequest(1, 'tools/call', { name: 'whoami', arguments: { x: '@' } });
      const body = JSON.stringify(call).replace('"@"', `${'['.repeat(depth)}${']'.repeat(depth)}`);
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...modernHeaders(call),
        },
        body,
      });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('No.');
      const c = await connectClient({ era: 'legacy', downstream: { kind: 'http', url } });
      for (const n of [1, 2, 3]) await c.callText('echo', { message: `after-${n}` });
      await c.close();
      await gw.close();
      const records = (await readSink(sink, dir)).reverse();
      expect(records.map((r) => [r.tool, r.decision])).toEqual([
        ['whoami', 'deny'],
        ['echo', 'allow'],
        ['echo', 'allow'],
        ['echo', 'allow'],
      ]);
      let x = (records[0]!.arguments as { x: unknown }).x;
      let lists = 0;
      for (; Array.isArray(x); x = x[0]) lists++;
      expect([lists, x]).toEqual([31, '[too deep]']);
      expect(records.slice(1).map((r) => r.arguments)).toEqual([1, 2, 3].map((n) => ({ message: `after-${n}` })));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
