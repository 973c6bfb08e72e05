// What the audit benchmarks share: the records they write, and how they time work against the
// event loop it holds.
import type { AuditRecord } from '../../src/audit/record.js';

/** The time of record 0; record i is i seconds later. */
export const T0 = Date.parse('2026-01-01T00:00:00Z');

/** Record `i` of a bench log: 5 servers, 50 tools, one in seven denied. */
export function benchRecord(i: number): AuditRecord {
  return {
    ts: T0 + i * 1000,
    uid: `r${i}`,
    server: `s${i % 5}`,
    subject: 'tool',
    tool: `t${i % 50}`,
    grant: 'g',
    agent: 'a',
    session: 'x',
    decision: i % 7 === 0 ? 'deny' : 'allow',
    arguments: { path: `/notes/${i}.md` },
  } as AuditRecord;
}

/** Records `from` to `to` (exclusive) of a bench log. */
export function benchRecords(from: number, to: number): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (let i = from; i < to; i++) out.push(benchRecord(i));
  return out;
}

/**
 * Runs `work` while a 5 ms timer notes the longest gap between its ticks: how long a gateway on
 * this thread would have answered nothing.
 */
export async function timedAgainstLoop<T>(work: () => Promise<T>): Promise<{ ms: number; stall: number; value: T }> {
  let last = performance.now();
  let stall = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 5);
  const start = performance.now();
  const value = await work();
  const ms = performance.now() - start;
  // The gap that ends when the work ends counts too.
  stall = Math.max(stall, performance.now() - last);
  clearInterval(timer);
  return { ms, stall, value };
}
