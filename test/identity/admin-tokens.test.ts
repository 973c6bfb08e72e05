// Proves how admin tokens are configured and recognised: `auth.admin_tokens` names tokens with a
// role and `auth.admin_token` still works as role admin; a token is recognised only whole and only
// as a Bearer token (scheme case-insensitive); the roles nest viewer < policy_manager < admin; the
// config is refused, with the JSON path, when an admin token equals a grant token or another admin
// token, or names a role that does not exist. Also how the route table picks a route: literal path
// parts beat parameters, a known path with another method is a 405 with the methods allowed. And
// that no grant is created (by the CLI or the API) for a gateway in JWT mode, where none is used.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/validate.js';
import { matchAdminRoute } from '../../src/http/admin-routes.js';
import { AdminTokens, LEGACY_ADMIN_TOKEN_NAME } from '../../src/identity/admin-tokens.js';
import { createGrant } from '../../src/identity/create-grant.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { roleAllows } from '../../src/identity/roles.js';

const server = { command: 'npx', args: ['-y', 'server'] };

function problemsOf(doc: Record<string, unknown>) {
  const result = validateConfig({ servers: { mem: server }, ...doc });
  return result.ok ? [] : result.problems;
}

describe('admin tokens in the config', () => {
  it('accepts named tokens with roles beside auth.admin_token', () => {
    const result = validateConfig({
      servers: { mem: server },
      auth: {
        mode: 'none',
        admin_token: 'legacy-admin-token',
        admin_tokens: {
          grafana: { token: 'viewer-token-1', role: 'viewer' },
          'release.bot': { token: 'manager-token-1', role: 'policy_manager' },
        },
      },
    });
    expect(result.ok && result.config.auth.admin_tokens).toEqual({
      grafana: { token: 'viewer-token-1', role: 'viewer' },
      'release.bot': { token: 'manager-token-1', role: 'policy_manager' },
    });
  });

  it('refuses an admin token that is also a grant token, saying why', () => {
    const problems = problemsOf({
      auth: { mode: 'grants', admin_token: 'shared-1', admin_tokens: { ops: { token: 'shared-2', role: 'admin' } } },
      grants: {
        ci: { token: 'shared-1', servers: ['mem'] },
        bot: { token: 'shared-2', servers: ['mem'] },
      },
    });
    expect(problems).toEqual([
      {
        path: '/auth/admin_token',
        message: expect.stringMatching(/same token as grant "ci": .*never be a grant token/),
      },
      { path: '/auth/admin_tokens/ops/token', message: expect.stringContaining('same token as grant "bot"') },
    ]);
  });

  it('refuses two admin tokens alike, a role that does not exist, and a token without a role', () => {
    const problems = problemsOf({
      auth: {
        admin_token: 'same-token',
        admin_tokens: {
          twin: { token: 'same-token', role: 'viewer' },
          boss: { token: 'boss-token', role: 'owner' },
          bare: { token: 'bare-token' },
        },
      },
    });
    expect(problems.map((p) => p.path).sort()).toEqual([
      '/auth/admin_tokens/bare/role',
      '/auth/admin_tokens/boss/role',
      '/auth/admin_tokens/twin/token',
    ]);
    expect(problems.find((p) => p.path.endsWith('twin/token'))?.message).toContain('same token as auth.admin_token');
  });
});

describe('recognising an admin token', () => {
  const tokens = new AdminTokens({
    admin_token: 'the-admin-token',
    admin_tokens: { grafana: { token: 'the-viewer-token', role: 'viewer' } },
  });

  it('names the caller and its role; auth.admin_token is an admin', () => {
    expect(tokens.enabled).toBe(true);
    expect(tokens.identify('Bearer the-admin-token')).toEqual({ name: LEGACY_ADMIN_TOKEN_NAME, role: 'admin' });
    expect(tokens.identify('bearer the-viewer-token')).toEqual({ name: 'grafana', role: 'viewer' });
  });

  it.each([
    ['no header', undefined],
    ['another scheme', 'Basic the-admin-token'],
    ['a prefix of the token', 'Bearer the-admin-toke'],
    ['the token with more after it', 'Bearer the-admin-tokenX'],
    ['two tokens', 'Bearer the-admin-token the-viewer-token'],
  ])('refuses %s', (_what, header) => {
    expect(tokens.identify(header)).toBeUndefined();
  });

  it('is disabled without any admin token', () => {
    expect(new AdminTokens({}).enabled).toBe(false);
    expect(new AdminTokens({}).identify('Bearer anything')).toBeUndefined();
  });

  it('roles nest: viewer < policy_manager < admin', () => {
    expect(roleAllows('admin', 'policy_manager')).toBe(true);
    expect(roleAllows('policy_manager', 'viewer')).toBe(true);
    expect(roleAllows('policy_manager', 'admin')).toBe(false);
    expect(roleAllows('viewer', 'policy_manager')).toBe(false);
  });
});

describe('matching a request to the route table', () => {
  const route = (method: string, path: string) => {
    const m = matchAdminRoute(method, path.split('/').filter(Boolean));
    return m.kind === 'route' ? `${m.route.method} ${m.route.path} ${JSON.stringify(m.params)}` : m;
  };

  it('literal parts beat parameters', () => {
    expect(route('GET', '/approvals/events')).toBe('GET /approvals/events {}');
    expect(route('GET', '/approvals/a1')).toBe('GET /approvals/:id {"id":"a1"}');
    expect(route('GET', '/policy/suggest/mem')).toBe('GET /policy/suggest/:server {"server":"mem"}');
    expect(route('GET', '/policy/mem')).toBe('GET /policy/:server {"server":"mem"}');
  });

  it('fills optional last parameters, or leaves them out', () => {
    expect(route('GET', '/catalog')).toBe('GET /catalog/:server? {}');
    expect(route('GET', '/catalog/mem')).toBe('GET /catalog/:server? {"server":"mem"}');
    expect(route('POST', '/pins/mem/accept/echo')).toBe(
      'POST /pins/:server/accept/:tool? {"server":"mem","tool":"echo"}',
    );
  });

  it('a known path with another method is 405 with the methods allowed; an unknown path is none', () => {
    expect(route('GET', '/policy/explain')).toEqual({ kind: 'method', allow: ['POST'] });
    expect(route('PUT', '/grants')).toEqual({ kind: 'method', allow: ['GET', 'POST'] });
    expect(route('GET', '/nothing/here')).toEqual({ kind: 'none' });
    expect(route('GET', '/catalog/mem/extra')).toEqual({ kind: 'none' });
  });
});

describe('creating a grant in JWT mode', () => {
  it('is refused: callers present JWTs, so the grant would never be used', async () => {
    const store = new MemoryStore();
    const created = await createGrant(
      { name: 'ci', servers: ['mem'] },
      { store, servers: ['mem'], configGrants: new Set(), baseDir: '.', authMode: 'jwt' },
    );
    expect(created).toMatchObject({ ok: false, code: 'invalid', message: expect.stringContaining('"jwt"') });
    expect(await store.listGrants()).toEqual([]);
    await store.close();
  });
});
