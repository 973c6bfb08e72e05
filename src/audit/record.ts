// One audit record per decided request (tools/call, and resources/read and prompts/get that a
// policy covers). The gate builds it when the call has its answer; a sink writes it off the call's
// critical path. Arguments arrive here already redacted (see redact.ts): nothing below this line
// ever sees a secret the redaction setting keeps out.
import type { AuditFilter, AuditPage, AuditQuery, StoredAuditRecord } from './query.js';
import type { AuditSummary, StatsQuery } from './stats.js';

/** What the gateway decided. `hidden` answers like an unknown tool; the approval ones carry an id. */
export type AuditDecision =
  | 'allow'
  | 'deny'
  | 'hidden'
  | 'rate_limited'
  | 'approval_pending'
  | 'approval_denied'
  | 'approval_timeout'
  | 'approval_withdrawn';

/** What blocked a call that the policy did not decide (see AuditRecord.blocked_by). */
export type NonPolicyBlock =
  | 'pin'
  | 'tool_list'
  | 'state_store'
  | 'unknown_tool'
  | 'approval_limit'
  | 'internal_error'
  /** A retry whose requestState was used already, or whose call is parked on a replica out of reach. */
  | 'request_state'
  /** A call held for approval whose grant was revoked or expired while it waited. */
  | 'grant'
  /** A call that needs approval whose arguments nest too deeply to be shown to a person whole. */
  | 'approval_arguments';

/** What the upstream made of a forwarded call: a result, a result with isError, or an error. */
export type UpstreamOutcome = 'ok' | 'is_error' | 'error' | 'input_required';

export interface AuditRecord {
  /**
   * Unique per record, given by the writer: a record shipped twice (see spool.ts) is stored once.
   * Absent on records stored before Gatehouse gave one.
   */
  uid?: string;
  /** Milliseconds since the epoch when the request arrived. */
  ts: number;
  /** The client's JSON-RPC id, as text. */
  request_id: string;
  server: string;
  subject: 'tool' | 'resource' | 'prompt';
  /** Tool or prompt name, or resource URI. */
  tool: string;
  grant: string;
  agent: string;
  session: string;
  decision: AuditDecision;
  /** Shadow mode (enforce: false): the call went through, and this is what enforcement would have done. */
  shadow_decision?: AuditDecision;
  /** JSON pointer of the rule that decided, e.g. /tools/delete_*. */
  rule?: string;
  /** Whose policy was in force: the server's, or the grant's own (which replaces it). Absent without a policy. */
  policy?: 'server' | 'grant';
  /**
   * Set when something other than the policy blocked the call: a changed pin, a tool list that could
   * not be read, an unreachable state store, a tool the server does not have, or a failure inside
   * Gatehouse. A policy replay leaves such calls out: another policy would not change them.
   */
  blocked_by?: NonPolicyBlock;
  reason?: string;
  /** The arguments as the redaction setting allows (absent for `none`). */
  arguments?: unknown;
  /**
   * Set when the record as written could not be stored (it could not be serialised, or the sink
   * refused it as data): why. What is stored then is the rest of the record, without `arguments`,
   * its texts shortened (see writer.ts).
   */
  unstored?: string;
  category?: string;
  risk?: string;
  approval_id?: string;
  /** Who answered the approval, and through which channel (api, cli, link, elicitation, system). */
  approver?: string;
  approval_channel?: string;
  /** When the approval was answered (or timed out, or was withdrawn), milliseconds since the epoch. */
  approval_decided_at?: number;
  /** Absent when the call was not forwarded. */
  outcome?: UpstreamOutcome;
  /** A JSON-RPC error's code and message, when outcome is error. */
  error?: string;
  /** From arrival to answer. */
  latency_ms: number;
  /** Time spent waiting for the upstream, when forwarded. */
  upstream_ms?: number;
  /**
   * Time the gateway spent deciding (pins, policy, conditions, limits), to the microsecond: from
   * arrival until forwarded or answered, less any wait for a person's approval.
   */
  decide_ms?: number;
}

/** The writer's counters, for metrics. */
export interface AuditStats {
  /** Records waiting in memory to be stored. */
  queued: number;
  /**
   * Records lost: the queue was full, the sink still failed when the log was closed, or a record
   * could not be stored even without its arguments.
   */
  dropped: number;
  /** Records stored. */
  written: number;
  /** Batches the sink refused (each is retried). */
  failures: number;
}

/**
 * Where records go. `write` never throws and never waits for the sink; with a spool it appends one
 * line to a local file before it returns (see spool.ts), so it is called before the answer is sent.
 */
export interface AuditLog {
  write(record: AuditRecord): void;
  /** Resolves when every record written so far is stored (or counted as dropped). */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Counters; absent for a log that keeps nothing. */
  stats?(): AuditStats;
  /** Reads the log; absent when the sink cannot be read back (`none`). */
  query?(q: AuditQuery): Promise<AuditPage>;
  /** Records stored after the one with this id, oldest first (a live tail); absent for `none`. */
  after?(id: string | undefined, filter: AuditFilter, limit: number): Promise<StoredAuditRecord[]>;
  /** The id of the last record stored: where a live tail starts. */
  lastId?(): Promise<string | undefined>;
  /** Aggregates for the dashboard; absent when the sink cannot be read back (`none`). */
  summarize?(q: StatsQuery): Promise<AuditSummary>;
}

/** The log that keeps nothing (`audit: none`). */
export const NO_AUDIT: AuditLog = {
  write: () => {},
  flush: async () => {},
  close: async () => {},
};
