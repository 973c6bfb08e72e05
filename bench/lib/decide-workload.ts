// The decision-engine benchmark's workload: a 1,000-rule policy and sets of calls against it,
// generated from a seed so that every run (and every machine) measures the same thing.
//
// Every generated call carries the decision it must get, worked out from how the call was built
// (which rule it was made for, which condition its arguments break), not from the engine. Glob
// calls are built so that exactly one glob matches them, checked with regexes compiled here.
import picomatch from 'picomatch';
import type { CallFacts } from '../../src/policy/decide.js';
import type { Category, PolicyInput } from '../../src/policy/schema.js';

export type Rng = () => number;

/** mulberry32: small, fast and good enough to pick names and arguments. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
function shuffle<T>(rng: Rng, list: T[]): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}

const SERVICES = [
  'github',
  'gitlab',
  'slack',
  'jira',
  'notion',
  'stripe',
  'sentry',
  's3',
  'gdrive',
  'linear',
  'zendesk',
  'hubspot',
  'postgres',
  'redis',
  'k8s',
  'confluence',
  'asana',
  'twilio',
  'sendgrid',
  'datadog',
] as const;
const VERBS = [
  'get',
  'list',
  'search',
  'create',
  'update',
  'delete',
  'archive',
  'export',
  'import',
  'sync',
  'send',
  'run',
  'read',
  'write',
  'fetch',
  'describe',
  'approve',
  'close',
  'merge',
  'tag',
] as const;
const NOUNS = [
  'issue',
  'pull_request',
  'comment',
  'file',
  'folder',
  'message',
  'channel',
  'user',
  'team',
  'invoice',
  'payment',
  'customer',
  'ticket',
  'page',
  'database',
  'record',
  'bucket',
  'object',
  'deployment',
  'pod',
  'alert',
  'event',
  'label',
  'project',
  'report',
] as const;
const QUALIFIERS = ['bulk', 'batch', 'admin', 'v2', 'legacy', 'preview', 'async', 'raw', 'summary', 'all'] as const;
/** Vendors no rule names: the home of category and default calls. */
const APPS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'vandelay', 'wonka', 'tyrell', 'cyberdyne', 'soylent'];
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const ORGS = ['acme-corp', 'platform-team', 'data-eng', 'web', 'mobile'];
const WORDS = ['error', 'timeout', 'customer', 'refund', 'deploy', 'latency', 'billing', 'login', 'retry', 'cache'];

export const HIDE = ['internal_*', '*_debug', '{admin,root}_*'];

export interface Grant {
  name: string;
  agent: string;
  labels: Record<string, string>;
}

const GRANTS: Grant[] = [
  { name: 'ci-runner', agent: 'ci', labels: { team: 'platform', tier: 'gold' } },
  { name: 'alice-laptop', agent: 'claude-desktop', labels: { team: 'ops', tier: 'silver' } },
  { name: 'sales-bot', agent: 'sales-agent', labels: { team: 'sales', tier: 'bronze' } },
  { name: 'support-desk', agent: 'cursor', labels: { team: 'support', tier: 'gold' } },
];

type Args = Record<string, unknown>;
type GrantTest = (g: Grant) => boolean;
interface ArgsFor {
  args: Args;
  grant?: GrantTest;
}

/** A kind of CEL condition, with argument generators that keep it and that break it. */
interface Template {
  id: string;
  list: 'deny_if' | 'require';
  /** What the condition reads; two conditions of one rule never read the same thing. */
  reads: string[];
  params: number[];
  when(p: number): string;
  keep(rng: Rng, p: number): ArgsFor;
  breakIt(rng: Rng, p: number): ArgsFor;
}

const money = (rng: Rng, lo: number, hi: number): number =>
  rng() < 0.5 ? int(rng, lo, hi) : Math.round((lo + rng() * (hi - lo)) * 100) / 100;
const email = (rng: Rng): string =>
  `${pick(rng, ['ana', 'bo', 'chen', 'dev', 'eli', 'fay'])}${int(rng, 1, 999)}@example.com`;
const sentence = (rng: Rng, length: number): string => {
  let s = '';
  while (s.length < length) s += `${pick(rng, WORDS)} `;
  return s.slice(0, length);
};

