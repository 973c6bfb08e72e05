// Proves that CEL conditions are checked against the variables a policy can use when the policy
// loads: an unknown variable, a misspelt field of tool/grant/session, or an expression of the wrong
// type is a load error naming the expression's JSON path — not a surprise on the first call.
import { describe, expect, it } from 'vitest';
import { loadPolicy, PolicyError } from '../../src/policy/compile.js';

function problemsOf(policy: unknown): { path: string; message: string }[] {
  try {
    loadPolicy(policy);
    return [];
  } catch (err) {
    if (err instanceof PolicyError) return err.problems;
    throw err;
  }
}

describe('CEL checks at load', () => {
  it('accepts conditions over args, tool, grant, session and now', () => {
    const problems = problemsOf({
      version: '1',
      default: 'deny',
      all_tools: { deny_if: [{ when: 'tool.risk == "critical" && grant.labels.env == "prod"' }] },
      tools: {
        refund: {
          deny_if: [{ when: 'args.amount > 10000' }],
          require: [{ when: 'session.id != "" && now.getHours() >= 0' }],
          limits: [
            {
              max: 500,
              window: 'day',
              key: 'args.customer_id',
              cost: 'args.amount',
              when: 'tool.category == "financial"',
            },
          ],
        },
      },
    });
    expect(problems).toEqual([]);
  });

  it('reports an unknown variable with the path of its expression', () => {
    const problems = problemsOf({
      version: '1',
      default: 'deny',
      tools: { t: { deny_if: [{ when: 'user.admin == true' }] } },
    });
    expect(problems).toEqual([
      expect.objectContaining({
        path: '/tools/t/deny_if/0/when',
        message: expect.stringContaining('Unknown variable: user'),
      }),
    ]);
  });

  it('reports a misspelt field of tool with its path', () => {
    const problems = problemsOf({
      version: '1',
      default: 'deny',
      tools: { t: { limits: [{ max: 1, window: 60, when: 'tool.catgory == "write"' }] } },
    });
    expect(problems).toEqual([
      expect.objectContaining({ path: '/tools/t/limits/0/when', message: expect.stringContaining('catgory') }),
    ]);
  });

  it('reports a type error with its path', () => {
    const problems = problemsOf({ version: '1', default: 'deny', tools: { t: { require: [{ when: '"a" + 1' }] } } });
    expect(problems).toEqual([
      expect.objectContaining({
        path: '/tools/t/require/0/when',
        message: expect.stringContaining('no such overload'),
      }),
    ]);
  });
});
