// The admin API's one route table: every endpoint under /api/v1, declared once with its method, its
// path pattern and the least role that may use it. The dispatcher (admin-api.ts) authenticates the
// token, matches the route, checks the role and only then calls the handler, so a handler never
// runs for a caller whose role is too low, and a route cannot be added without saying who may use
// it. test/http/admin-roles.test.ts walks this table; docs/identity.md lists it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answerAuditQuery } from '../audit/api-query.js';
import {
  answerApproval,
  followApprovals,
  listApprovals,
  readApproval,
  type ApprovalsApi,
} from '../approvals/admin-routes.js';
import type { GatewayCore } from '../gateway/core.js';
import { isSharedToken, type AdminCaller } from '../identity/admin-tokens.js';
import type { AdminRole } from '../identity/roles.js';
import { acceptPinsRoute, catalogRoute, pinDiffRoute, pinsRoute, suggestRoute } from './admin-catalog-routes.js';
import { DASHBOARD_ROUTES } from './admin-dashboard-routes.js';
import { explainRoute } from './admin-explain-routes.js';
import { createGrantRoute, listGrantsRoute, readGrantRoute, revokeGrantRoute } from './admin-grants-routes.js';
import { sendJson } from './respond.js';

/** One request to the admin API, after authentication, matching and the role check. */
export interface AdminRequest {
  core: GatewayCore;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The path's parameters, decoded. A `server` parameter names a configured server (checked before). */
  params: Record<string, string>;
  /** Who presented which admin token. */
  caller: AdminCaller;
  /** limits.max_body_bytes: larger bodies answer 413. */
  maxBodyBytes: number;
}

export type AdminMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface AdminRoute {
  method: AdminMethod;
  /** The path after /api/v1: literal segments, `:name` for one segment, `:name?` for an optional last one. */
  path: string;
  /** The least role that may use the route (roles.ts: viewer < policy_manager < admin). */
  role: AdminRole;
  handle(r: AdminRequest): Promise<void> | void;
}

const approvalsOf = (core: GatewayCore): ApprovalsApi => ({
  approvals: core.approvals,
  deliveries: (id) => core.webhooks.deliveries(id),
});

/** Reading is for viewers; changing what governs calls is for policy managers; credentials are for admins. */
const CORE_ROUTES: readonly AdminRoute[] = [
  { method: 'GET', path: '/catalog/:server?', role: 'viewer', handle: catalogRoute },
  { method: 'GET', path: '/policy/suggest/:server', role: 'viewer', handle: suggestRoute },
  // Explaining reads the limits' usage and reserves nothing: a viewer may ask.
  { method: 'POST', path: '/policy/explain', role: 'viewer', handle: explainRoute },
  { method: 'GET', path: '/pins/:server?', role: 'viewer', handle: pinsRoute },
  { method: 'GET', path: '/pins/:server/diff', role: 'viewer', handle: pinDiffRoute },
  { method: 'POST', path: '/pins/:server/accept/:tool?', role: 'policy_manager', handle: acceptPinsRoute },
  {
    method: 'GET',
    path: '/audit',
    role: 'viewer',
    handle: async ({ core, res, url }) => {
      const answer = await answerAuditQuery(core.audit, url.searchParams, Date.now());
      sendJson(res, answer.status, answer.body);
    },
  },
  {
    method: 'GET',
    path: '/approvals',
    role: 'viewer',
    handle: ({ core, res, url }) => listApprovals(approvalsOf(core), res, url.searchParams),
  },
  {
    method: 'GET',
    path: '/approvals/events',
    role: 'viewer',
    handle: ({ core, res }) => followApprovals(approvalsOf(core), res),
  },
  {
    method: 'GET',
    path: '/approvals/:id',
    role: 'viewer',
    handle: ({ core, res, params }) => readApproval(approvalsOf(core), res, params.id!),
  },
  {
    method: 'POST',
    path: '/approvals/:id/approve',
    role: 'policy_manager',
    handle: (r) => answerApproval(approvalsOf(r.core), r.req, r.res, r.params.id!, answerOptions(r, true)),
  },
  {
    method: 'POST',
    path: '/approvals/:id/deny',
    role: 'policy_manager',
    handle: (r) => answerApproval(approvalsOf(r.core), r.req, r.res, r.params.id!, answerOptions(r, false)),
  },
  { method: 'GET', path: '/grants', role: 'viewer', handle: listGrantsRoute },
  { method: 'POST', path: '/grants', role: 'admin', handle: createGrantRoute },
  { method: 'GET', path: '/grants/:name', role: 'viewer', handle: readGrantRoute },
  { method: 'DELETE', path: '/grants/:name', role: 'admin', handle: revokeGrantRoute },
];

