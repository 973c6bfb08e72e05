// Spans for the call path, through @opentelemetry/api alone. Gatehouse bundles no SDK and no
// exporter: until the operator registers a tracer provider (docs/observability.md), every tracer
// is the API's no-op one, so a span costs one small object and the trace context in `_meta` is
// parsed only when a client sent one.
//
// MCP carries W3C trace context in the request's `params._meta` under the keys `traceparent` and
// `tracestate` (reserved by 2026-07-28, and sent the same way by 2025 clients that propagate), so
// a call span continues the client's trace over every transport, stdio included.
import { isObject } from '../mcp/jsonrpc.js';
import {
  context as otelContext,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { AuditRecord } from '../audit/record.js';

const TRACER_NAME = 'gatehouse';
const TRACER_VERSION = '0.1.0';
const TRACEPARENT = 'traceparent';

const w3c = new W3CTraceContextPropagator();

type Meta = Record<string, unknown>;

const metaGetter: TextMapGetter<Meta> = {
  keys: (meta) => Object.keys(meta),
  get: (meta, key) => {
    const value = meta[key];
    return typeof value === 'string' ? value : undefined;
  },
};

const metaSetter: TextMapSetter<Meta> = {
  set: (meta, key, value) => {
    meta[key] = value;
  },
};

export type CallSubject = 'tool' | 'resource' | 'prompt';

const METHOD: Record<CallSubject, string> = {
  tool: 'tools/call',
  resource: 'resources/read',
  prompt: 'prompts/get',
};

export interface CallSpanOptions {
  /** Default `tool`. */
  subject?: CallSubject;
  session?: string;
  /** The client's JSON-RPC id. */
  requestId?: string | number;
}

/** One decided call's span, and the context its children hang from. */
export interface CallSpan {
  readonly span: Span;
  /** The context with this span active: the parent of `decide` and `forward`. */
  readonly context: Context;
  /** Runs `fn` in a child span (`forward`); see withChildSpan. */
  child<T>(name: string, fn: (span: Span) => T | Promise<T>): Promise<T>;
  /** Starts a child span (`decide`) that the caller ends, for a phase that is not one function. */
  startChild(name: string): { end(): void };
  /** Records the decision and outcome from the call's audit record, then ends the span. */
  end(record?: SpanRecord): void;
}

/** What a call span takes from the call's audit record. */
export type SpanRecord = Pick<AuditRecord, 'decision' | 'outcome' | 'rule' | 'error' | 'blocked_by'>;

/**
 * The longest name a span name carries, and the longest text any attribute from the request does.
 * A client chooses names and ids, up to the body limit; tracing backends index span names and keep
 * every attribute.
 */
const MAX_NAME_IN_SPAN_NAME = 128;
const MAX_ATTRIBUTE_CHARS = 1024;

/** The trace context a request's `_meta` carries, as the parent for the gateway's spans. */
export function contextFromMeta(meta: unknown, base: Context = otelContext.active()): Context {
  if (!isObject(meta) || typeof meta[TRACEPARENT] !== 'string') return base;
  return w3c.extract(base, meta, metaGetter);
}

/**
 * Starts the span of one call to `server`. Its parent is the trace context in the request's
 * `_meta` when the client sent one, else whatever span is active. Name and attributes follow the
 * OpenTelemetry conventions for MCP (`tools/call <tool>`, `mcp.method.name`, `gen_ai.tool.name`);
 * resource URIs stay out of span names, which tracing backends index.
 */
export function startCallSpan(server: string, tool: string, meta: unknown, opts: CallSpanOptions = {}): CallSpan {
  const subject = opts.subject ?? 'tool';
  const method = METHOD[subject];
  const parent = contextFromMeta(meta);
  const attributes: Attributes = { 'mcp.method.name': method, 'gatehouse.server': server };
  const target = cut(tool, MAX_ATTRIBUTE_CHARS);
  if (subject === 'tool') attributes['gen_ai.tool.name'] = target;
  else if (subject === 'prompt') attributes['gen_ai.prompt.name'] = target;
  else attributes['mcp.resource.uri'] = target;
  if (opts.session) attributes['mcp.session.id'] = cut(opts.session, MAX_ATTRIBUTE_CHARS);
  if (opts.requestId !== undefined) attributes['jsonrpc.request.id'] = cut(String(opts.requestId), MAX_ATTRIBUTE_CHARS);
  const name = subject === 'resource' ? method : `${method} ${cut(tool, MAX_NAME_IN_SPAN_NAME)}`;
  const span = tracer().startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  const ctx = trace.setSpan(parent, span);
  let ended = false;
  return {
    span,
    context: ctx,
    child: (childName, fn) => withChildSpan(ctx, childName, fn),
    startChild: (childName) => {
      const child = tracer().startSpan(childName, { kind: SpanKind.INTERNAL }, ctx);
      let done = false;
      return {
        end: () => {
          if (done) return;
          done = true;
          child.end();
        },
      };
    },
    end: (record) => {
      if (ended) return;
      ended = true;
      if (record && span.isRecording()) recordOutcome(span, record);
      // A name the server does not have is the client's own, new on every call if it likes: it
      // stays in the attribute (cut), never in the span name, which backends group by.
      if (record?.blocked_by === 'unknown_tool' && span.isRecording()) span.updateName(method);
      span.end();
    },
  };
}

/**
 * Runs `fn` inside a span named `name` whose parent is `parent` (a call span or a context), and
 * ends it when `fn` settles; a thrown error is recorded on the span and thrown on. The parent is
 * passed explicitly because the API alone keeps no async context: without an SDK's context
 * manager, `context.with` would not reach across the awaits of the call path.
 */
export async function withChildSpan<T>(
  parent: CallSpan | Context,
  name: string,
  fn: (span: Span) => T | Promise<T>,
): Promise<T> {
  const ctx = 'context' in parent && 'span' in parent ? parent.context : (parent as Context);
  const span = tracer().startSpan(name, { kind: SpanKind.INTERNAL }, ctx);
  try {
    return await otelContext.with(trace.setSpan(ctx, span), () => fn(span));
  } catch (err) {
    if (span.isRecording()) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    }
    throw err;
  } finally {
    span.end();
  }
}

