// Proves that the native evaluation of common CEL shapes answers exactly as cel-js does: on random
// variables (missing fields, wrong types, NaN, -0, BigInts, lone surrogates, Maps, objects with
// their own `constructor` or `__proto__` key, a missing `args`), every expression's result, or its
// error message, is the same with the native evaluation as with cel-js alone; and the native
// evaluation does answer (it is not always handing over to cel-js) for well-typed variables.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileCel, type CelVars } from '../../src/policy/cel.js';
import { UNDECIDED } from '../../src/policy/cel-fast.js';
import { loadPolicy } from '../../src/policy/compile.js';
import { decide, type CallFacts, type Decision } from '../../src/policy/decide.js';

/** Shapes the native evaluation covers, and a few it covers only in part. */
const EXPRESSIONS = [
  'has(args.sudo) && args.sudo == true',
  'args.amount > 1000',
  'args.amount > 1000.5',
  'args.limit <= 50',
  'args.amount >= -5',
  'args.amount < -2.5',
  '3 < args.amount',
  'args.x < "m"',
  'args.environment == "production"',
  'args.x != "a"',
  'args.x == 3',
  'args.x != 3',
  'args.x == 2.5',
  'args.x == true',
  'args.x != false',
  'args.region in ["eu-west-1", "eu-central-1", "us-east-1"]',
  'args.x in [1, 2, 3]',
  'args.x in [1.5, 2.0]',
  'args.x in [true]',
  'size(args.recipients) > 5',
  'size(args.query) <= 4',
  'args.query.size() < 3',
  '2 < size(args.x)',
  'size(args.x) == 2',
  'grant.labels.team in ["ops", "platform"]',
  'args.force == true && grant.agent != "ci"',
  'args.path.startsWith("/etc/") || args.path.contains("..")',
  'args.path.endsWith(".json")',
  'args.amount <= 250 || grant.labels.tier == "gold"',
  'has(tool.category) && tool.category == "write"',
  'has(tool.annotations) && tool.name == "a"',
  '!has(args.x)',
  '!(args.x > 2)',
  'args.meta.source == "agent"',
  'has(args.meta.source)',
  'args["x"] == "a"',
  'tool.annotations.readOnlyHint == true',
  'has(grant.labels.team)',
  'session.id.endsWith("1")',
  'tool.server == args.x',
  'args.x',
  'args.amount',
  'args.meta.attempt >= 2',
  'args.x == 9007199254740993',
  'args.x != 9007199254740993',
  'args.x > 9007199254740992',
  'args.__proto__',
  'args["__proto__"]',
  'has(args.__proto__)',
  'has(args.meta.__proto__)',
  'grant.agent',
  'tool.category',
  'has(tool.category)',
  'session.id',
];

const KEYS = [
  'sudo',
  'amount',
  'limit',
  'x',
  'environment',
  'region',
  'recipients',
  'query',
  'force',
  'path',
  'meta',
  '__proto__',
];

/** Values of every kind a JSON body gives, and a few a JSON body cannot. */
const primitive = fc.oneof(
  fc.constantFrom('production', 'eu-west-1', 'us-east-1', 'a', 'm', '/etc/passwd', '../x.json', 'agent', '', 'ops'),
  fc.string({ maxLength: 6, unit: 'binary' }),
  fc.constantFrom('😀', '\ud800', 'a\udc00b', 'é'),
  fc.integer({ min: -5, max: 2000 }),
  fc.double(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 2.5, 1000.5, 1.5, 3, 2 ** 53, 2n ** 53n, 2n ** 53n + 1n),
  fc.bigInt({ min: -5n, max: 2000n }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
);

/** An object with exactly these own keys, `__proto__` and `constructor` included. */
function own(entries: [string, unknown][], proto: object | null = Object.prototype): Record<string, unknown> {
  const o = Object.create(proto) as Record<string, unknown>;
  for (const [k, v] of entries)
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    primitive,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(primitive, { maxLength: 8 }),
    fc
      .array(
        fc.tuple(
          fc.constantFrom('source', 'attempt', 'readOnlyHint', 'team', 'constructor', '__proto__'),
          tie('value'),
        ),
        {
          maxLength: 3,
        },
      )
      .map((e) => own(e)),
    fc.constantFrom(new Map([['source', 'agent']]), new Set(['a']), new Date(0), () => 1),
  ),
}));

