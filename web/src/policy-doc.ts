// The policy text as the one source of truth for the builder: form edits are applied to the parsed
// document and written back as text (YAML keeps its comments), and the text typed in the editor is
// parsed back for the form.
import { parseDocument } from 'yaml';
import { literalName, literalPattern } from '../../src/policy/literal-name.js';
import { pointerToken } from '../../src/util/json-pointer.js';

// A tool's key in `tools` and `hide`: its name, escaped where it holds glob syntax, so that a tool
// an upstream calls `*` gets a rule of its own, not one for every tool.
export { literalName, literalPattern as toolKey, pointerToken };

export type Format = 'yaml' | 'json';
export type Choice = 'default' | 'allow' | 'deny' | 'hide' | 'require_approval' | 'custom';

export interface Rule {
  action?: string;
  reason?: string;
  on_deny?: string;
  limits?: Limit[];
  deny_if?: Condition[];
  require?: Condition[];
  approval_if?: Condition[];
  rate_limit?: unknown;
  [key: string]: unknown;
}
export interface Limit {
  max?: number | string;
  window?: number | string;
  scope?: string;
  [key: string]: unknown;
}
export interface Condition {
  when?: string;
  reason?: string;
}
export interface PolicyValue {
  version?: string;
  default?: string;
  hide?: string[];
  tools?: Record<string, Rule>;
  [key: string]: unknown;
}

export function parsePolicyText(text: string, format: Format): { value?: PolicyValue; error?: string } {
  try {
    if (format === 'json') return { value: JSON.parse(text) as PolicyValue };
    const doc = parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length > 0) return { error: doc.errors[0]!.message };
    const value = doc.toJS() as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      return { error: 'The policy must be a mapping of keys (version, default, tools, ...).' };
    return { value: value as PolicyValue };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

/** Applies `change` to the policy in `text` and returns the new text (comments kept in YAML). */
export function editPolicyText(
  text: string,
  format: Format,
  change: { path: string[]; value: unknown } | { path: string[]; remove: true },
): string {
  if (format === 'json') {
    const value = (JSON.parse(text || '{}') ?? {}) as Record<string, unknown>;
    let node: Record<string, unknown> = value;
    for (const key of change.path.slice(0, -1)) {
      if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    const last = change.path.at(-1)!;
    if ('remove' in change) delete node[last];
    else node[last] = change.value;
    return `${JSON.stringify(value, null, 2)}\n`;
  }
  const doc = parseDocument(text || '{}');
  if ('remove' in change) {
    if (doc.hasIn(change.path)) doc.deleteIn(change.path);
  } else doc.setIn(change.path, doc.createNode(change.value));
  return String(doc);
}

const CUSTOM_KEYS = ['limits', 'deny_if', 'require', 'approval_if', 'rate_limit', 'redact', 'approval'];

/** What the builder shows for one tool: its exact `tools` entry (glob entries are edited as text). */
export function choiceOf(policy: PolicyValue, tool: string): Choice {
  const key = literalPattern(tool);
  if ((policy.hide ?? []).includes(key)) return 'hide';
  const rule = policy.tools?.[key];
  if (!rule) return 'default';
  if (rule.action === 'deny') return 'deny';
  if (rule.action === 'hide') return 'hide';
  if (CUSTOM_KEYS.some((k) => k in rule)) return 'custom';
  if (rule.action === 'require_approval') return 'require_approval';
  return 'allow';
}
