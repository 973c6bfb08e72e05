// Reserves every limit a decision carries against the store, all or nothing, and gives the
// reservations back when the upstream call fails.
import { createHash } from 'node:crypto';
import { ErrorCode } from '../mcp/jsonrpc.js';
import type { LimitRequest } from '../policy/decide.js';
import type {
  CounterReservation,
  Reservation,
  ReserveAllResult,
  StateStore,
  WindowCheck,
  WindowSpec,
} from '../store/store.js';

export interface ScopeFacts {
  grant: string;
  agent: string;
  session: string;
  server: string;
}

export type LimitOutcome =
  { ok: true; reservations: Reservation[] } | { ok: false; rule: string; reason: string; retryAfterS: number };

const SCOPE_WORD = {
  grant: 'per grant',
  agent: 'per agent',
  session: 'per session',
  server: 'per server',
  global: 'in total',
} as const;

export function counterKey(req: LimitRequest, facts: ScopeFacts): string {
  const l = req.limit;
  const scope =
    l.scope === 'global'
      ? 'global'
      : l.scope === 'server'
        ? `server:${facts.server}`
        : l.scope === 'agent'
          ? `agent:${facts.agent}`
          : l.scope === 'session'
            ? `session:${facts.session}`
            : `grant:${facts.grant}`;
  return [
    'rate',
    req.perServer ? `${facts.server}/${req.counter}` : req.counter,
    scope,
    keyPart(req.keyValue ?? ''),
  ].join('|');
}

