// Attacks on the admin API's policy editor and explain routes, against a running gateway whose
// server's policy lives in a file: what a policy manager's PUT writes must be exactly what was
// validated (so the next start accepts it), and a viewer's validate or explain request must stay
// bounded however its text or arguments are shaped.
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { EPHEMERAL, featureEntry, startFileGateway, tempDir, type FileGateway } from '../helpers/gateway.js';

const ADMIN = 'tok-admin-policy-attacks-0001';
const MANAGER = 'tok-manager-policy-attacks-02';
const VIEWER = 'tok-viewer-policy-attacks-003';

const START_POLICY = { version: '1', default: 'allow', tools: { delete_file: { action: 'deny' } } };

let fg: FileGateway;
let policyFile: string;

async function api(
  token: string,
  method: string,
  path: string,
  body?: unknown,
  extra: Record<string, string> = {},
): Promise<{ status: number; body: any; etag: string | null }> {
  const res = await fetch(`${fg.gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...extra },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, etag: res.headers.get('etag') };
}

beforeAll(async () => {
  const dir = tempDir('gh-admin-policy-');
  policyFile = dir.write('fx.yaml', START_POLICY);
  fg = await startFileGateway(dir, {
    ...EPHEMERAL,
    auth: {
      mode: 'none',
      admin_token: ADMIN,
      admin_tokens: { bot: { token: MANAGER, role: 'policy_manager' }, grafana: { token: VIEWER, role: 'viewer' } },
    },
    servers: { fx: featureEntry({ policy: './fx.yaml' }) },
  });
}, 60_000);

afterAll(async () => {
  await fg?.close();
});

describe('PUT /api/v1/policy/<server>', () => {
  it('a saved policy file keeps the permissions it had: one kept private (0600) stays private', async () => {
    chmodSync(policyFile, 0o600);
    const r = await api(MANAGER, 'PUT', '/api/v1/policy/fx', { policy: START_POLICY });
    expect(r.status).toBe(200);
    expect(statSync(policyFile).mode & 0o777).toBe(0o600);
    chmodSync(policyFile, 0o644);
  });

  it('a viewer cannot change a policy (403) and the file is unchanged', async () => {
    const before = readFileSync(policyFile, 'utf8');
    const r = await api(VIEWER, 'PUT', '/api/v1/policy/fx', { policy: { version: '1', default: 'deny' } });
    expect(r.status).toBe(403);
    expect(readFileSync(policyFile, 'utf8')).toBe(before);
  });

  it('a policy given as JSON whose tool pattern is "<<" is written so that it reads back as that policy, not a YAML merge', async () => {
    const policy = { version: '1', default: 'deny', tools: { '<<': { approval: {} }, read_file: {} } };
    const r = await api(MANAGER, 'PUT', '/api/v1/policy/fx', { policy });
    expect(r.status).toBe(200);
    expect(r.body.in_force).toBe(true);
    const inForce = (await api(VIEWER, 'GET', '/api/v1/policy/fx')).body.policy;
    expect(Object.keys(inForce.tools).sort()).toEqual(['<<', 'read_file']);
  });

  it('a policy given as JSON is never written as a file the next start refuses', async () => {
    const policy = { version: '1', default: 'deny', tools: { '<<': { action: 'deny' } } };
    const r = await api(MANAGER, 'PUT', '/api/v1/policy/fx', { policy });
    expect(r.status).toBe(200);
    expect(r.body.in_force).toBe(true);
    await expect(loadConfig({ file: fg.file })).resolves.toBeDefined();
  });

  it('a PUT sending the version it read (If-Match) is refused with 412 once another editor changed the file', async () => {
    const read = await api(VIEWER, 'GET', '/api/v1/policy/fx');
    expect(read.etag).toBe(read.body.version);
    const mine = await api(
      ADMIN,
      'PUT',
      '/api/v1/policy/fx',
      { policy: { version: '1', default: 'deny', tools: { echo: {} } } },
      { 'if-match': read.body.version },
    );
    expect(mine.status).toBe(200);
    const stale = await api(
      MANAGER,
      'PUT',
      '/api/v1/policy/fx',
      { policy: { version: '1', default: 'allow' } },
      { 'if-match': read.body.version },
    );
    expect(stale.status).toBe(412);
    expect(stale.body.code).toBe('version_conflict');
    expect(readFileSync(policyFile, 'utf8')).toContain('echo');
    expect((await api(VIEWER, 'GET', '/api/v1/policy/fx')).body.version).toBe(mine.body.version);
  });

  it('of two concurrent PUTs of the same version, one is written and the other answers 412', async () => {
    const { version } = (await api(VIEWER, 'GET', '/api/v1/policy/fx')).body;
    const puts = await Promise.all(
      ['first_tool', 'second_tool'].map((tool) =>
        api(
          MANAGER,
          'PUT',
          '/api/v1/policy/fx',
          { policy: { version: '1', default: 'deny', tools: { [tool]: {} } } },
          { 'if-match': version },
        ),
      ),
    );
    expect(puts.map((p) => p.status).sort()).toEqual([200, 412]);
    const winner = puts.find((p) => p.status === 200)!;
    expect((await api(VIEWER, 'GET', '/api/v1/policy/fx')).body.version).toBe(winner.body.version);
  });
});

describe('PUT /api/v1/policy/<server> after a reload named another policy', () => {
  it('writes the file the config names now, not the one it named at start; a policy made inline is 409', async () => {
    const dir = tempDir('gh-admin-policy-moved-');
    const first = dir.write('a.yaml', START_POLICY);
    const second = dir.write('b.yaml', { version: '1', default: 'allow' });
    const config = (policy: unknown) => ({
      ...EPHEMERAL,
      auth: { mode: 'none', admin_token: ADMIN },
      servers: { fx: featureEntry({ policy }) },
    });
    const moved = await startFileGateway(dir, config('./a.yaml'));
    const call = async (method: string, body?: unknown) => {
      const res = await fetch(`${moved.gateway.url}/api/v1/policy/fx`, {
        method,
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    try {
      const atStart = readFileSync(first, 'utf8');
      dir.write('gatehouse.json', config('./b.yaml'));
      await moved.gateway.core.reloader.reload();
      expect(String((await call('GET')).body.path)).toBe(second);
      const deny = { version: '1', default: 'allow', tools: { echo: { action: 'deny' } } };
      const put = await call('PUT', { policy: deny });
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({ path: second, in_force: true });
      expect(readFileSync(second, 'utf8')).toContain('echo');
      expect(readFileSync(first, 'utf8')).toBe(atStart);
      expect(moved.gateway.core.policies.get('fx')?.source).toMatchObject({ tools: { echo: { action: 'deny' } } });
      dir.write('gatehouse.json', config({ version: '1', default: 'allow' }));
      await moved.gateway.core.reloader.reload();
      const inline = await call('PUT', { policy: deny });
      expect(inline.status).toBe(409);
      expect(inline.body.code).toBe('inline_policy');
    } finally {
      await moved.close();
    }
  }, 60_000);
});

describe('validate and explain stay bounded', () => {
  /** `{"a":{"a":...1...}}`, `n` levels deep. */
  const deep = (n: number): string => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

  it('a viewer’s YAML mapping of 60,000 distinct keys is refused by its count of keys, before the duplicate-key check (a minute for it) runs', async () => {
    const text = Array.from({ length: 60_000 }, (_, i) => `k${i}: 1`).join('\n');
    const r = await api(VIEWER, 'POST', '/api/v1/policy/validate', { text });
    expect(r.status).toBe(200);
    expect(r.body.ok).toBe(false);
    expect(r.body.problems[0].message).toMatch(/too many keys/);
  });

  it('a policy manager’s JSON policy of 60,000 tools is refused before it is written, and the file is unchanged', async () => {
    const before = readFileSync(policyFile, 'utf8');
    const tools = Object.fromEntries(Array.from({ length: 60_000 }, (_, i) => [`t${i}`, {}]));
    const r = await api(MANAGER, 'PUT', '/api/v1/policy/fx', { policy: { version: '1', default: 'deny', tools } });
    expect(r.status).toBe(422);
    // The YAML it would be written as has too many keys to read back: refused by that count, before
    // the duplicate-key check (which took 47 s for it) runs. Without the count it would be written.
    expect(r.body.error).toMatch(/cannot be written as YAML that reads back/);
    expect(readFileSync(policyFile, 'utf8')).toBe(before);
  });

  it('YAML brackets nested a million levels deep are refused as too deep, not parsed', async () => {
    const r = await api(VIEWER, 'POST', '/api/v1/policy/validate', {
      text: `version: "1"\ndefault: allow\ntools: ${'['.repeat(1_000_000 - 40)}`,
    });
    expect(r.status).toBe(200);
    expect(r.body.problems).toEqual([{ path: '', message: expect.stringMatching(/nest more than 64 levels/) }]);
  });

  it('explain answers 400, not 500, to arguments nested 5,000 levels deep', async () => {
    const r = await api(
      VIEWER,
      'POST',
      '/api/v1/policy/explain',
      `{"server":"fx","tool":"echo","args":{"x":${deep(5_000)}}}`,
    );
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/nests more than 512 levels/);
  });

  it('a draft’s explanation answers 400, not 500, to arguments nested 5,000 levels deep', async () => {
    const draft = { version: '1', default: 'allow', all_tools: { deny_if: [{ when: "args.x == 'a'" }] } };
    const body = `{"policy":${JSON.stringify(draft)},"explain":{"server":"fx","tool":"echo","args":{"x":${deep(5_000)}}}}`;
    const r = await api(MANAGER, 'POST', '/api/v1/policy/validate', body);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('invalid_body');
  });

  it('a viewer may check a draft but not run its conditions (explain): CEL has no cost bound', async () => {
    // Three nested macros over 700 items: 343 million steps, which held the gateway for 16 s.
    const draft = {
      version: '1',
      default: 'allow',
      all_tools: { deny_if: [{ when: 'args.a.all(x, args.a.all(y, args.a.all(z, true)))' }] },
    };
    const args = { a: Array.from({ length: 700 }, (_, i) => i) };
    const probe = await api(VIEWER, 'POST', '/api/v1/policy/validate', {
      policy: draft,
      explain: { server: 'fx', tool: 'echo', args },
    });
    expect(probe.status).toBe(403);
    expect(String(probe.body.error)).toMatch(/needs role policy_manager/);
    const checked = await api(VIEWER, 'POST', '/api/v1/policy/validate', { policy: draft });
    expect({ status: checked.status, ok: checked.body.ok }).toEqual({ status: 200, ok: true });
  });

  it('explain answers clearly for a server, grant or tool that does not exist', async () => {
    expect((await api(VIEWER, 'POST', '/api/v1/policy/explain', { server: '__proto__', tool: 'echo' })).status).toBe(
      404,
    );
    expect(
      (await api(VIEWER, 'POST', '/api/v1/policy/explain', { server: 'fx', tool: 'echo', grant: 'constructor' }))
        .status,
    ).toBe(404);
    const unlisted = await api(VIEWER, 'POST', '/api/v1/policy/explain', { server: 'fx', tool: 'no_such_tool' });
    expect(unlisted.status).toBe(200);
    expect(unlisted.body.listed).toBe(false);
  });
});
