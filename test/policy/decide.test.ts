// Proves the pure decision engine follows the policy contract of DESIGN section 1: how a tool's rule
// is matched (exact, then the most specific glob, then default), hiding, denial with the author's
// reason, all_tools first, CEL conditions over the arguments (and fail-closed when one errors),
// approvals, shadow mode, the rate_limit shorthand, which tools may be listed, and that a bad
// policy is refused at load with every problem at its JSON path.
import { describe, expect, it } from 'vitest';
import { loadPolicy, PolicyError, type CompiledPolicy } from '../../src/policy/compile.js';
import { decide, listable, listableEntry, type CallFacts, type Decision } from '../../src/policy/decide.js';
import type { PolicyInput } from '../../src/policy/schema.js';

const NOW = new Date('2026-03-01T12:00:00Z');

function facts(name: string, args: Record<string, unknown> = {}, extra: Partial<CallFacts> = {}): CallFacts {
  return {
    subject: 'tool',
    name,
    server: 'piwik-pro',
    args,
    grant: { name: 'ci', agent: 'ci-agent', labels: { team: 'web' } },
    session: { id: 's-1' },
    now: NOW,
    ...extra,
  };
}

function policy(p: Omit<PolicyInput, 'version'> & { version?: '1' }): CompiledPolicy {
  return loadPolicy({ version: '1', ...p });
}

/** The problems a policy is refused with (fails the test when it loads). */
function problemsOf(value: unknown): { path: string; message: string }[] {
  try {
    loadPolicy(value);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return (err as PolicyError).problems;
  }
  throw new Error('the policy loaded, but it should have been refused');
}

function ruleOf(d: Decision): string {
  return d.rule;
}

describe('matching a tool to its rule', () => {
  it('an exact tools key beats a glob that also matches, whatever the file order', () => {
    const p = policy({
      default: 'allow',
      tools: { 'audiences_*': { action: 'deny', reason: 'glob' }, audiences_create: {} },
    });
    expect(decide(p, facts('audiences_create'))).toMatchObject({ outcome: 'allow', rule: '/tools/audiences_create' });
    expect(decide(p, facts('audiences_delete'))).toMatchObject({
      outcome: 'blocked',
      rule: '/tools/audiences_*',
      reason: 'glob',
    });
  });

  it('among globs the one with the longest literal part wins, not the first in the file', () => {
    const p = policy({
      default: 'deny',
      tools: {
        '*': { action: 'deny', reason: 'catch-all' },
        '*_create': { action: 'deny', reason: 'creates' },
        'audiences_*': {},
      },
    });
    expect(decide(p, facts('audiences_create'))).toMatchObject({ outcome: 'allow', rule: '/tools/audiences_*' });
    expect(decide(p, facts('tags_create'))).toMatchObject({
      outcome: 'blocked',
      rule: '/tools/*_create',
      reason: 'creates',
    });
    expect(decide(p, facts('apps_list'))).toMatchObject({ outcome: 'blocked', rule: '/tools/*', reason: 'catch-all' });
  });

  it('{a,b} alternatives, ? and [abc] character classes match as globs', () => {
    const p = policy({
      default: 'deny',
      tools: { 'tags_{create,update}': {}, 'apps_ge?': {}, 'trigger[sx]_list': {} },
    });
    expect(ruleOf(decide(p, facts('tags_create')))).toBe('/tools/tags_{create,update}');
    expect(ruleOf(decide(p, facts('tags_update')))).toBe('/tools/tags_{create,update}');
    expect(decide(p, facts('tags_delete'))).toMatchObject({ outcome: 'blocked', rule: '/default' });
    expect(ruleOf(decide(p, facts('apps_get')))).toBe('/tools/apps_ge?');
    expect(decide(p, facts('apps_gets')).outcome).toBe('blocked');
    expect(ruleOf(decide(p, facts('triggers_list')))).toBe('/tools/trigger[sx]_list');
    expect(ruleOf(decide(p, facts('triggerx_list')))).toBe('/tools/trigger[sx]_list');
    expect(decide(p, facts('triggery_list')).outcome).toBe('blocked');
  });

  it('a category rule decides a tool no tools entry matches, before the default', () => {
    const p = policy({
      default: 'allow',
      categories: { destructive: { action: 'deny', reason: 'no deleting' } },
      tools: { apps_delete: {} },
    });
    expect(decide(p, facts('tags_delete', {}, { category: 'destructive' }))).toMatchObject({
      outcome: 'blocked',
      rule: '/categories/destructive',
      reason: 'no deleting',
    });
    // An exact tools entry still beats the category.
    expect(decide(p, facts('apps_delete', {}, { category: 'destructive' }))).toMatchObject({
      outcome: 'allow',
      rule: '/tools/apps_delete',
    });
    expect(decide(p, facts('tags_list', {}, { category: 'read' }))).toMatchObject({
      outcome: 'allow',
      rule: '/default',
    });
  });
});

