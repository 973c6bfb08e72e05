// Proves how a watched input_required round settles: the claim in the state store decides
// whether its record is written (a retry anywhere claimed it first: no record), a store that
// cannot answer keeps the record rather than lose it, the timer settles it by itself (for a state
// that opens for weeks, only after that, past setTimeout's 24.8-day limit), a retry's mark outlasts
// such a state for a watcher on another replica, past a cap the oldest round's record is written at
// once (its state left unclaimed for a retry),
// and a gateway that stops leaves its rounds unclaimed for a retry after the restart.
import { describe, expect, it, vi } from 'vitest';
import type { AuditLog, AuditRecord } from '../../src/audit/record.js';
import { STATE_CLAIM_TTL_MS } from '../../src/gateway/relay.js';
import { UNANSWERED_AFTER_MS, UnansweredRounds } from '../../src/gateway/unanswered-rounds.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { sleep, waitUntil } from '../helpers/wait.js';
import { makeRecord } from '../audit/make-record.js';

function collecting(): AuditLog & { written: AuditRecord[] } {
  const written: AuditRecord[] = [];
  return { written, write: (r) => void written.push(r), flush: async () => {}, close: async () => {} };
}

describe('unanswered input_required rounds', () => {
  it('writes the record of a round nobody claimed, and not of one a retry claimed', async () => {
    const store = new MemoryStore();
    const audit = collecting();
    const observed: AuditRecord[] = [];
    const rounds = new UnansweredRounds(store, audit, (r) => observed.push(r));
    rounds.watch('left', makeRecord({ tool: 'left' }));
    rounds.watch('retried', makeRecord({ tool: 'retried' }));
    // The retry claims its state, as PolicyGate.claimRetry does.
    expect(await store.claimOnce('rs:retried', 60_000, Date.now())).toBe(true);
    await rounds.settleAll();
    expect(audit.written.map((r) => [r.tool, r.outcome])).toEqual([['left', 'input_required']]);
    expect(observed).toEqual(audit.written);
    // Its state is claimed now: a late retry would be refused as used.
    expect(await store.claimOnce('rs:left', 60_000, Date.now())).toBe(false);
    expect(rounds.size).toBe(0);
    await store.close();
  });

  it('writes no record for a round whose retry came, here or on another replica, even if it never claimed', async () => {
    const store = new MemoryStore();
    const audit = collecting();
    const here = new UnansweredRounds(store, audit, undefined);
    here.watch('local', makeRecord({ tool: 'local' }));
    here.watch('remote', makeRecord({ tool: 'remote' }));
    // A retry here that ended before its claim (an unknown tool, a hidden one, the store down)…
    here.retried('local');
    expect(here.size).toBe(1);
    // …and one that reached another replica, which marks what it saw in the shared store.
    new UnansweredRounds(store, collecting(), undefined).retried('remote');
    await sleep(10);
    await here.settleAll();
    expect(audit.written).toEqual([]);
    await store.close();
  });

  it("sees a quick retry's claim even when the watcher runs minutes late", async () => {
    const store = new MemoryStore();
    const audit = collecting();
    const t0 = Date.now();
    // The retry claimed its state 20 ms after the round; the watcher runs five minutes late.
    expect(await store.claimOnce('rs:n', STATE_CLAIM_TTL_MS, t0 + 20)).toBe(true);
    const rounds = new UnansweredRounds(store, audit, undefined, () => t0 + UNANSWERED_AFTER_MS + 5 * 60_000);
    rounds.watch('n', makeRecord({ tool: 't' }));
    await rounds.settleAll();
    expect(audit.written).toEqual([]);
    await store.close();
  });

  it('keeps the record when the state store cannot say whether a retry came', async () => {
    const audit = collecting();
    const down = { claimOnce: () => Promise.reject(new Error('store down')) };
    const rounds = new UnansweredRounds(down, audit, undefined);
    rounds.watch('n', makeRecord({ tool: 't' }));
    await rounds.settleAll();
    expect(audit.written.map((r) => r.outcome)).toEqual(['input_required']);
  });

  it('settles a round by itself when its time is up', async () => {
    const audit = collecting();
    const store = new MemoryStore();
    const rounds = new UnansweredRounds(store, audit, undefined, Date.now, 20);
    rounds.watch('n', makeRecord({ tool: 't' }));
    await waitUntil(() => audit.written.length === 1, 5_000);
    expect(rounds.size).toBe(0);
    await store.close();
  });

  it('waits for a state that opens for 30 days (an approval question) until it has stopped opening', async () => {
    vi.useFakeTimers();
    try {
      const audit = collecting();
      const store = new MemoryStore();
      const rounds = new UnansweredRounds(store, audit, undefined);
      const day = 86_400_000;
      rounds.watch('n', makeRecord({ tool: 't' }), Date.now() + 30 * day);
      await vi.advanceTimersByTimeAsync(29 * day);
      expect({ written: audit.written.length, size: rounds.size }).toEqual({ written: 0, size: 1 });
      await vi.advanceTimersByTimeAsync(day + UNANSWERED_AFTER_MS);
      expect(audit.written.map((r) => r.outcome)).toEqual(['input_required']);
      await store.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it("a retry's mark outlasts a long-lived state, for a watcher on another replica that looks after it expires", async () => {
    const store = new MemoryStore();
    const t0 = Date.now();
    const expires = t0 + 7 * 86_400_000;
    new UnansweredRounds(store, collecting(), undefined, () => t0).retried('n', expires);
    await sleep(10);
    const audit = collecting();
    // It looks a minute after the state stopped opening, and runs five minutes late.
    const late = new UnansweredRounds(store, audit, undefined, () => expires + 6 * 60_000);
    late.watch('n', makeRecord({ tool: 't' }), expires);
    await late.settleAll();
    expect(audit.written).toEqual([]);
    late.close();
    await store.close();
  });

  it('past its cap, writes the record of the round watched longest at once, leaving its state unclaimed for a retry', async () => {
    const audit = collecting();
    const store = new MemoryStore();
    const rounds = new UnansweredRounds(store, audit, undefined, Date.now, UNANSWERED_AFTER_MS, 2);
    for (const tool of ['first', 'second', 'third']) rounds.watch(tool, makeRecord({ tool }));
    expect(rounds.size).toBe(2);
    expect(audit.written.map((r) => [r.tool, r.outcome])).toEqual([['first', 'input_required']]);
    // Its retry may still come, and is not refused as used: it claims the state itself.
    expect(await store.claimOnce('rs:first', STATE_CLAIM_TTL_MS, Date.now())).toBe(true);
    rounds.close();
    await store.close();
  });

  it('leaves its rounds unclaimed when the gateway stops', async () => {
    const audit = collecting();
    const store = new MemoryStore();
    const rounds = new UnansweredRounds(store, audit, undefined, Date.now, 20);
    rounds.watch('n', makeRecord({ tool: 't' }));
    rounds.close();
    await sleep(60);
    expect(audit.written).toEqual([]);
    expect(await store.claimOnce('rs:n', 60_000, Date.now())).toBe(true);
    await store.close();
  });
});
