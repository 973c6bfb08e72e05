// Proves the tracing helpers against the real OpenTelemetry SDK (BasicTracerProvider with an
// in-memory exporter, registered globally as an operator would): a call span continues the W3C
// trace context a client put in `_meta`, `decide` and `forward` nest under it, errors and the
// decision are recorded, the forwarded `_meta` names the forward span, log lines written inside a
// span carry its ids, and with no provider registered nothing is recorded and `_meta` is untouched.
import { PassThrough } from 'node:stream';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { metaWithTraceContext, startCallSpan, withChildSpan } from '../../src/observability/tracing.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN_ID = '00f067aa0ba902b7';
const META = {
  traceparent: `00-${TRACE_ID}-${CLIENT_SPAN_ID}-01`,
  tracestate: 'rojo=00f067aa0ba902b7',
  progressToken: 7,
};

describe('without a registered tracer provider', () => {
  it('records nothing and leaves the forwarded _meta as it was', async () => {
    const call = startCallSpan('github', 'list_issues', META);
    expect(call.span.isRecording()).toBe(false);
    const forwarded = await call.child('forward', (span) =>
      metaWithTraceContext(META, trace.setSpan(call.context, span)),
    );
    expect(forwarded).toBe(META);
    call.end({ decision: 'allow', outcome: 'ok' });
  });
});

describe('with a registered tracer provider', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager();

  beforeAll(() => {
    trace.setGlobalTracerProvider(provider);
    context.setGlobalContextManager(contextManager.enable());
  });
  afterAll(async () => {
    trace.disable();
    context.disable();
    await provider.shutdown();
  });
  beforeEach(() => exporter.reset());

  const byName = (name: string): ReadableSpan => {
    const span = exporter.getFinishedSpans().find((s) => s.name === name);
    if (!span)
      throw new Error(
        `no span ${name}; got ${exporter
          .getFinishedSpans()
          .map((s) => s.name)
          .join(', ')}`,
      );
    return span;
  };

  it('continues the traceparent in _meta, and decide and forward nest under the call span', async () => {
    const call = startCallSpan('github', 'list_issues', META, { session: 's1', requestId: 5 });
    await call.child('decide', () => 'allow');
    await withChildSpan(call, 'forward', async () => new Promise((r) => setTimeout(r, 5)));
    call.end({ decision: 'allow', outcome: 'ok', rule: '/tools/list_*' });

    const callSpan = byName('tools/call list_issues');
    expect(callSpan.spanContext().traceId).toBe(TRACE_ID);
    expect(callSpan.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID);
    expect(callSpan.parentSpanContext?.isRemote).toBe(true);
    expect(callSpan.spanContext().traceState?.get('rojo')).toBe('00f067aa0ba902b7');
    expect(callSpan.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'list_issues',
      'gatehouse.server': 'github',
      'mcp.session.id': 's1',
      'jsonrpc.request.id': '5',
      'gatehouse.decision': 'allow',
      'gatehouse.rule': '/tools/list_*',
      'gatehouse.outcome': 'ok',
    });
    for (const name of ['decide', 'forward']) {
      const child = byName(name);
      expect(child.spanContext().traceId).toBe(TRACE_ID);
      expect(child.parentSpanContext?.spanId).toBe(callSpan.spanContext().spanId);
    }
  });

  it('starts a new trace when the request carries no trace context', () => {
    const call = startCallSpan('github', 'list_issues', { progressToken: 1 });
    call.end();
    const span = byName('tools/call list_issues');
    expect(span.spanContext().traceId).not.toBe(TRACE_ID);
    expect(span.parentSpanContext).toBeUndefined();
  });

  it('ignores a malformed traceparent instead of failing the call', () => {
    const call = startCallSpan('github', 'list_issues', { traceparent: 'not-a-trace' });
    call.end();
    expect(byName('tools/call list_issues').parentSpanContext).toBeUndefined();
  });

  it('records a thrown error on the child span and throws it on; an upstream error marks the call', async () => {
    const call = startCallSpan('github', 'create_issue', META);
    await expect(
      call.child('forward', () => {
        throw new Error('connection reset');
      }),
    ).rejects.toThrow('connection reset');
    call.end({ decision: 'allow', outcome: 'error', error: '-32000 connection reset' });
    const forward = byName('forward');
    expect(forward.status).toMatchObject({ code: 2, message: 'connection reset' });
    expect(forward.events.map((e) => e.name)).toContain('exception');
    expect(byName('tools/call create_issue').status).toMatchObject({ code: 2 });
  });

  it('does not mark a denied call as an error: refusing is the gateway working', () => {
    const call = startCallSpan('github', 'delete_repo', META);
    call.end({ decision: 'deny', rule: '/tools/delete_*' });
    expect(byName('tools/call delete_repo').status.code).toBe(0);
  });

  it('names resources/read spans without the URI, which stays an attribute', () => {
    startCallSpan('files', 'file:///home/ada/plan.txt', META, { subject: 'resource' }).end();
    expect(byName('resources/read').attributes['mcp.resource.uri']).toBe('file:///home/ada/plan.txt');
  });

  it('forwards _meta whose traceparent names the forward span, keeping the other keys', async () => {
    const call = startCallSpan('github', 'list_issues', META);
    const forwarded = await call.child('forward', (span) =>
      metaWithTraceContext(META, trace.setSpan(call.context, span)),
    );
    call.end();
    const forward = byName('forward');
    expect(forwarded).not.toBe(META);
    expect(forwarded).toMatchObject({
      progressToken: 7,
      traceparent: `00-${TRACE_ID}-${forward.spanContext().spanId}-01`,
      tracestate: 'rojo=00f067aa0ba902b7',
    });
    expect(META.traceparent).toBe(`00-${TRACE_ID}-${CLIENT_SPAN_ID}-01`);
  });

  it('adds the trace and span id to log lines written inside a span', async () => {
    const out = new PassThrough();
    const lines: string[] = [];
    out.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
    const logger = createLogger({ destination: out, format: 'json' });
    const call = startCallSpan('github', 'list_issues', META);
    const spanId = await call.child('decide', (span) => {
      logger.info('deciding');
      return span.spanContext().spanId;
    });
    call.end();
    logger.info('outside');
    const [inside, outside] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(inside).toMatchObject({ msg: 'deciding', trace_id: TRACE_ID, span_id: spanId });
    expect(outside).not.toHaveProperty('trace_id');
  });
});