/** A field's value: anything, or a nested object of the fields the expressions read. */
const field = fc.oneof(
  value,
  fc.record({ source: primitive, attempt: primitive, readOnlyHint: primitive }).map((r) => own(Object.entries(r))),
);

const map = (keys: string[]): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.array(fc.tuple(fc.constantFrom(...keys), field), { maxLength: 5 }).map((e) => own(e)) },
    // Flat objects: each field present or not, of any primitive type (undefined included).
    {
      weight: 4,
      arbitrary: fc
        .record(Object.fromEntries(keys.map((k) => [k, primitive])), { requiredKeys: [] })
        .map((r) => own(Object.entries(r))),
    },
    {
      weight: 1,
      arbitrary: fc.array(fc.tuple(fc.constantFrom(...keys), field), { maxLength: 3 }).map((e) => own(e, null)),
    },
    {
      weight: 1,
      arbitrary: fc.array(fc.tuple(fc.constantFrom(...keys), field), { maxLength: 3 }).map((e) => new Map(e)),
    },
    { weight: 1, arbitrary: fc.constantFrom(undefined, null, 'args', [1], own([['constructor', 'x']])) },
  );

const vars: fc.Arbitrary<CelVars> = fc.record({
  args: map(KEYS),
  tool: fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        name: fc.constantFrom('a', 'b'),
        server: fc.constantFrom('a', 'srv'),
        category: fc.constantFrom(undefined, 'write', 'read', 5),
        risk: fc.constantFrom(undefined, 'high'),
        annotations: fc.oneof(map(['readOnlyHint']), fc.constant(Object.freeze({}))),
      }),
    },
    { weight: 1, arbitrary: fc.constantFrom(undefined, 'tool', new Map()) },
  ),
  grant: fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        name: fc.constantFrom('ci', 'bot'),
        agent: fc.constantFrom('ci', 'cursor', 7 as unknown as string),
        labels: map(['team', 'tier']) as fc.Arbitrary<Record<string, string>>,
      }),
    },
    { weight: 1, arbitrary: fc.constantFrom(undefined, own([['agent', 'ci']]), own([['constructor', 1]])) },
  ),
  session: fc.oneof(fc.record({ id: fc.constantFrom('s-1', 's-2', 3 as unknown as string) }), fc.constant(undefined)),
  now: fc.constant(new Date('2026-03-01T12:00:00Z')),
}) as fc.Arbitrary<CelVars>;

/** Values compared as CEL compares results: NaN equals NaN here, -0 differs from 0. */
function same(a: unknown, b: unknown): boolean {
  return Object.is(a, b);
}

