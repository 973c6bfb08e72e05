// `policy explain`: the decision for one call and the chain of checks that made it — every hide
// pattern, which table entry matched and why the other candidates lost, each rule's action, each
// condition's value, each limit's counter, key, cost and (given a reader) its current usage.
//
// The decision itself is decide()'s, never recomputed here: the walk below retraces decide's order
// (DESIGN section 1: hide → deny → require → approval → limits) to say which check decided, and a
// property test holds the walk's own conclusion equal to decide() for random policies and calls.
// Checks after the deciding one are still evaluated (CEL is pure) and shown as not reached.
import { counterKey, describeWindow, keyedBy, type ScopeFacts } from '../limits/limiter.js';
import type { StateStore } from '../store/store.js';
import type { CelVars, CompiledCel } from './cel.js';
import { matchRule, type CompiledLimit, type CompiledPolicy, type CompiledRule, type RuleTable } from './compile.js';
import {
  asServerReads,
  blocked,
  celVars,
  costOf,
  decide,
  keepDefaultCounter,
  keyText,
  type CallFacts,
  type Decision,
  type LimitRequest,
  type Subject,
} from './decide.js';
import type { Category } from './schema.js';

/** What the caller gets: decide's outcome, and `rate_limited` when a limit's current usage is exhausted. */
export type Verdict = 'allow' | 'deny' | 'hidden' | 'approval_required' | 'rate_limited';

/** What one check does to the call on its own. */
export type Effect = 'none' | 'hidden' | 'deny' | 'approval_required' | 'rate_limited';

export interface LimitUsage {
  used: number;
  max: number;
  windowSeconds: number;
}

/** Reads a limit's current usage without reserving; `storeKey` is the counter's key in the state store. */
export type UsageReader = (limit: LimitRequest, storeKey: string) => Promise<LimitUsage>;

export interface MatchCandidate {
  /** JSON pointer of the entry, e.g. /tools/delete_*. */
  path: string;
  pattern: string;
  kind: 'exact' | 'glob';
  /** Characters of the pattern that are not glob syntax: the more, the more specific. */
  literal: number;
  chosen: boolean;
  why: string;
}

export interface MatchTrace {
  table: 'tools' | 'resources' | 'prompts';
  /** Every entry whose pattern matches the name, in the order matching tries them. */
  candidates: MatchCandidate[];
  /** How the categories table was consulted (tools only). */
  category?: { category?: Category; path?: string; used: boolean; why: string };
  /** The call's own rule: a table entry, a category rule, or none (the default applies). */
  by: 'exact' | 'glob' | 'category' | 'none';
  rule?: string;
}

export interface ConditionValue {
  source: string;
  /** true or false; absent when the expression failed or gave something else. */
  value?: boolean;
  error?: string;
}

export interface LimitTrace {
  counter: string;
  /** A default counter (`<tool>_rate`) belongs to its server. */
  perServer: boolean;
  scope: CompiledLimit['scope'];
  /** Who the counter counts for: the grant, agent, session or server; absent for global. */
  scopeValue?: string;
  max: number;
  windowSeconds: number;
  algorithm: CompiledLimit['algorithm'];
  when?: ConditionValue;
  /** Whether the limit applies to this call (no `when`, or `when` true). */
  applies: boolean;
  key?: { source: string; value?: string; error?: string };
  cost?: { source?: string; value?: number; error?: string };
  /** The counter's key in the state store (when the limit applies and its key and cost evaluate). */
  storeKey?: string;
  usage?: LimitUsage & { remaining: number; admits: boolean };
}

interface StepBase {
  /** JSON pointer of the check in the policy file. */
  path: string;
  effect: Effect;
  /** Whether the walk got this far: checks after the deciding one are shown but not reached. */
  reached: boolean;
  decisive: boolean;
  note?: string;
}

type ConditionKind = 'deny_if' | 'require' | 'approval_if';

export type Step =
  | (StepBase & { kind: 'hide'; pattern: string; matched: boolean })
  | (StepBase & { kind: 'action'; rule: string; action: CompiledRule['action'] })
  | (StepBase & { kind: 'default'; default: 'allow' | 'deny' })
  | (StepBase & { kind: ConditionKind; rule: string; reason?: string } & ConditionValue)
  | (StepBase & { kind: 'limit'; rule: string; limit: LimitTrace });

