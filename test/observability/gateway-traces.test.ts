// Proves tracing through a running gateway, with the OpenTelemetry SDK's in-memory exporter
// registered globally as an operator would, and official SDK clients of both eras calling the
// feature fixture: each call is a `tools/call <tool>` server span that continues the W3C
// traceparent the client put in `_meta`; under it a `decide` span covers the gateway's decision
// (pins, policy, limits) and a `forward` span the upstream request; a call denied by the policy or
// refused by a rate limit has a `decide` span and no `forward` span; the call span carries the
// decision and the rule.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import {
  EPHEMERAL,
  connectClient,
  featureEntry,
  startParsedGateway,
  type ConnectedClient,
  type Era,
} from '../helpers/index.js';

const CLIENT_SPAN_ID = '00f067aa0ba902b7';
const TRACE_IDS: Record<Era, string> = {
  legacy: '4bf92f3577b34da6a3ce929d0e0e4736',
  modern: '0af7651916cd43dd8448eb211c80319c',
};
const POLICY = {
  version: '1',
  default: 'deny',
  tools: { echo: { limits: [{ max: 1, window: 'hour', scope: 'session' }] } },
};

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
let dir: string;
let gateway: Gateway;

beforeAll(async () => {
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(contextManager.enable());
  dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-traces-'));
  gateway = await startParsedGateway(
    {
      ...EPHEMERAL,
      servers: { feat: featureEntry({ policy: POLICY }, 'both') },
    },
    { dir },
  );
});

afterAll(async () => {
  await gateway?.close();
  trace.disable();
  context.disable();
  await provider.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => exporter.reset());

/** The spans of one trace, by name. */
function spansOf(traceId: string): Map<string, ReadableSpan[]> {
  const out = new Map<string, ReadableSpan[]>();
  for (const s of exporter.getFinishedSpans()) {
    if (s.spanContext().traceId !== traceId) continue;
    out.set(s.name, [...(out.get(s.name) ?? []), s]);
  }
  return out;
}

describe.each<Era>(['legacy', 'modern'])('spans of calls through the gateway, %s client', (era) => {
  let client: ConnectedClient;
  const traceId = TRACE_IDS[era];
  const meta = { traceparent: `00-${traceId}-${CLIENT_SPAN_ID}-01` };

  beforeAll(async () => {
    client = await connectClient({ era, downstream: { kind: 'http', url: `${gateway.url}/mcp/feat` } });
  });
  afterAll(async () => {
    await client?.close();
  });

  it('an allowed call continues the client trace, with decide then forward under the call span', async () => {
    expect(await client.callText('echo', { message: 'traced' }, { _meta: meta })).toBe('traced');
    const spans = spansOf(traceId);
    const [call] = spans.get('tools/call echo') ?? [];
    expect(call, `spans: ${[...spans.keys()].join(', ')}`).toBeDefined();
    expect(call!.kind).toBe(1); // SpanKind.SERVER
    expect(call!.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID);
    expect(call!.attributes).toMatchObject({
      'gen_ai.tool.name': 'echo',
      'gatehouse.server': 'feat',
      'gatehouse.decision': 'allow',
      'gatehouse.rule': '/tools/echo',
      'gatehouse.outcome': 'ok',
    });
    const [decide] = spans.get('decide') ?? [];
    const [forward] = spans.get('forward') ?? [];
    for (const child of [decide, forward]) expect(child?.parentSpanContext?.spanId).toBe(call!.spanContext().spanId);
  });

  it('a call refused by its rate limit was decided inside decide, and never forwarded', async () => {
    const limited = await client.client.callTool({ name: 'echo', arguments: { message: 'again' }, _meta: meta });
    expect(limited.isError).toBe(true);
    const spans = spansOf(traceId);
    const [call] = spans.get('tools/call echo') ?? [];
    expect(call!.attributes).toMatchObject({
      'gatehouse.decision': 'rate_limited',
      'gatehouse.rule': '/tools/echo/limits/0',
    });
    expect(spans.get('decide')?.[0]?.parentSpanContext?.spanId).toBe(call!.spanContext().spanId);
    expect(spans.get('forward')).toBeUndefined();
  });

  it('a denied call has a decide span and no forward span', async () => {
    const denied = await client.client.callTool({ name: 'whoami', arguments: {}, _meta: meta });
    expect(denied.isError).toBe(true);
    const spans = spansOf(traceId);
    const [call] = spans.get('tools/call whoami') ?? [];
    expect(call!.attributes).toMatchObject({ 'gatehouse.decision': 'deny', 'gatehouse.rule': '/default' });
    expect(spans.get('decide')?.[0]?.parentSpanContext?.spanId).toBe(call!.spanContext().spanId);
    expect(spans.get('forward')).toBeUndefined();
  });
});
