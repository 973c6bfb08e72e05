// The gateway's Prometheus metrics. Each gateway has a registry of its own rather than prom-client's
// global one, so that several gateways in one process (tests, embedding) never share or clash on
// series. Values that other parts already hold (upstream state, open sessions, pending approvals,
// the audit queue) are read when Prometheus scrapes, through callbacks, instead of being copied on
// every change: the call path pays nothing for them.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuditRecord } from '../audit/record.js';
import { ToolLabels } from './tool-labels.js';

/** Seconds; from a fast local decision to a slow upstream or a human approval. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Seconds; a decision usually takes tens of microseconds, a slow store or a CEL-heavy policy more. */
const DECISION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** What the metrics read from the upstream pool. */
export interface UpstreamSource {
  readonly servers: Readonly<Record<string, unknown>>;
  sharedConnection(server: string): { readonly isReady: boolean };
  onUpstreamRestart(listener: (server: string) => void): () => void;
}

export interface AuditStats {
  /** Records accepted by the audit log and not yet stored. */
  queued: number;
  /** Records dropped since start (queue full, sink failing). */
  dropped: number;
}

export interface MetricsOptions {
  /** Distinct tool label values kept per server; further tools share the label `(other)`. */
  toolsPerServer?: number;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly toolLabels: ToolLabels;
  private readonly sources: ScrapeSources = { sessionCounters: new Map() };
  private processMetrics = false;

  private readonly calls: Counter<'server' | 'tool' | 'decision' | 'shadow'>;
  private readonly callSeconds: Histogram<'server' | 'decision'>;
  private readonly decisionSeconds: Histogram<'server' | 'decision'>;
  private readonly upstreamSeconds: Histogram<'server' | 'outcome'>;
  private readonly restarts: Counter<'server'>;
  private readonly limiterErrors: Counter;

