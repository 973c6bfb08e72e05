// Proves `explain` tells the truth about a decision: its decision is decide()'s, and its own walk of
// the chain reaches exactly the same decision for random small policies and calls (property test),
// with the deciding check marked and every later check not reached. It shows which table entries
// were candidates and why they lost (exact beats glob, longer literal part, file order), the
// category rule, each condition's value or error, and each limit's counter, scope, key, cost and
// usage; and its usage-based prediction of a rate limit agrees with what the limiter then does.
// Also proves the stores' read-only `usage` reserves nothing and agrees with their admission rule.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Limiter } from '../../src/limits/limiter.js';
import { loadPolicy, type CompiledPolicy } from '../../src/policy/compile.js';
import { decide, type CallFacts, type Decision } from '../../src/policy/decide.js';
import { formatExplanation } from '../../src/policy/explain-format.js';
import {
  explain,
  scopeFactsOf,
  traceDecision,
  usageFromStore,
  type Explanation,
  type Step,
  type Verdict,
} from '../../src/policy/explain.js';
import { CATEGORIES, type PolicyInput } from '../../src/policy/schema.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { StateStore, WindowSpec } from '../../src/store/store.js';

const NOW = new Date('2026-03-02T10:00:00Z');

function facts(name: string, extra: Partial<CallFacts> = {}): CallFacts {
  return {
    subject: 'tool',
    name,
    server: 'crm',
    args: {},
    grant: { name: 'ci', agent: 'ci-agent', labels: { team: 'web' } },
    session: { id: 'principal:grant:ci' },
    now: NOW,
    ...extra,
  };
}

function policy(p: Omit<PolicyInput, 'version'>): CompiledPolicy {
  return loadPolicy({ version: '1', ...p });
}

function verdictOf(d: Decision): Verdict {
  if (d.outcome === 'hidden') return 'hidden';
  if (d.outcome === 'blocked') return d.kind === 'approval_required' ? 'approval_required' : 'deny';
  return 'allow';
}

const decisive = (ex: { steps: Step[] }) => ex.steps.filter((s) => s.decisive);
const stepAt = (ex: Explanation, path: string) => ex.steps.find((s) => s.path === path);

describe('the match: which entry is the rule, and why the others lost', () => {
  it('an exact key is chosen and every matching glob is listed as losing to it', async () => {
    const p = policy({ default: 'deny', tools: { 'delete_*': { action: 'deny' }, '*': {}, delete_note: {} } });
    const ex = await explain(p, facts('delete_note'));
    expect(ex.match.by).toBe('exact');
    expect(ex.match.rule).toBe('/tools/delete_note');
    expect(ex.match.candidates).toEqual([
      expect.objectContaining({ path: '/tools/delete_note', kind: 'exact', chosen: true }),
      expect.objectContaining({
        path: '/tools/delete_*',
        kind: 'glob',
        chosen: false,
        why: expect.stringContaining('exact key beats a glob'),
      }),
      expect.objectContaining({ path: '/tools/*', kind: 'glob', chosen: false }),
    ]);
  });

  it('among globs the longest literal part wins, and the losers say by how much', async () => {
    const p = policy({ default: 'deny', tools: { '*': {}, '*_note': {}, 'delete_*': {} } });
    const ex = await explain(p, facts('delete_note'));
    expect(ex.match).toMatchObject({ by: 'glob', rule: '/tools/delete_*' });
    const [best, next, last] = ex.match.candidates;
    expect(best).toMatchObject({ pattern: 'delete_*', literal: 7, chosen: true });
    expect(next).toMatchObject({ pattern: '*_note', literal: 5, chosen: false });
    expect(next!.why).toBe('lost: 5 literal characters, fewer than the 7 of "delete_*"');
    expect(last).toMatchObject({ pattern: '*', literal: 0, chosen: false });
  });

  it('equally specific globs: the first in the file wins and the later one says so', async () => {
    const p = policy({ default: 'deny', tools: { 'get_*': { action: 'deny' }, '*_all': {} } });
    const ex = await explain(p, facts('get_all'));
    expect(ex.match.rule).toBe('/tools/get_*');
    expect(ex.match.candidates[1]!.why).toContain('as specific as "get_*"');
    expect(ex.match.candidates[1]!.why).toContain('later in the file');
  });

  it('with no tools entry the category rule is chosen; with a tools entry it is not consulted', async () => {
    const p = policy({ default: 'deny', categories: { read: {} }, tools: { list_secrets: { action: 'deny' } } });
    const byCategory = await explain(p, facts('list_users', { category: 'read' }));
    expect(byCategory.match).toMatchObject({ by: 'category', rule: '/categories/read' });
    expect(byCategory.match.category).toMatchObject({ used: true, path: '/categories/read' });
    expect(byCategory.verdict).toBe('allow');
    const byName = await explain(p, facts('list_secrets', { category: 'read' }));
    expect(byName.match.category).toMatchObject({ used: false, why: 'not consulted: a tools entry matched' });
  });

  it('a tool of unknown category falls to the default, and the chain says the category was unknown', async () => {
    const p = policy({ default: 'deny', categories: { read: {} } });
    const ex = await explain(p, facts('list_users'));
    expect(ex.match.category?.why).toContain('unknown');
    expect(decisive(ex)).toEqual([expect.objectContaining({ kind: 'default', path: '/default', effect: 'deny' })]);
  });
});