export interface Explanation {
  call: {
    subject: Subject;
    name: string;
    server: string;
    category?: Category;
    risk?: string;
    args: Record<string, unknown>;
    grant: CallFacts['grant'];
    session: string;
    now: string;
  };
  enforce: boolean;
  /** Exactly what decide() returns for this call. */
  decision: Decision;
  /** What the caller gets; in shadow mode always allow. */
  verdict: Verdict;
  /** What the caller would get were the policy enforced (differs from verdict only in shadow mode). */
  enforcedVerdict: Verdict;
  /** The check that decided enforcedVerdict. */
  rule: string;
  reason?: string;
  match: MatchTrace;
  /** Every check in the order decide makes them. */
  steps: Step[];
}

/** The scope values the gateway counts a call's limits under (as the policy gate builds them). */
export function scopeFactsOf(call: CallFacts): ScopeFacts {
  return { grant: call.grant.name, agent: call.grant.agent, session: call.session.id, server: call.server };
}

/** A UsageReader over a state store, read-only. */
export function usageFromStore(store: StateStore, now: number): UsageReader {
  return async (req, storeKey) => {
    const l = req.limit;
    const spec = { algorithm: l.algorithm, windowMs: l.windowSeconds * 1000, max: l.max, cost: req.cost };
    return { used: await store.usage(storeKey, spec, now), max: l.max, windowSeconds: l.windowSeconds };
  };
}

export async function explain(policy: CompiledPolicy, facts: CallFacts, usage?: UsageReader): Promise<Explanation> {
  const trace = traceDecision(policy, facts);
  const decision = decide(policy, facts);
  const steps = trace.steps;
  let enforcedVerdict: Verdict = verdictOf(trace.enforced);
  let rule = trace.enforced.rule;
  let reason = trace.enforced.outcome === 'blocked' ? trace.enforced.reason : undefined;

  if (usage) {
    // Shared counters: the call counts once on a counter, charged by its first limit there; a later
    // limit on it checks its own window with the call already counted (as the limiter does).
    const pending = new Map<string, number>();
    const willReserve = trace.enforced.outcome === 'allow';
    for (const s of steps) {
      if (enforcedVerdict === 'rate_limited' && s.reached && !s.decisive) s.reached = false;
      if (s.kind !== 'limit' || s.limit.storeKey === undefined || s.limit.cost?.value === undefined) continue;
      const l = s.limit;
      const req = trace.requests.get(s.path);
      if (!req) continue;
      const u = await usage(req, l.storeKey!);
      const charge = pending.has(l.storeKey!) ? 0 : req.cost;
      const already = u.used + (pending.get(l.storeKey!) ?? 0);
      const admits = charge <= l.max && already + charge <= l.max;
      l.usage = { ...u, remaining: Math.max(0, l.max - already), admits };
      if (!willReserve || enforcedVerdict === 'rate_limited') continue;
      if (admits) {
        if (!pending.has(l.storeKey!)) pending.set(l.storeKey!, req.cost);
        continue;
      }
      enforcedVerdict = 'rate_limited';
      rule = s.path;
      reason = rateLimitReason(req, l, u.used);
      s.effect = 'rate_limited';
      s.decisive = true;
    }
  }
  const verdict: Verdict = policy.enforce ? enforcedVerdict : 'allow';
  return {
    call: {
      subject: facts.subject,
      name: facts.name,
      server: facts.server,
      ...(facts.category ? { category: facts.category } : {}),
      ...(facts.risk ? { risk: facts.risk } : {}),
      args: facts.args,
      grant: facts.grant,
      session: facts.session.id,
      now: facts.now.toISOString(),
    },
    enforce: policy.enforce,
    decision,
    verdict,
    enforcedVerdict,
    rule,
    ...(reason !== undefined ? { reason } : {}),
    match: trace.match,
    steps,
  };
}

function verdictOf(d: Decision): Verdict {
  if (d.outcome === 'hidden') return 'hidden';
  if (d.outcome === 'blocked') return d.kind === 'approval_required' ? 'approval_required' : 'deny';
  return 'allow';
}

function rateLimitReason(req: LimitRequest, l: LimitTrace, used: number): string {
  if (req.cost > l.max) return `This call costs ${req.cost}, more than the limit of ${l.max} allows at once.`;
  const per = l.scopeValue === undefined ? 'in total' : `per ${l.scope}`;
  return `Rate limit reached: at most ${l.max} per ${describeWindow(l.windowSeconds)} ${per} (counter ${req.counter}${keyedBy(req)}); ${used} already used, this call costs ${req.cost}.`;
}

// ---------------------------------------------------------------------------------------------
// The walk

