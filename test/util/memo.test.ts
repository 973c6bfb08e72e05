// The bounded memo behind the per-call lookups: one computation per key, an answer of undefined
// remembered like any other, and never more keys than its limit.
import { describe, expect, it } from 'vitest';
import { remember } from '../../src/util/memo.js';

describe('remember', () => {
  it('computes each key once, undefined answers included', () => {
    const memo = new Map<string, number | undefined>();
    const seen: string[] = [];
    const compute = (k: string): number | undefined => (seen.push(k), k === 'none' ? undefined : k.length);
    expect(remember(memo, 10, 'abc', compute)).toBe(3);
    expect(remember(memo, 10, 'abc', compute)).toBe(3);
    expect(remember(memo, 10, 'none', compute)).toBeUndefined();
    expect(remember(memo, 10, 'none', compute)).toBeUndefined();
    expect(seen).toEqual(['abc', 'none']);
  });

  it('holds at most its limit of keys', () => {
    const memo = new Map<number, number>();
    for (let i = 0; i < 25; i++) remember(memo, 10, i, (k) => k * 2);
    expect(memo.size).toBeLessThanOrEqual(10);
    expect(remember(memo, 10, 24, () => -1)).toBe(48);
  });

  it('computes a key longer than its bound every time and keeps none of it', () => {
    const memo = new Map<string, number>();
    let computed = 0;
    const long = 'k'.repeat(300);
    for (let i = 0; i < 3; i++) remember(memo, 10, long, (k) => (computed++, k.length));
    expect(computed).toBe(3);
    expect(memo.size).toBe(0);
    expect(remember(memo, 10, long, (k) => k.length, 300)).toBe(300);
    expect(memo.size).toBe(1);
  });
});
