// Attacks on what Gatehouse reports about itself: metric labels, the log an operator reads in a
// terminal, the dashboard's statistics, the audit tail and the spans sent to a tracing backend.
// Agents choose the names they call (any length up to the body limit, new on every call) and
// upstream servers write what they like to stderr; none of it may grow the gateway's memory for
// good, blow up what one admin request costs, forge a log entry, drive the operator's terminal,
// push the operator's own tools out of the metrics, or tell a hidden tool from a missing one. Each
// attack runs against a real gateway and the recording fixture.
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import type { AuditRecord } from '../../src/audit/record.js';
import { startGateway, type Gateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/observability/logger.js';
import { EPHEMERAL, TSX_LOADER, post, postModern, tempDir, toolCall, type JsonObject } from '../helpers/index.js';
import { waitUntil } from '../helpers/wait.js';
import { parseExposition } from '../observability/prom-text.js';
import { ALICE, FS_POLICY, LEGACY_INIT, RECORDING_SERVER, startHarness, type Harness } from './support.js';

const AUTH = { authorization: `Bearer ${ALICE}` };
const ADMIN = 'obs-admin-token-5e1c9a';
const MB = 1_000_000;

/** A legacy session on /mcp/fs (its calls carry names in the body only, never in a header). */
async function legacySession(h: Harness): Promise<Record<string, string>> {
  const url = `${h.gateway.url}/mcp/fs`;
  const init = await post(url, LEGACY_INIT, AUTH);
  const headers = { ...AUTH, 'mcp-session-id': init.headers.get('mcp-session-id')! };
  await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
  return headers;
}

/** A name `chars` long, different for each `i`. */
const bigName = (i: number, chars: number) => `guess_${i}_`.padEnd(chars, 'x');

/** The heap in use after a full collection, in bytes. */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** An audit record of a call to a tool the server does not have, named `tool`. */
const guessRecord = (tool: string): AuditRecord => ({
  ts: Date.now(),
  request_id: '1',
  server: 'fs',
  subject: 'tool',
  tool,
  grant: 'anonymous',
  agent: 'anonymous',
  session: 's',
  decision: 'hidden',
  latency_ms: 0,
});

describe('metric labels under names an agent chooses', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ policies: { fs: { ...FS_POLICY, prompts: { '*': {} } } } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('guessed tool names share one label and leave the real tools their own', async () => {
    const url = `${h.gateway.url}/mcp/fs`;
    // A fresh gateway: none of the server's tools has been called yet when the agent starts guessing.
    for (let i = 0; i < 150; i++) await postModern(url, toolCall('modern', i, `guess_${i}`), AUTH);
    await postModern(url, toolCall('modern', 'd', 'delete_file', { path: '/etc/passwd' }), AUTH);
    await postModern(url, toolCall('modern', 'r', 'read_file', { path: '/public/a' }), AUTH);
    const m = parseExposition(await (await fetch(`${h.gateway.url}/metrics`)).text());
    expect(m.value('gatehouse_calls_total', { server: 'fs', tool: 'delete_file', decision: 'deny' })).toBe(1);
    expect(m.value('gatehouse_calls_total', { server: 'fs', tool: 'read_file', decision: 'allow' })).toBe(1);
    expect(m.value('gatehouse_calls_total', { server: 'fs', tool: '(hidden)', decision: 'hidden' })).toBe(150);
    expect(m.all('gatehouse_calls_total', { server: 'fs' })).toHaveLength(3);
  });

  it('a scrape does not tell a tool the policy hides from one the server does not have', async () => {
    const url = `${h.gateway.url}/mcp/my-srv`;
    // `secret_tool` is on the server and hidden by `hide: [secret_*]`; `secret_none` is on no server.
    for (const name of ['secret_tool', 'secret_none']) await postModern(url, toolCall('modern', name, name), AUTH);
    const m = parseExposition(await (await fetch(`${h.gateway.url}/metrics`)).text());
    expect(m.all('gatehouse_calls_total', { server: 'my-srv' }).map((s) => [s.labels['tool'], s.value])).toEqual([
      ['(hidden)', 2],
    ]);
  });
});