describe('native CEL evaluation', () => {
  it('has a native evaluation for every shape listed here', () => {
    for (const source of EXPRESSIONS) expect(compileCel(source, '/x').native, source).toBeDefined();
  });

  it('gives the same value or the same error as cel-js alone, for every expression and random variables', () => {
    const compiled = EXPRESSIONS.map((s) => ({
      s,
      native: compileCel(s, '/x'),
      interpreted: compileCel(s, '/x', { native: false }),
    }));
    const answered = new Map<string, number>();
    fc.assert(
      fc.property(vars, (v) => {
        for (const { s, native, interpreted } of compiled) {
          if (native.native!(v) !== UNDECIDED) answered.set(s, (answered.get(s) ?? 0) + 1);
          const want = interpreted.evaluate(v);
          const got = native.evaluate(v);
          if (want.ok !== got.ok) throw new Error(`${s}: cel-js ${JSON.stringify(want)}, native ${String(got.ok)}`);
          if (want.ok && got.ok && !same(want.value, got.value))
            throw new Error(`${s}: cel-js gives ${String(want.value)}, native gives ${String(got.value)}`);
          if (!want.ok && !got.ok) expect(got.error, s).toBe(want.error);
        }
      }),
      { numRuns: 2000 },
    );
    // Each expression was answered natively for some of the inputs, not only handed to cel-js.
    expect(EXPRESSIONS.filter((s) => !answered.get(s))).toEqual([]);
  });

  it('answers natively, without cel-js, for well-typed variables of the benchmark shapes', () => {
    const v: CelVars = {
      args: {
        sudo: false,
        amount: 12.5,
        limit: 10,
        environment: 'staging',
        region: 'eu-west-1',
        path: '/srv/a.json',
        recipients: ['a@b'],
        query: 'error',
        force: false,
      },
      tool: { name: 'a', server: 's', category: undefined, risk: undefined, annotations: {} },
      grant: { name: 'ci', agent: 'cursor', labels: { team: 'ops', tier: 'gold' } },
      session: { id: 's-1' },
      now: new Date(0),
    };
    const answers = Object.fromEntries(
      [
        'has(args.sudo) && args.sudo == true',
        'args.amount > 1000',
        'args.limit <= 50',
        'args.environment == "production"',
        'args.region in ["eu-west-1", "us-east-1"]',
        'size(args.recipients) > 5',
        'size(args.query) <= 64',
        'grant.labels.team in ["ops", "platform"]',
        'args.force == true && grant.agent != "ci"',
        'args.path.startsWith("/etc/") || args.path.contains("..")',
        'args.amount <= 250 || grant.labels.tier == "gold"',
        'has(tool.category)',
      ].map((s) => [s, compileCel(s, '/x').native!(v)]),
    );
    expect(answers).toEqual({
      'has(args.sudo) && args.sudo == true': false,
      'args.amount > 1000': false,
      'args.limit <= 50': true,
      'args.environment == "production"': false,
      'args.region in ["eu-west-1", "us-east-1"]': true,
      'size(args.recipients) > 5': false,
      'size(args.query) <= 64': true,
      'grant.labels.team in ["ops", "platform"]': true,
      'args.force == true && grant.agent != "ci"': false,
      'args.path.startsWith("/etc/") || args.path.contains("..")': false,
      'args.amount <= 250 || grant.labels.tier == "gold"': true,
      'has(tool.category)': false,
    });
  });

  it('hands a missing field and a wrong type to cel-js, whose error blocks with its message', () => {
    const c = compileCel('args.amount > 1000', '/tools/pay/deny_if/0/when');
    const base: CelVars = {
      args: {},
      tool: { name: 'a', server: 's', annotations: {} },
      grant: { name: 'ci', agent: 'ci', labels: {} },
      session: { id: 's' },
      now: new Date(0),
    };
    expect(c.native!(base)).toBe(UNDECIDED);
    expect(c.evaluate(base)).toEqual({ ok: false, error: 'No such key: amount' });
    const wrong = { ...base, args: { amount: '5000' } };
    expect(c.native!(wrong)).toBe(UNDECIDED);
    expect(c.evaluate(wrong).ok).toBe(false);
  });

  it('leaves expressions it does not cover to cel-js entirely', () => {
    for (const s of [
      'now > timestamp("2020-01-01T00:00:00Z")',
      'args.x.all(y, y > 1)',
      'args.a + 1 > 2',
      'args.x ? true : false',
    ])
      expect(compileCel(s, '/x').native, s).toBeUndefined();
  });

  it('leaves every decision of a policy the same as with cel-js alone, reasons and limit requests included', () => {
    const doc = {
      version: '1',
      default: 'deny',
      all_tools: { deny_if: [{ when: 'has(args.sudo) && args.sudo == true', reason: 'No sudo.' }] },
      tools: {
        pay: {
          deny_if: [{ when: 'args.amount > 1000' }, { when: 'args.environment == "production"' }],
          require: [{ when: 'args.amount <= 250 || grant.labels.tier == "gold"' }],
          limits: [{ max: 5, window: 'hour', key: 'args.x', cost: 'args.amount', when: 'args.amount > 0' }],
        },
        send: {
          require: [{ when: 'size(args.query) <= 4' }, { when: 'args.region in ["eu-west-1", "us-east-1"]' }],
          approval_if: [{ when: 'size(args.recipients) > 2' }],
        },
        'file_*': { deny_if: [{ when: 'args.path.startsWith("/etc/") || args.path.contains("..")' }] },
      },
    };
    const native = loadPolicy(doc);
    const interpreted = loadPolicy(doc, { native: false });
    const summary = (d: Decision) =>
      d.outcome === 'allow' ? { ...d, limits: d.limits.map((l) => ({ ...l, limit: l.limit.path })) } : d;
    fc.assert(
      fc.property(fc.constantFrom('pay', 'send', 'file_read', 'other'), vars, (name, v) => {
        const call: CallFacts = {
          subject: 'tool',
          name,
          server: 's',
          args: v.args,
          grant: v.grant,
          session: { id: 's-1' },
          now: v.now,
        };
        expect(summary(decide(native, call))).toEqual(summary(decide(interpreted, call)));
      }),
      { numRuns: 1500 },
    );
  });
});
