// The `redact` paths that apply to one call: those of `all_tools` (tool calls only) and of the rule
// that matches the call, found the way decide() finds it, so that what a rule says about its
// arguments also governs what the audit log keeps of them.
import { matchRule, type CompiledPolicy, type CompiledRule } from '../policy/compile.js';
import type { Category } from '../policy/schema.js';

export function policyRedactPaths(
  policy: CompiledPolicy | undefined,
  call: { subject: 'tool' | 'resource' | 'prompt'; name: string; category?: Category | string },
): string[] {
  if (!policy) return [];
  const table =
    call.subject === 'tool' ? policy.tools : call.subject === 'resource' ? policy.resources : policy.prompts;
  let own: CompiledRule | undefined = matchRule(table, call.name);
  if (!own && call.subject === 'tool' && call.category) own = policy.categories[call.category as Category] ?? undefined;
  const rules = [call.subject === 'tool' ? policy.allTools : undefined, own];
  return [...new Set(rules.flatMap((r) => r?.redact ?? []))];
}