/** Key values longer than this are named by their digest in the counter key. */
export const MAX_KEY_VALUE_CHARS = 128;
const DIGEST_MARK = 'sha256:';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A key value as it goes into the counter key. The value comes from the arguments and can be
 * megabytes long: stored as it is, every call with a new value would leave that much in the state
 * store (three times over in SQLite) and in the gateway's memory, for good. A long value is named
 * by a fixed-length digest instead. A value that looks like a digest is digested too, so that no
 * value can be written that lands on another value's counter. The digest is of the UTF-16 code
 * units, so values that differ only in unpaired surrogates stay apart; a value with an unpaired
 * surrogate is digested however short, as Redis stores each as U+FFFD: two such values would
 * otherwise be one counter there, and one call whose limits are keyed by both (reserved in one
 * step, each counter checked without the other's entry) could take two entries on it.
 */
export function keyPart(value: string): string {
  if (value.length <= MAX_KEY_VALUE_CHARS && !value.startsWith(DIGEST_MARK) && !LONE_SURROGATE.test(value))
    return value;
  return DIGEST_MARK + createHash('sha256').update(Buffer.from(value, 'utf16le')).digest('base64url');
}

/** What a limit does while the state store cannot be reached (a server's `state_failure`). */
export type StateFailureMode = 'closed' | 'open';

export interface LimiterOptions {
  /** Per server; default closed: the call is blocked. */
  failureMode?: (server: string) => StateFailureMode;
  /** Called for each call whose limit check (all its counters, one step) the store failed. */
  onStoreError?: () => void;
  /** Where a call let through without its limit is reported (at error level). */
  log?: (level: 'warn' | 'error', msg: string) => void;
}

/** Calls let through without their limits are reported at most this often per server. */
export const FAIL_OPEN_LOG_EVERY_MS = 10_000;

export class Limiter {
  /** Per server: when the last fail-open report was written, and how many calls passed since. */
  private readonly openReports = new Map<string, { at: number; passed: number }>();

  constructor(
    private readonly store: StateStore,
    private readonly opts: LimiterOptions = {},
  ) {}

  async reserve(requests: LimitRequest[], facts: ScopeFacts, now: number): Promise<LimitOutcome> {
    const groups = [...byCounter(requests, facts)];
    if (groups.length === 0) return { ok: true, reservations: [] };
    // Every counter of the call in one atomic step of the store: all take the call's entry or none
    // does, so a call refused by one counter never holds quota on another, even for a moment.
    const counters: CounterReservation[] = groups.map(([key, group]) => ({ key, spec: specOf(group) }));
    let r: ReserveAllResult;
    try {
      r = await this.store.reserveAll(counters, now);
    } catch (err) {
      this.opts.onStoreError?.();
      const rules = groups.map(([, group]) => group[0]!.limit.path);
      if (this.opts.failureMode?.(facts.server) === 'open') {
        this.reportFailOpen(facts.server, rules.join(', '), err);
        return { ok: true, reservations: [] };
      }
      // Fail closed: without the store the limit cannot be honoured, so the call does not pass.
      return {
        ok: false,
        rule: rules[0]!,
        reason: `The rate-limit store is unavailable (${err instanceof Error ? err.message : String(err)}); the call is blocked until it is back.`,
        retryAfterS: 5,
      };
    }
    if (!r.ok) {
      const req = await this.refusing(requests, facts, now, groups[r.index]![1][0]!);
      const retryAfterS = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
      const what =
        req.cost > req.limit.max
          ? `This call costs ${req.cost}, more than the limit of ${req.limit.max} allows at once.`
          : `Rate limit reached: at most ${req.limit.max} per ${describeWindow(req.limit.windowSeconds)} ${SCOPE_WORD[req.limit.scope]} (counter ${req.counter}${keyedBy(req)}).`;
      return { ok: false, rule: req.limit.path, reason: `${what} Try again in ${retryAfterS} s.`, retryAfterS };
    }
    const tokens = r.tokens;
    return { ok: true, reservations: counters.map(({ key }, i) => ({ key, token: tokens[i]! })) };
  }

  /**
   * Which limit to name for a refused call: the first, in the policy's order, whose window the call
   * does not fit in now, each counter charged once (as `policy explain` walks them). The store
   * names the counter that refused, not which of its limits: a counter's limits are checked
   * together, and its first need not be the full one. `fallback` when none can be told (a store
   * that cannot answer).
   */
  private async refusing(
    requests: LimitRequest[],
    facts: ScopeFacts,
    now: number,
    fallback: LimitRequest,
  ): Promise<LimitRequest> {
    const charged = new Map<string, number>();
    for (const req of requests) {
      const key = counterKey(req, facts);
      const charge = charged.has(key) ? 0 : req.cost;
      const used = await this.store.usage(key, { ...windowOf(req.limit), cost: req.cost }, now).catch(() => undefined);
      if (used === undefined) continue;
      const already = used + (charged.get(key) ?? 0);
      if (charge > req.limit.max || already + charge > req.limit.max) return req;
      if (!charged.has(key)) charged.set(key, req.cost);
    }
    return fallback;
  }

  /** `state_failure: open`: the call passes without this limit, and the log says so, loudly. */
  private reportFailOpen(server: string, rule: string, err: unknown): void {
    const now = Date.now();
    const r = this.openReports.get(server) ?? { at: 0, passed: 0 };
    r.passed++;
    this.openReports.set(server, r);
    if (now - r.at < FAIL_OPEN_LOG_EVERY_MS) return;
    this.opts.log?.(
      'error',
      `state store unavailable (${err instanceof Error ? err.message : String(err)}): server "${server}" has state_failure: open, so ${r.passed} call(s) passed WITHOUT their rate limits (${rule}) since the last such report; set state_failure: closed to block them instead.`,
    );
    r.at = now;
    r.passed = 0;
  }

  async release(reservations: Reservation[]): Promise<void> {
    for (const r of reservations) await this.store.release(r).catch(() => undefined);
  }
}

/**
 * Whether a call that ended in a JSON-RPC error gives its quota back: only when the call did not
 * happen (the upstream refused it, or could not be reached). A call the client cancelled, or that
 * the upstream did not answer in time (-32001), was delivered: cancellation only asks the server to
 * stop, so the call may well have run. Giving its quota back would let a client run any number of
 * calls a window by cancelling each once it was forwarded.
 */
export function errorGivesQuotaBack(code: number): boolean {
  return code !== ErrorCode.RequestTimeout;
}

export function describeWindow(seconds: number): string {
  if (seconds === 1) return 'second';
  if (seconds === 60) return 'minute';
  if (seconds === 3600) return 'hour';
  if (seconds === 86_400) return 'day';
  if (seconds % 86_400 === 0) return `${seconds / 86_400} days`;
  if (seconds % 3600 === 0) return `${seconds / 3600} hours`;
  if (seconds % 60 === 0) return `${seconds / 60} minutes`;
  return `${seconds} seconds`;
}

/**
 * How a keyed counter is named in a reason: by its key expression, not by the value, which comes
 * from the arguments (an account number a `redact` path keeps out of the log, a line break that
 * would forge a row of `gatehouse audit`). The agent knows the value it sent.
 */
export function keyedBy(req: LimitRequest): string {
  return req.limit.key ? `, one per value of ${req.limit.key.source}` : '';
}

/** The requests of a call grouped by the counter they count on, in the order they came. */
function byCounter(requests: LimitRequest[], facts: ScopeFacts): Map<string, LimitRequest[]> {
  const groups = new Map<string, LimitRequest[]>();
  for (const req of requests) {
    const key = counterKey(req, facts);
    const group = groups.get(key);
    if (group) group.push(req);
    else groups.set(key, [req]);
  }
  return groups;
}

/**
 * What a call reserves on one counter. Limits naming the same counter count a call once: one entry
 * of the first one's cost, taken only if it fits in every one of their windows.
 */
function specOf(group: LimitRequest[]): WindowSpec {
  const first = group[0]!;
  const l = first.limit;
  return {
    algorithm: l.algorithm,
    windowMs: l.windowSeconds * 1000,
    max: l.max,
    cost: first.cost,
    // Every window that counts on this counter keeps its entries: those of this call's limits,
    // and those of its rules' other limits on the same default counter (retainSeconds), so a
    // short window does not prune what a long one still counts.
    longestWindowMs:
      Math.max(
        ...group.map((r) => Math.max(r.retainSeconds ?? 0, r.limit.counterWindowSeconds, r.limit.windowSeconds)),
      ) * 1000,
    ...(group.length > 1 ? { also: group.slice(1).map((r) => windowOf(r.limit)) } : {}),
  };
}

/** A limit's window, as a store checks it. */
export function windowOf(l: LimitRequest['limit']): WindowCheck {
  return { algorithm: l.algorithm, windowMs: l.windowSeconds * 1000, max: l.max };
}
