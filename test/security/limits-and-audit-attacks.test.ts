// Attacks on exact rate limits and the counters behind them: getting quota back for calls the
// upstream received (cancelling them, letting them time out, or making the server exit while it
// runs them), and counter keys made of argument
// values megabytes long. Each attack runs against a real gateway in front of the recording fixture,
// which writes down every call it receives, so the tests count what reached the upstream.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyPart } from '../../src/limits/limiter.js';
import { ACCEPT_BOTH, TSX_LOADER, modernHeaders, type JsonObject } from '../helpers/index.js';
import { sleep, waitUntil } from '../helpers/wait.js';
import {
  ALICE,
  BOB,
  LEGACY_INIT,
  httpDriver,
  isBlocked,
  hangsReceived,
  receivedCalls,
  startHarness,
  textOf,
  toolCall,
  type Harness,
} from './support.js';

/** `hang` (never answered) and `crash` (the server exits mid-call) at most once an hour each. */
const HANG_ONCE_AN_HOUR = {
  version: '1',
  default: 'deny',
  tools: { hang: { limits: [{ max: 1, window: 'hour' }] }, crash: { limits: [{ max: 1, window: 'hour' }] } },
};

function headers(extra: Record<string, string> = {}): Record<string, string> {
  return { 'content-type': 'application/json', accept: ACCEPT_BOTH, authorization: `Bearer ${ALICE}`, ...extra };
}

/** A legacy Streamable HTTP session on /mcp/fs: the headers its requests carry. */
async function legacySession(h: Harness): Promise<Record<string, string>> {
  const url = `${h.gateway.url}/mcp/fs`;
  const init = await fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify(LEGACY_INIT) });
  await init.text();
  const inSession = headers({ 'mcp-session-id': init.headers.get('mcp-session-id')! });
  const initialized = { jsonrpc: '2.0', method: 'notifications/initialized' };
  await (await fetch(url, { method: 'POST', headers: inSession, body: JSON.stringify(initialized) })).text();
  return inSession;
}

describe('quota of a call the upstream received stays spent', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ policies: { fs: HANG_ONCE_AN_HOUR }, serverExtra: { timeout_ms: 2_000 } });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('a legacy call cancelled with notifications/cancelled after it was forwarded gives no quota back', async () => {
    const url = `${h.gateway.url}/mcp/fs`;
    const inSession = await legacySession(h);
    const before = hangsReceived(h);
    const answers: JsonObject[] = [];
    for (let i = 0; i < 3; i++) {
      const id = `cancel-${i}`;
      const call = fetch(url, {
        method: 'POST',
        headers: inSession,
        body: JSON.stringify(toolCall('legacy', id, 'hang')),
      });
      // Cancelled once the first call reached the upstream; later ones had their time to.
      if (i === 0) await waitUntil(() => hangsReceived(h) > before, 10_000, 'the call forwarded: not within 10 s');
      await sleep(150);
      const cancel = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id } };
      await (await fetch(url, { method: 'POST', headers: inSession, body: JSON.stringify(cancel) })).text();
      const text = await (await call).text().catch(() => '');
      if (text.includes('"result"')) answers.push(JSON.parse(text.slice(text.indexOf('{'))) as JsonObject);
    }
    await sleep(200);
    expect(hangsReceived(h) - before).toBe(1);
    expect(answers.some((a) => isBlocked(a) && textOf(a).includes('[RATE LIMITED]'))).toBe(true);
  });

  it('a 2026-07-28 call whose POST the client drops after it was forwarded gives no quota back', async () => {
    const h2 = await startHarness({ policies: { fs: HANG_ONCE_AN_HOUR }, serverExtra: { timeout_ms: 5_000 } });
    try {
      const before = hangsReceived(h2);
      for (let i = 0; i < 3; i++) {
        const message = toolCall('modern', `drop-${i}`, 'hang');
        const abort = new AbortController();
        const call = fetch(`${h2.gateway.url}/mcp/fs`, {
          method: 'POST',
          headers: headers(modernHeaders(message)),
          body: JSON.stringify(message),
          signal: abort.signal,
        }).then((r) => r.text());
        await sleep(400);
        abort.abort();
        await call.catch(() => undefined);
        await sleep(100);
      }
      expect(hangsReceived(h2) - before).toBe(1);
    } finally {
      await h2.close();
    }
  });

  it.each(['legacy', 'modern'] as const)(
    '%s: a call whose server exits while running it gives no quota back',
    async (era) => {
      // A grant each, so that each era's test has a counter of its own.
      const d = await httpDriver(h, era, false, era === 'legacy' ? ALICE : BOB);
      const crashes = () => receivedCalls(h.records.fs).filter((c) => c.name === 'crash').length;
      const before = crashes();
      const answers: JsonObject[] = [];
      for (let i = 0; i < 3; i++) {
        answers.push(await d.request(toolCall(era, `crash-${era}-${i}`, 'crash')));
        // The server is back before the next call: a call that found it down would not reach it.
        await waitUntil(
          async () => (await fetch(`${h.gateway.url}/readyz`).then((r) => r.status)) === 200,
          30_000,
          'the upstream restarted: not within 30 s',
        );
      }
      expect(crashes() - before).toBe(1);
      expect(JSON.stringify(answers[0])).toMatch(/closed the connection before answering/);
      expect(answers.slice(1).every((a) => isBlocked(a) && textOf(a).includes('[RATE LIMITED]'))).toBe(true);
    },
  );

  it('a call the upstream received but did not answer in time gives no quota back', async () => {
    const d = await httpDriver(h, 'modern', false);
    const before = hangsReceived(h);
    const answers: JsonObject[] = [];
    for (let i = 0; i < 3; i++) answers.push(await d.request(toolCall('modern', `slow-${i}`, 'hang')));
    expect(hangsReceived(h) - before).toBeLessThanOrEqual(1);
    expect(answers.slice(1).every((a) => isBlocked(a) && textOf(a).includes('[RATE LIMITED]'))).toBe(true);
  });
});