const SUBJECT_WORD: Record<Subject, string> = { tool: 'Tool', resource: 'Resource', prompt: 'Prompt' };
const TABLE: Record<Subject, MatchTrace['table']> = { tool: 'tools', resource: 'resources', prompt: 'prompts' };

export interface Trace {
  /** The walk's own conclusion: what decide() returns with the policy enforced (before shadow mode). */
  enforced: Decision;
  /** The walk's conclusion with shadow mode applied: must equal decide(). */
  decision: Decision;
  match: MatchTrace;
  steps: Step[];
  /** The limit requests the walk built, by the limit's path. */
  requests: Map<string, LimitRequest>;
}

/**
 * Walks the policy for one call the way decide() does, recording every check; a resource URI as
 * decide() takes it (asServerReads).
 */
export function traceDecision(policy: CompiledPolicy, call: CallFacts): Trace {
  return asServerReads(
    call,
    (c) => traceOne(policy, c),
    (t) => t.enforced.outcome === 'allow',
  );
}

function traceOne(policy: CompiledPolicy, call: CallFacts): Trace {
  const word = SUBJECT_WORD[call.subject];
  const steps: Step[] = [];
  let decided: Decision | undefined;
  /** Records a check; the first one with an effect decides, and marks what follows as not reached. */
  const step = (s: Step, outcome?: Decision): void => {
    s.reached = decided === undefined;
    s.decisive = s.reached && outcome !== undefined;
    if (s.decisive) decided = outcome;
    steps.push(s);
  };
  const base = { reached: true, decisive: false } as const;

  if (call.subject === 'tool') {
    policy.hide.forEach((g, i) => {
      const matched = g.test(call.name);
      step(
        { ...base, kind: 'hide', path: `/hide/${i}`, pattern: g.pattern, matched, effect: matched ? 'hidden' : 'none' },
        matched ? { outcome: 'hidden', rule: '/hide' } : undefined,
      );
    });
  }
  const match = traceMatch(policy, call);
  const own = match.rule === undefined ? undefined : ownRule(policy, call);
  // all_tools applies to tool calls; resources and prompts have only their own rules.
  const chain = [call.subject === 'tool' ? policy.allTools : undefined, own].filter(
    (r): r is CompiledRule => r !== undefined,
  );

  // A rule's action acts at its own phase: hide first, deny with the denials, approval with approvals.
  for (const r of chain) {
    if (r.action !== 'hide') continue;
    step(
      { ...base, kind: 'action', path: r.path, rule: r.path, action: r.action, effect: 'hidden' },
      { outcome: 'hidden', rule: r.path },
    );
  }
  for (const r of chain) {
    if (r.action !== 'deny' && r.action !== 'allow') continue;
    const denies = r.action === 'deny';
    step(
      { ...base, kind: 'action', path: r.path, rule: r.path, action: r.action, effect: denies ? 'deny' : 'none' },
      denies ? blocked('deny', r.path, r.reason ?? `${word} "${call.name}" is not allowed by the policy.`) : undefined,
    );
  }
  if (!own) {
    const denies = policy.default === 'deny' && call.subject === 'tool';
    step(
      {
        ...base,
        kind: 'default',
        path: '/default',
        default: policy.default,
        effect: denies ? 'deny' : 'none',
        ...(call.subject !== 'tool'
          ? { note: `default governs tools only; a ${call.subject} no entry matches passes` }
          : {}),
      },
      denies
        ? blocked(
            'deny',
            '/default',
            `${word} "${call.name}" is not allowed: the policy denies anything it does not list.`,
          )
        : undefined,
    );
  }
  const vars = celVars(call);
  /**
   * Records one condition: it blocks with `block` when its value is `blocksWhen`, and one that
   * cannot be evaluated blocks as a denial, whatever its kind (fail closed).
   */
  const checkCondition = (
    kind: ConditionKind,
    r: CompiledRule,
    cel: CompiledCel,
    blocksWhen: boolean,
    block: Decision,
    stated?: string,
  ): void => {
    const v = condition(cel, vars);
    const outcome =
      v.error !== undefined
        ? blocked('deny', cel.path, failedCondition(cel.path, v))
        : v.value === blocksWhen
          ? block
          : undefined;
    step(conditionStep(kind, r, cel, v, outcome, stated), outcome);
  };
  for (const r of chain) {
    for (const c of r.denyIf) {
      const reason = c.reason ?? r.reason ?? `${word} "${call.name}" was denied by the condition ${c.cel.source}.`;
      checkCondition('deny_if', r, c.cel, true, blocked('deny', c.cel.path, reason), c.reason);
    }
  }
  for (const r of chain) {
    for (const c of r.require) {
      const reason = c.reason ?? r.reason ?? `${word} "${call.name}" requires ${c.cel.source}.`;
      checkCondition('require', r, c.cel, false, blocked('deny', c.cel.path, reason), c.reason);
    }
  }
  for (const r of chain) {
    if (r.action === 'require_approval') {
      const outcome = blocked(
        'approval_required',
        r.path,
        r.reason ?? `${word} "${call.name}" requires a person's approval.`,
      );
      step(
        { ...base, kind: 'action', path: r.path, rule: r.path, action: r.action, effect: 'approval_required' },
        outcome,
      );
    }
    for (const c of r.approvalIf) {
      const reason = r.reason ?? `${word} "${call.name}" requires a person's approval (${c.cel.source}).`;
      checkCondition('approval_if', r, c.cel, true, blocked('approval_required', c.cel.path, reason));
    }
  }
  const requests = new Map<string, LimitRequest>();
  const limits: LimitRequest[] = [];
  for (const r of chain) {
    for (const l of r.limits) {
      const { trace, request, error } = traceLimit(l, call, vars);
      if (request) {
        keepDefaultCounter(request, l, chain);
        requests.set(l.path, request);
      }
      const outcome = error !== undefined ? blocked('deny', l.path, error) : undefined;
      step(
        { ...base, kind: 'limit', path: l.path, rule: r.path, limit: trace, effect: outcome ? 'deny' : 'none' },
        outcome,
      );
      if (request && decided === undefined) limits.push(request);
    }
  }
  const enforced: Decision = decided ?? { outcome: 'allow', rule: own?.path ?? '/default', limits };
  const decision: Decision =
    !policy.enforce && enforced.outcome !== 'allow'
      ? { outcome: 'allow', rule: enforced.rule, limits: [], shadowed: enforced }
      : enforced;
  return { enforced, decision, match, steps, requests };
}

