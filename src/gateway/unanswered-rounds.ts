// A 2026-07-28 call that a server answers `input_required` is one logical call with its retry, and
// is audited once, when the retry has the final answer (docs/audit.md). A round whose retry never
// comes would then leave no record, though the server received the call and its quota is spent.
// Each such round is watched here. A retry that carries its state marks it `rs-seen:` in the state
// store as it arrives (whatever then becomes of it), and claims it `rs:` before it is forwarded.
// Once the state can no longer be opened, the watcher takes both marks itself: winning both means
// no retry came, on any replica sharing the store, and the call's record is written then, with
// outcome `input_required`.
import type { AuditLog, AuditRecord } from '../audit/record.js';
import type { StateStore } from '../store/store.js';
import { PARK_TTL_MS } from './parked-calls.js';
import { STATE_CLAIM_TTL_MS } from './relay.js';

/**
 * After a state stops opening (PARK_TTL_MS), with room for replicas' clocks that differ; a
 * retry's claims last longer (STATE_CLAIM_TTL_MS), so a watcher that runs late still sees them.
 */
export const UNANSWERED_AFTER_MS = PARK_TTL_MS + 60_000;
/** The room for replicas' clocks that UNANSWERED_AFTER_MS leaves after a state stops opening. */
const CLOCK_ROOM_MS = UNANSWERED_AFTER_MS - PARK_TTL_MS;

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Rounds watched at once, at most. Each holds its call's record (arguments included) for as long as
 * its state opens, which for an approval question is the approval's timeout: past this many, the
 * oldest leaves its record at once (writeEarly), so memory stays bounded and nothing is lost.
 */
export const MAX_WATCHED_ROUNDS = 10_000;

interface Watched {
  record: AuditRecord;
  timer: NodeJS.Timeout;
}

export class UnansweredRounds {
  private readonly watched = new Map<string, Watched>();
  private closed = false;

  constructor(
    private readonly store: Pick<StateStore, 'claimOnce'>,
    private readonly audit: AuditLog,
    private readonly observe: ((record: AuditRecord) => void) | undefined,
    private readonly now: () => number = Date.now,
    private readonly afterMs = UNANSWERED_AFTER_MS,
    private readonly maxWatched = MAX_WATCHED_ROUNDS,
  ) {}

  /** How many rounds are watched. */
  get size(): number {
    return this.watched.size;
  }

  /**
   * Watches the round whose requestState has `nonce`; `record` is the call's record so far.
   * `expires`, when the state stops opening: a relay's round lasts PARK_TTL_MS, the gateway's own
   * approval question as long as its approval, which may be hours or days.
   */
  watch(nonce: string, record: AuditRecord, expires?: number): void {
    const at = Math.max(this.now() + this.afterMs, (expires ?? 0) + CLOCK_ROOM_MS);
    const arm = (): NodeJS.Timeout => {
      const left = at - this.now();
      // setTimeout takes at most 2^31 - 1 ms (24.8 days); a longer wait is armed again.
      const timer =
        left > MAX_TIMER_MS
          ? setTimeout(() => {
              const w = this.watched.get(nonce);
              if (w) w.timer = arm();
            }, MAX_TIMER_MS)
          : setTimeout(() => void this.settle(nonce), Math.max(0, left));
      // A gateway with nothing else to do does not stay up for a round nobody may answer.
      timer.unref();
      return timer;
    };
    this.watched.set(nonce, { record, timer: arm() });
    // A Map iterates in insertion order: the first key is the round watched longest.
    if (this.watched.size > this.maxWatched) this.writeEarly(this.watched.keys().next().value!);
  }

  /**
   * A retry carrying the state of the round with `nonce` arrived (`expires`: when that state stops
   * opening, if later than a relay's round): the round is the retry's to
   * record. Marked in the store for a watcher on another replica; a failed mark is the rare case
   * of a store that is down, where the round may keep a record of its own as well.
   */
  retried(nonce: string, expires?: number): void {
    const w = this.watched.get(nonce);
    if (w) {
      clearTimeout(w.timer);
      this.watched.delete(nonce);
    }
    // Kept as long past the state's expiry as STATE_CLAIM_TTL_MS keeps a relay's round: a watcher
    // on another replica, which looks after that expiry, still sees it.
    const keepMs = Math.max(STATE_CLAIM_TTL_MS, (expires ?? 0) - this.now() + (STATE_CLAIM_TTL_MS - PARK_TTL_MS));
    this.store.claimOnce(`rs-seen:${nonce}`, keepMs, this.now()).catch(() => undefined);
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
    this.closed = true;
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
      unanswered =
        (await this.store.claimOnce(`rs:${nonce}`, STATE_CLAIM_TTL_MS, this.now())) &&
        (await this.store.claimOnce(`rs-seen:${nonce}`, STATE_CLAIM_TTL_MS, this.now()));
    } catch {
      // The store cannot say whether a retry came: a record kept twice is better than none.
      unanswered = true;
    }
    // A gateway stopping meanwhile: its audit log is closing, and the round is left unclaimed
    // where the claim failed.
    if (!unanswered || this.closed) return;
    this.write(w.record);
  }

  /**
   * Past the cap: the round watched longest leaves its record now, unclaimed, as its state may
   * still open. A retry that comes after all goes on and leaves its own record too: two records
   * for that call rather than none, and a retry is never refused for it.
   */
  private writeEarly(nonce: string): void {
    const w = this.watched.get(nonce);
    if (!w) return;
    this.watched.delete(nonce);
    clearTimeout(w.timer);
    this.write(w.record);
  }

  private write(callRecord: AuditRecord): void {
    const record: AuditRecord = { ...callRecord, outcome: 'input_required' };
    this.audit.write(record);
    this.observe?.(record);
  }
}
