// The policy editor's routes (the dashboard's builder):
//   GET  /api/v1/policy/<server>   the server's policy file: where it is, its text, the policy in force
//   PUT  /api/v1/policy/<server>   validate and write it (atomically); the reloader puts it in force
//   POST /api/v1/policy/validate   the same validation as `gatehouse policy check`, and optionally the
//                                  explanation of a test call under the draft, before anything is saved
// Only a policy that lives in a file can be written: an inline policy is part of the config file,
// which Gatehouse does not rewrite (409). A policy with problems is refused with every problem and
// its JSON path, and nothing is written.
import { randomBytes } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, dirname, extname, join } from 'node:path';
import { stringify } from 'yaml';
import { readCatalog } from '../catalog/catalog.js';
import { ConfigError } from '../config/errors.js';
import type { Problem } from '../config/problems.js';
import { parseStructuredText } from '../config/structured-file.js';
import type { GatewayCore } from '../gateway/core.js';
import { loadPolicy, PolicyError, type CompiledPolicy } from '../policy/compile.js';
import type { CallFacts } from '../policy/decide.js';
import { explain, usageFromStore } from '../policy/explain.js';
import { BodyTooLarge, readBody } from './body.js';
import { sendJson } from './respond.js';

const MAX_POLICY_BYTES = 1024 * 1024;

type Format = 'yaml' | 'json';

interface Checked {
  problems: Problem[];
  policy?: CompiledPolicy;
  value?: unknown;
}

/** Where a server's policy comes from, as the config says. */
function policySource(core: GatewayCore, server: string): { kind: 'file'; path: string } | { kind: 'inline' | 'none' } {
  const ref = core.pool.servers[server]?.policy;
  if (typeof ref === 'string') return { kind: 'file', path: ref };
  return { kind: ref === undefined ? 'none' : 'inline' };
}

const formatOf = (path: string): Format => (extname(path).toLowerCase() === '.json' ? 'json' : 'yaml');

/** The text of a policy in a file's format. */
export function policyText(value: unknown, format: Format): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value, { lineWidth: 0 });
}

/** The same load as the gateway and `gatehouse policy check`: syntax, schema and CEL types, every problem. */
function check(text: string | undefined, value: unknown, format: Format): Checked {
  try {
    const parsed =
      text === undefined ? value : parseStructuredText(text, format === 'json' ? 'policy.json' : 'policy.yaml');
    return { problems: [], policy: loadPolicy(parsed), value: parsed };
  } catch (error) {
    if (error instanceof PolicyError) return { problems: error.problems };
    if (error instanceof ConfigError)
      return { problems: error.problems.length > 0 ? error.problems : [{ path: '', message: error.summary }] };
    throw error;
  }
}

async function readJson(req: IncomingMessage, res: ServerResponse): Promise<Record<string, unknown> | undefined> {
  let raw: string;
  try {
    raw = await readBody(req, MAX_POLICY_BYTES);
  } catch (err) {
    if (err instanceof BodyTooLarge) {
      sendJson(res, 413, { error: `Payload Too Large: ${err.message}`, code: 'too_large' });
      return undefined;
    }
    throw err;
  }
  try {
    const body = JSON.parse(raw) as unknown;
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // answered below
  }
  sendJson(res, 400, {
    error: 'Bad Request: send a JSON object with "text" (the policy file\'s text) or "policy" (the policy as JSON).',
    code: 'invalid_body',
  });
  return undefined;
}

export async function getPolicy(core: GatewayCore, res: ServerResponse, server: string): Promise<void> {
  const source = policySource(core, server);
  const inForce = core.policies.get(server)?.source ?? null;
  const common = { server, policy: inForce, reload_error: core.reloader.lastError ?? null };
  if (source.kind !== 'file')
    return sendJson(res, 200, { ...common, source: source.kind, editable: false, format: 'yaml', text: null });
  const text = await readFile(source.path, 'utf8').catch(() => null);
  sendJson(res, 200, {
    ...common,
    source: 'file',
    editable: true,
    path: source.path,
    format: formatOf(source.path),
    text,
  });
}