/** The call's own rule, exactly as decide() picks it. */
function ownRule(policy: CompiledPolicy, call: CallFacts): CompiledRule | undefined {
  const rule = matchRule(tableOf(policy, call.subject), call.name);
  if (rule) return rule;
  if (call.subject === 'tool' && call.category) return policy.categories[call.category];
  return undefined;
}

function tableOf(policy: CompiledPolicy, subject: Subject): RuleTable {
  return subject === 'tool' ? policy.tools : subject === 'resource' ? policy.resources : policy.prompts;
}

function traceMatch(policy: CompiledPolicy, call: CallFacts): MatchTrace {
  const table = tableOf(policy, call.subject);
  const chosen = matchRule(table, call.name);
  const candidates: MatchCandidate[] = [];
  const exact = table.exact.get(call.name);
  if (exact)
    candidates.push({
      path: exact.path,
      pattern: call.name,
      kind: 'exact',
      literal: call.name.length,
      chosen: exact === chosen,
      why: 'exact key: an exact key beats every glob',
    });
  // Globs are tried most specific first; equally specific ones in file order.
  const globs = table.globs.filter((g) => g.glob.test(call.name));
  const best = globs[0];
  for (const g of globs) {
    const isChosen = g.rule === chosen;
    let why: string;
    if (isChosen) why = `the most specific matching glob (${plural(g.glob.literal, 'literal character')})`;
    else if (exact) why = 'lost: an exact key beats a glob';
    else if (g.glob.literal < best!.glob.literal)
      why = `lost: ${plural(g.glob.literal, 'literal character')}, fewer than the ${best!.glob.literal} of "${best!.glob.pattern}"`;
    else
      why = `lost: as specific as "${best!.glob.pattern}" (${plural(g.glob.literal, 'literal character')}) but later in the file`;
    candidates.push({
      path: g.rule.path,
      pattern: g.glob.pattern,
      kind: 'glob',
      literal: g.glob.literal,
      chosen: isChosen,
      why,
    });
  }
  const trace: MatchTrace = { table: TABLE[call.subject], candidates, by: 'none' };
  if (chosen) {
    trace.by = chosen === exact ? 'exact' : 'glob';
    trace.rule = chosen.path;
  }
  if (call.subject === 'tool') {
    const cat = call.category;
    const rule = cat ? policy.categories[cat] : undefined;
    if (chosen) {
      trace.category = {
        ...(cat ? { category: cat } : {}),
        ...(rule ? { path: rule.path } : {}),
        used: false,
        why: 'not consulted: a tools entry matched',
      };
    } else if (!cat) {
      trace.category = { used: false, why: "not consulted: the tool's category is unknown" };
    } else if (!rule) {
      trace.category = { category: cat, used: false, why: `the policy has no rule for category ${cat}` };
    } else {
      trace.category = { category: cat, path: rule.path, used: true, why: `no tools entry matches; category ${cat}` };
      trace.by = 'category';
      trace.rule = rule.path;
    }
  }
  return trace;
}

