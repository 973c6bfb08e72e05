// Proves that a 2026-07-28 call a server answered input_required still leaves its audit record when
// the client never retries: once its requestState has run out (here: settled at once), the record is
// written with outcome `input_required`, whether the server is modern (its own round) or legacy (a
// call the gateway parked). A round that was retried leaves only the retry's record. A modern
// server's round that carries no requestState of its own is given one by the gateway all the same,
// so that it is watched, and its retry is the same call: counted once against a limit. So is a round
// whose requestState is not a string (a number), which the upstream is not given back. The gateway's
// own approval question to the client's user is watched the same way: left unanswered, the call
// leaves its record (approval_pending, input_required), also when its state is carried on another
// call; retried, only the retry's; and its state is good for one retry.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditSink } from '../../src/audit/open-audit-log.js';
import type { StoredAuditRecord } from '../../src/audit/query.js';
import type { Gateway } from '../../src/gateway/gateway.js';
import {
  EPHEMERAL,
  featureAllowing,
  featureEntry,
  modernRequest,
  postModern,
  startParsedGateway,
} from '../helpers/index.js';
import { parseExposition } from '../observability/prom-text.js';

let dir: string;
let gw: Gateway;
let sink: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-unanswered-'));
  sink = `sqlite:${path.join(dir, 'audit.db')}`;
  gw = await startParsedGateway(
    {
      ...EPHEMERAL,
      audit: sink,
      servers: {
        'asks-client': featureAllowing({ add: { action: 'require_approval', approval: { notify: ['client'] } } }),
        'legacy-up': featureEntry({}, 'legacy'),
        'modern-up': featureEntry({}, 'modern'),
        // list_roots asks for the client's roots without a requestState; one call an hour.
        'stateless-rounds': featureEntry(
          {
            policy: { version: '1', default: 'allow', tools: { list_roots: { limits: [{ max: 1, window: 'hour' }] } } },
          },
          'modern',
        ),
        // list_roots' round carries the number 42 as its requestState, which is not one.
        'numbered-state': featureEntry(
          {
            env: { FIXTURE_ROOTS_STATE: '42' },
            policy: { version: '1', default: 'allow', tools: { list_roots: { limits: [{ max: 1, window: 'hour' }] } } },
          },
          'modern',
        ),
      },
    },
    { dir },
  );
}, 60_000);

afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

const askName = (id: number, extra: Record<string, unknown> = {}) =>
  modernRequest(id, 'tools/call', { name: 'ask_name', arguments: {}, ...extra }, { elicitation: { form: {} } });

/** Round one of ask_name: the server's question and the state to retry with. */
async function firstRound(srv: string, id: number): Promise<{ requestState: string; key: string }> {
  const res = await postModern(`${gw.url}/mcp/${srv}`, askName(id));
  const result = res.messages.at(-1)?.result as Record<string, unknown>;
  expect(result.resultType, JSON.stringify(result)).toBe('input_required');
  return { requestState: String(result.requestState), key: Object.keys(result.inputRequests as object)[0]! };
}

async function records(): Promise<StoredAuditRecord[]> {
  await gw.core.audit.flush();
  const reader = openAuditSink(sink, dir)!;
  try {
    return (await reader.query({ limit: 100 })).records.reverse();
  } finally {
    await reader.close();
  }
}

/** The allowed ask_name calls /metrics has counted on `srv`. */
async function callsCounted(srv: string): Promise<number> {
  const m = parseExposition(await (await fetch(`${gw.url}/metrics`)).text());
  return m.value('gatehouse_calls_total', { server: srv, tool: 'ask_name', decision: 'allow' }) ?? 0;
}

