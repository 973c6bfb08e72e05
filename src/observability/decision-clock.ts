// How long the gateway took to decide one call: from its arrival until it is forwarded or answered,
// less the time spent waiting for a person's approval (which measures the person, not the gateway)
// and never counting the upstream. The same interval, the wait included, is the call's `decide`
// span. Measured with the monotonic clock, to the microsecond: most decisions take well under a
// millisecond.
import { performance } from 'node:perf_hooks';
import type { CallSpan } from './tracing.js';

export class DecisionClock {
  private readonly started = performance.now();
  private pausedAt: number | undefined;
  private waitedMs = 0;
  private result: number | undefined;
  private readonly span: { end(): void };

  constructor(call: CallSpan) {
    this.span = call.startChild('decide');
  }

  /** The call starts waiting on something that is not the gateway's decision (a person). */
  pause(): void {
    this.pausedAt ??= performance.now();
  }

  resume(): void {
    if (this.pausedAt === undefined) return;
    this.waitedMs += performance.now() - this.pausedAt;
    this.pausedAt = undefined;
  }

  /** The decision is made (the call is about to be forwarded, or answered): stop the clock once. */
  decided(): void {
    if (this.result !== undefined) return;
    this.resume();
    this.result = Math.max(0, Math.round((performance.now() - this.started - this.waitedMs) * 1000) / 1000);
    this.span.end();
  }

  /** Milliseconds spent deciding, once decided. */
  get ms(): number | undefined {
    return this.result;
  }
}
