// The decision engine. Pure: the clock comes in with the call, and limits come out as requests
// for the limiter to reserve against the store. Order (DESIGN section 1):
// hide → deny → require → approval → limits → forward. The first that blocks decides.
import { UNDECIDED } from './cel-fast.js';
import type { CelVars, CompiledCel } from './cel.js';
import { matchRule, matchTool, type CompiledLimit, type CompiledPolicy, type CompiledRule } from './compile.js';
import type { Category } from './schema.js';
import { naturalUri } from './resource-uri.js';

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
  /** A person approved this very call: the approval phase is passed, the limits still apply. */
  approved?: boolean;
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
  /**
   * How long, in seconds, the counter's entries must be kept for every limit of this call's rules
   * that counts on the same default counter (`<tool>_rate`), whether or not its `when` holds now.
   */
  retainSeconds?: number;
}

export type BlockKind = 'deny' | 'approval_required';

export type Decision = Allowed | Hidden | Blocked;

export interface Allowed {
  outcome: 'allow';
  rule: string;
  limits: LimitRequest[];
  /**
   * Shadow mode (`enforce: false`) only: what the policy would have done to the call had it been
   * enforced — blocked it, or hidden the tool (or resource, or prompt). Absent when it would have
   * been allowed as well; `rule` then names the same check as the shadowed decision's.
   */
  shadowed?: Blocked | Hidden;
}

export interface Hidden {
  outcome: 'hidden';
  rule: string;
}

export interface Blocked {
  outcome: 'blocked';
  kind: BlockKind;
  rule: string;
  reason: string;
}

const SUBJECT_WORD: Record<Subject, string> = { tool: 'Tool', resource: 'Resource', prompt: 'Prompt' };

const NO_RULES: readonly CompiledRule[] = [];

export function decide(policy: CompiledPolicy, call: CallFacts): Decision {
  const d = decideEnforced(policy, call);
  if (policy.enforce || d.outcome === 'allow') return d;
  // Shadow mode: decide and record, never block; a hidden tool stays visible and callable too.
  return { outcome: 'allow', rule: d.rule, limits: [], shadowed: d };
}

function decideEnforced(policy: CompiledPolicy, call: CallFacts): Decision {
  // A tool call, every call's case, without the closures of asServerReads.
  if (call.subject !== 'resource') return decideOne(policy, call);
  return asServerReads(
    call,
    (c) => decideOne(policy, c),
    (d) => d.outcome === 'allow',
  );
}

/**
 * `judge` of a call, with a resource judged by the URI a server will read (naturalUri) and, when the
 * client spelled it otherwise, by the spelling too: whichever of the two is not allowed decides.
 * Allowed, the natural form's judgement (its rule, limits and conditions) stands. decide() and
 * `policy explain` both judge this way.
 */
export function asServerReads<T>(call: CallFacts, judge: (call: CallFacts) => T, allowed: (t: T) => boolean): T {
  if (call.subject !== 'resource') return judge(call);
  const natural = naturalUri(call.name);
  if (natural === call.name) return judge(call);
  const read = judge({ ...call, name: natural });
  if (!allowed(read)) return read;
  const asSent = judge(call);
  return allowed(asSent) ? read : asSent;
}