describe.each(['modern-up', 'legacy-up'])('a round of %s answered input_required', (srv) => {
  it('leaves only the retry’s record when the retry comes', async () => {
    const before = (await records()).length;
    const { requestState, key } = await firstRound(srv, 2);
    const retry = await postModern(
      `${gw.url}/mcp/${srv}`,
      askName(3, { requestState, inputResponses: { [key]: { action: 'accept', content: { name: 'Ada' } } } }),
    );
    expect(retry.messages.at(-1)?.result).toMatchObject({ content: [{ type: 'text', text: 'hello Ada' }] });
    expect(gw.core.gate.unanswered.size).toBe(0); // the retry took the round off the watch
    await gw.core.gate.unanswered.settleAll();
    const added = (await records()).slice(before);
    expect(added.map((r) => [r.server, r.tool, r.outcome])).toEqual([[srv, 'ask_name', 'ok']]);
  });

  // Last: a legacy server's call left unanswered stays parked (in flight) until its state runs out.
  it('leaves its record with outcome input_required when no retry comes', async () => {
    const before = (await records()).length;
    await firstRound(srv, 1);
    expect(await records()).toHaveLength(before); // not yet: a retry may still come
    const counted = await callsCounted(srv);
    await gw.core.gate.unanswered.settleAll();
    const added = (await records()).slice(before);
    expect(added.map((r) => [r.server, r.tool, r.decision, r.outcome])).toEqual([
      [srv, 'ask_name', 'allow', 'input_required'],
    ]);
    expect(await callsCounted(srv)).toBe(counted + 1);
  });
});

const listRoots = (id: number, extra: Record<string, unknown> = {}) =>
  modernRequest(id, 'tools/call', { name: 'list_roots', arguments: {}, ...extra }, { roots: {} });

/**
 * A list_roots round on `srv` (whose limit is one call an hour), its retry, then a new call.
 * Checks that the round was given a sealed state, that the retry rode on the round's quota while
 * the new call was refused, and that only the retry and the refusal were recorded; returns the
 * retry's answer.
 */
async function retriedRound(srv: string, id: number): Promise<unknown> {
  const url = `${gw.url}/mcp/${srv}`;
  const before = (await records()).length;
  const first = (await postModern(url, listRoots(id))).messages.at(-1)?.result as Record<string, unknown>;
  expect(first.resultType).toBe('input_required');
  expect(typeof first.requestState).toBe('string');
  const retry = await postModern(
    url,
    listRoots(id + 1, { requestState: first.requestState, inputResponses: { roots: { roots: [] } } }),
  );
  // A new call is a second one within the hour.
  const again = (await postModern(url, listRoots(id + 2))).messages.at(-1)?.result as Record<string, unknown>;
  expect(JSON.stringify(again)).toContain('[RATE LIMITED]');
  await gw.core.gate.unanswered.settleAll();
  const added = (await records()).slice(before).filter((r) => r.server === srv);
  expect(added.map((r) => [r.tool, r.decision, r.outcome ?? null])).toEqual([
    ['list_roots', 'allow', 'ok'],
    ['list_roots', 'rate_limited', null],
  ]);
  return retry.messages.at(-1)?.result;
}

describe('a modern round that carries no requestState of its own', () => {
  const url = () => `${gw.url}/mcp/stateless-rounds`;

  it('is given one, and its retry is the same call: recorded once, counted once against the limit', async () => {
    // The retry rides on round one's quota: the limit of one an hour does not refuse it.
    expect(await retriedRound('stateless-rounds', 10)).toMatchObject({ content: [{ type: 'text', text: '[]' }] });
  });

  it('left without a retry, still leaves its record with outcome input_required', async () => {
    const before = (await records()).length;
    const sample = modernRequest(20, 'tools/call', { name: 'sample', arguments: { prompt: 'hi' } }, { sampling: {} });
    const first = (await postModern(url(), sample)).messages.at(-1)?.result as Record<string, unknown>;
    expect(first.resultType).toBe('input_required');
    expect(await records()).toHaveLength(before); // not yet: a retry may still come
    await gw.core.gate.unanswered.settleAll();
    const added = (await records()).slice(before);
    expect(added.map((r) => [r.server, r.tool, r.outcome])).toEqual([['stateless-rounds', 'sample', 'input_required']]);
  });
});

describe('a modern round whose requestState is not a string', () => {
  it('is handled as one without a state: sealed for the client, not passed back upstream, counted once', async () => {
    const answer = (await retriedRound('numbered-state', 30)) as { content: { text: string }[] };
    // The upstream's retry came without a requestState: it had sent none that was one.
    expect(JSON.parse(answer.content[0]!.text)).toEqual({ roots: [], requestState: null });
  });
});