describe('metric labels under names of a megabyte', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ policies: { fs: { ...FS_POLICY, prompts: { '*': {} } } } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('a prompt name of a megabyte keeps none of the request alive in its label', async () => {
    const url = `${h.gateway.url}/mcp/fs`;
    const session = await legacySession(h);
    const get = (i: number) => ({ jsonrpc: '2.0', id: i, method: 'prompts/get', params: { name: bigName(i, MB) } });
    await post(url, get(-1), session);
    const before = heapAfterGc();
    for (let i = 0; i < 60; i++) await post(url, get(i), session);
    const grown = heapAfterGc() - before;
    // Sixty names of a megabyte each: kept whole they would hold 60 MB for the life of the process.
    expect(grown).toBeLessThan(15 * MB);
    const m = parseExposition(await (await fetch(`${h.gateway.url}/metrics`)).text());
    const labels = m.all('gatehouse_calls_total', { server: 'fs' }).map((s) => s.labels['tool'] ?? '');
    expect(Math.max(...labels.map((l) => l.length))).toBeLessThanOrEqual(64);
  });
});

describe("the operator's terminal under an upstream's stderr", () => {
  // A carriage return to overwrite the line, a forged entry after a newline, a window title, a
  // screen clear, a C1 control sequence introducer, and a right-to-left override.
  const NASTY =
    'harmless\r14:02:11.007 INFO  upstream "fs" ready\n' +
    '14:02:11.008 ERROR policy disabled\x1b]0;owned\x07\x1b[2J\x1b[H\u009b31m\u202etxt.exe\n';
  let gateway: Gateway | undefined;
  let dir: ReturnType<typeof tempDir>;
  let written = '';

  beforeAll(async () => {
    dir = tempDir('gatehouse-obs-log-');
    const loud = dir.write(
      'loud.mjs',
      `process.stderr.write(${JSON.stringify(NASTY)});\nawait import(${JSON.stringify(pathToFileURL(RECORDING_SERVER).href)});\n`,
    );
    const file = dir.write('gatehouse.json', {
      ...EPHEMERAL,
      servers: { fs: { command: process.execPath, args: ['--import', TSX_LOADER, loud], timeout_ms: 10_000 } },
    });
    // A terminal: the logger picks its readable form on its own, as `gatehouse start` does.
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    tty.on('data', (chunk: Buffer) => (written += chunk.toString()));
    gateway = await startGateway(await loadConfig({ file }), { logger: createLogger({ destination: tty }) });
    await waitUntil(() => written.includes('policy disabled'), 15_000, 'the upstream stderr logged: not in 15 s');
  });
  afterAll(async () => {
    await gateway?.close();
    dir?.remove();
  });

  it('an upstream writing escape sequences and forged entries to stderr neither drives the terminal nor forges a line', () => {
    // The only escape sequences are the logger's own colours around a level.
    for (const escape of written.match(/\x1b\[[0-9;]*[A-Za-z]|\x1b./g) ?? [])
      expect(['\x1b[33m', '\x1b[31m', '\x1b[0m']).toContain(escape);
    expect(written).not.toMatch(/\x1b\]|\x1b\[2J|\x1b\[H|\r|\u009b|\u202e/);
    // Every line is an entry of the gateway's, or an indented continuation of one.
    for (const line of written.split('\n').filter(Boolean)) expect(line).toMatch(/^(\d\d:\d\d:\d\d\.\d{3} |    )/);
    const forged = written.split('\n').filter((l) => l.includes('policy disabled'));
    expect(forged).toHaveLength(1);
    expect(forged[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO +\[fs\] 14:02:11\.008 ERROR policy disabled\\u001b\]0;owned/,
    );
  });
});

describe('the dashboard statistics over names an agent chose', () => {
  let h: Harness;
  beforeAll(async () => {
    const dir = tempDir('gatehouse-obs-stats-');
    h = await startHarness({
      config: {
        audit: `sqlite:${join(dir.path, 'audit.db')}`,
        auth: { mode: 'grants', admin_token: ADMIN },
      },
    });
    const previous = h.close;
    h.close = async () => {
      await previous();
      dir.remove();
    };
  });
  afterAll(async () => {
    await h?.close();
  });

  it('a gateway records a tool name of a megabyte cut to 1,024 characters, with its length', async () => {
    const session = await legacySession(h);
    const answer = await post(`${h.gateway.url}/mcp/fs`, toolCall('legacy', 99, bigName(99, MB)), session);
    expect((answer.messages[0]?.['error'] as JsonObject | undefined)?.['code']).toBe(-32602);
    await h.gateway.core.audit.flush();
    const page = await h.gateway.core.audit.query!({ limit: 10 });
    const recorded = page.records.find((r) => r.tool.startsWith('guess_99_'));
    expect(recorded?.tool).toMatch(/^guess_99_x{1015}…\(1000000 chars\)$/);
  });

  it('a stats request costs the same however long and many the tool names in the log', async () => {
    // Records as a log may hold them from elsewhere (an earlier version, another writer): whole.
    for (let i = 0; i < 30; i++) h.gateway.core.audit.write(guessRecord(bigName(i, MB)));
    await h.gateway.core.audit.flush();
    const res = await fetch(`${h.gateway.url}/api/v1/stats?top=100`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    // Thirty names of a megabyte: returned whole they make a 30 MB answer (60 MB with the denials).
    expect(text.length).toBeLessThan(100_000);
    const stats = JSON.parse(text) as { audit: { total: number; top_tools: { tool: string; calls: number }[] } };
    expect(stats.audit.total).toBe(31);
    expect(stats.audit.top_tools).toHaveLength(31);
    for (const t of stats.audit.top_tools) expect(t.tool).toMatch(/^guess_\d+_x+…\((1000000|1040) chars\)$/);
  });
});

describe('the audit tail over records of a megabyte', () => {
  let h: Harness;
  beforeAll(async () => {
    const dir = tempDir('gatehouse-obs-tail-');
    h = await startHarness({
      config: { audit: `sqlite:${join(dir.path, 'audit.db')}`, auth: { mode: 'grants', admin_token: ADMIN } },
    });
    const previous = h.close;
    h.close = async () => {
      await previous();
      dir.remove();
    };
  });
  afterAll(async () => {
    await h?.close();
  });

  it('one tail poll over records of a megabyte holds a few megabytes at most, and the next polls carry on with every record once', async () => {
    for (let i = 0; i < 12; i++) h.gateway.core.audit.write(guessRecord(bigName(i, MB)));
    await h.gateway.core.audit.flush();
    const seen: string[] = [];
    let after = '0';
    for (let poll = 0; poll < 20; poll++) {
      const res = await fetch(`${h.gateway.url}/api/v1/audit/tail?after=${after}&limit=1000`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      const text = await res.text();
      // Twelve records of a megabyte: read and sent at once they make one 12 MB answer.
      expect(text.length).toBeLessThan(6 * MB);
      const answer = JSON.parse(text) as { records: { id: string; tool: string }[]; last_id: string };
      if (answer.records.length === 0) break;
      seen.push(...answer.records.map((r) => r.tool.slice(0, 10)));
      after = answer.last_id;
    }
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => bigName(i, 10)));
  });
});

describe('spans under names an agent chose', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager();
  let h: Harness;
  beforeAll(async () => {
    trace.setGlobalTracerProvider(provider);
    context.setGlobalContextManager(contextManager.enable());
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
    trace.disable();
    context.disable();
    await provider.shutdown();
  });

  it('a tool the server does not have never names a span, and no span attribute carries a whole name', async () => {
    const url = `${h.gateway.url}/mcp/fs`;
    const session = await legacySession(h);
    exporter.reset();
    for (let i = 0; i < 20; i++) await post(url, toolCall('legacy', i, bigName(i, 100_000)), session);
    await post(url, toolCall('legacy', 'r', 'read_file', { path: '/public/a' }), session);
    const calls = exporter.getFinishedSpans().filter((s) => s.name.startsWith('tools/call'));
    expect(calls).toHaveLength(21);
    // A backend groups spans by name: twenty guesses are one name, not twenty.
    expect(new Set(calls.map((s) => s.name))).toEqual(new Set(['tools/call', 'tools/call read_file']));
    for (const s of calls) {
      expect(s.name.length).toBeLessThanOrEqual(200);
      for (const value of Object.values(s.attributes)) expect(String(value).length).toBeLessThanOrEqual(1025);
    }
  });
});