describe('default', () => {
  it('default deny blocks a tool no entry matches, naming /default', () => {
    const d = decide(policy({ default: 'deny', tools: { apps_list: {} } }), facts('apps_delete'));
    expect(d).toMatchObject({ outcome: 'blocked', kind: 'deny', rule: '/default' });
    expect((d as { reason: string }).reason).toContain('apps_delete');
  });

  it('default allow lets a tool no entry matches through with no limits', () => {
    expect(decide(policy({ default: 'allow' }), facts('apps_delete'))).toEqual({
      outcome: 'allow',
      rule: '/default',
      limits: [],
    });
  });

  it('an empty rule {} allows under default deny', () => {
    expect(decide(policy({ default: 'deny', tools: { apps_list: {} } }), facts('apps_list'))).toEqual({
      outcome: 'allow',
      rule: '/tools/apps_list',
      limits: [],
    });
  });
});

describe('hide', () => {
  it('a hide pattern hides matching tools, even ones a tools entry allows', () => {
    const p = policy({ default: 'allow', hide: ['apps_*'], tools: { apps_list: {} } });
    expect(decide(p, facts('apps_list'))).toEqual({ outcome: 'hidden', rule: '/hide' });
    expect(decide(p, facts('apps_delete'))).toEqual({ outcome: 'hidden', rule: '/hide' });
    expect(decide(p, facts('tags_list')).outcome).toBe('allow');
  });

  it('hide "*" (also written as a bare string) hides every tool', () => {
    const p = policy({ default: 'allow', hide: '*', tools: { apps_list: {} } });
    for (const name of ['apps_list', 'tags_delete', 'x']) expect(decide(p, facts(name)).outcome).toBe('hidden');
    expect(listable(p, 'apps_list')).toBe(false);
  });

  it('a rule with action hide hides its tool', () => {
    const p = policy({ default: 'allow', tools: { 'tracker_*': { action: 'hide' } } });
    expect(decide(p, facts('tracker_settings_app_get'))).toEqual({ outcome: 'hidden', rule: '/tools/tracker_*' });
  });

  it('hide applies to tools only: a resource or prompt of the same name is decided by its own table', () => {
    const p = policy({ default: 'allow', hide: ['*'] });
    expect(decide(p, facts('notes://list', {}, { subject: 'resource' })).outcome).toBe('allow');
    expect(decide(p, facts('summarize', {}, { subject: 'prompt' })).outcome).toBe('allow');
  });

  it('hide ["*"] hides every tool, one whose name has a "/" too', () => {
    const p = policy({ default: 'allow', hide: ['*'] });
    expect(decide(p, facts('files/delete_all')).outcome).toBe('hidden');
    expect(listable(p, 'files/delete_all')).toBe(false);
  });

  it('a resource URI spelled otherwise than its rule (case, dot segments, localhost, backslashes, percent-encoding, whitespace, doubled slashes in a file path) is decided as the URI a server reads', () => {
    const p = policy({
      default: 'allow',
      resources: {
        'notes://vault/*': { action: 'deny' },
        'file:///srv/secret/*': { action: 'deny' },
        'file:///srv/public/*': {},
        'secret://items/*': { action: 'hide' },
      },
    });
    const resource = (uri: string) => decide(p, facts(uri, {}, { subject: 'resource' })).outcome;
    for (const uri of [
      'NOTES://vault/secret-key',
      'notes://vault/x/../secret-key',
      'notes://vault/./secret-key',
      ' notes://vault/secret-key',
      'FILE:///srv/secret/passwd',
      'file:///srv/public/../secret/passwd',
      'file:///srv/public/..%2Fsecret/passwd',
      'file://localhost/srv/secret/passwd',
      'file:///srv\\secret\\passwd',
      'file:///srv/sec\nret/passwd',
      'file:///srv/%73ecret/passwd',
      'file:///srv/secret/sub/passwd',
      'file:///srv//secret/passwd',
      'file:////srv/secret/passwd',
      'file:///srv/secret//passwd',
      'file:///srv/%2Fsecret/passwd',
      'file:///srv/x/%2F%2E%2E/secret/passwd',
      'file:///srv/x/%2F../secret/passwd',
    ])
      expect(resource(uri), JSON.stringify(uri)).toBe('blocked');
    expect(resource('SECRET://items/1')).toBe('hidden');
    expect(listableEntry(p, 'resource', 'SECRET://items/1')).toBe(false);
    expect(listableEntry(p, 'resource', 'file:///srv/public/../secret/x')).toBe(false);
    expect(resource('file:///srv/public/readme')).toBe('allow');
    expect(resource('file:///srv/public/sub/../readme')).toBe('allow');
  });

  it('a rule written in a spelling other than the natural one still blocks a URI sent in that spelling', () => {
    const p = policy({ default: 'allow', resources: { 'NOTES://vault/*': { action: 'deny' } } });
    expect(decide(p, facts('NOTES://vault/key', {}, { subject: 'resource' })).outcome).toBe('blocked');
  });

  it('all_tools with action hide hides every tool from calls, as it does from tools/list', () => {
    const p = policy({ default: 'allow', all_tools: { action: 'hide' } });
    expect(listable(p, 'apps_list')).toBe(false);
    // A tool that is not listed must not be callable either: it answers as an unknown tool.
    expect(decide(p, facts('apps_list')).outcome).toBe('hidden');
  });
});

