// Proves that no CEL condition can hold the gateway on an agent's arguments: nested comprehensions
// stop at a deadline and block the call, `matches` runs in linear time (RE2, the syntax the CEL
// specification names), and conditions of ordinary cost answer as before.
import { describe, expect, it } from 'vitest';
import { BUDGET_ERROR } from '../../src/policy/cel-budget.js';
import { compileCel, type CelVars } from '../../src/policy/cel.js';
import { loadPolicy, PolicyError } from '../../src/policy/compile.js';
import { decide } from '../../src/policy/decide.js';

function vars(args: Record<string, unknown>): CelVars {
  return {
    args,
    tool: { name: 't', server: 's' },
    grant: { name: 'g', agent: 'a', labels: {} },
    session: { id: 'x' },
    now: new Date(0),
  };
}

/** Three nested comprehensions: 64 million steps over 400 items, minutes of work for cel-js. */
const CUBIC = 'args.l.all(x, args.l.all(y, args.l.all(z, x == y && y == z)))';
const SAME_400 = Array.from({ length: 400 }, () => 1);

describe('CEL evaluation cost', () => {
  it('stops nested comprehensions over a long list with an error instead of running them out', () => {
    const cel = compileCel(CUBIC, '/when');
    expect(cel.evaluate(vars({ l: SAME_400 }))).toEqual({ ok: false, error: BUDGET_ERROR });
  });

  it('does not let CEL absorb the stop: a costly side of || still fails the evaluation', () => {
    const cel = compileCel(`${CUBIC} || true`, '/when');
    expect(cel.evaluate(vars({ l: SAME_400 }))).toEqual({ ok: false, error: BUDGET_ERROR });
  });

  it('blocks the call whose condition was stopped, naming why', () => {
    const policy = loadPolicy({ version: '1', default: 'allow', tools: { t: { deny_if: [{ when: CUBIC }] } } });
    const v = vars({ l: SAME_400 });
    const d = decide(policy, { subject: 'tool', name: 't', server: 's', ...v, tool: undefined } as never);
    expect(d).toMatchObject({ outcome: 'blocked', rule: '/tools/t/deny_if/0/when' });
    expect(d.outcome === 'blocked' ? d.reason : '').toContain(BUDGET_ERROR);
  });

  it("shares one budget among a call's costly conditions, however many the policy has", () => {
    // 400 conditions of 10,000 steps each: each one alone well inside 50 ms (a few ms, also on a
    // slow machine under load), all of them together more than a second.
    const each = 'args.l.all(x, args.l.all(y, x == y))';
    const cel = compileCel(each, '/when');
    const alone = cel.evaluate(vars({ l: Array.from({ length: 100 }, () => 1) }));
    expect(alone).toEqual({ ok: true, value: true });
    const policy = loadPolicy({
      version: '1',
      default: 'allow',
      tools: { t: { deny_if: Array.from({ length: 400 }, () => ({ when: `!${each}` })) } },
    });
    const v = vars({ l: Array.from({ length: 100 }, () => 1) });
    const d = decide(policy, { subject: 'tool', name: 't', server: 's', ...v, tool: undefined } as never);
    expect(d.outcome).toBe('blocked');
    expect(d.outcome === 'blocked' ? d.reason : '').toContain(BUDGET_ERROR);
  });

  it('answers comprehensions of ordinary cost exactly, before and after a stopped one', () => {
    const cases: [string, Record<string, unknown>, unknown][] = [
      ['args.l.all(x, x > 0.0)', { l: [1, 2, 3] }, true],
      ['args.l.exists(x, x > 2.0)', { l: [1, 2, 3] }, true],
      ['args.l.exists_one(x, x > 1.0)', { l: [1, 2, 3] }, false],
      ['args.l.map(x, x * 2.0)', { l: [1, 2] }, [2, 4]],
      ['args.l.filter(x, x != 2.0)', { l: [1, 2, 3] }, [1, 3]],
      ['args.m.all(k, k.startsWith("a"))', { m: { ab: 1, ac: 2 } }, true],
      ['args.items.all(i, i in args.allowed)', { items: ['a', 'b'], allowed: ['b', 'a', 'c'] }, true],
    ];
    const check = () => {
      for (const [source, args, value] of cases)
        expect(compileCel(source, '/when').evaluate(vars(args)), source).toEqual({ ok: true, value });
    };
    check();
    expect(compileCel(CUBIC, '/when').evaluate(vars({ l: SAME_400 })).ok).toBe(false);
    check();
  });

  it('keeps the errors of a comprehension that is not stopped', () => {
    const r = compileCel('args.l.all(x, x > 0.0)', '/when').evaluate(vars({ l: ['a'] }));
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.error).not.toBe(BUDGET_ERROR);
  });
});

