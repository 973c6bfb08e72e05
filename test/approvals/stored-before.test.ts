// Proves that approvals stored by a Gatehouse that did not yet record what they were for are held
// to today's rules: one given for a prompt (its rule under /prompts/) does not let a tool of the
// same name and arguments run, and a `remember: session` approval of a 2026-07-28 client, whose
// session key is its grant's and never ends, lasts its timeout from the answer, not for ever.
import { describe, expect, it } from 'vitest';
import type { Approval } from '../../src/approvals/approval.js';
import { ApprovalService } from '../../src/approvals/service.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { HELD_CALL } from './support.js';

const NOW = Date.parse('2026-03-02T10:00:00Z');

/** An answered approval as an earlier Gatehouse stored it: no `subject`. */
function stored(over: Partial<Approval>): Approval {
  return {
    id: `apr_${Math.random().toString(16).slice(2)}`,
    server: HELD_CALL.server,
    tool: HELD_CALL.tool,
    arguments: HELD_CALL.shownArgs,
    args_hash: HELD_CALL.argsHash,
    grant: HELD_CALL.grant,
    agent: HELD_CALL.agent,
    session: HELD_CALL.session,
    rule: HELD_CALL.rule,
    reason: HELD_CALL.reason,
    mode: 'retry',
    remember: 'none',
    notify: [],
    created: NOW - 60_000,
    expires: NOW + 540_000,
    status: 'approved',
    decided_at: NOW - 50_000,
    ...over,
  };
}

describe('approvals stored before their subject was recorded', () => {
  it('one for a prompt covers that prompt, not the tool of the same name', async () => {
    const store = new MemoryStore();
    const service = new ApprovalService(store, () => NOW);
    await store.createApproval(stored({ rule: '/prompts/delete_*', remember: 60 }));
    expect(await service.granted({ ...HELD_CALL, subject: 'tool' })).toBeUndefined();
    expect((await service.granted({ ...HELD_CALL, subject: 'prompt' }))?.rule).toBe('/prompts/delete_*');
  });

  it('remember: session of a 2026-07-28 client lasts its timeout from the answer, not for ever', async () => {
    const store = new MemoryStore();
    const session = 'principal:grant:ci-runner';
    const call = { ...HELD_CALL, subject: 'tool' as const, session };
    await store.createApproval(stored({ session, remember: 'session' }));
    // Answered 50 s ago, with a timeout of 10 minutes: still good.
    expect(await new ApprovalService(store, () => NOW).granted(call)).toBeDefined();
    // An hour later it is not.
    expect(await new ApprovalService(store, () => NOW + 3_600_000).granted(call)).toBeUndefined();
    // A legacy session's stays good for as long as that session lives.
    await store.createApproval(stored({ session: 'legacy:abc', remember: 'session' }));
    const legacy = { ...call, session: 'legacy:abc' };
    expect(await new ApprovalService(store, () => NOW + 3_600_000).granted(legacy)).toBeDefined();
  });
});
