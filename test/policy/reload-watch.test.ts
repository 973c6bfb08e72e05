// Hot reload watches each policy file itself, not its directory. This proves a file saved the way
// editors save it (a new file renamed over the old) reloads, again and again; a file deleted and
// written anew reloads; and writes to other files beside it (the state database, the spool) do not.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { PolicyReloader } from '../../src/policy/reload.js';
import { becomesTrue, sleep } from '../helpers/wait.js';

const root = mkdtempSync(join(tmpdir(), 'gatehouse-watch-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const policy = (reason: string) => JSON.stringify({ version: '1', default: 'deny', tools: { echo: { reason } } });

describe('policy file watching', () => {
  let dir: string;
  let reloader: PolicyReloader;
  const policyFile = () => join(dir, 'policy.json');

  beforeEach(async () => {
    dir = mkdtempSync(join(root, 'case-'));
    writeFileSync(policyFile(), policy('first'));
    const config = join(dir, 'gatehouse.json');
    writeFileSync(
      config,
      JSON.stringify({
        state: 'memory:',
        audit: 'none',
        servers: { fx: { command: 'true', policy: './policy.json' } },
      }),
    );
    reloader = new PolicyReloader(await loadConfig({ file: config }), {
      compile: async () => ({ servers: new Map(), grants: new Map() }),
      apply: () => [],
      log: () => undefined,
      announce: () => undefined,
    });
    reloader.start();
  });
  afterEach(() => reloader.stop());

  it('a policy saved by renaming a new file over it reloads, and so does the next such save', async () => {
    for (const reason of ['second', 'third']) {
      // Counted as "more than before": the watch and the poll (the safety net) may each see a save.
      const before = reloader.reloads;
      writeFileSync(`${policyFile()}.tmp`, policy(reason));
      renameSync(`${policyFile()}.tmp`, policyFile());
      expect(await becomesTrue(() => reloader.reloads > before)).toBe(true);
      // Past the debounce, so the next save is a change of its own.
      await sleep(300);
    }
  });

  it('a policy deleted and then written anew reloads', async () => {
    rmSync(policyFile());
    await sleep(300);
    const before = reloader.reloads;
    writeFileSync(policyFile(), policy('back'));
    expect(await becomesTrue(() => reloader.reloads > before)).toBe(true);
  });

  it('writes to other files in the same directory do not reload', async () => {
    for (let i = 0; i < 50; i++) writeFileSync(join(dir, 'state.db-wal'), `write ${i}`);
    await sleep(1_200);
    expect(reloader.reloads).toBe(0);
    writeFileSync(policyFile(), policy('edited in place'));
    expect(await becomesTrue(() => reloader.reloads > 0)).toBe(true);
  });
});