describe('matches()', () => {
  it('answers a pattern that backtracks exponentially by going on in the linear-time engine', () => {
    // `^(a+)+$` against "aaa…a!" takes a backtracking engine 2^n steps: 30 of them are minutes.
    const cel = compileCel("args.s.matches('^(a+)+$')", '/when');
    expect(cel.evaluate(vars({ s: `${'a'.repeat(30)}!` }))).toEqual({ ok: true, value: false });
    expect(cel.evaluate(vars({ s: `${'a'.repeat(5000)}!` }))).toEqual({ ok: true, value: false });
    expect(cel.evaluate(vars({ s: 'aaaa' }))).toEqual({ ok: true, value: true });
  });

  it('does the same for a pattern the call sends', () => {
    const cel = compileCel('args.s.matches(args.p)', '/when');
    expect(cel.evaluate(vars({ s: `${'a'.repeat(5000)}!`, p: '^(a|aa)+$' }))).toEqual({ ok: true, value: false });
  });

  it('runs a pattern from the call in the linear-time engine, whose backtracking V8 would not count', () => {
    // `a?` 40 times then `a` 40 times against 39 a's: 2^40 steps backtracking, none of them counted
    // towards V8's fallback.
    const cel = compileCel('args.s.matches(args.p)', '/when');
    const n = 40;
    expect(cel.evaluate(vars({ s: 'a'.repeat(n - 1), p: 'a?'.repeat(n) + 'a'.repeat(n) }))).toEqual({
      ok: true,
      value: false,
    });
  });

  it('fails a match with a pattern from the call over a text too long for it', () => {
    const cel = compileCel('args.s.matches(args.p)', '/when');
    const r = cel.evaluate(vars({ s: 'x'.repeat(200_000), p: 'a'.repeat(10) }));
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.error).toContain('too costly');
    expect(cel.evaluate(vars({ s: 'x'.repeat(50_000) + 'abc', p: 'b.$' }))).toEqual({ ok: true, value: true });
  });

  it('refuses a pattern from the call that only the backtracking engine can run', () => {
    const cel = compileCel('args.s.matches(args.p)', '/when');
    for (const p of ['^(a+)+\\1$', '(?=a)a', '[a-z]{1000}']) {
      const r = cel.evaluate(vars({ s: 'aaaa', p }));
      expect(r.ok, p).toBe(false);
      expect(r.ok ? '' : r.error).toContain('could backtrack for ever');
    }
  });

  it("keeps an operator's literal pattern that needs backtracking, and stops the matches after it at the deadline", () => {
    // A back-reference: the operator's pattern runs on the backtracking engine, 2^24 steps here.
    const slow = "args.s.matches('^(a+)+\\\\1$')";
    const once = compileCel(slow, '/when');
    expect(once.evaluate(vars({ s: 'aaaa' }))).toEqual({ ok: true, value: true });
    // Four such matches ran one after another; now the first past the deadline ends the evaluation.
    const four = compileCel([slow, slow, slow, slow].join(' || '), '/when');
    expect(four.evaluate(vars({ s: `${'a'.repeat(24)}!` }))).toEqual({ ok: false, error: BUDGET_ERROR });
  });

  it('keeps JavaScript semantics: . does not match a carriage return, \\s matches a vertical tab', () => {
    const dot = compileCel("args.url.matches('^https://example\\\\.com/.*$')", '/when');
    expect(dot.evaluate(vars({ url: 'https://example.com/a\rX-Injected: 1' }))).toEqual({ ok: true, value: false });
    const space = compileCel("args.cmd.matches('rm\\\\s+-rf')", '/when');
    expect(space.evaluate(vars({ cmd: 'rm\u000b-rf' }))).toEqual({ ok: true, value: true });
    expect(space.evaluate(vars({ cmd: 'rm\u00a0-rf' }))).toEqual({ ok: true, value: true });
  });

  it('refuses at load an invalid literal pattern, with its path', () => {
    let problems: { path: string; message: string }[] = [];
    try {
      loadPolicy({
        version: '1',
        default: 'deny',
        tools: { t: { deny_if: [{ when: "args.s.matches('(unclosed')" }] } },
      });
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      problems = err.problems;
    }
    expect(problems).toEqual([
      expect.objectContaining({
        path: '/tools/t/deny_if/0/when',
        message: expect.stringContaining('invalid regular expression'),
      }),
    ]);
  });

  it('fails the evaluation on an invalid pattern from the call', () => {
    const r = compileCel('args.s.matches(args.p)', '/when').evaluate(vars({ s: 'aa', p: '(a' }));
    expect(r.ok).toBe(false);
  });

  it('leaves a value that is not a string to cel-js, which reports it', () => {
    const r = compileCel("args.n.matches('1')", '/when').evaluate(vars({ n: 1 }));
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.error).toContain('no matching overload');
  });
});
