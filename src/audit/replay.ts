// Replay: decide recorded calls again under another policy, to see before deploying it which calls
// it would treat differently. Each record gives the facts a decision needs (name, server, arguments
// as recorded, category, risk, grant, agent, session, and its own time as `now`).
//
// Rate limits are simulated: records are replayed in time order against an in-memory store, and a
// call the new policy lets through reserves its quota there (given back when the recorded upstream
// call failed, as the gateway does). Counters start empty at the first replayed record, so usage
// from before the replayed period is not counted.
//
// Arguments are replayed as recorded: values the audit log redacted read as "[REDACTED]" (or as
// type names under `arguments: keys`, or are absent under `none`), so a condition on them may
// decide differently than it did on the real call. Such calls are marked `inexact`.
//
// Only calls the replayed policy would meet are replayed. Left out, and counted by why: calls of a
// grant with a policy of its own (it replaces the server's, so a new server policy would not reach
// them), and calls that something other than the policy blocked — a changed pin, a tool list that
// could not be read, an unreachable state store, a tool the server does not have, a failure inside
// Gatehouse — which another policy would not change.
import { errorGivesQuotaBack, Limiter } from '../limits/limiter.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { decide, type CallFacts } from '../policy/decide.js';
import type { Category } from '../policy/schema.js';
import { MemoryStore } from '../store/memory-store.js';
import type { AuditRecord, NonPolicyBlock } from './record.js';
import { MAX_STRING_CHARS, REDACTED, TOO_DEEP } from './redact.js';

/** A decision as replay compares them: the approval outcomes are one (the call needed a person). */
export type ReplayVerdict = 'allow' | 'deny' | 'hidden' | 'rate_limited' | 'approval';

export interface ReplayChange {
  record: AuditRecord;
  recorded: ReplayVerdict;
  replayed: ReplayVerdict;
  rule: string;
  reason?: string;
  /** The recorded arguments were redacted, so the replayed decision may differ from the real one. */
  inexact: boolean;
}

/** Why a recorded call was left out of a replay. */
export type SkipReason = NonPolicyBlock | 'grant_policy';

export const SKIP_REASONS: Record<SkipReason, string> = {
  grant_policy: 'of grants with a policy of their own, which replaces the server policy',
  pin: "blocked because the tool's definition changed since it was pinned",
  tool_list: "blocked because the server's tool list could not be read",
  state_store: 'blocked because the state store could not be reached',
  unknown_tool: 'to tools the server does not have',
  approval_limit: 'blocked because their grant had too many approvals pending',
  internal_error: 'blocked by a failure inside Gatehouse',
  request_state: 'refused because their requestState was used already or their call was held out of reach',
  grant: 'held for approval and refused because their grant was revoked or expired meanwhile',
  approval_arguments: 'blocked because their arguments nested too deeply to show an approver',
};

export interface ReplayResult {
  replayed: number;
  /** Records left out, by reason; only reasons that occurred. */
  skipped: Partial<Record<SkipReason, number>>;
  changes: ReplayChange[];
  /** "allow → deny": how many, in order of first appearance. */
  counts: Record<string, number>;
  /** Replayed records whose arguments were not recorded exactly. */
  inexact: number;
}

export interface ReplayOptions {
  /** Labels of the config's grants, by grant name. */
  grantLabels: (grant: string) => Record<string, string>;
  /** Simulate rate limits (default true); false decides without reserving. */
  simulateLimits?: boolean;
  /**
   * Whether a grant has a policy of its own; asked for records written before records said which
   * policy was in force (`policy`). Default: none has.
   */
  grantHasPolicy?: (grant: string) => boolean;
}

