// Proves the `audit` config key: the sink URL alone and the object form both parse into one
// normalised object with every default (redacted arguments, 30 days, 10000 queued records, the
// spool on for database sinks); the
// sink defaults to the state's SQLite file; relative file sinks are resolved against the config's
// folder; and wrong values are reported at their path with what would be right.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/validate.js';

const servers = { mem: { command: 'npx' } };
const audit = (value: unknown) => {
  const r = validateConfig({ servers, ...(value === undefined ? {} : { audit: value }) });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config.audit;
};
const problems = (value: unknown) => {
  const r = validateConfig({ servers, audit: value });
  return r.ok ? [] : r.problems;
};
const DEFAULTS = { arguments: 'redacted', retention: 30 * 86_400, queue_max: 10_000 };
// The spool is on by default for the database sinks, off for a file or none.
const ON = { ...DEFAULTS, spool: 'on' };
const OFF = { ...DEFAULTS, spool: 'off' };

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-audit-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the audit key', () => {
  it('takes a sink URL alone and fills the defaults', () => {
    expect(audit('jsonl:/var/log/audit.jsonl')).toEqual({ sink: 'jsonl:/var/log/audit.jsonl', ...OFF });
    expect(audit('none')).toEqual({ sink: 'none', ...OFF });
    expect(audit('postgres://gatehouse@db/audit')).toEqual({ sink: 'postgres://gatehouse@db/audit', ...ON });
  });

  it('defaults the sink to the state SQLite file, or to the default state file', () => {
    expect(audit(undefined)).toEqual({ sink: 'sqlite:./.gatehouse/state.db', ...ON });
    const r = validateConfig({ servers, state: 'sqlite:./x.db' });
    expect(r.ok && r.config.audit.sink).toBe('sqlite:./x.db');
    const m = validateConfig({ servers, state: 'memory:' });
    expect(m.ok && m.config.audit.sink).toBe('sqlite:./.gatehouse/state.db');
  });

  it('takes the object form, with durations for retention and digits for queue_max', () => {
    expect(audit({ sink: 'sqlite:./a.db', arguments: 'keys', retention: '7d', queue_max: '500' })).toEqual({
      sink: 'sqlite:./a.db',
      arguments: 'keys',
      retention: 7 * 86_400,
      queue_max: 500,
      spool: 'on',
    });
    expect(audit({ sink: 'sqlite:./a.db', spool: 'fsync' }).spool).toBe('fsync');
    expect(audit({ sink: 'postgres://db/audit', spool: 'off' }).spool).toBe('off');
    expect(audit({ arguments: 'full' })).toEqual({
      sink: 'sqlite:./.gatehouse/state.db',
      ...ON,
      arguments: 'full',
    });
  });

  it('reports wrong values at their path', () => {
    expect(problems('mysql://db')).toEqual([
      { path: '/audit', message: 'expected none, jsonl:PATH, sqlite:PATH, or postgres://...' },
    ]);
    expect(problems({ arguments: 'some' }).map((p) => p.path)).toEqual(['/audit/arguments']);
    expect(problems({ retention: 'a month' }).map((p) => p.path)).toEqual(['/audit/retention']);
    expect(problems({ sink: 'none', queue: 5 }).map((p) => p.path)).toEqual(['/audit/queue']);
    expect(problems({ spool: 'always' }).map((p) => p.path)).toEqual(['/audit/spool']);
  });

  it("resolves a relative file sink against the config file's folder", async () => {
    writeFileSync(
      join(dir, 'gatehouse.yaml'),
      'audit: { sink: "jsonl:logs/a.jsonl", arguments: none }\nservers: { m: { command: npx } }\n',
    );
    const { config } = await loadConfig({ cwd: dir, env: {} });
    expect(config.audit).toEqual({ ...OFF, sink: `jsonl:${join(dir, 'logs/a.jsonl')}`, arguments: 'none' });
  });
});
