// Proves that every key of the policy file (DESIGN section 1) is accepted and parsed into the one
// normalised form: windows and timeouts in seconds, on_deny as reason, rate_limit as a session limit,
// defaults filled in, CEL kept as text; and that parsing a normalised policy again changes nothing.
import { describe, expect, it } from 'vitest';
import { parsePolicy, type Policy } from '../../src/policy/schema.js';

function parsed(value: unknown): Policy {
  const result = parsePolicy(value);
  if (!result.ok) throw new Error(`expected a valid policy, got ${JSON.stringify(result.problems, null, 2)}`);
  return result.policy;
}

const EMPTY_RULE = { action: 'allow', deny_if: [], require: [], approval_if: [], limits: [], redact: [] };

const FULL = {
  $schema: '../schema/policy.schema.json',
  version: '1',
  default: 'deny',
  enforce: false,
  hide: ['internal_*', 'debug_{a,b}'],
  all_tools: { deny_if: [{ when: 'args.size() > 50', reason: 'Too many arguments.' }] },
  categories: {
    read: {},
    write: { limits: [{ max: 100, window: 'hour' }] },
    execute: { action: 'require_approval', approval: { timeout: '10m', mode: 'retry', remember: 'session' } },
    destructive: { action: 'deny', on_deny: 'Destructive tools are off.' },
    financial: { approval_if: [{ when: 'args.amount > 100' }], approval: { notify: ['finance'], remember: '1d' } },
  },
  tools: {
    audiences_create: { limits: [{ counter: 'audiences_create_rate', window: 'minute', max: 30, scope: 'grant' }] },
    'refund_?': {
      require: [{ when: "grant.labels.team == 'billing'" }],
      limits: [
        {
          max: 1000,
          window: '1d',
          counter: 'refund_amount',
          scope: 'agent',
          key: 'args.customer_id',
          cost: 'args.amount',
          when: 'args.amount > 0',
          algorithm: 'calendar',
        },
      ],
      redact: ['card.number'],
    },
    send_email: { rate_limit: { max: 10, window: 60 }, reason: 'Slow down.' },
  },
  resources: { 'file:///etc/*': { action: 'deny' } },
  prompts: { '[a-c]*': { action: 'hide' } },
};

describe('parsePolicy normalises', () => {
  it('the example policy of the design document', () => {
    const policy = parsed({
      version: '1',
      default: 'deny',
      tools: {
        audiences_create: { limits: [{ counter: 'audiences_create_rate', window: 'minute', max: 30, scope: 'grant' }] },
      },
    });
    expect(policy).toEqual({
      version: '1',
      default: 'deny',
      enforce: true,
      hide: [],
      categories: {},
      tools: {
        audiences_create: {
          ...EMPTY_RULE,
          limits: [{ counter: 'audiences_create_rate', window: 60, max: 30, scope: 'grant', algorithm: 'sliding' }],
        },
      },
      resources: {},
      prompts: {},
    });
  });

  it('a policy using every key, keeping CEL expressions as text', () => {
    const policy = parsed(FULL);
    expect(policy).not.toHaveProperty('$schema');
    expect(policy.enforce).toBe(false);
    expect(policy.hide).toEqual(['internal_*', 'debug_{a,b}']);
    expect(policy.all_tools?.deny_if).toEqual([{ when: 'args.size() > 50', reason: 'Too many arguments.' }]);
    expect(policy.categories.write?.limits[0]).toMatchObject({ max: 100, window: 3600, scope: 'grant' });
    expect(policy.categories.execute?.approval).toEqual({
      timeout: 600,
      mode: 'retry',
      remember: 'session',
      notify: [],
    });
    expect(policy.categories.financial?.approval).toEqual({ mode: 'hold', remember: 86_400, notify: ['finance'] });
    expect(policy.tools['refund_?']?.limits[0]).toEqual({ ...FULL.tools['refund_?'].limits[0], window: 86_400 });
    expect(policy.tools['refund_?']?.redact).toEqual(['card.number']);
    expect(policy.resources['file:///etc/*']?.action).toBe('deny');
    expect(policy.prompts['[a-c]*']?.action).toBe('hide');
  });

  it('on_deny into reason', () => {
    expect(parsed(FULL).categories.destructive).toEqual({
      ...EMPTY_RULE,
      action: 'deny',
      reason: 'Destructive tools are off.',
    });
  });

  it('accepts on_deny and reason together when they say the same', () => {
    const policy = parsed({ version: '1', default: 'allow', tools: { x: { reason: 'No.', on_deny: 'No.' } } });
    expect(policy.tools.x?.reason).toBe('No.');
  });

  it('rate_limit into a sliding limit with scope session, after the rule’s own limits', () => {
    const policy = parsed({
      version: '1',
      default: 'allow',
      tools: { t: { limits: [{ max: 1, window: 'second' }], rate_limit: { max: 10, window: '2h' } } },
    });
    expect(policy.tools.t?.limits).toEqual([
      { max: 1, window: 1, scope: 'grant', algorithm: 'sliding' },
      { max: 10, window: 7200, scope: 'session', algorithm: 'sliding' },
    ]);
    expect(policy.tools.t).not.toHaveProperty('rate_limit');
  });

  it('a single hide pattern into a list, and version 1 written as a number into "1"', () => {
    const policy = parsed({ version: 1, default: 'allow', hide: '*' });
    expect([policy.version, policy.hide]).toEqual(['1', ['*']]);
  });

  it.each([
    ['second', 1],
    ['minute', 60],
    ['hour', 3600],
    ['day', 86_400],
    [45, 45],
    ['90s', 90],
    ['10m', 600],
    ['2h', 7200],
    ['1d', 86_400],
  ])('window %j into %i seconds', (window, seconds) => {
    const policy = parsed({ version: '1', default: 'allow', tools: { t: { limits: [{ max: 1, window }] } } });
    expect(policy.tools.t?.limits[0]?.window).toBe(seconds);
  });

  it('to a fixed point: a normalised policy parses to itself', () => {
    const once = parsed(FULL);
    expect(parsed(once)).toEqual(once);
  });
});