export async function replayRecords(
  records: readonly AuditRecord[],
  policy: CompiledPolicy,
  opts: ReplayOptions,
): Promise<ReplayResult> {
  const ordered = [...records].sort((a, b) => a.ts - b.ts);
  const limiter = opts.simulateLimits === false ? undefined : new Limiter(new MemoryStore());
  const changes: ReplayChange[] = [];
  const counts: Record<string, number> = {};
  const skipped: Partial<Record<SkipReason, number>> = {};
  let inexactCount = 0;
  let replayedCount = 0;
  for (const record of ordered) {
    const skip = skipReason(record, opts);
    if (skip) {
      skipped[skip] = (skipped[skip] ?? 0) + 1;
      continue;
    }
    replayedCount++;
    const inexact = !recordedExactly(record.arguments);
    if (inexact) inexactCount++;
    const decision = decide(policy, factsOf(record, opts));
    let replayed: ReplayVerdict;
    let rule = decision.rule;
    let reason: string | undefined;
    if (decision.outcome === 'hidden') replayed = 'hidden';
    else if (decision.outcome === 'blocked') {
      replayed = decision.kind === 'approval_required' ? 'approval' : 'deny';
      reason = decision.reason;
    } else {
      replayed = 'allow';
      const shadowed = decision.shadowed;
      if (shadowed)
        reason = `shadow mode; enforced it would be ${shadowed.outcome === 'hidden' ? 'hidden' : shadowed.reason}`;
      if (limiter && decision.limits.length > 0) {
        const scope = { grant: record.grant, agent: record.agent, session: record.session, server: record.server };
        const reserved = await limiter.reserve(decision.limits, scope, record.ts);
        if (!reserved.ok) [replayed, rule, reason] = ['rate_limited', reserved.rule, reserved.reason];
        else if (recordedErrorGaveQuotaBack(record)) await limiter.release(reserved.reservations);
      }
    }
    const recorded = recordedVerdict(record);
    if (recorded === replayed) continue;
    changes.push({ record, recorded, replayed, rule, ...(reason ? { reason } : {}), inexact });
    const key = `${recorded} → ${replayed}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return { replayed: replayedCount, skipped, changes, counts, inexact: inexactCount };
}

/** Why the replayed policy would not decide this call; undefined when it would. */
export function skipReason(r: AuditRecord, opts: Pick<ReplayOptions, 'grantHasPolicy'> = {}): SkipReason | undefined {
  if (r.blocked_by) return r.blocked_by;
  // Records from before `blocked_by` existed: the pin and unknown-tool blocks are recognisable.
  if (r.rule === '/pins') return 'pin';
  if (r.decision === 'hidden' && r.rule === undefined) return 'unknown_tool';
  if (r.policy === 'grant' || (r.policy === undefined && opts.grantHasPolicy?.(r.grant))) return 'grant_policy';
  return undefined;
}

/** What happened to the recorded call; an allowed call that carries an approval had needed one. */
export function recordedVerdict(r: AuditRecord): ReplayVerdict {
  if (r.decision.startsWith('approval_')) return 'approval';
  if (r.decision === 'allow' && (r.approval_id || r.approver)) return 'approval';
  return r.decision as Exclude<ReplayVerdict, 'approval'>;
}

function factsOf(r: AuditRecord, opts: ReplayOptions): CallFacts {
  const args = r.arguments && typeof r.arguments === 'object' && !Array.isArray(r.arguments) ? r.arguments : {};
  return {
    subject: r.subject,
    name: r.tool,
    server: r.server,
    args: args as Record<string, unknown>,
    ...(r.category ? { category: r.category as Category } : {}),
    ...(r.risk ? { risk: r.risk } : {}),
    grant: { name: r.grant, agent: r.agent, labels: opts.grantLabels(r.grant) },
    session: { id: r.session },
    now: new Date(r.ts),
  };
}

/** False when a value was left out, replaced, shortened, cut for its depth, or reduced to its type; or a key shortened. */
function recordedExactly(args: unknown): boolean {
  if (args === undefined) return false;
  let exact = true;
  const shortened = (s: string) => s.length > MAX_STRING_CHARS && /…\(\d+ chars\)(#\d+)?$/.test(s);
  const visit = (v: unknown, depth: number): void => {
    if (!exact || depth > 64) return;
    if (typeof v === 'string') {
      if (v.includes(REDACTED) || v === TOO_DEEP || shortened(v)) exact = false;
    } else if (Array.isArray(v)) v.forEach((x) => visit(x, depth + 1));
    else if (v && typeof v === 'object') {
      if (Object.keys(v).some(shortened)) exact = false;
      else Object.values(v).forEach((x) => visit(x, depth + 1));
    }
  };
  visit(args, 0);
  return exact;
}

/**
 * Whether the recorded call's quota came back, as the gateway decides it: the call failed with an
 * error other than a cancellation or a timeout (the audited error text starts with its code).
 */
function recordedErrorGaveQuotaBack(record: AuditRecord): boolean {
  if (record.outcome !== 'error') return false;
  const code = /^(-?\d+) /.exec(record.error ?? '');
  return code === null || errorGivesQuotaBack(Number(code[1]));
}