describe('deny', () => {
  it("action deny blocks with the rule path and the author's reason", () => {
    const p = policy({
      default: 'allow',
      tools: { audiences_delete: { action: 'deny', reason: 'Deleting audiences is not allowed.' } },
    });
    expect(decide(p, facts('audiences_delete'))).toEqual({
      outcome: 'blocked',
      kind: 'deny',
      rule: '/tools/audiences_delete',
      reason: 'Deleting audiences is not allowed.',
    });
  });

  it('on_deny is another name for reason', () => {
    const p = policy({ default: 'allow', tools: { apps_delete: { action: 'deny', on_deny: 'Apps stay.' } } });
    expect(decide(p, facts('apps_delete'))).toMatchObject({ outcome: 'blocked', reason: 'Apps stay.' });
  });

  it('action deny without a reason still says which tool was refused', () => {
    const d = decide(policy({ default: 'allow', tools: { apps_delete: { action: 'deny' } } }), facts('apps_delete'));
    expect(d).toMatchObject({ outcome: 'blocked', kind: 'deny', rule: '/tools/apps_delete' });
    expect((d as { reason: string }).reason).toMatch(/apps_delete/);
  });
});

describe('all_tools', () => {
  it('all_tools action deny blocks a tool its own rule allows', () => {
    const p = policy({
      default: 'allow',
      all_tools: { action: 'deny', reason: 'maintenance' },
      tools: { apps_list: {} },
    });
    expect(decide(p, facts('apps_list'))).toMatchObject({
      outcome: 'blocked',
      rule: '/all_tools',
      reason: 'maintenance',
    });
  });

  it("all_tools conditions are checked before the tool's own: the first that blocks decides", () => {
    const p = policy({
      default: 'deny',
      all_tools: { deny_if: [{ when: 'args.dry_run == false', reason: 'only dry runs today' }] },
      tools: { apps_update: { deny_if: [{ when: 'args.dry_run == false', reason: 'own rule' }] } },
    });
    expect(decide(p, facts('apps_update', { dry_run: false }))).toMatchObject({
      outcome: 'blocked',
      rule: '/all_tools/deny_if/0/when',
      reason: 'only dry runs today',
    });
    expect(decide(p, facts('apps_update', { dry_run: true })).outcome).toBe('allow');
  });

  it("all_tools limits come before the tool's own, and both apply", () => {
    const p = policy({
      default: 'deny',
      all_tools: { limits: [{ counter: 'everything', max: 100, window: 'hour', scope: 'global' }] },
      tools: { apps_list: { limits: [{ max: 5, window: 'minute' }] } },
    });
    const d = decide(p, facts('apps_list'));
    expect(d.outcome).toBe('allow');
    const limits = d.outcome === 'allow' ? d.limits : [];
    expect(limits.map((l) => [l.counter, l.limit.max, l.limit.windowSeconds, l.limit.scope])).toEqual([
      ['everything', 100, 3600, 'global'],
      ['apps_list_rate', 5, 60, 'grant'],
    ]);
  });

  it('all_tools does not rescue an unlisted tool from default deny', () => {
    const p = policy({ default: 'deny', all_tools: { limits: [{ max: 1, window: 1 }] } });
    expect(decide(p, facts('apps_list'))).toMatchObject({ outcome: 'blocked', rule: '/default' });
  });
});