describe('the chain: hide, actions, conditions and limits in the order decide makes them', () => {
  it('each hide pattern is listed with whether it matched; the first match decides', async () => {
    const p = policy({ default: 'allow', hide: ['debug_*', 'admin_*'] });
    const ex = await explain(p, facts('admin_reset'));
    expect(ex.verdict).toBe('hidden');
    expect(ex.steps.filter((s) => s.kind === 'hide')).toEqual([
      expect.objectContaining({ path: '/hide/0', pattern: 'debug_*', matched: false, decisive: false }),
      expect.objectContaining({ path: '/hide/1', pattern: 'admin_*', matched: true, decisive: true }),
    ]);
  });

  it('every condition is shown with its value, including those after the one that decided', async () => {
    const p = policy({
      default: 'allow',
      all_tools: { deny_if: [{ when: 'args.n > 3' }] },
      tools: {
        refund: {
          deny_if: [{ when: 'args.n > 10', reason: 'too many' }],
          require: [{ when: 'has(args.why)' }, { when: "args.mode == 'test'" }],
        },
      },
    });
    const ex = await explain(p, facts('refund', { args: { n: 5 } }));
    expect(ex.verdict).toBe('deny');
    expect(ex.rule).toBe('/all_tools/deny_if/0/when');
    expect(stepAt(ex, '/all_tools/deny_if/0/when')).toMatchObject({ value: true, decisive: true, reached: true });
    expect(stepAt(ex, '/tools/refund/deny_if/0/when')).toMatchObject({ value: false, reached: false });
    expect(stepAt(ex, '/tools/refund/require/0/when')).toMatchObject({ value: false, reached: false });
    expect(stepAt(ex, '/tools/refund/require/1/when')).toMatchObject({ error: 'No such key: mode', reached: false });
  });

  it('a condition that errors shows the error and decides deny (fail closed)', async () => {
    const p = policy({
      default: 'allow',
      tools: { send: { approval_if: [{ when: 'args.to.endsWith("@corp.com")' }] } },
    });
    const ex = await explain(p, facts('send'));
    expect(ex.verdict).toBe('deny');
    expect(decisive(ex)).toEqual([
      expect.objectContaining({ kind: 'approval_if', error: 'No such key: to', effect: 'deny' }),
    ]);
    expect(ex.reason).toContain('could not be evaluated');
  });

  it('a condition that gives a non-boolean is an error too, naming what it gave', async () => {
    const p = policy({ default: 'allow', tools: { send: { require: [{ when: 'args.n' }] } } });
    const ex = await explain(p, facts('send', { args: { n: 3 } }));
    expect(stepAt(ex, '/tools/send/require/0/when')).toMatchObject({ error: 'gave 3, not true or false' });
    expect(ex.reason).toBe(
      'The condition at /tools/send/require/0/when did not give true or false, so the call is blocked.',
    );
  });

  it('an action require_approval decides approval_required at its place in the order', async () => {
    const p = policy({
      default: 'allow',
      tools: { drop_table: { action: 'require_approval', require: [{ when: 'true' }] } },
    });
    const ex = await explain(p, facts('drop_table'));
    expect(ex.verdict).toBe('approval_required');
    expect(ex.steps.map((s) => `${s.kind} ${s.path}`)).toEqual([
      'require /tools/drop_table/require/0/when',
      'action /tools/drop_table',
    ]);
  });

  it('a limit shows its counter, scope and scope value, key, cost and the counter key in the store', async () => {
    const p = policy({
      default: 'deny',
      tools: {
        refund: {
          limits: [
            { counter: 'refunds', key: 'args.customer', cost: 'args.amount', max: 1000, window: 'day', scope: 'agent' },
            { max: 5, window: 'minute', when: 'args.amount > 100' },
          ],
        },
      },
    });
    const ex = await explain(p, facts('refund', { args: { customer: 'cus_1', amount: 50 } }));
    const [first, second] = ex.steps.filter((s) => s.kind === 'limit');
    expect(first!.kind === 'limit' && first!.limit).toMatchObject({
      counter: 'refunds',
      perServer: false,
      scope: 'agent',
      scopeValue: 'ci-agent',
      max: 1000,
      windowSeconds: 86_400,
      applies: true,
      key: { source: 'args.customer', value: 'cus_1' },
      cost: { source: 'args.amount', value: 50 },
      storeKey: 'rate|refunds|agent:ci-agent|cus_1',
    });
    expect(second!.kind === 'limit' && second!.limit).toMatchObject({
      counter: 'refund_rate',
      perServer: true,
      applies: false,
      when: { value: false },
    });
    expect(ex.decision).toMatchObject({
      outcome: 'allow',
      limits: [{ counter: 'refunds', keyValue: 'cus_1', cost: 50 }],
    });
  });

  it('with a usage reader each limit shows its usage, and an exhausted one decides rate_limited', async () => {
    const p = policy({ default: 'deny', tools: { send: { limits: [{ max: 3, window: 'hour', key: 'args.to' }] } } });
    const store = new MemoryStore();
    const call = facts('send', { args: { to: 'ada' } });
    const limiter = new Limiter(store);
    const before = await explain(p, call, usageFromStore(store, NOW.getTime()));
    const limit = before.steps.find((s) => s.kind === 'limit');
    expect(limit?.kind === 'limit' && limit.limit.usage).toEqual({
      used: 0,
      max: 3,
      windowSeconds: 3600,
      remaining: 3,
      admits: true,
    });
    for (let i = 0; i < 3; i++) await limiter.reserve(decideLimits(p, call), scopeFactsOf(call), NOW.getTime());
    const after = await explain(p, call, usageFromStore(store, NOW.getTime()));
    expect(after).toMatchObject({ verdict: 'rate_limited', rule: '/tools/send/limits/0' });
    expect(after.reason).toContain('at most 3 per hour per grant (counter send_rate, one per value of args.to)');
    expect(after.reason).not.toContain('ada');
    expect(after.decision.outcome).toBe('allow'); // decide() itself does not read counters
    expect(await store.usage(limitKey(after), spec(3, 3600), NOW.getTime())).toBe(3); // explaining reserved nothing
  });

  it('a keyed limit that refuses a call names its key expression, never the value from the arguments (which a redact path may keep out of the log)', async () => {
    const p = policy({
      default: 'deny',
      tools: { lookup: { redact: ['account'], limits: [{ max: 1, window: 'minute', key: 'args.account' }] } },
    });
    const call = facts('lookup', { args: { account: 'ACCT-9911-SECRET\n2026-01-01 forged row' } });
    const limiter = new Limiter(new MemoryStore());
    expect((await limiter.reserve(decideLimits(p, call), scopeFactsOf(call), NOW.getTime())).ok).toBe(true);
    const refused = await limiter.reserve(decideLimits(p, call), scopeFactsOf(call), NOW.getTime());
    expect(refused.ok).toBe(false);
    const reason = refused.ok ? '' : refused.reason;
    expect(reason).toContain('(counter lookup_rate, one per value of args.account)');
    expect(reason).not.toContain('ACCT');
    expect(reason).not.toContain('\n');
  });

  it('shadow mode: the verdict is allow, the enforced verdict and its rule are kept', async () => {
    const p = policy({ default: 'deny', enforce: false, hide: ['admin_*'] });
    const denied = await explain(p, facts('drop_all'));
    expect(denied).toMatchObject({ verdict: 'allow', enforcedVerdict: 'deny', rule: '/default' });
    expect(denied.decision).toMatchObject({ outcome: 'allow', shadowed: { kind: 'deny' } });
    const hidden = await explain(p, facts('admin_x'));
    expect(hidden).toMatchObject({ verdict: 'allow', enforcedVerdict: 'hidden', rule: '/hide' });
  });

  it('a resource read is decided by its own rule only: all_tools is not in its chain', async () => {
    const p = policy({
      default: 'deny',
      all_tools: { deny_if: [{ when: 'true' }] },
      resources: { 'secret://*': { action: 'hide' }, 'notes://*': {} },
    });
    const hidden = await explain(p, facts('secret://keys', { subject: 'resource' }));
    expect(hidden).toMatchObject({ verdict: 'hidden', rule: '/resources/secret:~1~1*' });
    const read = await explain(p, facts('notes://1', { subject: 'resource' }));
    expect(read.verdict).toBe('allow');
    expect(read.steps.some((s) => s.path.startsWith('/all_tools'))).toBe(false);
  });

  it('a resource URI spelled otherwise is explained as decided: by the URI a server reads', async () => {
    const p = policy({ default: 'allow', resources: { 'file:///srv/secret/*': { action: 'deny' } } });
    const ex = await explain(p, facts('FILE:///srv/public/../secret/key', { subject: 'resource' }));
    expect(ex).toMatchObject({ verdict: 'deny', rule: '/resources/file:~1~1~1srv~1secret~1*' });
  });

  it('the text form leads with the decision and marks the deciding check and the checks not reached', async () => {
    const p = policy({
      default: 'allow',
      tools: {
        'delete_*': { action: 'deny', reason: 'No deleting.' },
        delete_note: { require: [{ when: 'has(args.why)' }] },
      },
      all_tools: { deny_if: [{ when: 'false' }] },
    });
    const text = formatExplanation(await explain(p, facts('delete_note')));
    expect(text.split('\n')[0]).toBe('decision: deny');
    expect(text).toContain('decided by: /tools/delete_note/require/0/when');
    expect(text).toContain('/tools/delete_*  lost: an exact key beats a glob');
    expect(text).toMatch(
      /require +\/tools\/delete_note\/require\/0\/when {2}has\(args.why\) {2}= false {2}=> DECIDES: deny/,
    );
    expect(text).toContain('grant ci (agent ci-agent, labels team=web)');
  });
});

