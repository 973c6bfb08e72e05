// Proves what GatewayMetrics exposes without a gateway around it: `observe` turns audit records
// into calls_total and the two latency histograms; tool labels are cleaned and capped per server
// and resource URIs never become labels; the scrape-time sources (approvals pending, audit queue
// and drops) are read on each scrape and a failing one does not fail it; each instance has a
// registry of its own.
import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { GatewayMetrics } from '../../src/observability/metrics.js';
import { parseExposition, type Exposition } from './prom-text.js';

function record(overrides: Partial<AuditRecord> = {}): AuditRecord {
  return {
    ts: Date.now(),
    request_id: '1',
    server: 'github',
    subject: 'tool',
    tool: 'list_issues',
    grant: 'ci',
    agent: 'ci',
    session: 's1',
    decision: 'allow',
    outcome: 'ok',
    latency_ms: 42,
    upstream_ms: 40,
    ...overrides,
  };
}

async function scrape(metrics: GatewayMetrics): Promise<Exposition> {
  const { contentType, body } = await metrics.render();
  expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(body);
}

describe('GatewayMetrics', () => {
  it('counts each observed call by server, tool and decision', async () => {
    const metrics = new GatewayMetrics();
    metrics.observe(record());
    metrics.observe(record());
    metrics.observe(record({ tool: 'delete_repo', decision: 'deny', outcome: undefined, upstream_ms: undefined }));
    const m = await scrape(metrics);
    expect(m.types.get('gatehouse_calls_total')).toBe('counter');
    expect(m.value('gatehouse_calls_total', { server: 'github', tool: 'list_issues', decision: 'allow' })).toBe(2);
    expect(m.value('gatehouse_calls_total', { server: 'github', tool: 'delete_repo', decision: 'deny' })).toBe(1);
  });

  it('observes call and upstream latency in seconds, upstream only for forwarded calls', async () => {
    const metrics = new GatewayMetrics();
    metrics.observe(record({ latency_ms: 30, upstream_ms: 20 }));
    metrics.observe(record({ decision: 'deny', outcome: undefined, latency_ms: 2, upstream_ms: undefined }));
    metrics.observe(record({ outcome: 'error', latency_ms: 800, upstream_ms: 790 }));
    const m = await scrape(metrics);
    expect(m.types.get('gatehouse_call_duration_seconds')).toBe('histogram');
    expect(m.value('gatehouse_call_duration_seconds_count', { server: 'github', decision: 'allow' })).toBe(2);
    expect(m.value('gatehouse_call_duration_seconds_sum', { server: 'github', decision: 'allow' })).toBeCloseTo(0.83);
    expect(m.value('gatehouse_call_duration_seconds_count', { server: 'github', decision: 'deny' })).toBe(1);
    expect(
      m.value('gatehouse_call_duration_seconds_bucket', { server: 'github', decision: 'deny', le: '0.0025' }),
    ).toBe(1);
    expect(m.value('gatehouse_upstream_duration_seconds_count', { server: 'github', outcome: 'ok' })).toBe(1);
    expect(m.value('gatehouse_upstream_duration_seconds_sum', { server: 'github', outcome: 'error' })).toBeCloseTo(
      0.79,
    );
    // A call that was never forwarded has no upstream time.
    expect(m.all('gatehouse_upstream_duration_seconds_count')).toHaveLength(2);
  });

  it('caps distinct tool labels per server and never labels with a resource URI', async () => {
    const metrics = new GatewayMetrics({ toolsPerServer: 2 });
    for (const tool of ['a', 'b', 'guess-1', 'guess-2', 'a']) metrics.observe(record({ tool, decision: 'deny' }));
    metrics.observe(record({ server: 'other', tool: 'c' }));
    metrics.observe(record({ subject: 'resource', tool: 'file:///home/ada/secret-plan.txt' }));
    const m = await scrape(metrics);
    const tools = m.all('gatehouse_calls_total', { server: 'github' }).map((s) => [s.labels['tool'], s.value]);
    expect(Object.fromEntries(tools)).toEqual({ a: 2, b: 1, '(other)': 2, '(resource)': 1 });
    // The cap is per server: another server's first tool still gets its own label.
    expect(m.value('gatehouse_calls_total', { server: 'other', tool: 'c' })).toBe(1);
  });

  it('cleans tool names before they become labels', async () => {
    const metrics = new GatewayMetrics();
    metrics.observe(record({ tool: `say "hi"\nnow ${'x'.repeat(100)}` }));
    const m = await scrape(metrics);
    const [sample] = m.all('gatehouse_calls_total');
    expect(sample?.labels['tool']).toBe(`say__hi__now_${'x'.repeat(51)}`);
  });

  it('reads approvals pending, audit queue depth and drops when scraped', async () => {
    const metrics = new GatewayMetrics();
    let pending = 3;
    const audit = { queued: 7, dropped: 2 };
    metrics.setApprovalsPending(async () => pending);
    metrics.setAuditStats(() => audit);
    metrics.limiterStoreError();
    let m = await scrape(metrics);
    expect(m.value('gatehouse_approvals_pending')).toBe(3);
    expect(m.value('gatehouse_audit_queue_depth')).toBe(7);
    expect(m.types.get('gatehouse_audit_dropped_total')).toBe('counter');
    expect(m.value('gatehouse_audit_dropped_total')).toBe(2);
    expect(m.value('gatehouse_limiter_store_errors_total')).toBe(1);

    pending = 0;
    audit.queued = 0;
    audit.dropped = 5;
    m = await scrape(metrics);
    expect(m.value('gatehouse_approvals_pending')).toBe(0);
    expect(m.value('gatehouse_audit_queue_depth')).toBe(0);
    expect(m.value('gatehouse_audit_dropped_total')).toBe(5);
  });

  it('still answers a scrape when a source throws', async () => {
    const metrics = new GatewayMetrics();
    metrics.setApprovalsPending(() => Promise.reject(new Error('store down')));
    metrics.setAuditStats(() => {
      throw new Error('sink gone');
    });
    metrics.observe(record());
    const m = await scrape(metrics);
    expect(m.value('gatehouse_calls_total', { tool: 'list_issues' })).toBe(1);
  });

  it('keeps each instance apart: two gateways in one process do not share series', async () => {
    const first = new GatewayMetrics();
    const second = new GatewayMetrics();
    first.observe(record());
    expect((await scrape(first)).value('gatehouse_calls_total', { tool: 'list_issues' })).toBe(1);
    expect((await scrape(second)).all('gatehouse_calls_total')).toHaveLength(0);
  });
});
