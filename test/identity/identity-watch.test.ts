// The watch over what grants hold open, on a real grant registry and SQLite state store: it ends
// what a revoked grant holds and leaves the rest; a watch that is stopped for a closed stream is
// gone; an end that asks to be kept is asked again; a check asked for while one runs (a revocation
// made after that one read the store) runs once more; and when the store cannot be read, the stored
// grants are left as they were (and the failure logged) while an expired grant still ends.
import { afterEach, describe, expect, it } from 'vitest';
import { IdentityWatch } from '../../src/identity/identity-watch.js';
import { GrantRegistry, hashToken, type Identity } from '../../src/identity/grants.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { tempDir, type TempDir } from '../helpers/gateway.js';

let home: TempDir | undefined;
afterEach(() => home?.remove());

/** A registry over a fresh SQLite store holding `stored` grants, and a config grant that expired. */
async function setup(stored: string[]) {
  home = tempDir('gatehouse-identity-watch-');
  const store = new SqliteStore(`${home.path}/state.db`);
  for (const name of stored)
    await store.createGrant({
      name,
      token_hash: hashToken(`token-${name}`),
      agent: name,
      servers: ['fx'],
      labels: {},
      created: Date.now(),
    });
  const registry = new GrantRegistry(
    { lapsed: { token: 'token-lapsed', servers: ['fx'], labels: {}, expires: '2020-01-01' } },
    () => undefined,
    store,
  );
  const identity = async (name: string): Promise<Identity> => {
    const outcome = await registry.authenticate(`Bearer token-${name}`, Date.parse('2019-06-01'));
    if (!outcome.ok) throw new Error(outcome.reason);
    return outcome.identity;
  };
  const logged: string[] = [];
  const watch = new IdentityWatch(
    (ids) => registry.refusalsNow(ids),
    (m) => logged.push(m),
    3_600_000,
  );
  return { store, registry, identity, watch, logged };
}

describe('IdentityWatch', () => {
  it('ends what a revoked grant holds, leaves another grant, and forgets a stream closed first', async () => {
    const { store, identity, watch } = await setup(['alice', 'bob', 'carol']);
    const ended: string[] = [];
    const end = (who: string) => (reason: string) => void ended.push(`${who}: ${reason}`);
    const alice = await identity('alice');
    const bob = await identity('bob');
    const carol = await identity('carol');
    watch.watch(() => alice, end('alice'));
    watch.watch(() => bob, end('bob'));
    const closedFirst = watch.watch(() => carol, end('carol'));
    expect(watch.size).toBe(3);
    closedFirst();
    expect(watch.size).toBe(2);
    await store.revokeGrant('bob', Date.now());
    await store.revokeGrant('carol', Date.now());
    await watch.check();
    expect(ended).toEqual(['bob: The grant "bob" has been revoked.']);
    expect(watch.size).toBe(1);
    watch.stop();
    await store.close();
  });

  it('an end that asks to be kept is watched still and asked again; one that does not is asked once', async () => {
    const { store, identity, watch } = await setup(['dave']);
    const dave = await identity('dave');
    let asked = 0;
    let once = 0;
    watch.watch(
      () => dave,
      () => {
        asked++;
        return 'keep';
      },
    );
    watch.watch(
      () => dave,
      () => void once++,
    );
    await store.revokeGrant('dave', Date.now());
    await watch.check();
    await watch.check();
    expect({ asked, once, size: watch.size }).toEqual({ asked: 2, once: 1, size: 1 });
    watch.stop();
    await store.close();
  });

  it('a check asked for while one is running runs again after it, and sees a grant revoked in between', async () => {
    const { store, registry, identity } = await setup(['frank']);
    const frank = await identity('frank');
    let reads = 0;
    let release!: () => void;
    const firstReadHeld = new Promise<void>((r) => (release = r));
    const watch = new IdentityWatch(
      async (ids) => {
        const answer = await registry.refusalsNow(ids);
        // The first check has read the store (frank in force) and is held here.
        if (++reads === 1) await firstReadHeld;
        return answer;
      },
      () => undefined,
      3_600_000,
    );
    const ended: string[] = [];
    watch.watch(
      () => frank,
      (reason) => void ended.push(reason),
    );
    const first = watch.check();
    await store.revokeGrant('frank', Date.now());
    const second = watch.check();
    release();
    await Promise.all([first, second]);
    expect({ reads, ended }).toEqual({ reads: 2, ended: ['The grant "frank" has been revoked.'] });
    watch.stop();
    await store.close();
  });

  it('when the store cannot be read, stored grants stay as they were and the failure is logged; an expired grant still ends', async () => {
    const { store, identity, watch, logged } = await setup(['erin']);
    const erin = await identity('erin');
    const lapsed = await identity('lapsed');
    const ended: string[] = [];
    watch.watch(
      () => erin,
      () => void ended.push('erin'),
    );
    watch.watch(
      () => lapsed,
      (reason) => void ended.push(reason),
    );
    await store.close();
    await watch.check();
    expect(ended).toEqual(['The grant "lapsed" has expired.']);
    expect(watch.size).toBe(1);
    expect(logged).toEqual([
      expect.stringMatching(/^could not check the grants of open streams: .+; trying again later$/),
    ]);
    watch.stop();
  });
});