const TEMPLATES: Template[] = [
  {
    id: 'amount-above',
    list: 'deny_if',
    reads: ['amount'],
    params: [100, 500, 1000, 5000],
    when: (n) => `args.amount > ${n}`,
    keep: (rng, n) => ({ args: { amount: money(rng, 1, n), currency: 'eur' } }),
    breakIt: (rng, n) => ({ args: { amount: n + money(rng, 1, n), currency: 'eur' } }),
  },
  {
    id: 'page-size',
    list: 'require',
    reads: ['limit'],
    params: [50, 100, 200],
    when: (n) => `args.limit <= ${n}`,
    keep: (rng, n) => ({ args: { limit: int(rng, 1, n) } }),
    breakIt: (rng, n) => ({ args: { limit: n + int(rng, 1, 500) } }),
  },
  {
    id: 'production',
    list: 'deny_if',
    reads: ['environment'],
    params: [0],
    when: () => 'args.environment == "production"',
    keep: (rng) => ({ args: { environment: pick(rng, ['staging', 'development', 'preview']) } }),
    breakIt: () => ({ args: { environment: 'production' } }),
  },
  {
    id: 'region-in',
    list: 'require',
    reads: ['region'],
    params: [0],
    when: () => 'args.region in ["eu-west-1", "eu-central-1", "us-east-1"]',
    keep: (rng) => ({ args: { region: pick(rng, ['eu-west-1', 'eu-central-1', 'us-east-1']) } }),
    breakIt: (rng) => ({ args: { region: pick(rng, ['ap-southeast-2', 'sa-east-1']) } }),
  },
  {
    id: 'recipients',
    list: 'deny_if',
    reads: ['recipients'],
    params: [5, 10, 25],
    when: (n) => `size(args.recipients) > ${n}`,
    keep: (rng, n) => ({ args: { recipients: Array.from({ length: int(rng, 1, n) }, () => email(rng)) } }),
    breakIt: (rng, n) => ({ args: { recipients: Array.from({ length: n + int(rng, 1, 10) }, () => email(rng)) } }),
  },
  {
    id: 'query-length',
    list: 'require',
    reads: ['query'],
    params: [64, 256],
    when: (n) => `size(args.query) <= ${n}`,
    keep: (rng, n) => ({ args: { query: sentence(rng, int(rng, 5, n)) } }),
    breakIt: (rng, n) => ({ args: { query: sentence(rng, n + int(rng, 1, 200)) } }),
  },
  {
    id: 'team',
    list: 'require',
    reads: ['grant.team'],
    params: [0],
    when: () => 'grant.labels.team in ["ops", "platform"]',
    keep: () => ({ args: {}, grant: (g) => g.labels.team === 'ops' || g.labels.team === 'platform' }),
    breakIt: () => ({ args: {}, grant: (g) => g.labels.team !== 'ops' && g.labels.team !== 'platform' }),
  },
  {
    id: 'force-outside-ci',
    list: 'deny_if',
    reads: ['force', 'grant.agent'],
    params: [0],
    when: () => 'args.force == true && grant.agent != "ci"',
    keep: () => ({ args: { force: false } }),
    breakIt: () => ({ args: { force: true }, grant: (g) => g.agent !== 'ci' }),
  },
  {
    id: 'path',
    list: 'deny_if',
    reads: ['path'],
    params: [0],
    when: () => 'args.path.startsWith("/etc/") || args.path.contains("..")',
    keep: (rng) => ({ args: { path: `/srv/app/${pick(rng, WORDS)}/file${int(rng, 1, 500)}.json` } }),
    breakIt: (rng) => ({ args: { path: pick(rng, ['/etc/shadow', '/srv/app/../../etc/passwd']) } }),
  },
  {
    id: 'amount-unless-gold',
    list: 'require',
    reads: ['amount', 'grant.tier'],
    params: [250, 2000],
    when: (n) => `args.amount <= ${n} || grant.labels.tier == "gold"`,
    keep: (rng, n) => ({ args: { amount: money(rng, 1, n) } }),
    breakIt: (rng, n) => ({ args: { amount: n + money(rng, 1, n) }, grant: (g) => g.labels.tier !== 'gold' }),
  },
];