function decideOne(policy: CompiledPolicy, call: CallFacts): Decision {
  // The call's own rule, and the chain of rules that decide it (all_tools first for a tool call;
  // resources and prompts have only their own rules). Chains are built when the policy compiles.
  let own: CompiledRule | undefined;
  let chain: readonly CompiledRule[];
  let usesCel: boolean;
  if (call.subject === 'tool') {
    const match = matchTool(policy, call.name);
    if (match.hidden) return { outcome: 'hidden', rule: '/hide' };
    own = match.rule ?? (call.category ? policy.categories[call.category] : undefined);
    chain = own ? own.chain : policy.bareChain;
    usesCel = own ? own.usesCel : policy.allTools !== undefined && policy.allTools.usesCel;
  } else {
    own = matchRule(call.subject === 'resource' ? policy.resources : policy.prompts, call.name);
    chain = own ? own.chain : NO_RULES;
    usesCel = own !== undefined && own.usesCel;
  }
  for (const r of chain) if (r.action === 'hide') return { outcome: 'hidden', rule: r.path };

  // deny: an action, or any deny_if that holds
  for (const r of chain) {
    if (r.action === 'deny')
      return blocked(
        'deny',
        r.path,
        r.reason ?? `${SUBJECT_WORD[call.subject]} "${call.name}" is not allowed by the policy.`,
      );
  }
  // `default` is the decision for a tool no entry matches (DESIGN section 1); resources and
  // prompts without a matching entry are governed by their own rules only.
  if (!own && policy.default === 'deny' && call.subject === 'tool') {
    return blocked(
      'deny',
      '/default',
      `${SUBJECT_WORD[call.subject]} "${call.name}" is not allowed: the policy denies anything it does not list.`,
    );
  }
  if (!usesCel) return allow(own, chain, call, undefined);
  const vars = celVars(call);
  for (const r of chain) {
    for (const c of r.denyIf) {
      const v = holds(c.cel, vars);
      if (typeof v === 'string') return blocked('deny', c.cel.path, v);
      if (v)
        return blocked(
          'deny',
          c.cel.path,
          c.reason ??
            r.reason ??
            `${SUBJECT_WORD[call.subject]} "${call.name}" was denied by the condition ${c.cel.source}.`,
        );
    }
  }
  for (const r of chain) {
    for (const c of r.require) {
      const v = holds(c.cel, vars);
      if (typeof v === 'string') return blocked('deny', c.cel.path, v);
      if (!v)
        return blocked(
          'deny',
          c.cel.path,
          c.reason ?? r.reason ?? `${SUBJECT_WORD[call.subject]} "${call.name}" requires ${c.cel.source}.`,
        );
    }
  }
  return allow(own, chain, call, vars);
}

/** The approval and limit phases, which follow the conditions; `vars` is undefined when no rule has CEL. */
function allow(
  own: CompiledRule | undefined,
  chain: readonly CompiledRule[],
  call: CallFacts,
  vars: CelVars | undefined,
): Decision {
  const word = SUBJECT_WORD[call.subject];
  for (const r of call.approved ? [] : chain) {
    if (r.action === 'require_approval')
      return blocked('approval_required', r.path, r.reason ?? `${word} "${call.name}" requires a person's approval.`);
    for (const c of r.approvalIf) {
      const v = holds(c.cel, vars!);
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
      if (!req) continue;
      keepDefaultCounter(req, l, chain);
      limits.push(req);
    }
  }
  return { outcome: 'allow', rule: own?.path ?? '/default', limits };
}

/**
 * A request on a tool's default counter (`<tool>_rate`, the limit names no counter) keeps the
 * counter's entries as long as the longest limit of the chain on it needs (CompiledRule.retainSeconds,
 * held by the chain's last rule), so one whose `when` is false now still finds its entries later.
 */
export function keepDefaultCounter(req: LimitRequest, l: CompiledLimit, chain: readonly CompiledRule[]): void {
  const seconds = chain.at(-1)?.retainSeconds ?? 0;
  if (seconds > 0 && l.counter === undefined) req.retainSeconds = seconds;
}

/**
 * What a `cost` expression's value consumes: a finite number of zero or more, as CEL gives numbers
 * (a double, or an int as a bigint). Anything else blocks the call: `null`, `""`, `[]` or `false`
 * would otherwise count as 0 and let a call through for free.
 */