/**
 * The `_meta` to forward upstream: the same object with `traceparent`/`tracestate` naming the
 * given span's context (the `forward` span), so the server's spans join the trace beneath the
 * gateway's. Returns `meta` itself when nothing is being traced, so forwarded messages change
 * only when tracing is on.
 */
export function metaWithTraceContext(meta: Meta | undefined, ctx: Context): Meta | undefined {
  const span = trace.getSpan(ctx);
  if (!span || !span.isRecording()) return meta;
  const out: Meta = { ...meta };
  w3c.inject(ctx, out, metaSetter);
  return out;
}

/** Trace and span id of the active span, for log lines; empty when none is recording. */
export function activeTraceIds(): { trace_id?: string; span_id?: string } {
  const span = trace.getSpan(otelContext.active());
  if (!span || !span.isRecording()) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/**
 * At most `max` characters of `text`, as a string of its own: a slice would be a view keeping the
 * whole request text alive for as long as an exporter holds the span.
 */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${Buffer.from(text.slice(0, max), 'utf8').toString('utf8')}…`;
}

function recordOutcome(span: Span, record: SpanRecord): void {
  span.setAttribute('gatehouse.decision', record.decision);
  if (record.rule) span.setAttribute('gatehouse.rule', record.rule);
  if (record.outcome) span.setAttribute('gatehouse.outcome', record.outcome);
  // A refusal is the gateway doing its job, not a failure; only an upstream error marks the span.
  if (record.outcome === 'error') {
    span.setAttribute('error.type', 'upstream_error');
    span.setStatus({ code: SpanStatusCode.ERROR, ...(record.error ? { message: record.error } : {}) });
  }
}

function tracer() {
  // Looked up per call: the global provider may be registered after this module loads.
  return trace.getTracer(TRACER_NAME, TRACER_VERSION);
}