/** Everyday arguments with no bearing on the decision. */
function fillerArgs(rng: Rng): Args {
  const gens: (() => [string, unknown])[] = [
    () => ['owner', pick(rng, ORGS)],
    () => ['repo', `${pick(rng, WORDS)}-service`],
    () => ['id', `${pick(rng, NOUNS)}_${int(rng, 1000, 99999)}`],
    () => ['page', int(rng, 1, 20)],
    () => ['per_page', pick(rng, [10, 25, 50, 100])],
    () => ['labels', Array.from({ length: int(rng, 0, 4) }, () => pick(rng, WORDS))],
    () => ['body', sentence(rng, int(rng, 20, 400))],
    () => ['metadata', { source: 'agent', trace_id: int(rng, 1, 1e9).toString(16), attempt: int(rng, 1, 3) }],
    () => ['include_archived', rng() < 0.2],
  ];
  const args: Args = {};
  for (const gen of shuffle(rng, gens).slice(0, int(rng, 1, 5))) {
    const [k, v] = gen();
    args[k] = v;
  }
  return args;
}

type Action = 'allow' | 'deny' | 'require_approval' | 'hide';
type LimitInput = NonNullable<NonNullable<PolicyInput['tools']>[string]['limits']>[number];

interface CondSpec {
  template: Template;
  param: number;
  list: 'deny_if' | 'require';
  index: number;
  reason?: string;
}

interface RuleSpec {
  key: string;
  isGlob: boolean;
  action: Action;
  reason?: string;
  limits: LimitInput[];
  conditions: CondSpec[];
  /** Makes the name of a call this rule (and no other) decides, or undefined after bad luck. */
  name: (rng: Rng) => string;
  /** Extra arguments a call to this rule always carries (CEL limits read them). */
  args?: (rng: Rng) => Args;
}

export type Path = 'exact' | 'glob' | 'cel' | 'category' | 'default' | 'hidden' | 'unseen';

export interface Expected {
  outcome: 'allow' | 'blocked' | 'hidden';
  kind?: 'deny' | 'approval_required';
  rule: string;
  /** Number of limit requests an allowed call carries. */
  limits?: number;
  reason?: string;
}

export interface BenchCall {
  facts: CallFacts;
  path: Path;
  expected: Expected;
}

export interface KnownCall {
  what: string;
  facts: CallFacts;
  expected: Expected & { counter?: string; keyValue?: string; cost?: number; reasonIncludes?: string };
}

export interface CaseSpec {
  id: string;
  what: string;
  weights: Partial<Record<Path, number>>;
  /** Calls in this case, as a multiple of the calls per case. */
  scale?: number;
  /** Not part of the goal: a worst case, shown for what it costs. */
  extra?: boolean;
}

export const CASES: CaseSpec[] = [
  {
    id: 'mixed',
    what: 'exact 50%, glob 22%, CEL rules 12%, category 8%, default 6%, hidden 2%',
    weights: { exact: 50, glob: 22, cel: 12, category: 8, default: 6, hidden: 2 },
  },
  { id: 'exact', what: 'exact tool names, rules without conditions of their own', weights: { exact: 1 } },
  { id: 'glob', what: 'names only a glob matches, rules without conditions', weights: { glob: 1 } },
  { id: 'cel', what: 'rules with `deny_if`/`require` (80% of calls pass them)', weights: { cel: 1 } },
  { id: 'category', what: 'no tool entry; decided by `categories`', weights: { category: 1 } },
  { id: 'default', what: 'no tool entry, no category rule; `default: deny`', weights: { default: 1 } },
  {
    id: 'unseen',
    what: 'a different unlisted name on every call (16× the calls of a case, more names than a policy remembers): every glob is tested',
    weights: { unseen: 1 },
    scale: 16,
    extra: true,
  },
];

export interface Workload {
  policy: PolicyInput;
  stats: {
    exactRules: number;
    globRules: number;
    celRules: number;
    conditions: number;
    denyIf: number;
    require: number;
    limits: number;
    celLimits: number;
    globShapes: Record<string, number>;
  };
  calls: Record<string, BenchCall[]>;
  known: KnownCall[];
}

const escapePointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');
const GLOB_OPTIONS = { dot: true, nobrace: false, noextglob: true };

/**
 * The policy: 600 exact names and 300 globs without conditions, 100 rules with CEL conditions
 * (80 exact, 20 globs), a few limits, `all_tools` with one `deny_if`, `hide`, four categories.
 */
