// What stays open after the request that opened it: a legacy session (its GET stream, its own
// upstream with `isolation: session`), a legacy HTTP+SSE stream, a 2026-07-28 listen stream. Each
// request is authenticated, but such a stream carries no more requests: without a look now and
// then, a grant revoked or expired (or a JWT past its `exp`) would keep receiving what the stream
// carries, and keep its upstream running, for as long as its client held the connection.
import type { Identity } from './grants.js';

/** How often the grants behind open streams and sessions are looked at. */
export const GRANT_CHECK_MS = 30_000;

/**
 * Why each identity is refused now (undefined while it is in force, or when the state store that
 * decides it could not be read: `unchecked` says why); GrantRegistry.refusalsNow.
 */
export type RefusalsNow = (
  identities: readonly Identity[],
) => Promise<{ reasons: (string | undefined)[]; unchecked?: Error }>;

/** Ends what is watched; `'keep'` to go on watching it (a session that outlives its streams). */
export type EndWatched = (reason: string, identity: Identity) => 'keep' | void;

interface Watched {
  /** The identity as the latest request on the stream or session presented it. */
  current: () => Identity;
  end: EndWatched;
}

export class IdentityWatch {
  private readonly watched = new Set<Watched>();
  private readonly timer: NodeJS.Timeout;
  private checking = false;
  /** A check was asked for while one was running, which may have read the store before the change. */
  private again = false;

  constructor(
    private readonly refusalsNow: RefusalsNow,
    private readonly log: (message: string) => void,
    everyMs = GRANT_CHECK_MS,
  ) {
    this.timer = setInterval(() => void this.check(), everyMs);
    this.timer.unref();
  }

  /**
   * Ends what `end` closes once the grant of `current()` is refused; returns the function that stops
   * watching (call it when the stream or session closes for any other reason). `current` gives the
   * identity of the latest request on it: a client that refreshes its JWT keeps its session with
   * the new token's expiry. Callers without a grant (auth off) have nothing to be revoked.
   */
  watch(current: () => Identity, end: EndWatched): () => void {
    if (!current().grant) return () => undefined;
    const entry: Watched = { current, end };
    this.watched.add(entry);
    return () => this.watched.delete(entry);
  }

  get size(): number {
    return this.watched.size;
  }

  /**
   * Looks at every watched grant once (the timer calls it, and a revocation made through this
   * gateway; tests too). Asked while a check runs, it runs once more after that one: that call
   * returns at once, and the running call's promise settles after both. Never throws.
   */
  async check(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return;
    }
    if (this.watched.size === 0) return;
    this.checking = true;
    try {
      const entries = [...this.watched];
      const identities = entries.map((e) => e.current());
      let answer: Awaited<ReturnType<RefusalsNow>>;
      try {
        answer = await this.refusalsNow(identities);
      } catch (err) {
        answer = { reasons: [], unchecked: err instanceof Error ? err : new Error(String(err)) };
      }
      // The state store cannot say: what it decides stays open until it can (every request is
      // still authenticated, and refused while the store is down). Expiries are decided anyway.
      if (answer.unchecked)
        this.log(`could not check the grants of open streams: ${answer.unchecked.message}; trying again later`);
      entries.forEach((entry, i) => {
        const reason = answer.reasons[i];
        if (reason === undefined || !this.watched.has(entry)) return;
        let kept: 'keep' | void = undefined;
        try {
          kept = entry.end(reason, identities[i]!);
        } catch {
          // One stream failing to close must not keep the others open.
        }
        if (kept !== 'keep') this.watched.delete(entry);
      });
    } finally {
      this.checking = false;
    }
    if (this.again) {
      this.again = false;
      await this.check();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.watched.clear();
  }
}

/**
 * Of two identities of one principal, the one whose token expires later (a client may still send
 * a request with its older token after it has a newer one): what the session is watched with.
 */
export function laterIdentity(held: Identity, arriving: Identity): Identity {
  const heldEnds = held.grant?.expiresAt ?? Infinity;
  const arrivingEnds = arriving.grant?.expiresAt ?? Infinity;
  return arrivingEnds >= heldEnds ? arriving : held;
}
