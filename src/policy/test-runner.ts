// Policy unit tests (`gatehouse policy test`): a file names a policy and lists calls with the
// decision each must get. A case runs as the gateway would run it — decide(), then the limiter
// reserving against a state store — on a fresh in-memory store, `calls` times, and the last
// call's decision is compared; a failing case carries the explanation of that last call.
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { RISK_OF_CATEGORY } from '../catalog/classify.js';
import { ConfigError } from '../config/errors.js';
import { errorMap, problemsFromIssues, type Problem } from '../config/problems.js';
import { readStructuredFile } from '../config/structured-file.js';
import { Limiter } from '../limits/limiter.js';
import { MemoryStore } from '../store/memory-store.js';
import { loadPolicy, PolicyError, type CompiledPolicy } from './compile.js';
import { decide, type CallFacts } from './decide.js';
import { explain, scopeFactsOf, usageFromStore, type Explanation, type Verdict } from './explain.js';
import { CATEGORIES } from './schema.js';

const VERDICTS = ['allow', 'deny', 'hidden', 'approval_required', 'rate_limited'] as const;
const Verdict = z.enum(VERDICTS);

const Text = z.union([z.string(), z.number(), z.boolean()]).transform(String);

const CaseSchema = z.strictObject({
  name: z.string().min(1),
  tool: z.string().min(1),
  server: z.string().min(1).default('test'),
  args: z.record(z.string(), z.unknown()).default({}),
  grant: z
    .strictObject({
      name: z.string().min(1),
      agent: z.string().min(1).optional(),
      labels: z.record(z.string(), Text).default({}),
    })
    .optional(),
  category: z.enum(CATEGORIES).optional(),
  risk: z.enum(['low', 'medium', 'high', 'critical']).optional(),
  /** The call's time (`now` in CEL), ISO 8601 with a zone; default the time the test runs. */
  now: z.iso
    .datetime({ offset: true, error: 'expected an ISO 8601 time with a zone, e.g. 2026-03-02T10:00:00Z' })
    .optional(),
  expect: Verdict,
  /** What the call would get were the policy enforced (for shadow mode). */
  enforced: Verdict.optional(),
  /** The JSON pointer of the check that must decide. */
  rule: z.string().optional(),
  calls: z.number().int().min(1).max(100_000).default(1),
});

export const PolicyTestFileSchema = z.strictObject({
  $schema: z.string().optional(),
  policy: z.union([z.string().min(1), z.record(z.string(), z.unknown())], {
    error: 'expected a policy file path (relative to this file) or the policy inline',
  }),
  cases: z.array(CaseSchema).min(1),
});

export type PolicyTestCase = z.output<typeof CaseSchema>;

export interface CaseResult {
  name: string;
  passed: boolean;
  /** What differs from the expectation, one sentence each; empty when passed. */
  mismatches: string[];
  verdict: Verdict;
  enforcedVerdict: Verdict;
  rule: string;
  reason?: string;
  /** The last call's explanation, with the usage the store held before it. */
  explanation: Explanation;
}

export type TestFileResult =
  { file: string; ok: true; policy: string; cases: CaseResult[] } | { file: string; ok: false; problems: Problem[] };

/** Reads and runs one test file. Never throws for a bad file: its problems come back instead. */
export async function runPolicyTestFile(file: string): Promise<TestFileResult> {
  const path = resolve(file);
  let raw: unknown;
  try {
    raw = await readStructuredFile(path);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return {
      file,
      ok: false,
      problems: error.problems.length > 0 ? error.problems : [{ path: '', message: error.summary }],
    };
  }
  const parsed = PolicyTestFileSchema.safeParse(raw, { error: errorMap });
  const problems = parsed.success ? [] : problemsFromIssues(parsed.error.issues);
  // The policy is checked even when the cases are not, so that one pass shows every problem.
  const ref = isObject(raw) ? raw.policy : undefined;
  const loaded = typeof ref === 'string' || isObject(ref) ? await policyOf(ref, path) : undefined;
  if (loaded && !loaded.ok) problems.push(...loaded.problems);
  if (!parsed.success || !loaded?.ok) return { file, ok: false, problems };
  const { policy, source } = loaded;
  const { cases } = parsed.data;
  const results: CaseResult[] = [];
  for (const c of cases) results.push(await runCase(policy, c));
  return { file, ok: true, policy: source, cases: results };
}