function decideLimits(p: CompiledPolicy, call: CallFacts) {
  const d = decide(p, call);
  if (d.outcome !== 'allow') throw new Error('expected allow');
  return d.limits;
}

function limitKey(ex: Explanation): string {
  const s = ex.steps.find((x) => x.kind === 'limit');
  if (s?.kind !== 'limit' || !s.limit.storeKey) throw new Error('no limit');
  return s.limit.storeKey;
}

function spec(max: number, windowSeconds: number, algorithm: WindowSpec['algorithm'] = 'sliding'): WindowSpec {
  return { algorithm, windowMs: windowSeconds * 1000, max, cost: 1 };
}

// ---------------------------------------------------------------------------------------------
// Random small policies and calls

const NAMES = ['get_a', 'get_b', 'del_a', 'send_x', 'admin_z', 'file:///a', 'FILE:///a', 'file:///x/../a'];
const PATTERNS = [
  'get_a',
  'del_a',
  'send_x',
  'get_*',
  '*_a',
  'del_*',
  '*',
  'get_?',
  'send_{x,y}',
  '[gd]*',
  'file:///*',
  'file:///a',
  'FILE:///*',
];
const CONDITIONS = [
  'true',
  'false',
  'args.n > 2',
  "args.s == 'x'",
  'has(args.s)',
  'args.missing == 1',
  'args.n',
  "grant.labels.team == 'a'",
  "tool.category == 'read'",
  'now.getHours() < 12',
];

