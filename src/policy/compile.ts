// A validated policy compiled for matching: exact names in a map, globs ordered by how specific
// they are, every CEL expression parsed. All errors surface here, at load time, with their paths.
import { CelCompileError, compileCel, type CelOptions, type CompiledCel } from './cel.js';
import { compileGlob, isGlob, type Glob } from './glob.js';
import { parsePolicy, type Category, type Policy, type PolicyLimit, type PolicyRule } from './schema.js';
import { remember } from '../util/memo.js';
import { pointerToken } from '../util/json-pointer.js';

export interface CompiledLimit {
  path: string;
  counter: string | undefined;
  max: number;
  windowSeconds: number;
  /**
   * The longest window among this policy's limits that name the same counter (its own for an
   * unnamed one): how long the counter's entries must be kept for all of them.
   */
  counterWindowSeconds: number;
  scope: PolicyLimit['scope'];
  algorithm: PolicyLimit['algorithm'];
  key?: CompiledCel;
  cost?: CompiledCel;
  when?: CompiledCel;
}

export interface CompiledCondition {
  cel: CompiledCel;
  reason?: string;
}

export interface CompiledRule {
  /** JSON pointer of the rule, e.g. /tools/audiences_create. */
  path: string;
  action: PolicyRule['action'];
  reason?: string;
  denyIf: CompiledCondition[];
  require: CompiledCondition[];
  approvalIf: CompiledCondition[];
  limits: CompiledLimit[];
  approval?: PolicyRule['approval'];
  redact: string[];
  /**
   * The rules that decide a call this rule is the call's own rule for, in order: `all_tools`
   * first for a tool or category rule, then this rule. Built once here rather than per call.
   */
  chain: readonly CompiledRule[];
  /** Whether anything in `chain` has a CEL expression, i.e. needs the call's CEL variables. */
  usesCel: boolean;
  /**
   * For a tool call this rule (or all_tools, alone) is the last of the chain for: how long, in
   * seconds, the tool's default counter (`<tool>_rate`) keeps its entries, the longest window of the
   * chain's limits that name no counter; they all count on it. 0 for resource and prompt rules,
   * whose limits each count on a counter of their own.
   */
  retainSeconds: number;
}

export interface RuleTable {
  exact: Map<string, CompiledRule>;
  /** Most specific first (longest literal part), then in file order. */
  globs: { glob: Glob; rule: CompiledRule }[];
  /**
   * Which glob matched a name, remembered: a policy never changes once compiled and agents call
   * the same few names again and again, so the scan over every glob is paid once per name.
   */
  memo: Map<string, CompiledRule | undefined>;
}

export interface CompiledPolicy {
  source: Policy;
  default: 'allow' | 'deny';
  enforce: boolean;
  hide: Glob[];
  /**
   * What a tool name matched, remembered: whether `hide` hides it and which `tools` entry is its
   * own. One lookup answers both for a name seen before; agents call the same few names again and
   * again, so the scans over the hide patterns and the globs are paid once per name.
   */
  toolMemo: Map<string, ToolMatch>;
  allTools?: CompiledRule;
  /** The chain of a tool call no `tools` entry or category rule matches: `all_tools` alone, or nothing. */
  bareChain: readonly CompiledRule[];
  categories: Partial<Record<Category, CompiledRule>>;
  tools: RuleTable;
  resources: RuleTable;
  prompts: RuleTable;
}

export interface ToolMatch {
  hidden: boolean;
  /** The `tools` entry (exact key or glob) the name matches; categories are not consulted here. */
  rule: CompiledRule | undefined;
}

export class PolicyError extends Error {
  constructor(readonly problems: { path: string; message: string }[]) {
    super(problems.map((p) => `${p.path || '/'}: ${p.message}`).join('\n'));
  }
}

/** Validates and compiles a policy document; throws PolicyError listing every problem. */
export function loadPolicy(value: unknown, options: CelOptions = {}): CompiledPolicy {
  const parsed = parsePolicy(value);
  // Schema problems and CEL problems are reported together, so one pass fixes the whole file.
  if (!parsed.ok) throw new PolicyError([...parsed.problems, ...celProblemsIn(value)]);
  return compilePolicy(parsed.policy, options);
}

