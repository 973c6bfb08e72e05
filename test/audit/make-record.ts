// Audit records for tests: sensible values for every required field, overridden as each test needs.
import type { AuditRecord } from '../../src/audit/record.js';

export const T0 = Date.parse('2026-03-02T10:00:00Z');

export function makeRecord(over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    ts: T0,
    request_id: '1',
    server: 'github',
    subject: 'tool',
    tool: 'get_issue',
    grant: 'ci',
    agent: 'ci-bot',
    session: 's1',
    decision: 'allow',
    latency_ms: 12,
    ...over,
  };
}

/** `n` records one second apart, cycling through two servers, three tools and two grants. */
export function recordSeries(n: number, from = T0): AuditRecord[] {
  const servers = ['github', 'memory'];
  const tools = ['get_issue', 'create_issue', 'delete_repo'];
  const grants = ['ci', 'support'];
  return Array.from({ length: n }, (_, i) =>
    makeRecord({
      ts: from + i * 1000,
      request_id: String(i),
      server: servers[i % 2]!,
      tool: tools[i % 3]!,
      grant: grants[i % 2]!,
      agent: `${grants[i % 2]!}-bot`,
      decision: i % 3 === 2 ? 'deny' : 'allow',
      arguments: { n: i },
    }),
  );
}
