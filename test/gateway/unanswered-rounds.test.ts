// Proves how a watched input_required round settles: the claim in the state store decides
// whether its record is written (a retry anywhere claimed it first: no record), a store that
// cannot answer keeps the record rather than lose it, the timer settles it by itself, and a
// gateway that stops leaves its rounds unclaimed for a retry after the restart.
import { describe, expect, it } from 'vitest';
import type { AuditLog, AuditRecord } from '../../src/audit/record.js';
import { UnansweredRounds } from '../../src/gateway/unanswered-rounds.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { waitUntil } from '../helpers/wait.js';
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

  it('leaves its rounds unclaimed when the gateway stops', async () => {
    const audit = collecting();
    const store = new MemoryStore();
    const rounds = new UnansweredRounds(store, audit, undefined, Date.now, 20);
    rounds.watch('n', makeRecord({ tool: 't' }));
    rounds.close();
    await new Promise((r) => setTimeout(r, 60));
    expect(audit.written).toEqual([]);
    expect(await store.claimOnce('rs:n', 60_000, Date.now())).toBe(true);
    await store.close();
  });
});
