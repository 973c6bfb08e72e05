// The `redact` paths that apply to one call: those of every rule in the policy that could match it
// — `all_tools` (tool calls), the exact entry, every glob that matches the name, and the category
// rule — whichever of them decided. A rule's `redact` says what the audit log never stores of a
// tool's arguments, so it must hold on every path a call can take: decided by `hide`, `default` or
// an `all_tools` deny as much as by the tool's own rule, and when the call never reached a
// decision (a changed pin, a tool list that could not be read, an unknown tool).
//
// The union depends only on the compiled policy, the subject, the name and the category, so it is
// computed once per name and remembered beside the policy (bounded, like the policy's own memos).
import { type CompiledPolicy, type CompiledRule, type RuleTable } from '../policy/compile.js';
import type { Category } from '../policy/schema.js';
import { remember } from '../util/memo.js';

export interface RedactPathsCall {
  subject: 'tool' | 'resource' | 'prompt';
  name: string;
  /**
   * The tool's category from the catalog. Unknown (the tool list could not be read, or the server
   * has no such tool), every category rule could be the tool's, so all of their paths apply.
   */
  category?: Category | string;
}

/** Distinct calls remembered per policy; past it the memo starts again (names come from clients). */
const MEMO_LIMIT = 10_000;
const memos = new WeakMap<CompiledPolicy, Map<string, readonly string[]>>();
const NONE: readonly string[] = Object.freeze([]);

export function policyRedactPaths(policy: CompiledPolicy | undefined, call: RedactPathsCall): readonly string[] {
  if (!policy) return NONE;
  let memo = memos.get(policy);
  if (!memo) memos.set(policy, (memo = new Map()));
  const key = `${call.subject}\u0000${call.category ?? ''}\u0000${call.name}`;
  return remember(memo, MEMO_LIMIT, key, () => Object.freeze(unionOf(policy, call)));
}

function unionOf(policy: CompiledPolicy, call: RedactPathsCall): string[] {
  const rules: (CompiledRule | undefined)[] = [];
  if (call.subject === 'tool') {
    rules.push(policy.allTools, ...matching(policy.tools, call.name));
    const categories = policy.categories as Partial<Record<string, CompiledRule>>;
    if (call.category !== undefined) rules.push(categories[call.category]);
    else rules.push(...Object.values(categories));
  } else {
    rules.push(...matching(call.subject === 'resource' ? policy.resources : policy.prompts, call.name));
  }
  return [...new Set(rules.flatMap((r) => r?.redact ?? []))];
}

/** The exact entry and every glob that matches the name, not only the one that would decide. */
function matching(table: RuleTable, name: string): CompiledRule[] {
  const out: CompiledRule[] = [];
  const exact = table.exact.get(name);
  if (exact) out.push(exact);
  for (const g of table.globs) if (g.glob.test(name)) out.push(g.rule);
  return out;
}