describe('CEL conditions over the arguments', () => {
  const p = policy({
    default: 'deny',
    tools: {
      refund: {
        deny_if: [{ when: 'args.amount > 100', reason: 'Refunds over 100 need a person.' }],
        require: [{ when: 'has(args.customer_id)', reason: 'Say which customer.' }],
      },
      audiences_update: { require: [{ when: "args.app_id.startsWith('test-')" }] },
    },
  });

  it('deny_if blocks when its expression is true and passes when false', () => {
    expect(decide(p, facts('refund', { amount: 101, customer_id: 'c1' }))).toEqual({
      outcome: 'blocked',
      kind: 'deny',
      rule: '/tools/refund/deny_if/0/when',
      reason: 'Refunds over 100 need a person.',
    });
    expect(decide(p, facts('refund', { amount: 100, customer_id: 'c1' })).outcome).toBe('allow');
  });

  it('require blocks when its expression is false, with its reason', () => {
    expect(decide(p, facts('refund', { amount: 5 }))).toMatchObject({
      outcome: 'blocked',
      rule: '/tools/refund/require/0/when',
      reason: 'Say which customer.',
    });
  });

  it('a require without a reason names the expression it needed', () => {
    const d = decide(p, facts('audiences_update', { app_id: 'prod-1' }));
    expect(d).toMatchObject({ outcome: 'blocked', rule: '/tools/audiences_update/require/0/when' });
    expect((d as { reason: string }).reason).toContain("args.app_id.startsWith('test-')");
    expect(decide(p, facts('audiences_update', { app_id: 'test-1' })).outcome).toBe('allow');
  });

  it('conditions see tool, grant and session as well as args', () => {
    const q = policy({
      default: 'deny',
      tools: {
        apps_list: {
          require: [
            {
              when: "grant.labels.team == 'web' && tool.server == 'piwik-pro' && session.id == 's-1' && tool.name == 'apps_list'",
            },
          ],
        },
      },
    });
    expect(decide(q, facts('apps_list')).outcome).toBe('allow');
    expect(
      decide(q, facts('apps_list', {}, { grant: { name: 'x', agent: 'x', labels: { team: 'ops' } } })).outcome,
    ).toBe('blocked');
  });

  it('a condition that errors at run time blocks the call, and the reason names its path', () => {
    // `amount` is missing: the expression cannot be evaluated, so the call must not pass.
    const d = decide(p, facts('refund', { customer_id: 'c1' }));
    expect(d).toMatchObject({ outcome: 'blocked', kind: 'deny', rule: '/tools/refund/deny_if/0/when' });
    expect((d as { reason: string }).reason).toContain('/tools/refund/deny_if/0/when');
    // A wrong type fails the same way.
    const e = decide(p, facts('refund', { amount: 'lots', customer_id: 'c1' }));
    expect(e).toMatchObject({ outcome: 'blocked', rule: '/tools/refund/deny_if/0/when' });
  });

  it('a condition that gives something other than true or false blocks', () => {
    const q = policy({ default: 'allow', tools: { t: { require: [{ when: 'args.n' }] } } });
    const d = decide(q, facts('t', { n: 1 }));
    expect(d).toMatchObject({ outcome: 'blocked', rule: '/tools/t/require/0/when' });
    expect((d as { reason: string }).reason).toContain('/tools/t/require/0/when');
  });

  it('a cost expression that errors blocks, naming the cost expression', () => {
    const q = policy({
      default: 'deny',
      tools: { pay: { limits: [{ max: 1000, window: 'day', cost: 'args.amount' }] } },
    });
    const ok = decide(q, facts('pay', { amount: 250 }));
    expect(ok.outcome === 'allow' && ok.limits[0]?.cost).toBe(250);
    const d = decide(q, facts('pay', {}));
    expect(d).toMatchObject({ outcome: 'blocked', rule: '/tools/pay/limits/0' });
    expect((d as { reason: string }).reason).toContain('/tools/pay/limits/0/cost');
  });

  it('a cost that is not a number (null, "", " ", [], false, "50", [50]) blocks the call instead of costing 0 or being read as a number', () => {
    const q = policy({
      default: 'deny',
      tools: { pay: { limits: [{ max: 100, window: 'hour', cost: 'args.amount' }] } },
    });
    for (const amount of [null, '', ' ', [], [[]], false, '0x0', '50', [50], '5e1', -1])
      expect(decide(q, facts('pay', { amount })).outcome, JSON.stringify(amount)).toBe('blocked');
    const n = decide(q, facts('pay', { amount: 60 }));
    expect(n.outcome === 'allow' && n.limits[0]?.cost).toBe(60);
    const int = policy({ default: 'deny', tools: { pay: { limits: [{ max: 100, window: 'hour', cost: '7' }] } } });
    const seven = decide(int, facts('pay', {}));
    expect(seven.outcome === 'allow' && seven.limits[0]?.cost).toBe(7);
  });

  it('limits naming one counter keep its entries as long as the longest of their windows (an unnamed counter keeps its own)', () => {
    const p = policy({
      default: 'deny',
      tools: {
        send_email: {
          limits: [
            { counter: 'outbound', max: 100, window: 'second' },
            { max: 9, window: 'minute' },
          ],
        },
        send_bulk: { limits: [{ counter: 'outbound', max: 5, window: 'day' }] },
      },
    });
    const email = decide(p, facts('send_email'));
    expect(email.outcome === 'allow' && email.limits.map((l) => l.limit.counterWindowSeconds)).toEqual([86_400, 60]);
  });

  it('a limit applies only when its `when` holds, and `key` splits its counter by value', () => {
    const q = policy({
      default: 'deny',
      tools: { pay: { limits: [{ max: 3, window: 'minute', when: 'args.amount > 10', key: 'args.customer_id' }] } },
    });
    const small = decide(q, facts('pay', { amount: 5, customer_id: 'c1' }));
    expect(small.outcome === 'allow' && small.limits).toEqual([]);
    const big = decide(q, facts('pay', { amount: 50, customer_id: 'c1' }));
    expect(big.outcome === 'allow' && big.limits.map((l) => [l.counter, l.keyValue, l.cost])).toEqual([
      ['pay_rate', 'c1', 1],
    ]);
  });

  it('a key whose value is an object names one counter whatever the order of its fields, and one nested too deeply blocks', () => {
    const q = policy({ default: 'deny', tools: { pay: { limits: [{ max: 3, window: 'minute', key: 'args.to' }] } } });
    const keyOf = (to: unknown) => {
      const d = decide(q, facts('pay', { to }));
      return d.outcome === 'allow' ? d.limits[0]!.keyValue : d.outcome;
    };
    expect(keyOf({ bank: 'b1', account: 'a1' })).toBe(keyOf({ account: 'a1', bank: 'b1' }));
    expect(keyOf({ bank: 'b1', account: 'a1' })).not.toBe(keyOf({ bank: 'b1', account: 'a2' }));
    expect(keyOf([{ y: 1, x: 2 }])).toBe('[{"x":2,"y":1}]');
    let deep: unknown = 'end';
    for (let i = 0; i < 100; i++) deep = { d: deep };
    expect(keyOf(deep)).toBe('blocked');
  });
});