export function costOf(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** A limit's request for this call, undefined when its `when` is false, or an error text. */
function limitRequest(l: CompiledLimit, call: CallFacts, vars: CelVars | undefined): LimitRequest | undefined | string {
  if (l.when) {
    const v = holds(l.when, vars!);
    if (typeof v === 'string') return v;
    if (!v) return undefined;
  }
  let cost = 1;
  if (l.cost) {
    const r = l.cost.evaluate(vars!);
    const n = r.ok ? costOf(r.value) : undefined;
    if (n === undefined)
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
    const r = l.key.evaluate(vars!);
    if (!r.ok) return `The key expression at ${l.key.path} failed: ${r.error}.`;
    const text = keyText(r.value);
    if (text === undefined)
      return `The key expression at ${l.key.path} gave a value nested too deeply to name a counter.`;
    out.keyValue = text;
  }
  return out;
}

/** How deep a key expression's value may nest; deeper blocks the call rather than name a counter. */
const KEY_DEPTH_MAX = 64;

/**
 * The text a key expression's value names its counter by: a string as it is, anything else as JSON
 * with each object's fields in sorted order (CEL maps too), so that the same value in another order
 * (`{"b":1,"a":2}`) counts on the same counter instead of a fresh one. Undefined for a value nested
 * deeper than KEY_DEPTH_MAX.
 */
export function keyText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const canonical = (v: unknown, depth: number): unknown => {
    if (depth > KEY_DEPTH_MAX) throw new RangeError('nested too deeply');
    if (typeof v === 'bigint') return v.toString();
    if (Array.isArray(v)) return v.map((x) => canonical(x, depth + 1));
    const entries: [string, unknown][] | undefined =
      v instanceof Map
        ? [...v].map(([k, x]) => [String(k), x])
        : v !== null && typeof v === 'object'
          ? Object.entries(v)
          : undefined;
    if (!entries) return v;
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, x]) => [k, canonical(x, depth + 1)]));
  };
  try {
    return JSON.stringify(canonical(value, 0));
  } catch {
    return undefined;
  }
}

/**
 * A condition's boolean value, or the text of why it could not be had (which blocks the call). The
 * native evaluation answers the common case without building a result; where it is UNDECIDED,
 * cel-js alone answers (errors included) rather than `evaluate`, which would run them again.
 */
function holds(cel: CompiledCel, vars: CelVars): boolean | string {
  const v = cel.native === undefined ? UNDECIDED : cel.native(vars);
  if (v === true || v === false) return v;
  return truth(v === UNDECIDED ? cel.interpret(vars) : { ok: true, value: v }, cel.path);
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

/** A tool without annotations: one shared empty map rather than a new one per call. */
const NO_ANNOTATIONS: Record<string, unknown> = Object.freeze({});

/** The CEL variables of a call (shared with explain, so both evaluate the same thing). */
export function celVars(call: CallFacts): CelVars {
  // One object shape for every call: an unknown category or risk is a field holding undefined,
  // which CEL treats as absent (`has(tool.category)` is false, reading it is an error), rather
  // than a field left out, which would give V8 a shape per combination and slow every read.
  return {
    args: call.args,
    tool: {
      name: call.name,
      server: call.server,
      category: call.category || undefined,
      risk: call.risk || undefined,
      annotations: call.annotations ?? NO_ANNOTATIONS,
    },
    grant: call.grant,
    session: call.session,
    now: call.now,
  };
}

/** Whether a resource (by URI) or prompt can appear in its list: hidden and denied ones do not. */
export function listableEntry(policy: CompiledPolicy, subject: 'resource' | 'prompt', name: string): boolean {
  if (!policy.enforce) return true;
  if (subject === 'prompt') return shownBy(matchRule(policy.prompts, name));
  const natural = naturalUri(name);
  return (
    shownBy(matchRule(policy.resources, name)) && (natural === name || shownBy(matchRule(policy.resources, natural)))
  );
}

function shownBy(rule: CompiledRule | undefined): boolean {
  return rule?.action !== 'hide' && rule?.action !== 'deny';
}

/** Whether a tool can appear in tools/list at all (hidden and unconditionally denied do not). */
export function listable(policy: CompiledPolicy, name: string, category?: Category): boolean {
  if (!policy.enforce) return true;
  const match = matchTool(policy, name);
  if (match.hidden) return false;
  const own = match.rule ?? (category ? policy.categories[category] : undefined);
  if (own?.action === 'hide' || own?.action === 'deny') return false;
  if (policy.allTools?.action === 'deny' || policy.allTools?.action === 'hide') return false;
  return own !== undefined || policy.default === 'allow';
}
