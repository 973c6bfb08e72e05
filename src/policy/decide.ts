// The decision engine. Pure: the clock comes in with the call, and limits come out as requests
// for the limiter to reserve against the store. Order (DESIGN section 1):
// hide → deny → require → approval → limits → forward. The first that blocks decides.
import type { CelVars } from './cel.js';
import {
  isHidden,
  matchRule,
  type CompiledLimit,
  type CompiledPolicy,
  type CompiledRule,
  type RuleTable,
} from './compile.js';
import type { Category } from './schema.js';

export type Subject = 'tool' | 'resource' | 'prompt';

export interface CallFacts {
  subject: Subject;
  /** Tool or prompt name, or resource URI. */
  name: string;
  server: string;
  args: Record<string, unknown>;
  category?: Category;
  risk?: string;
  annotations?: Record<string, unknown>;
  grant: { name: string; agent: string; labels: Record<string, string> };
  session: { id: string };
  now: Date;
}

export interface LimitRequest {
  limit: CompiledLimit;
  /** Counter name: the limit's own, or `<tool>_rate`. */
  counter: string;
  /** A default counter belongs to its server: two servers' `<tool>_rate` never share quota. */
  perServer: boolean;
  /** The value of the limit's `key` expression, when it has one. */
  keyValue?: string;
  cost: number;
}

export type BlockKind = 'deny' | 'approval_required';

export type Decision =
  | { outcome: 'allow'; rule: string; limits: LimitRequest[]; shadowed?: Blocked }
  | { outcome: 'hidden'; rule: string }
  | Blocked;

export interface Blocked {
  outcome: 'blocked';
  kind: BlockKind;
  rule: string;
  reason: string;
}

const SUBJECT_WORD: Record<Subject, string> = { tool: 'Tool', resource: 'Resource', prompt: 'Prompt' };

export function decide(policy: CompiledPolicy, call: CallFacts): Decision {
  const d = decideEnforced(policy, call);
  // Shadow mode: decide and record, never block (a hidden tool stays visible too).
  if (!policy.enforce && d.outcome !== 'allow') {
    return { outcome: 'allow', rule: d.rule, limits: [], ...(d.outcome === 'blocked' ? { shadowed: d } : {}) };
  }
  return d;
}

function decideEnforced(policy: CompiledPolicy, call: CallFacts): Decision {
  const word = SUBJECT_WORD[call.subject];
  if (call.subject === 'tool') {
    if (isHidden(policy, call.name)) return { outcome: 'hidden', rule: '/hide' };
  }
  const own = matchOwn(policy, call);
  // all_tools applies to every tool call; resources and prompts have only their own rules.
  const chain = [call.subject === 'tool' ? policy.allTools : undefined, own.rule].filter(
    (r): r is CompiledRule => r !== undefined,
  );
  const hiding = chain.find((r) => r.action === 'hide');
  if (hiding) return { outcome: 'hidden', rule: hiding.path };

  // deny: an action, or any deny_if that holds
  for (const r of chain) {
    if (r.action === 'deny')
      return blocked('deny', r.path, r.reason ?? `${word} "${call.name}" is not allowed by the policy.`);
  }
  // `default` is the decision for a tool no entry matches (DESIGN section 1); resources and
  // prompts without a matching entry are governed by their own rules only.
  if (!own.rule && policy.default === 'deny' && call.subject === 'tool') {
    return blocked(
      'deny',
      '/default',
      `${word} "${call.name}" is not allowed: the policy denies anything it does not list.`,
    );
  }
  const vars = celVars(call);
  for (const r of chain) {
    for (const c of r.denyIf) {
      const v = truth(c.cel.evaluate(vars), c.cel.path);
      if (typeof v === 'string') return blocked('deny', c.cel.path, v);
      if (v)
        return blocked(
          'deny',
          c.cel.path,
          c.reason ?? r.reason ?? `${word} "${call.name}" was denied by the condition ${c.cel.source}.`,
        );
    }
  }
  for (const r of chain) {
    for (const c of r.require) {
      const v = truth(c.cel.evaluate(vars), c.cel.path);
      if (typeof v === 'string') return blocked('deny', c.cel.path, v);
      if (!v)
        return blocked('deny', c.cel.path, c.reason ?? r.reason ?? `${word} "${call.name}" requires ${c.cel.source}.`);
    }
  }
  for (const r of chain) {
    if (r.action === 'require_approval')
      return blocked('approval_required', r.path, r.reason ?? `${word} "${call.name}" requires a person's approval.`);
    for (const c of r.approvalIf) {
      const v = truth(c.cel.evaluate(vars), c.cel.path);
      if (typeof v === 'string') return blocked('deny', c.cel.path, v);
      if (v)
        return blocked(
          'approval_required',
          c.cel.path,
          r.reason ?? `${word} "${call.name}" requires a person's approval (${c.cel.source}).`,
        );
    }
  }
  const limits: LimitRequest[] = [];
  for (const r of chain) {
    for (const l of r.limits) {
      const req = limitRequest(l, call, vars);
      if (typeof req === 'string') return blocked('deny', l.path, req);
      if (req) limits.push(req);
    }
  }
  return { outcome: 'allow', rule: own.rule?.path ?? '/default', limits };
}