export async function runCase(
  policy: CompiledPolicy,
  c: PolicyTestCase,
  clock: () => Date = () => new Date(),
): Promise<CaseResult> {
  const facts = caseFacts(c, c.now ? new Date(c.now) : clock());
  const store = new MemoryStore();
  const limiter = new Limiter(store);
  try {
    for (let i = 1; i < c.calls; i++) await callOnce(policy, facts, limiter);
    const explanation = await explain(policy, facts, usageFromStore(store, facts.now.getTime()));
    const got = await callOnce(policy, facts, limiter);
    const mismatches: string[] = [];
    if (got.verdict !== c.expect) mismatches.push(`expected ${c.expect}, got ${got.verdict}`);
    if (c.enforced !== undefined && got.enforced !== c.enforced)
      mismatches.push(`expected ${c.enforced} were the policy enforced, got ${got.enforced}`);
    if (c.rule !== undefined && got.rule !== c.rule)
      mismatches.push(`expected rule ${c.rule} to decide, got ${got.rule}`);
    return {
      name: c.name,
      passed: mismatches.length === 0,
      mismatches,
      verdict: got.verdict,
      enforcedVerdict: got.enforced,
      rule: got.rule,
      ...(got.reason !== undefined ? { reason: got.reason } : {}),
      explanation,
    };
  } finally {
    await store.close();
  }
}

/** Loads the policy a test file names: a path relative to the file, or inline. */
async function policyOf(
  ref: string | Record<string, unknown>,
  testFile: string,
): Promise<{ ok: true; policy: CompiledPolicy; source: string } | { ok: false; problems: Problem[] }> {
  const policyFile = typeof ref === 'string' ? resolve(dirname(testFile), ref) : undefined;
  try {
    const policy = loadPolicy(policyFile ? await readStructuredFile(policyFile) : ref);
    return { ok: true, policy, source: policyFile ?? 'inline' };
  } catch (error) {
    if (error instanceof PolicyError)
      return {
        ok: false,
        problems: error.problems.map((p) =>
          policyFile
            ? { path: '/policy', message: `${String(ref)} at ${p.path || '(top level)'}: ${p.message}` }
            : { path: `/policy${p.path}`, message: p.message },
        ),
      };
    if (error instanceof ConfigError) {
      const detail = error.problems.map((p) => p.message).join('; ');
      return {
        ok: false,
        problems: [{ path: '/policy', message: `${String(ref)}: ${error.summary}${detail ? ` (${detail})` : ''}` }],
      };
    }
    throw error;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The facts of a case's call, filled in the way the gateway fills them for a 2026-07-28 client. */
export function caseFacts(c: PolicyTestCase, now: Date): CallFacts {
  const grant = c.grant
    ? { name: c.grant.name, agent: c.grant.agent ?? c.grant.name, labels: c.grant.labels }
    : { name: 'anonymous', agent: 'anonymous', labels: {} };
  const risk = c.risk ?? (c.category ? RISK_OF_CATEGORY[c.category] : undefined);
  return {
    subject: 'tool',
    name: c.tool,
    server: c.server,
    args: c.args,
    ...(c.category ? { category: c.category } : {}),
    ...(risk ? { risk } : {}),
    grant,
    session: { id: c.grant ? `principal:grant:${c.grant.name}` : 'principal:anonymous' },
    now,
  };
}

/** One call as the policy gate makes it: decide, then reserve the limits (all or nothing). */
async function callOnce(
  policy: CompiledPolicy,
  facts: CallFacts,
  limiter: Limiter,
): Promise<{ verdict: Verdict; enforced: Verdict; rule: string; reason?: string }> {
  const d = decide(policy, facts);
  if (d.outcome === 'hidden') return { verdict: 'hidden', enforced: 'hidden', rule: d.rule };
  if (d.outcome === 'blocked') {
    const kind = d.kind === 'approval_required' ? 'approval_required' : 'deny';
    return { verdict: kind, enforced: kind, rule: d.rule, reason: d.reason };
  }
  if (d.shadowed?.outcome === 'hidden') return { verdict: 'allow', enforced: 'hidden', rule: d.rule };
  if (d.shadowed) {
    const kind = d.shadowed.kind === 'approval_required' ? 'approval_required' : 'deny';
    return { verdict: 'allow', enforced: kind, rule: d.rule, reason: d.shadowed.reason };
  }
  if (d.limits.length > 0) {
    const r = await limiter.reserve(d.limits, scopeFactsOf(facts), facts.now.getTime());
    if (!r.ok)
      return {
        verdict: policy.enforce ? 'rate_limited' : 'allow',
        enforced: 'rate_limited',
        rule: r.rule,
        reason: r.reason,
      };
  }
  return { verdict: 'allow', enforced: 'allow', rule: d.rule };
}