const condition = fc.record(
  { when: fc.constantFrom(...CONDITIONS), reason: fc.constantFrom('because', 'no') },
  { requiredKeys: ['when'] },
);
const limit = fc.record(
  {
    max: fc.integer({ min: 1, max: 4 }),
    window: fc.constantFrom('minute', 60, 'day', '10s'),
    counter: fc.constantFrom('c1', 'c2'),
    scope: fc.constantFrom('grant', 'agent', 'session', 'server', 'global'),
    key: fc.constantFrom('args.s', 'args.n', 'args.missing'),
    cost: fc.constantFrom('args.n', '2', 'args.s', '-1', '1'),
    when: fc.constantFrom(...CONDITIONS),
    algorithm: fc.constantFrom('sliding', 'calendar'),
  },
  { requiredKeys: ['max', 'window'] },
);
const rule = fc.record(
  {
    action: fc.constantFrom('allow', 'deny', 'hide', 'require_approval'),
    reason: fc.constantFrom('rule says no'),
    deny_if: fc.array(condition, { maxLength: 2 }),
    require: fc.array(condition, { maxLength: 2 }),
    approval_if: fc.array(fc.record({ when: fc.constantFrom(...CONDITIONS) }), { maxLength: 2 }),
    limits: fc.array(limit, { maxLength: 2 }),
    rate_limit: fc.record({ max: fc.integer({ min: 1, max: 3 }), window: fc.constantFrom('minute', 30) }),
  },
  { requiredKeys: [] },
);
const table = fc.dictionary(fc.constantFrom(...PATTERNS), rule, { maxKeys: 4 });
const policyInput = fc.record(
  {
    version: fc.constant('1'),
    default: fc.constantFrom('allow', 'deny'),
    enforce: fc.boolean(),
    hide: fc.array(fc.constantFrom(...PATTERNS), { maxLength: 2 }),
    all_tools: rule,
    categories: fc.dictionary(fc.constantFrom(...CATEGORIES), rule, { maxKeys: 3 }),
    tools: table,
    resources: table,
    prompts: table,
  },
  { requiredKeys: ['version', 'default'] },
);
const callFacts: fc.Arbitrary<CallFacts> = fc
  .record(
    {
      subject: fc.constantFrom('tool', 'tool', 'resource', 'prompt'),
      name: fc.constantFrom(...NAMES),
      server: fc.constantFrom('a', 'b'),
      n: fc.integer({ min: 0, max: 5 }),
      s: fc.constantFrom('x', 'y'),
      category: fc.constantFrom(...CATEGORIES),
      team: fc.constantFrom('a', 'b'),
      hour: fc.integer({ min: 0, max: 23 }),
    },
    { requiredKeys: ['subject', 'name', 'server', 'hour'] },
  )
  .map((r) => ({
    subject: r.subject as CallFacts['subject'],
    name: r.name,
    server: r.server,
    args: { ...(r.n !== undefined ? { n: r.n } : {}), ...(r.s !== undefined ? { s: r.s } : {}) },
    ...(r.category ? { category: r.category, risk: 'high' } : {}),
    grant: { name: 'g', agent: 'ag', labels: r.team ? { team: r.team } : ({} as Record<string, string>) },
    session: { id: 'sess' },
    now: new Date(Date.UTC(2026, 2, 2, r.hour, 30)),
  }));