function matchOwn(policy: CompiledPolicy, call: CallFacts): { rule?: CompiledRule } {
  const table: RuleTable =
    call.subject === 'tool' ? policy.tools : call.subject === 'resource' ? policy.resources : policy.prompts;
  const rule = matchRule(table, call.name);
  if (rule) return { rule };
  if (call.subject === 'tool' && call.category) {
    const byCategory = policy.categories[call.category];
    if (byCategory) return { rule: byCategory };
  }
  return {};
}

/** A limit's request for this call, undefined when its `when` is false, or an error text. */
function limitRequest(l: CompiledLimit, call: CallFacts, vars: CelVars): LimitRequest | undefined | string {
  if (l.when) {
    const v = truth(l.when.evaluate(vars), l.when.path);
    if (typeof v === 'string') return v;
    if (!v) return undefined;
  }
  let cost = 1;
  if (l.cost) {
    const r = l.cost.evaluate(vars);
    const n = r.ok ? Number(r.value) : NaN;
    if (!r.ok || !Number.isFinite(n) || n < 0)
      return `The cost expression at ${l.cost.path} did not give a non-negative number${r.ok ? '' : `: ${r.error}`}.`;
    cost = n;
  }
  // A tool's default counter is `<tool>_rate`; a resource or prompt rule's is the rule's own, so a
  // pattern like `notes://*` caps the reads it matches together, not each URI on its own.
  const out: LimitRequest = {
    limit: l,
    counter: l.counter ?? (call.subject === 'tool' ? `${call.name}_rate` : `${l.path}_rate`),
    perServer: l.counter === undefined,
    cost,
  };
  if (l.key) {
    const r = l.key.evaluate(vars);
    if (!r.ok) return `The key expression at ${l.key.path} failed: ${r.error}.`;
    out.keyValue =
      typeof r.value === 'string'
        ? r.value
        : JSON.stringify(r.value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  }
  return out;
}

/** A condition's boolean value, or the text of why it could not be had (which blocks the call). */
function truth(r: { ok: true; value: unknown } | { ok: false; error: string }, path: string): boolean | string {
  if (!r.ok) return `The condition at ${path} could not be evaluated (${r.error}), so the call is blocked.`;
  if (typeof r.value !== 'boolean')
    return `The condition at ${path} did not give true or false, so the call is blocked.`;
  return r.value;
}

export function blocked(kind: BlockKind, rule: string, reason: string): Blocked {
  return { outcome: 'blocked', kind, rule, reason };
}

/** The CEL variables of a call (shared with explain, so both evaluate the same thing). */
export function celVars(call: CallFacts): CelVars {
  return {
    args: call.args,
    tool: {
      name: call.name,
      server: call.server,
      ...(call.category ? { category: call.category } : {}),
      ...(call.risk ? { risk: call.risk } : {}),
      annotations: call.annotations ?? {},
    },
    grant: call.grant,
    session: call.session,
    now: call.now,
  };
}

/** Whether a resource (by URI) or prompt can appear in its list: hidden and denied ones do not. */
export function listableEntry(policy: CompiledPolicy, subject: 'resource' | 'prompt', name: string): boolean {
  if (!policy.enforce) return true;
  const rule = matchRule(subject === 'resource' ? policy.resources : policy.prompts, name);
  return rule?.action !== 'hide' && rule?.action !== 'deny';
}

/** Whether a tool can appear in tools/list at all (hidden and unconditionally denied do not). */
export function listable(policy: CompiledPolicy, name: string, category?: Category): boolean {
  if (!policy.enforce) return true;
  if (isHidden(policy, name)) return false;
  const own = matchRule(policy.tools, name) ?? (category ? policy.categories[category] : undefined);
  if (own?.action === 'hide' || own?.action === 'deny') return false;
  if (policy.allTools?.action === 'deny' || policy.allTools?.action === 'hide') return false;
  return own !== undefined || policy.default === 'allow';
}
