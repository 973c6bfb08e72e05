// Proves that a policy is validated whole: every problem comes back at once, each with a JSON pointer
// to the offending key (escaped where a key holds "/" or "~") and a message that says what is expected.
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/policy/schema.js';

function problems(value: unknown) {
  const result = parsePolicy(value);
  if (result.ok) throw new Error('expected problems, the policy was accepted');
  return result.problems;
}

const base = { version: '1', default: 'deny' };
const withTool = (rule: unknown) => ({ ...base, tools: { audiences_create: rule } });

describe('parsePolicy reports', () => {
  it('a bad window at its JSON pointer, listing the accepted forms', () => {
    expect(problems(withTool({ limits: [{ max: 30, window: 'fortnight' }] }))).toEqual([
      {
        path: '/tools/audiences_create/limits/0/window',
        message:
          'expected second, minute, hour, day, a whole number of seconds, or a duration like "90s", "10m", "2h", "1d"',
      },
    ]);
  });

  it.each([0, -60, 1.5, '0s', '10 m', '1w', 'minutes', true])('window %j as a problem', (window) => {
    expect(problems(withTool({ limits: [{ max: 1, window }] })).map((p) => p.path)).toEqual([
      '/tools/audiences_create/limits/0/window',
    ]);
  });

  it('the missing required keys: version, default, and a limit’s max and window', () => {
    expect(problems({ tools: { t: { limits: [{}] } } })).toEqual([
      { path: '/version', message: 'required' },
      { path: '/default', message: 'required' },
      { path: '/tools/t/limits/0/max', message: 'required' },
      { path: '/tools/t/limits/0/window', message: 'required' },
    ]);
  });

  it('every problem of a policy in one go', () => {
    const policy = {
      version: '2',
      default: 'maybe',
      enforce: 'yes',
      hide: [''],
      categories: { dangerous: {} },
      tools: {
        a: { action: 'block', deny_if: [{ when: '' }], limits: [{ max: 0, window: 60, scope: 'tenant' }] },
        b: { rate_limit: { max: 5 }, approval: { mode: 'wait', remember: 'forever' }, redact: 'password' },
      },
      prompts: { 'p[': {} },
    };
    expect(problems(policy).map((p) => p.path)).toEqual([
      '/version',
      '/default',
      '/enforce',
      '/hide/0',
      '/categories/dangerous',
      '/tools/a/action',
      '/tools/a/deny_if/0/when',
      '/tools/a/limits/0/max',
      '/tools/a/limits/0/scope',
      '/tools/b/rate_limit/window',
      '/tools/b/approval/mode',
      '/tools/b/approval/remember',
      '/tools/b/redact',
      '/prompts/p[',
    ]);
  });

  it('an unknown key at its own path, suggesting the key that was probably meant', () => {
    expect(problems({ ...base, tool: {}, tools: { t: { limts: [] } } })).toEqual([
      { path: '/tools/t/limts', message: 'unknown key; did you mean "limits"?' },
      { path: '/tool', message: 'unknown key; did you mean "tools"?' },
    ]);
  });

  it('an unknown key with nothing close by listing the allowed keys', () => {
    expect(problems(withTool({ limits: [{ max: 1, window: 1, per: 'user' }] }))[0]?.message).toBe(
      'unknown key; allowed keys: max, window, counter, scope, key, cost, when, algorithm',
    );
  });

  it('on_deny and reason that disagree', () => {
    expect(problems(withTool({ reason: 'No.', on_deny: 'Never.' }))).toEqual([
      {
        path: '/tools/audiences_create/on_deny',
        message: 'on_deny is another name for reason and the two differ; keep only one of them',
      },
    ]);
  });

  it('an unclosed bracket in a pattern', () => {
    expect(problems({ ...base, tools: { 'get_{a,b': {} }, hide: ['[abc'] })).toEqual([
      { path: '/hide/0', message: 'pattern has an unclosed "["' },
      { path: '/tools/get_{a,b', message: 'pattern has an unclosed "{"' },
    ]);
  });

  it('keys holding "/" and "~" escaped in the pointer', () => {
    expect(problems({ ...base, resources: { 'file:///~user/*': { action: 'nope' } } })[0]?.path).toBe(
      '/resources/file:~1~1~1~0user~1*/action',
    );
  });

  it('a document that is not an object', () => {
    expect(problems(['version', '1'])).toEqual([{ path: '', message: 'expected an object, got a list' }]);
  });
});