/** CEL syntax problems anywhere in a policy document that did not pass the schema. */
function celProblemsIn(value: unknown): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const obj = (v: unknown): Record<string, unknown> | undefined =>
    v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  const check = (source: unknown, path: string) => {
    if (typeof source !== 'string' || source.trim() === '') return;
    try {
      compileCel(source, path);
    } catch (err) {
      if (err instanceof CelCompileError) problems.push({ path: err.path, message: err.message });
    }
  };
  const rule = (r: unknown, path: string) => {
    const o = obj(r);
    if (!o) return;
    for (const list of ['deny_if', 'require', 'approval_if']) {
      if (Array.isArray(o[list])) o[list].forEach((c, i) => check(obj(c)?.when, `${path}/${list}/${i}/when`));
    }
    if (Array.isArray(o.limits)) {
      o.limits.forEach((l, i) => {
        for (const k of ['key', 'cost', 'when']) check(obj(l)?.[k], `${path}/limits/${i}/${k}`);
      });
    }
  };
  const doc = obj(value);
  if (!doc) return problems;
  rule(doc.all_tools, '/all_tools');
  for (const table of ['tools', 'resources', 'prompts', 'categories']) {
    for (const [k, r] of Object.entries(obj(doc[table]) ?? {})) rule(r, `/${table}/${pointerToken(k)}`);
  }
  return problems;
}

export function compilePolicy(policy: Policy, options: CelOptions = {}): CompiledPolicy {
  const problems: { path: string; message: string }[] = [];
  const cel = (source: string | undefined, path: string): CompiledCel | undefined => {
    if (source === undefined) return undefined;
    try {
      return compileCel(source, path, options);
    } catch (err) {
      if (err instanceof CelCompileError) problems.push({ path: err.path, message: err.message });
      else throw err;
      return undefined;
    }
  };
  const conditions = (list: { when: string; reason?: string }[], path: string): CompiledCondition[] =>
    list.flatMap((c, i) => {
      const compiled = cel(c.when, `${path}/${i}/when`);
      return compiled ? [{ cel: compiled, ...(c.reason ? { reason: c.reason } : {}) }] : [];
    });
  // Every rule, and those of tool calls, whose chains start with all_tools once it is compiled.
  const allRules: CompiledRule[] = [];
  const toolRules: CompiledRule[] = [];
  const rule = (r: PolicyRule, path: string, forTools = true): CompiledRule => {
    const compiled = ruleOf(r, path);
    compiled.chain = [compiled];
    allRules.push(compiled);
    if (forTools) toolRules.push(compiled);
    return compiled;
  };
  const ruleOf = (r: PolicyRule, path: string): CompiledRule => ({
    path,
    action: r.action,
    ...(r.reason ? { reason: r.reason } : {}),
    denyIf: conditions(r.deny_if, `${path}/deny_if`),
    require: conditions(r.require, `${path}/require`),
    approvalIf: conditions(r.approval_if, `${path}/approval_if`),
    limits: r.limits.map((l, i) => {
      const lp = `${path}/limits/${i}`;
      const key = cel(l.key, `${lp}/key`);
      const cost = cel(l.cost, `${lp}/cost`);
      const when = cel(l.when, `${lp}/when`);
      return {
        path: lp,
        counter: l.counter,
        max: l.max,
        windowSeconds: l.window,
        counterWindowSeconds: l.window,
        scope: l.scope,
        algorithm: l.algorithm,
        ...(key ? { key } : {}),
        ...(cost ? { cost } : {}),
        ...(when ? { when } : {}),
      };
    }),
    ...(r.approval ? { approval: r.approval } : {}),
    redact: r.redact,
    chain: [],
    usesCel: false,
    retainSeconds: 0,
  });
  const table = (rules: Record<string, PolicyRule>, base: string, forTools: boolean): RuleTable => {
    const exact = new Map<string, CompiledRule>();
    const globs: RuleTable['globs'] = [];
    for (const [pattern, r] of Object.entries(rules)) {
      const compiled = rule(r, `${base}/${pointerToken(pattern)}`, forTools);
      if (isGlob(pattern)) globs.push({ glob: compileGlob(pattern), rule: compiled });
      else exact.set(pattern, compiled);
    }
    // Stable sort: equal specificity keeps file order.
    globs.sort((a, b) => b.glob.literal - a.glob.literal);
    return { exact, globs, memo: new Map() };
  };
  const categories: CompiledPolicy['categories'] = {};
  for (const [cat, r] of Object.entries(policy.categories)) {
    if (r) categories[cat as Category] = rule(r, `/categories/${cat}`);
  }
  const compiled: CompiledPolicy = {
    source: policy,
    default: policy.default,
    enforce: policy.enforce,
    hide: policy.hide.map(compileGlob),
    toolMemo: new Map(),
    ...(policy.all_tools ? { allTools: rule(policy.all_tools, '/all_tools', false) } : {}),
    bareChain: [],
    categories,
    tools: table(policy.tools, '/tools', true),
    resources: table(policy.resources, '/resources', false),
    prompts: table(policy.prompts, '/prompts', false),
  };
  if (problems.length > 0) throw new PolicyError(problems);
  shareCounterWindows(allRules);
  const allTools = compiled.allTools;
  if (allTools) {
    compiled.bareChain = [allTools];
    for (const r of toolRules) r.chain = [allTools, r];
  }
  for (const r of allRules) r.usesCel = r.chain.some(needsCel);
  for (const r of allTools ? [allTools, ...toolRules] : toolRules)
    r.retainSeconds = Math.max(
      0,
      ...r.chain.flatMap((c) => c.limits.filter((l) => l.counter === undefined).map((l) => l.windowSeconds)),
    );
  return compiled;
}

