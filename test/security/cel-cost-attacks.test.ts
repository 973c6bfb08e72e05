// Attacks on the cost of a policy's CEL conditions: an agent sends arguments that make an honest
// condition run for minutes (nested comprehensions over a long list) or a pattern backtrack for
// ever (`matches`). Against a real gateway in both eras: the call is blocked with the reason, the
// upstream never receives it, and the gateway goes on answering.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FS_POLICY,
  httpDriver,
  isBlocked,
  receivedCalls,
  startHarness,
  textOf,
  toolCall,
  within,
  type Era,
  type Harness,
} from './support.js';

const POLICY = {
  ...FS_POLICY,
  tools: {
    ...FS_POLICY.tools,
    // Conditions an operator might write: no tag is two others joined; a path of plain letters
    // (with or without slashes) is not to be read. The pattern backtracks exponentially in a RegExp.
    write_note: { deny_if: [{ when: 'args.tags.exists(a, args.tags.exists(b, args.tags.exists(c, a + b == c)))' }] },
    read_file: { require: [{ when: "!args.path.matches('^(/?[a-z]+)+$')", reason: 'No plain paths.' }] },
  },
};

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ policies: { fs: POLICY } });
});
afterAll(async () => {
  await h?.close();
});

const calls = (name: string) => receivedCalls(h.records.fs).filter((c) => c.name === name).length;

describe.each<Era>(['modern', 'legacy'])('CEL cost through the gateway (%s client)', (era) => {
  it('blocks a call whose arguments make nested comprehensions run long, and never forwards it', async () => {
    const d = await httpDriver(h, era, false);
    try {
      const before = calls('write_note');
      const tags = Array.from({ length: 400 }, (_, i) => `t${i}`);
      const answer = await within(20_000, d.request(toolCall(era, 1, 'write_note', { tags })), 'costly call');
      expect(isBlocked(answer)).toBe(true);
      expect(JSON.stringify(answer)).toContain('too costly for this call');
      expect(calls('write_note')).toBe(before);
      // The same condition over a short list is decided as written: no sum of two tags is a tag.
      const ok = await within(10_000, d.request(toolCall(era, 2, 'write_note', { tags: ['a', 'b'] })), 'cheap call');
      expect(isBlocked(ok), textOf(ok)).toBe(false);
    } finally {
      await d.close();
    }
  });

  it('matches a pattern that backtracks exponentially in linear time, deciding the call', async () => {
    const d = await httpDriver(h, era, false);
    try {
      const before = calls('read_file');
      const path = `/${'a'.repeat(5_000)}!`;
      const answer = await within(10_000, d.request(toolCall(era, 3, 'read_file', { path })), 'pattern call');
      // Not a plain path, so the condition holds and the call is let through: it was decided.
      expect(isBlocked(answer), textOf(answer)).toBe(false);
      expect(calls('read_file')).toBe(before + 1);
    } finally {
      await d.close();
    }
  });
});