// Policies whose calls mostly reach their limits: allowing rules, several limits, shared counters.
const limitedRule = fc.record({
  limits: fc.array(
    fc.record(
      {
        max: fc.integer({ min: 1, max: 4 }),
        window: fc.constantFrom('minute', 60, 'day', '10s'),
        counter: fc.constantFrom('c1', 'c2'),
        scope: fc.constantFrom('grant', 'agent', 'global'),
        key: fc.constantFrom('args.s', 'args.n'),
        cost: fc.constantFrom('args.n', '2', '1'),
        when: fc.constantFrom('true', 'args.n > 1'),
        algorithm: fc.constantFrom('sliding', 'calendar'),
      },
      { requiredKeys: ['max', 'window'] },
    ),
    { minLength: 1, maxLength: 3 },
  ),
});
const limitedPolicy = fc.record(
  {
    version: fc.constant('1'),
    default: fc.constant('allow'),
    enforce: fc.boolean(),
    all_tools: limitedRule,
    tools: fc.dictionary(fc.constantFrom(...PATTERNS), limitedRule, { maxKeys: 3 }),
  },
  { requiredKeys: ['version', 'default', 'all_tools'] },
);
const limitedCall = callFacts.map((c) => ({
  ...c,
  subject: 'tool' as const,
  args: { n: (c.args.n as number | undefined) ?? 1, s: (c.args.s as string | undefined) ?? 'x' },
}));