describe("the gateway's approval question to a 2026-07-28 client's user", () => {
  const url = () => `${gw.url}/mcp/asks-client`;
  const add = (id: number, extra: Record<string, unknown> = {}) =>
    modernRequest(
      id,
      'tools/call',
      { name: 'add', arguments: { a: 2, b: 3 }, ...extra },
      { elicitation: { form: {} } },
    );
  async function asked(id: number): Promise<{ requestState: string; key: string }> {
    const result = (await postModern(url(), add(id))).messages.at(-1)?.result as Record<string, unknown>;
    expect(result.resultType, JSON.stringify(result)).toBe('input_required');
    return { requestState: String(result.requestState), key: Object.keys(result.inputRequests as object)[0]! };
  }

  it('left unanswered, still leaves the call’s record: approval_pending, outcome input_required', async () => {
    const before = (await records()).length;
    const watched = gw.core.gate.unanswered.size;
    await asked(40);
    expect(gw.core.gate.unanswered.size).toBe(watched + 1);
    expect(await records()).toHaveLength(before); // not yet: the user may still answer
    await gw.core.gate.unanswered.settleAll();
    const added = (await records()).slice(before);
    expect(added.map((r) => [r.server, r.tool, r.decision, r.outcome])).toEqual([
      ['asks-client', 'add', 'approval_pending', 'input_required'],
    ]);
  });

  it('its state carried on another call (other arguments, another server) does not take the asked call’s record away', async () => {
    const before = (await records()).length;
    const { requestState, key } = await asked(43);
    const inputResponses = { [key]: { action: 'accept', content: { decision: 'approve' } } };
    const other = modernRequest(
      44,
      'tools/call',
      { name: 'add', arguments: { a: 9, b: 9 }, requestState, inputResponses },
      { elicitation: { form: {} } },
    );
    expect(JSON.stringify((await postModern(url(), other)).messages.at(-1))).toContain('Invalid requestState');
    const elsewhere = modernRequest(45, 'resources/read', { uri: 'fixture://static', requestState, inputResponses });
    // Refused, as the relay opens it for a server's round of its own and finds it is not one.
    expect(JSON.stringify((await postModern(`${gw.url}/mcp/modern-up`, elsewhere)).messages.at(-1))).toContain(
      'requestState',
    );
    expect(gw.core.gate.unanswered.size).toBe(1); // still watched
    await gw.core.gate.unanswered.settleAll();
    const added = (await records()).slice(before).filter((r) => r.outcome === 'input_required');
    expect(added.map((r) => [r.server, r.tool, r.decision])).toEqual([['asks-client', 'add', 'approval_pending']]);
  });

  it('its state is good for one retry: replayed while the approval is pending, it is refused, not asked again', async () => {
    const before = (await records()).length;
    const { requestState } = await asked(46);
    // Retried without an answer: the approval is still pending, so the client is asked again.
    const again = await postModern(url(), add(47, { requestState }));
    expect((again.messages.at(-1)?.result as Record<string, unknown>).resultType).toBe('input_required');
    const replay = await postModern(url(), add(48, { requestState }));
    expect(replay.messages.at(-1)?.error).toMatchObject({
      code: -32602,
      message: expect.stringMatching(/already used/),
    });
    expect(gw.core.gate.unanswered.size).toBe(1); // the question asked again, only
    await gw.core.gate.unanswered.settleAll();
    const unanswered = (await records()).slice(before).filter((r) => r.outcome === 'input_required');
    expect(unanswered.map((r) => [r.server, r.tool, r.decision])).toEqual([['asks-client', 'add', 'approval_pending']]);
  });

  it('answered and retried, leaves only the retry’s record', async () => {
    const before = (await records()).length;
    const { requestState, key } = await asked(41);
    const retry = await postModern(
      url(),
      add(42, { requestState, inputResponses: { [key]: { action: 'accept', content: { decision: 'approve' } } } }),
    );
    expect(retry.messages.at(-1)?.result).toMatchObject({ content: [{ type: 'text', text: '5' }] });
    expect(gw.core.gate.unanswered.size).toBe(0); // the retry took the question off the watch
    await gw.core.gate.unanswered.settleAll();
    const added = (await records()).slice(before);
    expect(added.map((r) => [r.server, r.tool, r.decision, r.outcome])).toEqual([
      ['asks-client', 'add', 'allow', 'ok'],
    ]);
  });
});