describe('approval', () => {
  it('action require_approval blocks with kind approval_required', () => {
    const p = policy({
      default: 'deny',
      tools: { audiences_delete: { action: 'require_approval', reason: 'A person must agree.' } },
    });
    expect(decide(p, facts('audiences_delete'))).toEqual({
      outcome: 'blocked',
      kind: 'approval_required',
      rule: '/tools/audiences_delete',
      reason: 'A person must agree.',
    });
  });

  it('approval_if holds only the calls whose expression is true', () => {
    const p = policy({ default: 'deny', tools: { refund: { approval_if: [{ when: 'args.amount > 500' }] } } });
    expect(decide(p, facts('refund', { amount: 900 }))).toMatchObject({
      outcome: 'blocked',
      kind: 'approval_required',
      rule: '/tools/refund/approval_if/0/when',
    });
    expect(decide(p, facts('refund', { amount: 20 })).outcome).toBe('allow');
  });

  it('deny comes before approval: a denied call is not held for approval', () => {
    const p = policy({
      default: 'deny',
      tools: { refund: { action: 'require_approval', deny_if: [{ when: 'args.amount > 1000', reason: 'too much' }] } },
    });
    expect(decide(p, facts('refund', { amount: 5000 }))).toMatchObject({ kind: 'deny', reason: 'too much' });
    expect(decide(p, facts('refund', { amount: 50 }))).toMatchObject({ kind: 'approval_required' });
  });
});

