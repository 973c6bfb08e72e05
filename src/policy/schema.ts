// The policy file (DESIGN section 1): its zod schema, the source of the `Policy` types and of
// schema/policy.schema.json. Parsing validates the whole file and normalises it, so that later stages
// see one form only: windows and timeouts in seconds, `on_deny` as `reason`, `rate_limit` as a limit
// with scope `session`, every list present. CEL expressions stay strings here; they are compiled by
// the policy compiler, which reports their errors with the same paths.
import { z } from 'zod';
import { DurationSchema } from '../config/duration.js';
import { errorMap, problemsFromIssues, unlessMissing, type Problem } from '../config/problems.js';

export const CATEGORIES = ['read', 'write', 'execute', 'destructive', 'financial'] as const;
export type Category = (typeof CATEGORIES)[number];

const Cel = z
  .string()
  .trim()
  .min(1, { error: 'expected a CEL expression, got an empty string' })
  .meta({ description: 'A CEL expression over args, tool, grant, session and now.' });

/** A tool, resource or prompt name pattern: `*`, `?`, `[abc]` and `{a,b}` are special. */
const Pattern = z
  .string()
  .min(1, { error: 'a pattern must not be empty' })
  .refine((pattern) => unclosedGlobBracket(pattern) === undefined, {
    error: (issue) => `pattern has an unclosed "${unclosedGlobBracket(String(issue.input))}"`,
  });

const Condition = z.strictObject({
  when: Cel,
  reason: z.string().min(1).optional().meta({ description: 'Text the agent receives when this condition blocks.' }),
});

const ApprovalCondition = z.strictObject({ when: Cel });

const Limit = z
  .strictObject({
    max: z.number().positive().meta({ description: 'Most units admitted per window.' }),
    window: DurationSchema,
    counter: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Counter name, shared by every limit naming it; default <tool>_rate.' }),
    scope: z.enum(['grant', 'agent', 'session', 'server', 'global']).default('grant'),
    key: Cel.optional().meta({ description: 'CEL: a separate counter per value, e.g. args.customer_id.' }),
    cost: Cel.optional().meta({ description: 'CEL: units one call consumes; default 1.' }),
    when: Cel.optional().meta({ description: 'CEL: the limit applies only when true.' }),
    algorithm: z.enum(['sliding', 'calendar']).default('sliding'),
  })
  .meta({ id: 'Limit' });

type LimitOutput = z.output<typeof Limit>;

const RateLimitShorthand = z
  .strictObject({ max: z.number().positive(), window: DurationSchema })
  .meta({ description: 'Shorthand for one limit with scope session.' });

const Approval = z.strictObject({
  timeout: DurationSchema.optional(),
  mode: z.enum(['hold', 'retry']).default('hold'),
  remember: z
    .union([z.enum(['none', 'session']), DurationSchema], {
      error: unlessMissing('expected none, session, or a duration like "10m"'),
    })
    .default('none'),
  notify: z.array(z.string().min(1)).default([]),
});

const Rule = z
  .strictObject({
    action: z.enum(['allow', 'deny', 'hide', 'require_approval']).default('allow'),
    reason: z.string().min(1).optional().meta({ description: 'Text the agent receives when this rule blocks.' }),
    on_deny: z.string().min(1).optional().meta({ description: 'Another name for reason.' }),
    deny_if: z.array(Condition).default([]),
    require: z.array(Condition).default([]),
    approval_if: z.array(ApprovalCondition).default([]),
    limits: z.array(Limit).default([]),
    rate_limit: RateLimitShorthand.optional(),
    approval: Approval.optional(),
    redact: z.array(z.string().min(1)).default([]).meta({ description: 'Argument paths the audit log never stores.' }),
  })
  .transform(({ on_deny, rate_limit, reason, ...rule }, ctx) => {
    if (reason !== undefined && on_deny !== undefined && reason !== on_deny) {
      ctx.issues.push({
        code: 'custom',
        path: ['on_deny'],
        input: on_deny,
        message: 'on_deny is another name for reason and the two differ; keep only one of them',
      });
      return z.NEVER;
    }
    const shorthand: LimitOutput | undefined = rate_limit && { ...rate_limit, scope: 'session', algorithm: 'sliding' };
    return { ...rule, reason: reason ?? on_deny, limits: shorthand ? [...rule.limits, shorthand] : rule.limits };
  })
  .meta({ id: 'Rule' });

const RulesByPattern = z.record(Pattern, Rule).default({});

export const PolicySchema = z
  .strictObject({
    $schema: z.string().optional(),
    version: z
      .union([z.literal('1'), z.literal(1)], { error: unlessMissing('expected "1", the only policy format version') })
      .transform(() => '1' as const),
    default: z.enum(['allow', 'deny']).meta({ description: 'The decision for a tool no entry matches.' }),
    enforce: z.boolean().default(true).meta({ description: 'false is shadow mode: decide, record, never block.' }),
    hide: z
      .union([Pattern, z.array(Pattern)])
      .transform((hide) => (typeof hide === 'string' ? [hide] : hide))
      .default([])
      .meta({ description: 'Tool patterns removed from tools/list; "*" hides all.' }),
    all_tools: Rule.optional(),
    categories: z
      .strictObject({
        read: Rule.optional(),
        write: Rule.optional(),
        execute: Rule.optional(),
        destructive: Rule.optional(),
        financial: Rule.optional(),
      })
      .default({})
      .meta({ description: 'Rules for tools no tools entry matches, by the category the catalog gives them.' }),
    tools: RulesByPattern.meta({ description: 'Rules keyed by tool name or glob pattern (*, ?, [abc], {a,b}).' }),
    resources: RulesByPattern.meta({ description: 'Rules keyed by resource URI pattern, for resources/read.' }),
    prompts: RulesByPattern.meta({ description: 'Rules keyed by prompt name pattern, for prompts/get.' }),
  })
  .transform(({ $schema: _schema, ...policy }) => policy)
  .meta({
    title: 'Gatehouse policy',
    description: 'Which MCP calls Gatehouse allows, denies, hides, limits or holds.',
  });

/** A policy as written in a file. */
export type PolicyInput = z.input<typeof PolicySchema>;
/** A validated, normalised policy: what the compiler and the decision engine work on. */
export type Policy = z.output<typeof PolicySchema>;
export type PolicyRule = Policy['tools'][string];
export type PolicyLimit = PolicyRule['limits'][number];
export type PolicyApproval = NonNullable<PolicyRule['approval']>;

export type ParsePolicyResult = { ok: true; policy: Policy } | { ok: false; problems: Problem[] };

/** Validates a policy document whole; every problem comes back with its JSON pointer. */
export function parsePolicy(value: unknown): ParsePolicyResult {
  const result = PolicySchema.safeParse(value, { error: errorMap });
  return result.success
    ? { ok: true, policy: result.data }
    : { ok: false, problems: problemsFromIssues(result.error.issues) };
}

/** The bracket a glob pattern leaves open, if any; a backslash escapes the next character. */
function unclosedGlobBracket(pattern: string): '[' | '{' | undefined {
  let inClass = false;
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '{') braces++;
    else if (c === '}' && braces > 0) braces--;
  }
  if (inClass) return '[';
  return braces > 0 ? '{' : undefined;
}