export async function putPolicy(
  core: GatewayCore,
  req: IncomingMessage,
  res: ServerResponse,
  server: string,
): Promise<void> {
  const source = policySource(core, server);
  if (source.kind !== 'file')
    return sendJson(res, 409, {
      code: source.kind === 'inline' ? 'inline_policy' : 'no_policy_file',
      error:
        source.kind === 'inline'
          ? `The policy of "${server}" is written inline in the gateway's config file, which Gatehouse does not rewrite. Move it to a file (policy: ./policies/${server}.yaml) to edit it here.`
          : `Server "${server}" has no policy file. Add "policy: ./policies/${server}.yaml" to its entry in the config to edit it here.`,
    });
  const body = await readJson(req, res);
  if (!body) return;
  const format = formatOf(source.path);
  const text = typeof body.text === 'string' ? body.text : undefined;
  if (text === undefined && body.policy === undefined)
    return sendJson(res, 400, { error: 'Bad Request: send "text" or "policy".', code: 'invalid_body' });
  const checked = check(text, body.policy, format);
  if (checked.problems.length > 0)
    return sendJson(res, 422, {
      code: 'invalid_policy',
      error: `The policy has ${checked.problems.length} problem${checked.problems.length > 1 ? 's' : ''}; nothing was written.`,
      problems: checked.problems,
    });
  await writeAtomically(source.path, text ?? policyText(checked.value, format));
  // The watcher would reload too; reloading here makes the answer say whether the policy is in force.
  await core.reloader.reload();
  const error = core.reloader.lastError;
  sendJson(res, 200, {
    server,
    path: source.path,
    saved: true,
    in_force: error === undefined,
    ...(error ? { reload_error: error } : {}),
  });
}

/** A new file beside the old one, then a rename over it: readers see the old or the new file, never half. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, text, { encoding: 'utf8', flag: 'wx' });
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

export async function validatePolicy(core: GatewayCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJson(req, res);
  if (!body) return;
  const format: Format = body.format === 'json' ? 'json' : 'yaml';
  const text = typeof body.text === 'string' ? body.text : undefined;
  if (text === undefined && body.policy === undefined)
    return sendJson(res, 400, { error: 'Bad Request: send "text" or "policy".', code: 'invalid_body' });
  const checked = check(text, body.policy, format);
  if (!checked.policy) return sendJson(res, 200, { ok: false, problems: checked.problems });
  const probe = body.explain as { server?: unknown; tool?: unknown; args?: unknown } | undefined;
  if (!probe || typeof probe !== 'object') return sendJson(res, 200, { ok: true, problems: [], policy: checked.value });
  const server = typeof probe.server === 'string' ? probe.server : (body.server as string | undefined);
  if (typeof server !== 'string' || !core.pool.has(server))
    return sendJson(res, 404, { error: `Unknown server "${String(server)}".`, code: 'not_found' });
  if (typeof probe.tool !== 'string' || probe.tool === '')
    return sendJson(res, 400, { error: 'explain.tool must be the name of a tool.', code: 'invalid_body' });
  const args = probe.args ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args))
    return sendJson(res, 400, {
      error: "explain.args must be a JSON object of the call's arguments.",
      code: 'invalid_body',
    });
  const [catalog] = await readCatalog(core.pool, [server]);
  const entry = catalog?.ok ? catalog.tools.find((t) => t.name === probe.tool) : undefined;
  const now = new Date();
  const facts: CallFacts = {
    subject: 'tool',
    name: probe.tool,
    server,
    args: args as Record<string, unknown>,
    ...(entry ? { category: entry.category, risk: entry.risk } : {}),
    ...(entry?.annotations ? { annotations: entry.annotations } : {}),
    grant: { name: 'anonymous', agent: 'anonymous', labels: {} },
    session: { id: 'principal:anonymous' },
    now,
  };
  const explanation = await explain(checked.policy, facts, usageFromStore(core.store, now.getTime()));
  sendJson(res, 200, { ok: true, problems: [], policy: checked.value, listed: entry !== undefined, explanation });
}