describe('counter keys made of argument values', () => {
  let h: Harness;
  let stateFile: string;
  beforeAll(async () => {
    h = await startHarness({
      policies: {
        fs: {
          version: '1',
          default: 'deny',
          tools: { read_file: { limits: [{ max: 1, window: 'day', key: 'args.path' }] } },
        },
      },
      config: { state: 'sqlite:./state.db' },
    });
    stateFile = join(h.dir, 'state.db');
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('a key value megabytes long is stored as a short digest, and still counts exactly per value', async () => {
    const d = await httpDriver(h, 'modern', false);
    const long = (c: string) => `/public/${c.repeat(1 << 20)}`;
    const call = (id: string, path: string) => d.request(toolCall('modern', id, 'read_file', { path }));
    expect(isBlocked(await call('a1', long('a')))).toBe(false);
    expect(textOf(await call('a2', long('a')))).toMatch(/\[RATE LIMITED\]/);
    expect(isBlocked(await call('b1', long('b')))).toBe(false);
    // The digest written as a value of its own is another counter.
    expect(isBlocked(await call('digest', keyPart(long('a'))))).toBe(false);
    const db = new Database(stateFile, { readonly: true });
    try {
      for (const table of ['limit_events', 'limit_keys', 'limit_seconds']) {
        const row = db.prepare(`SELECT max(length(key)) AS longest FROM ${table}`).get() as { longest: number };
        expect(row.longest, table).toBeLessThan(300);
      }
    } finally {
      db.close();
    }
  });
});

describe('reading a JSON Lines audit log', () => {
  it('a page of a large JSON Lines log is read without holding the whole log in memory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-jsonl-'));
    try {
      const file = join(dir, 'audit.jsonl');
      // 150 MB of records, their times slightly out of order as batches of replicas leave them.
      const padding = 'x'.repeat(2_000);
      const out = openSync(file, 'w');
      const lines: string[] = [];
      for (let i = 0; i < 75_000; i++) {
        const record = {
          ts: 1_000_000 + i + (i % 3 === 0 ? 5 : 0),
          server: 'fs',
          tool: 'read_file',
          grant: 'alice',
          agent: 'a',
          session: 's',
          subject: 'tool',
          decision: 'allow',
          latency_ms: 1,
          arguments: { padding },
        };
        lines.push(JSON.stringify(record));
        if (lines.length === 1000) writeSync(out, `${lines.splice(0).join('\n')}\n`);
      }
      closeSync(out);
      const reader = `
        import { JsonlAuditSink } from ${JSON.stringify(resolve('src/audit/jsonl-sink.ts'))};
        const page = await new JsonlAuditSink(${JSON.stringify(file)}).query({ limit: 3 });
        console.log(JSON.stringify(page.records.map((r) => [r.ts, r.id])));`;
      const run = spawnSync(
        process.execPath,
        ['--max-old-space-size=64', '--import', TSX_LOADER, '--input-type=module', '-e', reader],
        { encoding: 'utf8', timeout: 120_000 },
      );
      expect(run.status, run.stderr.slice(-500)).toBe(0);
      expect(JSON.parse(run.stdout.trim())).toEqual([
        [1_075_002, '74998'],
        [1_074_999, '75000'],
        [1_074_999, '74995'],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
