// The admin JSON API (`/api/v1/...`), behind the admin token. This version serves the catalog,
// suggested policies, pins and policy explanations; grants, approvals and the audit log come with
// their features.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readCatalog, type CatalogEntry } from '../catalog/catalog.js';
import { acceptPins, pinDiff } from '../catalog/pins.js';
import { suggestPolicy, suggestPolicyYaml } from '../catalog/suggest.js';
import type { GatewayCore } from '../gateway/core.js';
import type { Grant } from '../identity/grants.js';
import type { CallFacts, Subject } from '../policy/decide.js';
import { explain, usageFromStore } from '../policy/explain.js';
import { BodyTooLarge, readBody } from './body.js';
import { answerAuditQuery } from '../audit/api-query.js';
import { sendJson } from './respond.js';
import { handleApprovalsApi } from '../approvals/admin-routes.js';

export interface AdminOptions {
  adminToken: string | undefined;
  /** The largest request body accepted (413 above it); default 1 MiB. */
  maxBodyBytes?: number;
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  // Compare hashes: equal length, constant time, whatever the presented token's length.
  const a = createHash('sha256').update(m[1]!).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

export async function handleAdmin(
  core: GatewayCore,
  opts: AdminOptions,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  if (!opts.adminToken)
    return sendJson(res, 404, { error: 'The admin API is disabled: set auth.admin_token in the config to enable it.' });
  if (!tokenMatches(req.headers.authorization, opts.adminToken)) {
    return sendJson(
      res,
      401,
      { error: 'Unauthorized: send "Authorization: Bearer <admin token>".' },
      { 'www-authenticate': 'Bearer realm="gatehouse-admin"' },
    );
  }
  const url = new URL(req.url ?? '/', 'http://gatehouse');
  let parts: string[];
  try {
    parts = path
      .replace(/^\/api\/v1\/?/, '')
      .split('/')
      .filter(Boolean)
      .map(decodeURIComponent);
  } catch {
    return sendJson(res, 400, { error: 'Bad Request: the path is not valid percent-encoding.' });
  }
  const known = (s: string | undefined) => s !== undefined && core.pool.has(s);
  if (req.method === 'GET' && parts[0] === 'catalog') {
    const server = parts[1] ?? url.searchParams.get('server') ?? undefined;
    if (server !== undefined && !known(server)) return sendJson(res, 404, { error: `Unknown server "${server}".` });
    return sendJson(res, 200, { servers: await readCatalog(core.pool, server ? [server] : undefined) });
  }
  if (req.method === 'GET' && parts[0] === 'policy' && parts[1] === 'suggest' && parts.length === 3) {
    const server = parts[2]!;
    if (!known(server)) return sendJson(res, 404, { error: `Unknown server "${server}".` });
    const [c] = await readCatalog(core.pool, [server]);
    if (!c?.ok) return sendJson(res, 502, { error: `Server "${server}" could not be read: ${c?.error}` });
    return sendJson(res, 200, { server, policy: suggestPolicy(c.tools), yaml: suggestPolicyYaml(server, c.tools) });
  }
  if (req.method === 'GET' && parts[0] === 'audit' && parts.length === 1) {
    const answer = await answerAuditQuery(core.audit, url.searchParams, Date.now());
    return sendJson(res, answer.status, answer.body);
  }
  if (parts[0] === 'policy' && parts[1] === 'explain' && parts.length === 2) {
    if (req.method !== 'POST')
      return sendJson(
        res,
        405,
        { error: `Method Not Allowed: POST a JSON body { "server", "tool", "args"?, "grant"?, "subject"? }.` },
        { allow: 'POST' },
      );
    return explainCall(core, req, res, opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  }
  if (parts[0] === 'approvals') return approvalsRoutes(core, req, res, parts, url);
  if (parts[0] === 'pins') {
    const server = parts[1];
    if (server !== undefined && !known(server)) return sendJson(res, 404, { error: `Unknown server "${server}".` });
    if (req.method === 'GET' && parts.length <= 2)
      return sendJson(res, 200, { pins: await core.store.listPins(server) });
    if (req.method === 'GET' && parts[2] === 'diff') {
      const changed = (await core.store.listPins(server)).filter((p) => p.pending);
      return sendJson(res, 200, {
        changes: changed.map((p) => ({ server: p.server, tool: p.tool, diff: pinDiff(p) })),
      });
    }
    if (req.method === 'POST' && server && parts[2] === 'accept') {
      const accepted = await acceptPins(core.store, server, parts[3]);
      if (accepted.length > 0) core.pool.announce(server, 'notifications/tools/list_changed');
      return sendJson(res, accepted.length > 0 ? 200 : 404, { accepted: accepted.map((p) => p.tool) });
    }
  }
  sendJson(res, 404, { error: `Not found: ${req.method} ${path}` });
}

// ---------------------------------------------------------------------------------------------
// POST /api/v1/policy/explain: what `gatehouse policy explain --json` prints, from the running
// gateway — the policies in force now (after any hot reload), the catalog as the gateway reads it,
// and limit usage from its own state store (so with `state: memory:` too), reserving nothing.

const SUBJECTS: readonly Subject[] = ['tool', 'resource', 'prompt'];
const EXPLAIN_KEYS = new Set(['server', 'tool', 'args', 'grant', 'subject', 'now']);

interface ExplainRequest {
  server: string;
  tool: string;
  args: Record<string, unknown>;
  grant?: string;
  subject: Subject;
  now: Date;
}

async function explainCall(
  core: GatewayCore,
  req: IncomingMessage,
  res: ServerResponse,
  maxBodyBytes: number,
): Promise<void> {
  let raw: string;
  try {
    raw = await readBody(req, maxBodyBytes);
  } catch (err) {
    if (err instanceof BodyTooLarge) return sendJson(res, 413, { error: `Payload Too Large: ${err.message}` });
    throw err;
  }
  const parsed = parseExplainRequest(raw);
  if (typeof parsed === 'string') return sendJson(res, 400, { error: `Bad Request: ${parsed}` });
  const { server, tool, args, subject, now } = parsed;
  if (!core.pool.has(server)) return sendJson(res, 404, { error: `Unknown server "${server}".` });
  const grant = parsed.grant === undefined ? undefined : grantNamed(core, parsed.grant);
  if (parsed.grant !== undefined && !grant) return sendJson(res, 404, { error: `Unknown grant "${parsed.grant}".` });

  const notes: string[] = [];
  if (grant && !grant.servers.has(server))
    notes.push(`grant ${grant.name} may not use server ${server}: the gateway refuses its calls there (HTTP 403)`);
  // A grant's policy replaces the server's for that grant's calls, as the gateway applies it.
  const policy = grant?.policy ?? core.policies.get(server);
  if (!policy) {
    notes.push(`server ${server} has no policy: the gateway forwards every call to it`);
    return sendJson(res, 200, { server, tool, subject, policy: null, verdict: 'allow', notes });
  }
  const policySource = grant?.policy ? `grant ${grant.name}` : `server ${server}`;

  // A tool's category and risk (which decide `categories` rules) come from the catalog.
  let entry: CatalogEntry | undefined;
  let listed: boolean | null = null;
  if (subject === 'tool') {
    const [catalog] = await readCatalog(core.pool, [server]);
    if (!catalog?.ok)
      notes.push(`the tools of ${server} could not be read (${catalog?.error}); explained with no category`);
    else {
      entry = catalog.tools.find((t) => t.name === tool);
      listed = entry !== undefined;
      if (!entry)
        notes.push(
          `${server} does not list a tool "${tool}": the gateway answers a call to it as an unknown tool; explained with no category`,
        );
    }
  }
  const facts: CallFacts = {
    subject,
    name: tool,
    server,
    args,
    ...(entry ? { category: entry.category, risk: entry.risk } : {}),
    ...(entry?.annotations ? { annotations: entry.annotations } : {}),
    grant: grant
      ? { name: grant.name, agent: grant.agent, labels: grant.labels }
      : { name: 'anonymous', agent: 'anonymous', labels: {} },
    // What a 2026-07-28 client counts as its session; a legacy session counts under its own id.
    session: { id: grant ? `principal:grant:${grant.name}` : 'principal:anonymous' },
    now,
  };
  const explanation = await explain(policy, facts, usageFromStore(core.store, now.getTime()));
  sendJson(res, 200, { server, tool, subject, policy: policySource, listed, notes, explanation });
}

/** The request, or what is wrong with it (one sentence, for a 400). */
function parseExplainRequest(raw: string): ExplainRequest | string {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return 'the body is not valid JSON; send an object such as {"server": "github", "tool": "create_issue"}.';
  }
  if (!isObject(body)) return 'the body must be a JSON object such as {"server": "github", "tool": "create_issue"}.';
  const unknown = Object.keys(body).filter((k) => !EXPLAIN_KEYS.has(k));
  if (unknown.length > 0)
    return `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; the keys are ${[...EXPLAIN_KEYS].map((k) => `"${k}"`).join(', ')}.`;
  const { server, tool, args, grant, subject, now } = body;
  if (typeof server !== 'string' || server === '') return '"server" must be the name of a configured server.';
  if (typeof tool !== 'string' || tool === '')
    return '"tool" must be the name of the tool (or prompt, or the URI of the resource) to explain.';
  if (args !== undefined && !isObject(args)) return `"args" must be a JSON object of the call's arguments.`;
  if (grant !== undefined && (typeof grant !== 'string' || grant === ''))
    return '"grant" must be the name of a configured grant.';
  if (subject !== undefined && !SUBJECTS.includes(subject as Subject))
    return '"subject" must be "tool", "resource" or "prompt".';
  let time = new Date();
  if (now !== undefined) {
    const ms = typeof now === 'string' && /(Z|[+-]\d\d:?\d\d)$/i.test(now.trim()) ? Date.parse(now) : NaN;
    if (Number.isNaN(ms)) return '"now" must be an ISO 8601 time with a zone, e.g. "2026-03-02T10:00:00Z".';
    time = new Date(ms);
  }
  return {
    server,
    tool,
    args: (args as Record<string, unknown> | undefined) ?? {},
    ...(grant !== undefined ? { grant: grant as string } : {}),
    subject: (subject as Subject | undefined) ?? 'tool',
    now: time,
  };
}

/**
 * The configured grant of that name. GrantRegistry is keyed by token hash for authentication and
 * has no lookup by name yet, so its entries are searched; there are few, and explaining is rare.
 */
function grantNamed(core: GatewayCore, name: string): Grant | undefined {
  for (const g of core.grants['byHash'].values()) if (g.name === name) return g;
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `/api/v1/approvals...`: list, read, answer and follow approvals (src/approvals/admin-routes.ts). */
function approvalsRoutes(
  core: GatewayCore,
  req: IncomingMessage,
  res: ServerResponse,
  parts: string[],
  url: URL,
): Promise<void> {
  return handleApprovalsApi(
    { approvals: core.approvals, deliveries: (id) => core.webhooks.deliveries(id) },
    req,
    res,
    parts,
    url,
  );
}