function conditionStep(
  kind: ConditionKind,
  r: CompiledRule,
  cel: CompiledCel,
  v: ConditionValue,
  outcome: Decision | undefined,
  reason?: string,
): Step {
  const effect: Effect = outcome?.outcome === 'blocked' ? outcome.kind : 'none';
  return {
    kind,
    path: cel.path,
    rule: r.path,
    ...v,
    ...(reason ? { reason } : {}),
    effect,
    reached: true,
    decisive: false,
  };
}

/** A condition's value: true or false, or the error that makes it fail closed. */
function condition(cel: CompiledCel, vars: CelVars): ConditionValue {
  const r = cel.evaluate(vars);
  if (!r.ok) return { source: cel.source, error: r.error };
  if (typeof r.value !== 'boolean') return { source: cel.source, error: `gave ${show(r.value)}, not true or false` };
  return { source: cel.source, value: r.value };
}

function failedCondition(path: string, v: ConditionValue): string {
  return v.error!.startsWith('gave ')
    ? `The condition at ${path} did not give true or false, so the call is blocked.`
    : `The condition at ${path} could not be evaluated (${v.error}), so the call is blocked.`;
}

function traceLimit(
  l: CompiledLimit,
  call: CallFacts,
  vars: CelVars,
): { trace: LimitTrace; request?: LimitRequest; error?: string } {
  // A tool's default counter is `<tool>_rate`; a resource or prompt rule's is the rule's own.
  const counter = l.counter ?? (call.subject === 'tool' ? `${call.name}_rate` : `${l.path}_rate`);
  const scopeValue = scopeValueOf(l.scope, call);
  const trace: LimitTrace = {
    counter,
    perServer: l.counter === undefined,
    scope: l.scope,
    ...(scopeValue !== undefined ? { scopeValue } : {}),
    max: l.max,
    windowSeconds: l.windowSeconds,
    algorithm: l.algorithm,
    applies: true,
  };
  if (l.when) {
    trace.when = condition(l.when, vars);
    if (trace.when.error !== undefined) {
      trace.applies = false;
      return { trace, error: failedCondition(l.when.path, trace.when) };
    }
    trace.applies = trace.when.value === true;
    if (!trace.applies) return { trace };
  }
  let cost = 1;
  if (l.cost) {
    const r = l.cost.evaluate(vars);
    const n = r.ok ? costOf(r.value) : undefined;
    if (n === undefined) {
      trace.cost = { source: l.cost.source, error: r.ok ? `gave ${show(r.value)}` : r.error };
      return {
        trace,
        error: `The cost expression at ${l.cost.path} did not give a non-negative number${r.ok ? '' : `: ${r.error}`}.`,
      };
    }
    cost = n;
    trace.cost = { source: l.cost.source, value: n };
  } else trace.cost = { value: 1 };
  const request: LimitRequest = { limit: l, counter, perServer: l.counter === undefined, cost };
  if (l.key) {
    const r = l.key.evaluate(vars);
    if (!r.ok) {
      trace.key = { source: l.key.source, error: r.error };
      return { trace, error: `The key expression at ${l.key.path} failed: ${r.error}.` };
    }
    const text = keyText(r.value);
    if (text === undefined) {
      const error = 'gave a value nested too deeply to name a counter';
      trace.key = { source: l.key.source, error };
      return { trace, error: `The key expression at ${l.key.path} ${error}.` };
    }
    request.keyValue = text;
    trace.key = { source: l.key.source, value: request.keyValue };
  }
  trace.storeKey = counterKey(request, scopeFactsOf(call));
  return { trace, request };
}

function scopeValueOf(scope: CompiledLimit['scope'], call: CallFacts): string | undefined {
  switch (scope) {
    case 'grant':
      return call.grant.name;
    case 'agent':
      return call.grant.agent;
    case 'session':
      return call.session.id;
    case 'server':
      return call.server;
    case 'global':
      return undefined;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function show(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
  } catch {
    return String(value);
  }
}