describe('shadow mode (enforce: false)', () => {
  const p = policy({
    default: 'deny',
    enforce: false,
    hide: ['apps_*'],
    tools: {
      audiences_delete: { action: 'deny', reason: 'Deleting audiences is not allowed.' },
      refund: { action: 'require_approval' },
      audiences_create: { limits: [{ max: 30, window: 'minute' }] },
    },
  });

  it('a call the policy would deny is allowed, with the denial it would have made reported', () => {
    expect(decide(p, facts('audiences_delete'))).toEqual({
      outcome: 'allow',
      rule: '/tools/audiences_delete',
      limits: [],
      shadowed: {
        outcome: 'blocked',
        kind: 'deny',
        rule: '/tools/audiences_delete',
        reason: 'Deleting audiences is not allowed.',
      },
    });
  });

  it('default deny and approvals are reported, not enforced', () => {
    expect(decide(p, facts('tags_list'))).toMatchObject({
      outcome: 'allow',
      shadowed: { kind: 'deny', rule: '/default' },
    });
    expect(decide(p, facts('refund'))).toMatchObject({
      outcome: 'allow',
      shadowed: { kind: 'approval_required', rule: '/tools/refund' },
    });
  });

  it('a hidden tool stays visible and callable, and the decision names the hide rule', () => {
    expect(decide(p, facts('apps_list'))).toMatchObject({ outcome: 'allow', rule: '/hide' });
    expect(listable(p, 'apps_list')).toBe(true);
    expect(listable(p, 'audiences_delete')).toBe(true);
  });

  it('a would-be hidden tool, resource or prompt is reported as shadowed "hidden" with the rule that hides it', () => {
    const q = policy({
      default: 'allow',
      enforce: false,
      hide: ['apps_*'],
      tools: { internal_reindex: { action: 'hide' } },
      resources: { 'secret://*': { action: 'hide' } },
      prompts: { debug: { action: 'hide' } },
    });
    // By a `hide` pattern: the shadowed decision is exactly what an enforced policy decides.
    expect(decide(q, facts('apps_list'))).toEqual({
      outcome: 'allow',
      rule: '/hide',
      limits: [],
      shadowed: { outcome: 'hidden', rule: '/hide' },
    });
    expect(decide({ ...q, enforce: true }, facts('apps_list'))).toEqual({ outcome: 'hidden', rule: '/hide' });
    // By a rule's `action: hide`, for each subject.
    expect(decide(q, facts('internal_reindex'))).toEqual({
      outcome: 'allow',
      rule: '/tools/internal_reindex',
      limits: [],
      shadowed: { outcome: 'hidden', rule: '/tools/internal_reindex' },
    });
    expect(decide(q, facts('secret://keys', {}, { subject: 'resource' }))).toMatchObject({
      outcome: 'allow',
      shadowed: { outcome: 'hidden', rule: '/resources/secret:~1~1*' },
    });
    expect(decide(q, facts('debug', {}, { subject: 'prompt' }))).toMatchObject({
      outcome: 'allow',
      shadowed: { outcome: 'hidden', rule: '/prompts/debug' },
    });
    // Still listed: shadow mode never takes anything away from the agent.
    expect(listable(q, 'apps_list')).toBe(true);
    expect(listable(q, 'internal_reindex')).toBe(true);
    expect(listableEntry(q, 'resource', 'secret://keys')).toBe(true);
    // A tool the policy would allow carries no shadowed decision.
    expect(decide(q, facts('tags_list'))).toEqual({ outcome: 'allow', rule: '/default', limits: [] });
  });

  it('an allowed call keeps its limits, so what the limits would do can be recorded', () => {
    const d = decide(p, facts('audiences_create'));
    expect(d.outcome).toBe('allow');
    expect(d.outcome === 'allow' && d.limits.map((l) => l.limit.max)).toEqual([30]);
    expect(d.outcome === 'allow' && d.shadowed).toBeUndefined();
  });
});