function answerOptions(r: AdminRequest, approve: boolean) {
  return {
    approve,
    by: r.caller.name,
    sharedToken: isSharedToken(r.caller),
    maxBodyBytes: r.maxBodyBytes,
  };
}

/** Every route of the admin API. */
export const ADMIN_ROUTES: readonly AdminRoute[] = [
  ...CORE_ROUTES,
  // The dashboard's own routes (whoami, stats, the policy editor), checked here like the rest.
  ...DASHBOARD_ROUTES.map((d): AdminRoute => ({
    method: d.method,
    path: `/${d.path.join('/')}`,
    role: d.role,
    handle: (r) => d.handle(r.core, r.req, r.res, { params: r.params, url: r.url, role: r.caller.role }),
  })),
];

export type RouteMatch =
  | { kind: 'route'; route: AdminRoute; params: Record<string, string> }
  /** The path exists, but not with this method. */
  | { kind: 'method'; allow: AdminMethod[] }
  | { kind: 'none' };

interface Segment {
  literal?: string;
  param?: string;
  optional?: boolean;
}

const compiled = new WeakMap<AdminRoute, Segment[]>();

function segmentsOf(route: AdminRoute): Segment[] {
  let segments = compiled.get(route);
  if (!segments) {
    segments = route.path
      .split('/')
      .filter(Boolean)
      .map((s) =>
        s.startsWith(':') ? { param: s.slice(1).replace(/\?$/, ''), optional: s.endsWith('?') } : { literal: s },
      );
    compiled.set(route, segments);
  }
  return segments;
}

/** The parameters a pattern takes from the path's parts, or undefined when it does not fit. */
function fit(segments: Segment[], parts: string[]): Record<string, string> | undefined {
  const least = segments.filter((s) => !s.optional).length;
  if (parts.length < least || parts.length > segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, s] of segments.entries()) {
    const part = parts[i];
    if (part === undefined) continue; // an optional last segment left out
    if (s.literal !== undefined) {
      if (s.literal !== part) return undefined;
    } else params[s.param!] = part;
  }
  return params;
}

/**
 * The route for a method and path (the decoded parts after /api/v1). Where several patterns fit
 * the path, those with the most literal segments win, so `/approvals/events` is not an approval
 * id and `GET /policy/explain` is a wrong method rather than a server named "explain".
 */
export function matchAdminRoute(
  method: string | undefined,
  parts: string[],
  routes: readonly AdminRoute[] = ADMIN_ROUTES,
): RouteMatch {
  let best: { route: AdminRoute; params: Record<string, string> }[] = [];
  let bestLiterals = -1;
  for (const route of routes) {
    const segments = segmentsOf(route);
    const params = fit(segments, parts);
    if (!params) continue;
    const literals = segments.filter((s) => s.literal !== undefined).length;
    if (literals > bestLiterals) [best, bestLiterals] = [[], literals];
    if (literals === bestLiterals) best.push({ route, params });
  }
  if (best.length === 0) return { kind: 'none' };
  const hit = best.find((b) => b.route.method === method);
  if (hit) return { kind: 'route', ...hit };
  return { kind: 'method', allow: [...new Set(best.map((b) => b.route.method))] };
}
