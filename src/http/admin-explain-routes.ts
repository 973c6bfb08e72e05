// POST /api/v1/policy/explain: what `gatehouse policy explain --json` prints, from the running
// gateway — the policies in force now (after any hot reload), the catalog as the gateway reads it,
// and limit usage from its own state store (so with `state: memory:` too), reserving nothing. A
// grant is looked up by name among the config file's and the store's (`gatehouse grants create`).
import { readCatalog, type CatalogEntry } from '../catalog/catalog.js';
import type { GatewayCore } from '../gateway/core.js';
import { grantNotes, type Grant, type NamedGrant } from '../identity/grants.js';
import { isObject } from '../mcp/jsonrpc.js';
import type { CallFacts, Subject } from '../policy/decide.js';
import { explain, usageFromStore } from '../policy/explain.js';
import type { AdminRequest } from './admin-routes.js';
import { readBody } from './body.js';
import { sendJson } from './respond.js';

const SUBJECTS: readonly Subject[] = ['tool', 'resource', 'prompt'];

/**
 * How deep a call's arguments may nest to be explained. Explaining walks the arguments recursively
 * (and answers with them): thousands of levels take seconds and then overflow the stack.
 */
export const MAX_EXPLAIN_ARGS_DEPTH = 512;

/** Whether a JSON value nests deeper than `limit` levels; iterative, so any depth is measured safely. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

const EXPLAIN_KEYS = new Set(['server', 'tool', 'args', 'grant', 'subject', 'now']);

interface ExplainRequest {
  server: string;
  tool: string;
  args: Record<string, unknown>;
  grant?: string;
  subject: Subject;
  now: Date;
}

export async function explainRoute({ core, req, res, maxBodyBytes }: AdminRequest): Promise<void> {
  const parsed = parseExplainRequest(await readBody(req, maxBodyBytes));
  if (typeof parsed === 'string') return sendJson(res, 400, { error: `Bad Request: ${parsed}` });
  const { server, tool, args, subject, now } = parsed;
  if (!core.pool.has(server)) return sendJson(res, 404, { error: `Unknown server "${server}".` });
  let found: NamedGrant | undefined;
  try {
    found = parsed.grant === undefined ? undefined : await core.grants.named(parsed.grant, now.getTime());
  } catch (err) {
    // A stored grant whose policy file no longer compiles: the gateway refuses its token too.
    const why = err instanceof Error ? err.message : String(err);
    return sendJson(res, 409, { error: `The policy of grant "${parsed.grant}" cannot be used: ${why}` });
  }
  if (parsed.grant !== undefined && !found) return sendJson(res, 404, { error: `Unknown grant "${parsed.grant}".` });
  const grant = found?.grant;

  const notes = grantNotes(found, server);
  // A grant's policy replaces the server's for that grant's calls, as the gateway applies it.
  const policy = grant?.policy ?? core.policies.get(server);
  if (!policy) {
    notes.push(`server ${server} has no policy: the gateway forwards every call to it`);
    return sendJson(res, 200, { server, tool, subject, policy: null, verdict: 'allow', notes });
  }
  const policySource = grant?.policy ? `grant ${grant.name}` : `server ${server}`;

  const { facts, listed } = await explainedCall(core, { server, tool, args, subject, grant, now }, notes);
  const explanation = await explain(policy, facts, usageFromStore(core.store, now.getTime()));
  sendJson(res, 200, { server, tool, subject, policy: policySource, listed, notes, explanation });
}

/**
 * The facts the gateway would decide this call on, as `gatehouse policy explain` and this route
 * give them to explain(): a tool's category and risk (which decide `categories` rules) come from
 * the catalog, and `notes` says why they could not. `listed` is null unless the tool list was read.
 */
export async function explainedCall(
  core: Pick<GatewayCore, 'pool'>,
  call: { server: string; tool: string; args: Record<string, unknown>; subject: Subject; grant?: Grant; now: Date },
  notes: string[],
): Promise<{ facts: CallFacts; listed: boolean | null }> {
  const { server, tool, args, subject, grant, now } = call;
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
  return { facts, listed };
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
  if (nestsDeeperThan(args, MAX_EXPLAIN_ARGS_DEPTH))
    return `"args" nests more than ${MAX_EXPLAIN_ARGS_DEPTH} levels deep; explain takes arguments nested less deeply.`;
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