describe('rate_limit shorthand', () => {
  it('becomes one sliding limit with scope session, counter <tool>_rate', () => {
    const p = policy({ default: 'deny', tools: { apps_list: { rate_limit: { max: 10, window: 60 } } } });
    const d = decide(p, facts('apps_list'));
    expect(d.outcome).toBe('allow');
    const limits = d.outcome === 'allow' ? d.limits : [];
    expect(limits).toHaveLength(1);
    expect(limits[0]).toMatchObject({
      counter: 'apps_list_rate',
      cost: 1,
      limit: { max: 10, windowSeconds: 60, scope: 'session', algorithm: 'sliding' },
    });
  });

  it("is added after the rule's own limits, and accepts duration text", () => {
    const p = policy({
      default: 'deny',
      tools: {
        apps_list: { limits: [{ counter: 'reads', max: 100, window: 'hour' }], rate_limit: { max: 10, window: '2m' } },
      },
    });
    const d = decide(p, facts('apps_list'));
    const limits = d.outcome === 'allow' ? d.limits : [];
    expect(limits.map((l) => [l.counter, l.limit.scope, l.limit.windowSeconds])).toEqual([
      ['reads', 'grant', 3600],
      ['apps_list_rate', 'session', 120],
    ]);
  });
});

describe('listable', () => {
  const p = policy({
    default: 'deny',
    hide: ['apps_*'],
    tools: {
      audiences_create: { limits: [{ max: 30, window: 'minute' }] },
      audiences_delete: { action: 'deny', reason: 'no' },
      audiences_update: { action: 'require_approval' },
      'tags_*': { deny_if: [{ when: 'args.x == 1' }] },
      'tracker_*': { action: 'hide' },
      apps_list: {},
    },
  });

  it('lists allowed tools, limited ones, conditional ones and ones that need approval', () => {
    for (const name of ['audiences_create', 'audiences_update', 'tags_list'])
      expect(listable(p, name), name).toBe(true);
  });

  it('does not list hidden, denied, or (under default deny) unmatched tools', () => {
    for (const name of ['apps_list', 'apps_delete', 'audiences_delete', 'tracker_settings_app_get', 'versions_list']) {
      expect(listable(p, name), name).toBe(false);
    }
  });

  it('under default allow an unmatched tool is listed; under all_tools deny nothing is', () => {
    expect(listable(policy({ default: 'allow' }), 'anything')).toBe(true);
    expect(listable(policy({ default: 'allow', all_tools: { action: 'deny' } }), 'anything')).toBe(false);
  });

  it('a category rule decides an unmatched tool when the category is known', () => {
    const q = policy({ default: 'deny', categories: { read: {}, destructive: { action: 'deny' } } });
    expect(listable(q, 'apps_list', 'read')).toBe(true);
    expect(listable(q, 'apps_delete', 'destructive')).toBe(false);
    expect(listable(q, 'apps_list')).toBe(false);
  });
});

