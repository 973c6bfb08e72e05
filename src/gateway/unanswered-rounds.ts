// A 2026-07-28 call that a server answers `input_required` is one logical call with its retry, and
// is audited once, when the retry has the final answer (docs/audit.md). A round whose retry never
// comes would then leave no record, though the server received the call and its quota is spent.
// Each such round is watched here: once its requestState can no longer be opened, the watcher
// claims the state in the state store as a retry would. Winning the claim means no retry came, on
// any replica sharing the store, and the call's record is written then, with outcome
// `input_required`.
import type { AuditLog, AuditRecord } from '../audit/record.js';
import type { StateStore } from '../store/store.js';
import { PARK_TTL_MS } from './parked-calls.js';
import { STATE_CLAIM_TTL_MS } from './relay.js';

/** After a state stops opening (PARK_TTL_MS), with room for replicas' clocks that differ. */
export const UNANSWERED_AFTER_MS = PARK_TTL_MS + 60_000;

interface Watched {
  nonce: string;
  record: AuditRecord;
  timer: NodeJS.Timeout;
}

export class UnansweredRounds {
  private readonly watched = new Map<string, Watched>();

  constructor(
    private readonly store: Pick<StateStore, 'claimOnce'>,
    private readonly audit: AuditLog,
    private readonly observe: ((record: AuditRecord) => void) | undefined,
    private readonly now: () => number = Date.now,
    private readonly afterMs = UNANSWERED_AFTER_MS,
  ) {}

  /** How many rounds are watched. */
  get size(): number {
    return this.watched.size;
  }

  /** Watches the round whose requestState has `nonce`; `record` is the call's record so far. */
  watch(nonce: string, record: AuditRecord): void {
    const timer = setTimeout(() => void this.settle(nonce), this.afterMs);
    // A gateway with nothing else to do does not stay up for a round nobody may answer.
    timer.unref();
    this.watched.set(nonce, { nonce, record, timer });
  }

  /** Settles every watched round now, as when its time is up (for tests, which cannot wait 11 minutes). */
  async settleAll(): Promise<void> {
    await Promise.all([...this.watched.keys()].map((n) => this.settle(n)));
  }

  /**
   * Stops watching. Rounds not settled are not claimed now: their states still open, and a retry
   * may yet come to this gateway after a restart, or to another replica.
   */
  close(): void {
    for (const w of this.watched.values()) clearTimeout(w.timer);
    this.watched.clear();
  }

  private async settle(nonce: string): Promise<void> {
    const w = this.watched.get(nonce);
    if (!w) return;
    this.watched.delete(nonce);
    clearTimeout(w.timer);
    let unanswered: boolean;
    try {
      unanswered = await this.store.claimOnce(`rs:${nonce}`, STATE_CLAIM_TTL_MS, this.now());
    } catch {
      // The store cannot say whether a retry came: a record kept twice is better than none.
      unanswered = true;
    }
    if (!unanswered) return;
    const record: AuditRecord = { ...w.record, outcome: 'input_required' };
    this.audit.write(record);
    this.observe?.(record);
  }
}