export function generateWorkload(seed: number, callsPerCase: number, only?: readonly string[]): Workload {
  // The policy comes from the seed; each case's calls from a seed of their own, so that a case's
  // calls are the same whichever cases a run selects.
  let rng = seededRng(seed);
  const rules: RuleSpec[] = [];
  const keys = new Set<string>();
  const add = (r: RuleSpec): void => {
    if (keys.has(r.key)) throw new Error(`duplicate key ${r.key}`);
    keys.add(r.key);
    rules.push(r);
  };
  const exactName = (key: string) => () => key;

  // Fixed rules that the known-call checks rely on.
  const payment: RuleSpec = {
    key: 'stripe_create_payment',
    isGlob: false,
    action: 'allow',
    limits: [],
    conditions: [
      {
        template: TEMPLATES[0]!,
        param: 1000,
        list: 'deny_if',
        index: 0,
        reason: 'Payments above 1000 need a person.',
      },
    ],
    name: exactName('stripe_create_payment'),
  };
  const refund: RuleSpec = {
    key: 'stripe_create_refund',
    isGlob: false,
    action: 'allow',
    limits: [
      {
        counter: 'refund_amount',
        max: 10000,
        window: 'day',
        scope: 'agent',
        key: 'args.customer_id',
        cost: 'args.amount',
        when: 'args.amount > 0',
      },
    ],
    conditions: [{ template: TEMPLATES[0]!, param: 5000, list: 'deny_if', index: 0 }],
    name: exactName('stripe_create_refund'),
    args: (r) => ({ customer_id: `cus_${int(r, 1, 400)}` }),
  };
  const sendEmail: RuleSpec = {
    key: 'sendgrid_send_message',
    isGlob: false,
    action: 'allow',
    limits: [
      { counter: 'outbound_messages', max: 500, window: 'hour', scope: 'agent', when: 'size(args.recipients) > 0' },
    ],
    conditions: [{ template: TEMPLATES[4]!, param: 25, list: 'deny_if', index: 0 }],
    name: exactName('sendgrid_send_message'),
  };
  const search: RuleSpec = {
    key: 'github_search_*',
    isGlob: true,
    action: 'allow',
    limits: [],
    conditions: [],
    name: (r) => `github_search_${pick(r, NOUNS)}s`,
  };
  const searchCode: RuleSpec = {
    key: 'github_search_code_*',
    isGlob: true,
    action: 'deny',
    reason: 'Code search is off for agents.',
    limits: [],
    conditions: [],
    name: (r) => `github_search_code_${pick(r, ['in_org', 'by_path', 'by_symbol'])}`,
  };
  for (const r of [payment, refund, sendEmail]) add(r);

  // 80 more exact names with conditions, then 600 without (a few with limits).
  const names = shuffle(
    rng,
    SERVICES.flatMap((s) => VERBS.flatMap((v) => NOUNS.map((n) => `${s}_${v}_${n}`))).filter((n) => !keys.has(n)),
  );
  const conditionsFor = (): CondSpec[] => {
    const count = rng() < 0.6 ? 1 : 2;
    const chosen: Template[] = [];
    for (const t of shuffle(rng, [...TEMPLATES])) {
      if (chosen.length === count) break;
      if (chosen.some((c) => c.reads.some((x) => t.reads.includes(x)))) continue;
      chosen.push(t);
    }
    const indexes = { deny_if: 0, require: 0 };
    return chosen.map((t) => ({
      template: t,
      param: pick(rng, t.params),
      list: t.list,
      index: indexes[t.list]++,
      ...(rng() < 0.25 ? { reason: `Blocked by the ${t.id} rule.` } : {}),
    }));
  };
  let next = 0;
  while (rules.length < 80) {
    const key = names[next++]!;
    add({
      key,
      isGlob: false,
      action: 'allow',
      ...(rng() < 0.2 ? { reason: `${key} is restricted.` } : {}),
      limits: [],
      conditions: conditionsFor(),
      name: exactName(key),
    });
  }
  const plainAction = (deny: number, approval: number, hide: number): Action => {
    const x = rng();
    return x < deny ? 'deny' : x < deny + approval ? 'require_approval' : x < deny + approval + hide ? 'hide' : 'allow';
  };
  const simpleLimits: LimitInput[][] = [
    [{ max: 30, window: 'minute' }],
    [{ counter: 'writes', max: 500, window: 'hour', scope: 'agent' }],
    [{ max: 1000, window: 'day', scope: 'global', algorithm: 'calendar' }],
    [{ max: 10, window: '90s', scope: 'session' }],
  ];
  for (let i = 0; i < 600; i++) {
    const key = names[next++]!;
    const action = plainAction(0.06, 0.03, 0.01);
    add({
      key,
      isGlob: false,
      action,
      ...(action !== 'allow' && rng() < 0.5 ? { reason: `${key} is not for agents.` } : {}),
      limits: action === 'allow' && i % 50 === 0 ? pick(rng, simpleLimits) : [],
      conditions: [],
      name: exactName(key),
    });
  }

  // 20 globs with conditions: `<service>_admin_*` (no other rule uses "admin" there).
  for (const svc of SERVICES) {
    const key = `${svc}_admin_*`;
    add({
      key,
      isGlob: true,
      action: 'allow',
      limits: [],
      conditions: conditionsFor(),
      name: (r) => `${svc}_admin_${pick(r, NOUNS)}`,
    });
  }

  // 300 globs without conditions, of four shapes.
  const shapes: Record<string, number> = { 'prefix_*': 0, '*_suffix': 0, '{a,b}_x': 0, '[abc]?_y': 0 };
  const addGlob = (shape: string, key: string, name: (r: Rng) => string): void => {
    if (keys.has(key)) return;
    const action = plainAction(0.1, 0.05, 0);
    add({
      key,
      isGlob: true,
      action,
      ...(action !== 'allow' && rng() < 0.5 ? { reason: `Tools matching ${key} are not for agents.` } : {}),
      limits: [],
      conditions: [],
      name,
    });
    shapes[shape]!++;
  };
  add(search);
  add(searchCode);
  shapes['prefix_*'] = 2;
  const globTarget = rules.length + 298;
  const shapeWeights: [string, number][] = [
    ['prefix_*', 0.4],
    ['*_suffix', 0.27],
    ['{a,b}_x', 0.2],
    ['[abc]?_y', 0.13],
  ];
  while (rules.length < globTarget) {
    let x = rng();
    const shape = shapeWeights.find(([, w]) => (x -= w) < 0)?.[0] ?? '[abc]?_y';
    if (shape === 'prefix_*') {
      const svc = pick(rng, SERVICES);
      const verb = pick(rng, VERBS);
      addGlob(shape, `${svc}_${verb}_*`, (r) =>
        r() < 0.5 ? `${svc}_${verb}_${pick(r, NOUNS)}_${pick(r, QUALIFIERS)}` : `${svc}_${verb}_${pick(r, NOUNS)}s`,
      );
    } else if (shape === '*_suffix') {
      const noun = pick(rng, NOUNS);
      const qual = pick(rng, QUALIFIERS);
      addGlob(shape, `*_${noun}_${qual}`, (r) => `${pick(r, APPS)}_${pick(r, VERBS)}_${noun}_${qual}`);
    } else if (shape === '{a,b}_x') {
      const [a, b] = shuffle(rng, [...SERVICES]);
      const verb = pick(rng, VERBS);
      const qual = pick(rng, QUALIFIERS);
      addGlob(shape, `{${a},${b}}_${verb}_${qual}`, (r) => `${r() < 0.5 ? a : b}_${verb}_${qual}`);
    } else {
      const letters = shuffle(rng, [...LETTERS])
        .slice(0, 3)
        .join('');
      const noun = pick(rng, NOUNS);
      const qual = pick(rng, QUALIFIERS);
      addGlob(
        shape,
        `[${letters}]?_${noun}_${qual}`,
        (r) => `${pick(r, [...letters])}${pick(r, [...LETTERS])}_${noun}_${qual}`,
      );
    }
  }

  // The policy document.
  const tools: NonNullable<PolicyInput['tools']> = {};
  for (const r of rules) {
    const rule: NonNullable<PolicyInput['tools']>[string] = {};
    if (r.action !== 'allow') rule.action = r.action;
    if (r.reason) rule.reason = r.reason;
    for (const c of r.conditions) {
      const list = (rule[c.list] ??= []);
      list.push({ when: c.template.when(c.param), ...(c.reason ? { reason: c.reason } : {}) });
    }
    if (r.limits.length) rule.limits = r.limits;
    if (r.conditions.length && rng() < 0.3) rule.redact = ['args.body'];
    tools[r.key] = rule;
  }
  const policy: PolicyInput = {
    version: '1',
    default: 'deny',
    hide: HIDE,
    all_tools: { deny_if: [{ when: 'has(args.sudo) && args.sudo == true', reason: 'No call may ask for sudo.' }] },
    categories: {
      read: {},
      write: { rate_limit: { max: 60, window: 60 } },
      destructive: { action: 'require_approval', reason: 'Destructive tools need a person.' },
      financial: { action: 'deny' },
    },
    tools,
  };

  // Independent matchers: which rules match a name, so that a call's expected rule is certain.
  const globRules = rules.filter((r) => r.isGlob).map((r) => ({ r, re: picomatch.makeRe(r.key, GLOB_OPTIONS) }));
  const hideRes = HIDE.map((h) => picomatch.makeRe(h, GLOB_OPTIONS));
  const exactKeys = new Set(rules.filter((r) => !r.isGlob).map((r) => r.key));
  const hidden = (name: string): boolean => hideRes.some((re) => re.test(name));
  const onlyMatch = (name: string): RuleSpec | undefined | 'several' => {
    if (exactKeys.has(name)) return rules.find((r) => r.key === name);
    const hits = globRules.filter((g) => g.re.test(name));
    return hits.length === 0 ? undefined : hits.length === 1 ? hits[0]!.r : 'several';
  };

  const now = new Date(Date.UTC(2026, 10, 25, 12, 0, 0));
  const facts = (name: string, args: Args, grant: Grant, category?: Category): CallFacts => ({
    subject: 'tool',
    name,
    server: pick(rng, ['github', 'payments', 'workspace']),
    args,
    ...(category ? { category, risk: category === 'read' ? 'low' : 'high' } : {}),
    ...(rng() < 0.3 ? { annotations: { readOnlyHint: category === 'read' } } : {}),
    grant,
    session: { id: `s-${int(rng, 1, 50)}` },
    now,
  });
  const ruleExpected = (r: RuleSpec, sudo: boolean): Expected => {
    const path = `/tools/${escapePointer(r.key)}`;
    if (r.action === 'hide') return { outcome: 'hidden', rule: path };
    if (r.action === 'deny')
      return { outcome: 'blocked', kind: 'deny', rule: path, ...(r.reason ? { reason: r.reason } : {}) };
    if (sudo)
      return {
        outcome: 'blocked',
        kind: 'deny',
        rule: '/all_tools/deny_if/0/when',
        reason: 'No call may ask for sudo.',
      };
    if (r.action === 'require_approval')
      return { outcome: 'blocked', kind: 'approval_required', rule: path, ...(r.reason ? { reason: r.reason } : {}) };
    return { outcome: 'allow', rule: path, limits: r.limits.length };
  };

  // Popularity: a few tools get most calls (Zipf, exponent 0.8, over a shuffled order).
  const zipf = <T>(items: T[]): (() => T) => {
    const order = shuffle(rng, [...items]);
    const cum: number[] = [];
    let total = 0;
    order.forEach((_, i) => cum.push((total += 1 / (i + 1) ** 0.8)));
    return () => {
      const x = rng() * total;
      let lo = 0;
      let hi = cum.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cum[mid]! < x) lo = mid + 1;
        else hi = mid;
      }
      return order[lo]!;
    };
  };
  const plainExact = zipf(rules.filter((r) => !r.isGlob && r.conditions.length === 0));
  const plainGlob = zipf(rules.filter((r) => r.isGlob && r.conditions.length === 0));
  const celRule = zipf(rules.filter((r) => r.conditions.length > 0));

  const grantFor = (tests: GrantTest[]): Grant | undefined =>
    shuffle(rng, [...GRANTS]).find((g) => tests.every((t) => t(g)));

  let unseen = 0;
  const makers: Record<Path, () => BenchCall | undefined> = {
    exact: () => {
      const r = plainExact();
      const sudo = rng() < 0.01;
      const args = { ...fillerArgs(rng), ...(sudo ? { sudo: true } : {}) };
      return { facts: facts(r.key, args, pick(rng, GRANTS)), path: 'exact', expected: ruleExpected(r, sudo) };
    },
    glob: () => {
      const r = plainGlob();
      const name = r.name(rng);
      if (hidden(name) || onlyMatch(name) !== r) return undefined;
      const sudo = rng() < 0.01;
      const args = { ...fillerArgs(rng), ...(sudo ? { sudo: true } : {}) };
      return { facts: facts(name, args, pick(rng, GRANTS)), path: 'glob', expected: ruleExpected(r, sudo) };
    },
    cel: () => {
      const r = celRule();
      const name = r.name(rng);
      if (hidden(name) || onlyMatch(name) !== r) return undefined;
      const broken = rng() < 0.2 ? pick(rng, r.conditions) : undefined;
      const args: Args = { ...fillerArgs(rng), ...r.args?.(rng) };
      const tests: GrantTest[] = [];
      for (const c of r.conditions) {
        const made = c === broken ? c.template.breakIt(rng, c.param) : c.template.keep(rng, c.param);
        Object.assign(args, made.args);
        if (made.grant) tests.push(made.grant);
      }
      const grant = grantFor(tests);
      if (!grant) return undefined;
      const path = `/tools/${escapePointer(r.key)}`;
      // An amount of 0 would switch the refund limit off; the generators never make one.
      const expected: Expected = broken
        ? {
            outcome: 'blocked',
            kind: 'deny',
            rule: `${path}/${broken.list}/${broken.index}/when`,
            ...(broken.reason ? { reason: broken.reason } : r.reason ? { reason: r.reason } : {}),
          }
        : { outcome: 'allow', rule: path, limits: r.limits.length };
      return { facts: facts(name, args, grant), path: 'cel', expected };
    },
    category: () => {
      const name = `${pick(rng, APPS)}_${pick(rng, VERBS)}_${pick(rng, NOUNS)}`;
      if (hidden(name) || onlyMatch(name) !== undefined) return undefined;
      let x = rng();
      const weights: [Category, number][] = [
        ['read', 0.45],
        ['write', 0.3],
        ['destructive', 0.15],
        ['financial', 0.1],
      ];
      const category = weights.find(([, w]) => (x -= w) < 0)?.[0] ?? 'financial';
      const rule = `/categories/${category}`;
      const expected: Expected =
        category === 'read'
          ? { outcome: 'allow', rule, limits: 0 }
          : category === 'write'
            ? { outcome: 'allow', rule, limits: 1 }
            : category === 'destructive'
              ? { outcome: 'blocked', kind: 'approval_required', rule, reason: 'Destructive tools need a person.' }
              : { outcome: 'blocked', kind: 'deny', rule };
      return { facts: facts(name, fillerArgs(rng), pick(rng, GRANTS), category), path: 'category', expected };
    },
    default: () => {
      const name = `${pick(rng, APPS)}_${pick(rng, VERBS)}_${pick(rng, NOUNS)}${rng() < 0.3 ? `_${int(rng, 2, 9)}` : ''}`;
      if (hidden(name) || onlyMatch(name) !== undefined) return undefined;
      const category = rng() < 0.4 ? ('execute' as const) : undefined;
      return {
        facts: facts(name, fillerArgs(rng), pick(rng, GRANTS), category),
        path: 'default',
        expected: { outcome: 'blocked', kind: 'deny', rule: '/default' },
      };
    },
    unseen: () => {
      const name = `${pick(rng, APPS)}_${pick(rng, VERBS)}_${pick(rng, NOUNS)}_${++unseen}`;
      if (hidden(name) || onlyMatch(name) !== undefined) return undefined;
      return {
        facts: facts(name, fillerArgs(rng), pick(rng, GRANTS)),
        path: 'unseen',
        expected: { outcome: 'blocked', kind: 'deny', rule: '/default' },
      };
    },
    hidden: () => {
      const name = pick(rng, [
        `internal_${pick(rng, VERBS)}_${pick(rng, NOUNS)}`,
        `${pick(rng, SERVICES)}_${pick(rng, NOUNS)}_debug`,
        `${pick(rng, ['admin', 'root'])}_${pick(rng, VERBS)}_${pick(rng, NOUNS)}`,
      ]);
      if (!hidden(name)) return undefined;
      return {
        facts: facts(name, fillerArgs(rng), pick(rng, GRANTS)),
        path: 'hidden',
        expected: { outcome: 'hidden', rule: '/hide' },
      };
    },
  };
  const make = (path: Path): BenchCall => {
    for (let attempt = 0; attempt < 1000; attempt++) {
      const call = makers[path]();
      if (call) return call;
    }
    throw new Error(`could not generate a ${path} call`);
  };

  const calls: Record<string, BenchCall[]> = {};
  for (const [index, c] of CASES.entries()) {
    if (only && !only.includes(c.id)) continue;
    rng = seededRng((Math.imul(seed, 7919) + Math.imul(index + 1, 104729)) >>> 0);
    const entries = Object.entries(c.weights) as [Path, number][];
    const total = entries.reduce((s, [, w]) => s + w, 0);
    calls[c.id] = Array.from({ length: callsPerCase * (c.scale ?? 1) }, () => {
      let x = rng() * total;
      return make(entries.find(([, w]) => (x -= w) < 0)?.[0] ?? entries[entries.length - 1]![0]);
    });
  }

  rng = seededRng((Math.imul(seed, 7919) + 1) >>> 0);
  const alice = GRANTS[1]!;
  const known: KnownCall[] = [
    {
      what: 'a payment of 2500 is denied by its deny_if, with its reason',
      facts: facts('stripe_create_payment', { amount: 2500, currency: 'eur' }, alice),
      expected: {
        outcome: 'blocked',
        kind: 'deny',
        rule: '/tools/stripe_create_payment/deny_if/0/when',
        reason: 'Payments above 1000 need a person.',
      },
    },
    {
      what: 'a payment of 25 is allowed',
      facts: facts('stripe_create_payment', { amount: 25, currency: 'eur' }, alice),
      expected: { outcome: 'allow', rule: '/tools/stripe_create_payment', limits: 0 },
    },
    {
      what: 'a payment without an amount is blocked: the condition fails, and the engine fails closed',
      facts: facts('stripe_create_payment', { currency: 'eur' }, alice),
      expected: {
        outcome: 'blocked',
        kind: 'deny',
        rule: '/tools/stripe_create_payment/deny_if/0/when',
        reasonIncludes: 'could not be evaluated',
      },
    },
    {
      what: 'a refund asks for its limit with the key and cost its CEL gives',
      facts: facts('stripe_create_refund', { customer_id: 'cus_42', amount: 120 }, alice),
      expected: {
        outcome: 'allow',
        rule: '/tools/stripe_create_refund',
        limits: 1,
        counter: 'refund_amount',
        keyValue: 'cus_42',
        cost: 120,
      },
    },
    {
      what: 'the longest literal glob wins: github_search_code_in_org is denied by github_search_code_*',
      facts: facts('github_search_code_in_org', {}, alice),
      expected: {
        outcome: 'blocked',
        kind: 'deny',
        rule: '/tools/github_search_code_*',
        reason: 'Code search is off for agents.',
      },
    },
    {
      what: 'github_search_issues is allowed by github_search_*',
      facts: facts('github_search_issues', { query: 'label:bug' }, alice),
      expected: { outcome: 'allow', rule: '/tools/github_search_*', limits: 0 },
    },
    {
      what: 'all_tools denies a call that asks for sudo',
      facts: facts('stripe_create_payment', { amount: 5, sudo: true }, alice),
      expected: { outcome: 'blocked', kind: 'deny', rule: '/all_tools/deny_if/0/when' },
    },
    {
      what: 'an unlisted tool is denied by the default',
      facts: facts('acme_frobnicate_widget', {}, alice),
      expected: { outcome: 'blocked', kind: 'deny', rule: '/default' },
    },
    {
      what: 'an unlisted destructive tool needs approval through its category',
      facts: facts('acme_drop_table', {}, alice, 'destructive'),
      expected: { outcome: 'blocked', kind: 'approval_required', rule: '/categories/destructive' },
    },
    {
      what: 'internal_reindex is hidden',
      facts: facts('internal_reindex', {}, alice),
      expected: { outcome: 'hidden', rule: '/hide' },
    },
  ];

  const conditions = rules.flatMap((r) => r.conditions);
  return {
    policy,
    stats: {
      exactRules: rules.filter((r) => !r.isGlob).length,
      globRules: rules.filter((r) => r.isGlob).length,
      celRules: rules.filter((r) => r.conditions.length > 0).length,
      conditions: conditions.length,
      denyIf: conditions.filter((c) => c.list === 'deny_if').length,
      require: conditions.filter((c) => c.list === 'require').length,
      limits: rules.reduce((s, r) => s + r.limits.length, 0) + 1,
      celLimits: rules.reduce((s, r) => s + r.limits.filter((l) => l.key || l.cost || l.when).length, 0),
      globShapes: shapes,
    },
    calls,
    known,
  };
}
