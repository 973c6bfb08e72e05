// Proves that the admin API's roles are enforced from its one route table, against a running
// gateway: for every route the table exports (so a route added without a role, or answered outside
// the table, fails here), with no token and with an agent's grant token the answer is 401; with a
// viewer, a policy manager and an admin token it is 403 exactly when the route needs a higher role
// than the token has, and otherwise neither 401 nor 403. A 403 names the role needed. The table has
// one entry per method and path, and docs/identity.md lists exactly its routes with their roles.
// Admin tokens are not grant tokens: each one is 401 on /mcp/<server> and /mcp. /metrics takes
// any admin token, a viewer's too, and refuses a grant token.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import { ADMIN_ROUTES, type AdminRoute } from '../../src/http/admin-routes.js';
import { ADMIN_ROLES, roleAllows, type AdminRole } from '../../src/identity/roles.js';
import { post } from '../helpers/index.js';
import { startTestGateway, tempDir, type TempDir } from '../approvals/support.js';

const TOKENS = {
  admin: 'roles-admin-token-9f1c',
  policy_manager: 'roles-manager-token-4b7e',
  viewer: 'roles-viewer-token-2d8a',
} satisfies Record<AdminRole, string>;
const AGENT = 'roles-agent-token-6c3f';

/** What each path parameter of the table stands for in a request; a new parameter needs a sample. */
const SAMPLES: Record<string, string> = {
  server: 'fixture',
  tool: 'echo',
  id: 'no-such-approval',
  name: 'no-such-grant',
};

function samplePath(route: AdminRoute): string {
  const path = route.path.replace(/:([a-z_]+)\??/g, (_m, name: string) => {
    const sample = SAMPLES[name];
    if (sample === undefined) throw new Error(`add a sample value for the path parameter ":${name}" (${route.path})`);
    return encodeURIComponent(sample);
  });
  return `/api/v1${path}`;
}

let dir: TempDir;
let gateway: Gateway;

beforeAll(async () => {
  dir = tempDir('gatehouse-admin-roles-');
  gateway = await startTestGateway(dir, {
    audit: `sqlite:${dir.path}/audit.db`,
    auth: {
      mode: 'grants',
      admin_token: TOKENS.admin,
      admin_tokens: {
        managers: { token: TOKENS.policy_manager, role: 'policy_manager' },
        dashboards: { token: TOKENS.viewer, role: 'viewer' },
      },
    },
    grants: { agent: { token: AGENT, servers: ['fixture'] } },
  });
});

afterAll(async () => {
  await gateway?.close();
  dir?.remove();
});

/** The status of one request; the body is not waited for (an event stream never ends). */
async function statusOf(method: string, path: string, token: string | undefined): Promise<number> {
  const withBody = method === 'POST' || method === 'PUT';
  const res = await fetch(`${gateway.url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(withBody ? { 'content-type': 'application/json' } : {}),
    },
    ...(withBody ? { body: '{}' } : {}),
  });
  await res.body?.cancel();
  return res.status;
}

describe('the route table', () => {
  it('gives every route a method, a path under /api/v1 and one of the roles, once per method and path', () => {
    expect(ADMIN_ROUTES.length).toBeGreaterThan(15);
    const seen = new Set<string>();
    for (const r of ADMIN_ROUTES) {
      expect(['GET', 'POST', 'PUT', 'DELETE'], r.path).toContain(r.method);
      expect(r.path, `${r.method} ${r.path}`).toMatch(/^\/[a-z]/);
      expect(ADMIN_ROLES, `${r.method} ${r.path} has no role`).toContain(r.role);
      expect(typeof r.handle).toBe('function');
      const key = `${r.method} ${r.path}`;
      expect(seen.has(key), `${key} is declared twice`).toBe(false);
      seen.add(key);
    }
  });

  it('covers what the brief names: grants, approvals and their stream, audit, catalog, pins, explain and suggest', () => {
    const keys = new Set(ADMIN_ROUTES.map((r) => `${r.method} ${r.path}`));
    for (const key of [
      'GET /grants',
      'POST /grants',
      'DELETE /grants/:name',
      'GET /approvals/events',
      'POST /approvals/:id/approve',
      'GET /audit',
      'GET /catalog/:server?',
      'POST /pins/:server/accept/:tool?',
      'POST /policy/explain',
      'GET /policy/suggest/:server',
    ])
      expect(keys, key).toContain(key);
  });

  it('is what docs/identity.md lists, route for route and role for role', () => {
    const doc = readFileSync(new URL('../../docs/identity.md', import.meta.url), 'utf8');
    const listed = [...doc.matchAll(/^\| `(GET|POST|PUT|DELETE)` +\| `\/api\/v1(\/[^`]*)` +\| `(\w+)` +\|/gm)].map(
      (m) => `${m[1]} ${m[2]} ${m[3]}`,
    );
    expect(listed.sort()).toEqual(ADMIN_ROUTES.map((r) => `${r.method} ${r.path} ${r.role}`).sort());
  });
});

describe.each(ADMIN_ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))('%s', (_name, route) => {
  const path = samplePath(route);

  it('is 401 without a token and with an agent’s grant token', async () => {
    expect(await statusOf(route.method, path, undefined)).toBe(401);
    expect(await statusOf(route.method, path, AGENT)).toBe(401);
  });

  it.each(ADMIN_ROLES)(`with a %s token: 403 below role ${route.role}, else handled`, async (role) => {
    const status = await statusOf(route.method, path, TOKENS[role]);
    if (roleAllows(role, route.role)) expect([401, 403], `${route.method} ${path} as ${role}`).not.toContain(status);
    else expect(status, `${route.method} ${path} as ${role}`).toBe(403);
  });
});

describe('what a refusal says, and where admin tokens do not work', () => {
  it('a 403 names the role needed and the role held', async () => {
    const res = await fetch(`${gateway.url}/api/v1/grants/no-such-grant`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKENS.viewer}` },
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({
      code: 'forbidden',
      needed: 'admin',
      role: 'viewer',
      error: expect.stringContaining('needs role admin'),
    });
  });

  it.each(ADMIN_ROLES)('the %s token is 401 on /mcp/<server> and on /mcp', async (role) => {
    for (const path of ['/mcp/fixture', '/mcp']) {
      const res = await post(
        `${gateway.url}${path}`,
        {
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
        },
        { authorization: `Bearer ${TOKENS[role]}` },
      );
      expect(res.status, `${role} on ${path}`).toBe(401);
    }
  });

  it('/metrics takes every admin token, a viewer’s too, and refuses a grant token', async () => {
    for (const role of ADMIN_ROLES) expect(await statusOf('GET', '/metrics', TOKENS[role]), role).toBe(200);
    expect(await statusOf('GET', '/metrics', AGENT)).toBe(401);
    expect(await statusOf('GET', '/metrics', undefined)).toBe(401);
  });
});