/** Bound on remembered names per table, so names an attacker makes up cannot grow it forever. */
const MEMO_LIMIT = 10_000;

/** The rule a name matches in a table: an exact key beats any glob. */
export function matchRule(table: RuleTable, name: string): CompiledRule | undefined {
  const exact = table.exact.get(name);
  if (exact) return exact;
  return remember(table.memo, MEMO_LIMIT, name, (n) => scanGlobs(table, n));
}

/** The most specific glob of a table that matches a name (globs are sorted most specific first). */
function scanGlobs(table: RuleTable, name: string): CompiledRule | undefined {
  for (const g of table.globs) if (g.glob.test(name)) return g.rule;
  return undefined;
}

/** Whether `hide` hides a tool name and which `tools` entry is its own, remembered per name. */
export function matchTool(policy: CompiledPolicy, name: string): ToolMatch {
  return remember(policy.toolMemo, MEMO_LIMIT, name, (n) => ({
    hidden: policy.hide.some((g) => g.test(n)),
    rule: policy.tools.exact.get(n) ?? scanGlobs(policy.tools, n),
  }));
}

/** Whether a name is hidden by the policy's `hide` patterns. */
export function isHidden(policy: CompiledPolicy, name: string): boolean {
  return matchTool(policy, name).hidden;
}

function needsCel(r: CompiledRule): boolean {
  return (
    r.denyIf.length > 0 ||
    r.require.length > 0 ||
    r.approvalIf.length > 0 ||
    r.limits.some((l) => l.key !== undefined || l.cost !== undefined || l.when !== undefined)
  );
}

/**
 * Limits naming the same counter count on the same entries: each keeps them as long as the longest
 * window among them needs, so a per-minute limit does not prune what a per-day one still counts.
 */
function shareCounterWindows(rules: readonly CompiledRule[]): void {
  const longest = new Map<string, number>();
  for (const r of rules)
    for (const l of r.limits)
      if (l.counter !== undefined) longest.set(l.counter, Math.max(longest.get(l.counter) ?? 0, l.windowSeconds));
  for (const r of rules)
    for (const l of r.limits) if (l.counter !== undefined) l.counterWindowSeconds = longest.get(l.counter)!;
}