describe('explain agrees with decide', () => {
  it('for random small policies and calls the walk reaches exactly the decision decide() makes', async () => {
    await fc.assert(
      fc.asyncProperty(policyInput, callFacts, async (input, call) => {
        const p = loadPolicy(input);
        const expected = decide(p, call);
        const trace = traceDecision(p, call);
        expect(trace.decision).toEqual(expected);
        const ex = await explain(p, call);
        expect(ex.decision).toEqual(expected);
        expect(ex.verdict).toBe(verdictOf(expected));
        expect(ex.enforcedVerdict).toBe(verdictOf(trace.enforced));
        // One check decides a block, none decides an allow; what follows it is not reached.
        const deciding = decisive(ex);
        if (trace.enforced.outcome === 'allow') expect(deciding).toEqual([]);
        else {
          expect(deciding).toHaveLength(1);
          const path = deciding[0]!.kind === 'hide' ? '/hide' : deciding[0]!.path;
          expect(path).toBe(trace.enforced.rule);
        }
        const at = ex.steps.findIndex((s) => s.decisive);
        ex.steps.forEach((s, i) => expect(s.reached).toBe(at < 0 || i <= at));
      }),
      { numRuns: 1500 },
    );
  });

  it('with usage from the store, a predicted rate limit is exactly what the limiter then does', async () => {
    const outcomes = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(policyInput, limitedPolicy, limitedPolicy, limitedPolicy),
        fc.oneof(callFacts, limitedCall, limitedCall, limitedCall),
        fc.array(fc.integer({ min: 0, max: 90_000 }), { maxLength: 6 }),
        async (input, call, earlier) => {
          const p = loadPolicy(input);
          const store = new MemoryStore();
          const limiter = new Limiter(store);
          const now = call.now.getTime();
          // Earlier identical calls, oldest first, some inside the windows and some outside.
          for (const ago of [...earlier].sort((a, b) => b - a)) {
            const d = decide(p, { ...call, now: new Date(now - ago) });
            if (d.outcome === 'allow') await limiter.reserve(d.limits, scopeFactsOf(call), now - ago);
          }
          const ex = await explain(p, call, usageFromStore(store, now));
          const d = decide(p, call);
          if (d.outcome !== 'allow' || d.limits.length === 0) {
            expect(ex.enforcedVerdict).not.toBe('rate_limited');
            return;
          }
          const reserved = await limiter.reserve(d.limits, scopeFactsOf(call), now);
          outcomes.add(reserved.ok ? 'admitted' : 'refused');
          expect(ex.enforcedVerdict === 'rate_limited').toBe(!reserved.ok);
          if (!reserved.ok) expect(ex.rule).toBe(reserved.rule);
        },
      ),
      { numRuns: 700 },
    );
    expect([...outcomes].sort()).toEqual(['admitted', 'refused']); // both sides were exercised
  });
});

describe('StateStore.usage', () => {
  const stores: [string, () => StateStore][] = [
    ['memory', () => new MemoryStore()],
    ['sqlite', () => new SqliteStore(':memory:')],
  ];
  it.each(stores)(
    '%s: usage reads without reserving, and usage + cost <= max is what reserve admits',
    async (_name, open) => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom<WindowSpec['algorithm']>('sliding', 'calendar'),
          fc.integer({ min: 1, max: 6 }),
          fc.array(fc.record({ at: fc.integer({ min: 0, max: 5000 }), cost: fc.integer({ min: 1, max: 3 }) }), {
            maxLength: 8,
          }),
          fc.integer({ min: 0, max: 5000 }),
          fc.integer({ min: 1, max: 3 }),
          async (algorithm, max, earlier, at, cost) => {
            const store = open();
            try {
              const t0 = Date.UTC(2026, 2, 2, 10, 0, 0);
              const window = { algorithm, windowMs: 2000, max };
              // Entries may arrive out of time order, as they can from several replicas.
              for (const e of earlier) await store.reserve('k', { ...window, cost: e.cost }, t0 + e.at);
              const newest = Math.max(t0, ...earlier.map((e) => t0 + e.at));
              const now = t0 + at;
              const used = await store.usage('k', { ...window, cost }, now);
              expect(await store.usage('k', { ...window, cost }, now)).toBe(used);
              const r = await store.reserve('k', { ...window, cost }, now);
              // A call stamped more than a window before the newest entry is refused whatever the usage.
              if (now >= newest - window.windowMs) expect(r.ok).toBe(cost <= max && used + cost <= max);
            } finally {
              await store.close();
            }
          },
        ),
        { numRuns: 200 },
      );
    },
  );
});
