// A suggested policy from a server's catalog (DESIGN section 6): read allowed, write 30 a minute
// per grant, execute 10 a minute per grant, destructive and financial held for approval, and
// anything not listed denied. Each entry says which category put it there and why.
import { Document, YAMLMap } from 'yaml';
import type { PolicyInput } from '../policy/schema.js';
import type { CatalogEntry } from './catalog.js';
import { literalPattern } from '../policy/literal-name.js';

type RuleInput = NonNullable<PolicyInput['tools']>[string];

export function suggestedRule(entry: CatalogEntry): RuleInput {
  switch (entry.category) {
    case 'read':
      return {};
    case 'write':
      return {
        limits: [{ max: 30, window: 'minute', scope: 'grant' }],
        reason: `${entry.name} writes (write tool): at most 30 calls a minute per grant.`,
      };
    case 'execute':
      return {
        limits: [{ max: 10, window: 'minute', scope: 'grant' }],
        reason: `${entry.name} executes (execute tool): at most 10 calls a minute per grant.`,
      };
    case 'destructive':
      return { action: 'require_approval', reason: `${entry.name} is destructive: a person must approve each call.` };
    case 'financial':
      return {
        action: 'require_approval',
        reason: `${entry.name} moves money or creates obligations (financial): a person must approve each call.`,
      };
  }
}

export function suggestPolicy(entries: CatalogEntry[]): PolicyInput {
  const tools: Record<string, RuleInput> = {};
  // Each tool's own name, escaped where it holds glob syntax: a key governs that tool alone.
  for (const e of [...entries].sort((a, b) => a.name.localeCompare(b.name)))
    tools[literalPattern(e.name)] = suggestedRule(e);
  return { version: '1', default: 'deny', tools };
}

/** The suggested policy as YAML, each tool commented with its category, risk and reasons. */
export function suggestPolicyYaml(server: string, entries: CatalogEntry[]): string {
  const doc = new Document(suggestPolicy(entries));
  doc.commentBefore = [
    ` Suggested policy for "${server}", from its catalog. Review it before use.`,
    ' read: allowed; write: 30/min per grant; execute: 10/min per grant; destructive and financial: approval.',
    ' Tools not listed here (e.g. added later) are denied.',
  ].join('\n');
  const tools = doc.get('tools') as YAMLMap | undefined;
  for (const e of entries) {
    const key = literalPattern(e.name);
    const pair = tools?.items.find((p) => (p.key as { value?: unknown })?.value === key || p.key === key);
    if (pair && pair.key && typeof pair.key === 'object') {
      (pair.key as { commentBefore?: string }).commentBefore =
        ` ${e.category} (risk ${e.risk}): ${e.reasons.join('; ')}`;
    }
  }
  return doc.toString({ lineWidth: 0 });
}