  constructor(opts: MetricsOptions = {}) {
    this.toolLabels = new ToolLabels(opts.toolsPerServer);
    const registers = [this.registry];
    this.calls = new Counter({
      name: 'gatehouse_calls_total',
      help: 'Decided calls (tools/call, and resources/read and prompts/get a policy covers), by server, tool and decision; shadow mode adds what enforcement would have decided.',
      labelNames: ['server', 'tool', 'decision', 'shadow'],
      registers,
    });
    this.callSeconds = new Histogram({
      name: 'gatehouse_call_duration_seconds',
      help: 'Time from the arrival of a call to its answer, the decision included, by server and decision.',
      labelNames: ['server', 'decision'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.decisionSeconds = new Histogram({
      name: 'gatehouse_decision_duration_seconds',
      help: 'Time the gateway spent deciding a call (pins, policy, conditions, limits), without the upstream and without any wait for a person, by server and decision.',
      labelNames: ['server', 'decision'],
      buckets: DECISION_BUCKETS,
      registers,
    });
    this.upstreamSeconds = new Histogram({
      name: 'gatehouse_upstream_duration_seconds',
      help: 'Time spent waiting for the upstream server on forwarded calls, by server and outcome.',
      labelNames: ['server', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.restarts = new Counter({
      name: 'gatehouse_upstream_restarts_total',
      help: 'Times an upstream connection closed unexpectedly and the gateway restarted it.',
      labelNames: ['server'],
      registers,
    });
    this.limiterErrors = new Counter({
      name: 'gatehouse_limiter_store_errors_total',
      help: 'Rate-limit checks (one per call, all its limits in one step) that failed because the state store did not answer.',
      registers,
    });
    registerScrapeTimeMetrics(registers, this.sources);
  }

  /** Counts one decided call and its latencies from its audit record. */
  observe(record: AuditRecord): void {
    const { server, decision } = record;
    const tool = this.toolLabels.label(server, record.subject, record.tool, decision === 'hidden');
    // A shadow-mode call went through, but is not a plain allow: `shadow` says what enforcement would have done.
    this.calls.inc(
      record.shadow_decision ? { server, tool, decision, shadow: record.shadow_decision } : { server, tool, decision },
    );
    if (Number.isFinite(record.latency_ms)) this.callSeconds.observe({ server, decision }, record.latency_ms / 1000);
    if (record.decide_ms !== undefined && Number.isFinite(record.decide_ms))
      this.decisionSeconds.observe({ server, decision }, record.decide_ms / 1000);
    if (record.upstream_ms !== undefined && Number.isFinite(record.upstream_ms))
      this.upstreamSeconds.observe({ server, outcome: record.outcome ?? 'ok' }, record.upstream_ms / 1000);
  }

  /** Reads `gatehouse_upstream_up` from the pool at scrape time and counts its restarts. */
  watchUpstreams(source: UpstreamSource): () => void {
    this.sources.upstreams = source;
    return source.onUpstreamRestart((server) => this.upstreamRestarted(server));
  }

  upstreamRestarted(server: string): void {
    this.restarts.inc({ server });
  }

  /** Adds a source of open sessions for one downstream transport; several sources are summed. */
  countSessions(transport: string, count: () => number): void {
    const counters = this.sources.sessionCounters.get(transport) ?? [];
    counters.push(count);
    this.sources.sessionCounters.set(transport, counters);
  }

  /** Sets where `gatehouse_streams_watched` comes from; read on each scrape. */
  countWatched(count: () => number): void {
    this.sources.watched = count;
  }

  /** Sets where `gatehouse_approvals_pending` comes from; read on each scrape. */
  setApprovalsPending(count: () => number | Promise<number>): void {
    this.sources.approvalsPending = count;
  }

  /** Sets where the audit queue depth and drop count come from; read on each scrape. */
  setAuditStats(stats: () => AuditStats): void {
    this.sources.auditStats = stats;
  }

  /** Counts one rate-limit check the state store failed to answer. */
  limiterStoreError(): void {
    this.limiterErrors.inc();
  }

  /** Adds Node.js process metrics (CPU, memory, event loop, GC); once per registry. */
  collectProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /** The Prometheus text exposition and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** What scrapes read from the rest of the gateway; set after the metrics are built. */
interface ScrapeSources {
  upstreams?: UpstreamSource;
  sessionCounters: Map<string, Array<() => number>>;
  approvalsPending?: () => number | Promise<number>;
  auditStats?: () => AuditStats;
  watched?: () => number;
}

/** Gauges and counters whose values are read from their sources when Prometheus scrapes. */
function registerScrapeTimeMetrics(registers: Registry[], sources: ScrapeSources): void {
  new Gauge({
    name: 'gatehouse_upstream_up',
    help: 'Whether the shared connection to each upstream server is ready (1) or not (0).',
    labelNames: ['server'],
    registers,
    collect() {
      const source = sources.upstreams;
      if (!source) return;
      for (const server of Object.keys(source.servers))
        this.set({ server }, source.sharedConnection(server).isReady ? 1 : 0);
    },
  });
  new Gauge({
    name: 'gatehouse_sessions_open',
    help: 'Open client sessions by downstream transport (2026-07-28 clients are stateless and hold none).',
    labelNames: ['transport'],
    registers,
    collect() {
      for (const [transport, counters] of sources.sessionCounters)
        this.set(
          { transport },
          counters.reduce((sum, count) => sum + count(), 0),
        );
    },
  });
  new Gauge({
    name: 'gatehouse_streams_watched',
    help: 'Open sessions and streams held under a grant or JWT: each ends once its grant no longer holds.',
    registers,
    collect() {
      if (sources.watched) this.set(sources.watched());
    },
  });
  new Gauge({
    name: 'gatehouse_approvals_pending',
    help: 'Calls waiting for a human approval.',
    registers,
    async collect() {
      if (!sources.approvalsPending) return;
      // A failing source leaves the gauge as it was: one broken part must not fail the scrape.
      try {
        this.set(await sources.approvalsPending());
      } catch {
        /* the previous value stands */
      }
    },
  });
  new Gauge({
    name: 'gatehouse_audit_queue_depth',
    help: 'Audit records accepted and not yet stored.',
    registers,
    collect() {
      const stats = readAuditStats(sources);
      if (stats) this.set(stats.queued);
    },
  });
  new Counter({
    name: 'gatehouse_audit_dropped_total',
    help: 'Audit records the audit log dropped (queue full or sink failing).',
    registers,
    collect() {
      const stats = readAuditStats(sources);
      if (!stats) return;
      // The audit log keeps the running total; mirror it so that rate() works as for any counter.
      this.reset();
      this.inc(stats.dropped);
    },
  });
}

function readAuditStats(sources: ScrapeSources): AuditStats | undefined {
  try {
    return sources.auditStats?.();
  } catch {
    return undefined;
  }
}
