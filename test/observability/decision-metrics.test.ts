// Proves two series of /metrics on a running gateway, with official SDK clients of both eras
// calling the feature fixture: `gatehouse_decision_duration_seconds`, a histogram of the decision
// alone, observed once per decided call by server and decision, beside the whole call's
// `gatehouse_call_duration_seconds`; and the `shadow` label of `gatehouse_calls_total`, which sets
// a shadow-mode call (enforce: false) that enforcement would have blocked apart from a plain allow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { EPHEMERAL, connectClient, featureEntry, startParsedGateway, type Era } from '../helpers/index.js';
import { parseExposition, type Exposition } from './prom-text.js';

const POLICY = {
  version: '1',
  default: 'allow',
  tools: { whoami: { action: 'deny' }, echo: {} },
};

const server = (enforce: boolean) => featureEntry({ policy: { ...POLICY, enforce } }, 'both');

let gateway: Gateway;
let m: Exposition;

beforeAll(async () => {
  gateway = await startParsedGateway({
    ...EPHEMERAL,
    servers: { enforced: server(true), shadowed: server(false) },
  });
  for (const era of ['legacy', 'modern'] as Era[]) {
    for (const name of ['enforced', 'shadowed']) {
      const c = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/${name}` } });
      await c.client.callTool({ name: 'echo', arguments: { message: 'hi' } });
      await c.client.callTool({ name: 'whoami', arguments: {} });
      await c.close();
    }
  }
  m = parseExposition(await (await fetch(`${gateway.url}/metrics`)).text());
});

afterAll(async () => {
  await gateway?.close();
});

describe('gatehouse_decision_duration_seconds', () => {
  it('is a histogram with one observation per decided call, by server and decision', () => {
    expect(m.types.get('gatehouse_decision_duration_seconds')).toBe('histogram');
    const count = (server: string, decision: string) =>
      m.value('gatehouse_decision_duration_seconds_count', { server, decision });
    expect(count('enforced', 'allow')).toBe(2);
    expect(count('enforced', 'deny')).toBe(2);
    expect(count('shadowed', 'allow')).toBe(4);
    expect(
      m.value('gatehouse_decision_duration_seconds_sum', { server: 'enforced', decision: 'allow' }),
    ).toBeGreaterThan(0);
  });

  it('has buckets below a millisecond, where decisions are', () => {
    const les = m.all('gatehouse_decision_duration_seconds_bucket', { server: 'enforced', decision: 'allow' });
    expect(les.map((s) => Number(s.labels.le)).filter((le) => le < 0.001).length).toBeGreaterThan(0);
  });

  it('is a series apart from the whole call duration, which counts the same calls', () => {
    expect(m.value('gatehouse_call_duration_seconds_count', { server: 'enforced', decision: 'allow' })).toBe(2);
  });
});

describe('gatehouse_calls_total in shadow mode', () => {
  it('counts a call enforcement would have denied with shadow="deny", not as a plain allow', () => {
    const whoami = m.all('gatehouse_calls_total', { server: 'shadowed', tool: 'whoami' });
    expect(whoami.map((s) => [s.labels.decision, s.labels.shadow, s.value])).toEqual([['allow', 'deny', 2]]);
  });

  it('counts a call enforcement would have let through as a plain allow, without the label', () => {
    const echo = m.all('gatehouse_calls_total', { server: 'shadowed', tool: 'echo' });
    expect(echo.map((s) => [s.labels.decision, s.labels.shadow, s.value])).toEqual([['allow', undefined, 2]]);
  });

  it('leaves enforced calls without the label', () => {
    const whoami = m.all('gatehouse_calls_total', { server: 'enforced', tool: 'whoami' });
    expect(whoami.map((s) => [s.labels.decision, s.labels.shadow, s.value])).toEqual([['deny', undefined, 2]]);
  });
});
