// The admin API routes that the dashboard needs beyond the others: who the token is, the overview's
// numbers, the audit log's live tail, and the policy editor. Each names the least role it needs;
// the admin API's route table (admin-routes.ts) takes them in and checks the role before handling.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayCore } from '../gateway/core.js';
import { getPolicy, putPolicy, validatePolicy } from './admin-policy-routes.js';
import { answerStats } from './admin-stats-routes.js';
import { answerAuditTail } from './admin-audit-tail.js';
import type { AdminRole } from '../identity/roles.js';
import { sendJson } from './respond.js';

export interface DashboardRoute {
  method: 'GET' | 'POST' | 'PUT';
  /** Path parts after /api/v1/; `:server` matches a configured server's name. */
  path: string[];
  role: AdminRole;
  handle(core: GatewayCore, req: IncomingMessage, res: ServerResponse, ctx: RouteContext): Promise<void>;
}

export interface RouteContext {
  params: Record<string, string>;
  url: URL;
  /** The role of the token that was presented. */
  role: AdminRole;
}

export const DASHBOARD_ROUTES: DashboardRoute[] = [
  {
    method: 'GET',
    path: ['whoami'],
    role: 'viewer',
    handle: async (_core, _req, res, { role }) => sendJson(res, 200, { role }),
  },
  {
    method: 'GET',
    path: ['stats'],
    role: 'viewer',
    handle: (core, _req, res, { url }) => answerStats(core, res, url.searchParams),
  },
  {
    method: 'GET',
    path: ['audit', 'tail'],
    role: 'viewer',
    handle: (core, _req, res, { url }) => answerAuditTail(core.audit, res, url.searchParams),
  },
  {
    method: 'POST',
    path: ['policy', 'validate'],
    role: 'viewer',
    handle: (core, req, res, { role }) => validatePolicy(core, req, res, role),
  },
  {
    method: 'GET',
    path: ['policy', ':server'],
    role: 'viewer',
    handle: (core, _req, res, { params }) => getPolicy(core, res, params.server!),
  },
  {
    method: 'PUT',
    path: ['policy', ':server'],
    role: 'policy_manager',
    handle: (core, req, res, { params }) => putPolicy(core, req, res, params.server!),
  },
];