describe('validation at load', () => {
  it('a valid policy file of the hosted-gateway format loads', () => {
    const p = loadPolicy({
      version: '1',
      default: 'deny',
      tools: {
        audiences_create: { limits: [{ counter: 'audiences_create_rate', window: 'minute', max: 30, scope: 'grant' }] },
      },
    });
    expect(p.default).toBe('deny');
    expect(p.tools.exact.get('audiences_create')?.limits[0]).toMatchObject({
      counter: 'audiences_create_rate',
      windowSeconds: 60,
      max: 30,
    });
  });

  it('reports several schema problems at once, each at its JSON path', () => {
    const problems = problemsOf({
      version: '1',
      default: 'maybe',
      hide: ['apps_[x'],
      tools: { t: { limits: [{ max: -1, window: 'fortnight' }], action: 'block' } },
    });
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/default',
        '/hide/0',
        '/tools/t/limits/0/max',
        '/tools/t/limits/0/window',
        '/tools/t/action',
      ]),
    );
  });

  it('reports every invalid CEL expression at its JSON path', () => {
    const problems = problemsOf({
      version: '1',
      default: 'deny',
      all_tools: { require: [{ when: 'args.x ==' }] },
      tools: { t: { deny_if: [{ when: 'args.amount >' }], limits: [{ max: 5, window: 60, cost: '1 +' }] } },
    });
    expect(problems.map((p) => p.path).sort()).toEqual([
      '/all_tools/require/0/when',
      '/tools/t/deny_if/0/when',
      '/tools/t/limits/0/cost',
    ]);
    for (const p of problems) expect(p.message).toMatch(/CEL/);
  });

  it('a bad window and a bad CEL expression in one policy are both reported', () => {
    const problems = problemsOf({
      version: '1',
      default: 'deny',
      tools: { t: { limits: [{ max: 1, window: 'fortnight' }], deny_if: [{ when: 'args.amount >' }] } },
    });
    expect(problems.map((p) => p.path).sort()).toEqual(['/tools/t/deny_if/0/when', '/tools/t/limits/0/window']);
  });

  it('the error message lists every problem with its path', () => {
    try {
      loadPolicy({ version: '2', default: 'deny', tools: { t: { rate_limit: { max: 0, window: 60 } } } });
      expect.unreachable('the policy should have been refused');
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyError);
      expect((err as Error).message).toContain('/version');
      expect((err as Error).message).toContain('/tools/t/rate_limit/max');
    }
  });
});
