// The timed part: `echo` calls through one connected SDK client, sequentially or with N in flight.
import { performance } from 'node:perf_hooks';
import type { Client } from '@modelcontextprotocol/client';

export interface PhaseResult {
  /** Calls requested for the phase. */
  planned: number;
  /** Calls that returned the echoed message. */
  ok: number;
  errors: number;
  firstError?: string;
  /** True when the phase stopped at its time cap before `planned` calls. */
  capped: boolean;
  wallMs: number;
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** One stretch of calls against one client; a phase is the sum of its chunks. */
export interface Chunk {
  /** Latency (ms) of each successful call. */
  latencies: Float64Array;
  ok: number;
  errors: number;
  firstError?: string;
  capped: boolean;
  wallMs: number;
}

export interface PhaseOptions {
  calls: number;
  concurrency: number;
  /** Stop issuing new calls after this many ms (calls in flight still finish). */
  timeCapMs: number;
  /** Per-call timeout handed to the SDK. */
  callTimeoutMs: number;
}

function errorText(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** Nearest-rank percentile of an ascending-sorted array. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/**
 * Runs `calls` echo calls spread over `concurrency` workers sharing one client: each worker
 * keeps exactly one request in flight, so concurrency 1 is the sequential case.
 */
export async function runChunk(client: Client, tag: string, opts: PhaseOptions): Promise<Chunk> {
  const latencies = new Float64Array(opts.calls);
  let next = 0;
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  let capped = false;
  let giveUp = false;
  const start = performance.now();
  const deadline = start + opts.timeCapMs;

  const worker = async (): Promise<void> => {
    for (;;) {
      if (giveUp || next >= opts.calls) return;
      if (performance.now() > deadline) {
        capped = true;
        return;
      }
      const i = next++;
      const message = `${tag}-${i}`;
      const t0 = performance.now();
      try {
        const result = await client.callTool({ name: 'echo', arguments: { message } }, { timeout: opts.callTimeoutMs });
        const elapsed = performance.now() - t0;
        const first = result.content?.[0];
        if (result.isError || !first || first.type !== 'text' || first.text !== message) {
          throw new Error(`unexpected result: ${JSON.stringify(result).slice(0, 200)}`);
        }
        latencies[ok++] = elapsed;
      } catch (err) {
        errors++;
        firstError ??= errorText(err);
        // A target that fails everything is reported, not hammered for minutes.
        if (ok === 0 && errors >= 10) giveUp = true;
      }
    }
  };

  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  const wallMs = performance.now() - start;
  return {
    latencies: latencies.subarray(0, ok),
    ok,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    capped,
    wallMs,
  };
}

/** Folds the chunks of one phase into its figures: throughput over the summed wall time. */
export function summarize(chunks: Chunk[], planned: number): PhaseResult {
  const ok = chunks.reduce((n, c) => n + c.ok, 0);
  const wallMs = chunks.reduce((n, c) => n + c.wallMs, 0);
  const sorted = new Float64Array(ok);
  let at = 0;
  for (const c of chunks) {
    sorted.set(c.latencies, at);
    at += c.ok;
  }
  sorted.sort();
  const firstError = chunks.find((c) => c.firstError !== undefined)?.firstError;
  return {
    planned,
    ok,
    errors: chunks.reduce((n, c) => n + c.errors, 0),
    ...(firstError === undefined ? {} : { firstError }),
    capped: chunks.some((c) => c.capped),
    wallMs,
    callsPerSec: ok > 0 && wallMs > 0 ? (ok / wallMs) * 1000 : 0,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
  };
}
