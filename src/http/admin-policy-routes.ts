// The policy editor's routes (the dashboard's builder):
//   GET  /api/v1/policy/<server>   the server's policy file: where it is, its text, the policy in force
//   PUT  /api/v1/policy/<server>   validate and write it (atomically); the reloader puts it in force
//   POST /api/v1/policy/validate   the same validation as `gatehouse policy check`, and optionally the
//                                  explanation of a test call under the draft, before anything is saved
// Only a policy that lives in a file can be written: an inline policy is part of the config file,
// which Gatehouse does not rewrite (409). A policy with problems is refused with every problem and
// its JSON path, and nothing is written. GET gives the file's version (also as its ETag); a PUT that
// sends it back (If-Match) is refused with 412 when the file changed since, so that two editors
// cannot silently undo each other's changes.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, dirname, extname, join } from 'node:path';
import { Document, isScalar, Lexer, parseDocument, Scalar, visit } from 'yaml';
import { readCatalog } from '../catalog/catalog.js';
import { ConfigError } from '../config/errors.js';
import type { Problem } from '../config/problems.js';
import { parseStructuredText } from '../config/structured-file.js';
import type { GatewayCore } from '../gateway/core.js';
import { loadPolicy, PolicyError, type CompiledPolicy } from '../policy/compile.js';
import type { CallFacts } from '../policy/decide.js';
import { explain, usageFromStore } from '../policy/explain.js';
import { MAX_EXPLAIN_ARGS_DEPTH, nestsDeeperThan } from './admin-explain-routes.js';
import { BodyTooLarge, readBody } from './body.js';
import { sendJson } from './respond.js';
import { roleAllows, type AdminRole } from '../identity/roles.js';

const MAX_POLICY_BYTES = 1024 * 1024;

type Format = 'yaml' | 'json';

interface Checked {
  problems: Problem[];
  policy?: CompiledPolicy;
  value?: unknown;
}

type PolicySource = { kind: 'file'; path: string } | { kind: 'inline' | 'none' };

/**
 * Where a server's policy comes from, as the config in force says: a reload may have named another
 * file, or put the policy inline, since the gateway started.
 */
function policySource(core: GatewayCore, server: string): PolicySource {
  const ref = core.reloader.policyOf(server);
  if (typeof ref === 'string') return { kind: 'file', path: ref };
  return { kind: ref === undefined ? 'none' : 'inline' };
}

/** Whether a policy source is the file at `path`. */
const isFile = (source: PolicySource, path: string): boolean => source.kind === 'file' && source.path === path;

const formatOf = (path: string): Format => (extname(path).toLowerCase() === '.json' ? 'json' : 'yaml');

/** The text of a policy in a file's format. */
export function policyText(value: unknown, format: Format): string {
  if (format === 'json') return `${JSON.stringify(value, null, 2)}\n`;
  const doc = new Document(value);
  // Gatehouse reads YAML with merge keys on: a plain `<<` key (a tool pattern "<<") would be read
  // back as a merge of its rule into the mapping around it — another policy, or none that loads.
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === '<<') pair.key.type = Scalar.QUOTE_DOUBLE;
    },
  });
  return doc.toString({ lineWidth: 0 });
}

/**
 * Bounds on what YAML text costs to read. The YAML reader's duplicate-key check compares every key
 * of a mapping with every other (a 1 MB mapping of distinct keys takes minutes), and deep flow
 * nesting is slow to unwind; both would hold the gateway's one thread, here and on every reload.
 * A real policy is far inside both bounds.
 */
const MAX_FLOW_DEPTH = 64;
const MAX_KEY_COMPARISONS = 25_000_000; // a mapping of 5,000 keys, checked in about 0.2 s

/** Why reading this YAML text would cost too much, or undefined when it is within bounds. */
export function yamlCostProblem(text: string): Problem | undefined {
  const depth = flowDepth(text);
  if (depth > MAX_FLOW_DEPTH)
    return { path: '', message: `brackets nest more than ${MAX_FLOW_DEPTH} levels deep; a policy needs far fewer` };
  // Without the duplicate-key check the reader is linear; the mappings' sizes say what the check costs.
  const doc = parseDocument(text, { uniqueKeys: false, merge: true });
  let comparisons = 0;
  visit(doc, {
    Map(_, map) {
      comparisons += map.items.length * map.items.length;
      return comparisons > MAX_KEY_COMPARISONS ? visit.BREAK : undefined;
    },
  });
  if (comparisons > MAX_KEY_COMPARISONS)
    return { path: '', message: 'the mappings hold too many keys to check for duplicates; split the policy' };
  return undefined;
}

/** How deep [ and { nest, counted on the YAML lexer's tokens (linear, and blind to brackets in strings). */
function flowDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (const token of new Lexer().lex(text)) {
    if (token === '[' || token === '{') deepest = Math.max(deepest, ++depth);
    else if ((token === ']' || token === '}') && depth > 0) depth--;
    if (deepest > MAX_FLOW_DEPTH) break;
  }
  return deepest;
}

/** The same load as the gateway and `gatehouse policy check`: syntax, schema and CEL types, every problem. */
function check(text: string | undefined, value: unknown, format: Format): Checked {
  if (text !== undefined && format === 'yaml') {
    const tooCostly = yamlCostProblem(text);
    if (tooCostly) return { problems: [tooCostly] };
  }
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
  const version = versionOf(text);
  sendJson(
    res,
    200,
    { ...common, source: 'file', editable: true, path: source.path, format: formatOf(source.path), text, version },
    { etag: version },
  );
}

/** The version of a policy file's text: a strong ETag. A missing file has a version too. */
function versionOf(text: string | null): string {
  return `"${createHash('sha256')
    .update(text ?? '\0missing')
    .digest('hex')
    .slice(0, 32)}"`;
}

/** The version a PUT says it edits (If-Match), or undefined when it does not say. */
function expectedVersion(req: IncomingMessage): string | undefined {
  const header = req.headers['if-match'];
  return typeof header === 'string' && header.trim() !== '' ? header.trim() : undefined;
}

/** One write of a policy file at a time, so that a version check and the write after it are one step. */
const writing = new Map<string, Promise<unknown>>();

function serialised<T>(path: string, work: () => Promise<T>): Promise<T> {
  const previous = writing.get(path) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(work);
  writing.set(path, next);
  void next
    .finally(() => {
      if (writing.get(path) === next) writing.delete(path);
    })
    .catch(() => undefined);
  return next;
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
  const written = text ?? policyText(checked.value, format);
  if (text === undefined && !readsBackAs(written, checked.value, format))
    return sendJson(res, 422, {
      code: 'invalid_policy',
      error: `The policy cannot be written as ${format.toUpperCase()} that reads back as the same policy; nothing was written. Send it as "text".`,
      problems: [],
    });
  const expected = expectedVersion(req);
  const outcome = await serialised(
    source.path,
    async (): Promise<{ moved: PolicySource } | { conflict: string } | { version: string }> => {
      // A reload since the request arrived may have named another file: this one would not be in force.
      const now = policySource(core, server);
      if (!isFile(now, source.path)) return { moved: now };
      if (expected !== undefined && expected !== '*') {
        const current = versionOf(await readFile(source.path, 'utf8').catch(() => null));
        if (current !== expected) return { conflict: current };
      }
      await writeAtomically(source.path, written);
      // The watcher would reload too; reloading here makes the answer say whether the policy is in force.
      await core.reloader.reload();
      return { version: versionOf(written) };
    },
  );
  if ('moved' in outcome)
    return sendJson(res, 409, {
      code: 'policy_moved',
      error: `The config now names ${outcome.moved.kind === 'file' ? `another policy file for "${server}"` : `no policy file for "${server}"`}, so ${source.path} is not its policy any more; nothing was written. Read the policy again.`,
    });
  if ('conflict' in outcome)
    return sendJson(res, 412, {
      code: 'version_conflict',
      error: `The policy file of "${server}" changed since version ${expected} was read; nothing was written. Read it again and redo the change.`,
      version: outcome.conflict,
    });
  // In force only if the reload went through and still reads this file for the server.
  const error =
    core.reloader.lastError ??
    (isFile(policySource(core, server), source.path)
      ? undefined
      : `the config no longer names ${source.path} for "${server}"`);
  sendJson(
    res,
    200,
    {
      server,
      path: source.path,
      saved: true,
      version: outcome.version,
      in_force: error === undefined,
      ...(error ? { reload_error: error } : {}),
    },
    { etag: outcome.version },
  );
}

/** Whether the text Gatehouse wrote for a policy reads back, as the gateway will read it, as that policy. */
function readsBackAs(text: string, value: unknown, format: Format): boolean {
  const back = check(text, undefined, format);
  return back.problems.length === 0 && JSON.stringify(back.value) === JSON.stringify(value);
}

/** A new file beside the old one, then a rename over it: readers see the old or the new file, never half. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  // The new file keeps the old one's permissions: a policy kept private (0600) stays private.
  const mode = (await stat(path).catch(() => undefined))?.mode;
  try {
    await writeFile(temp, text, {
      encoding: 'utf8',
      flag: 'wx',
      ...(mode !== undefined ? { mode: mode & 0o777 } : {}),
    });
    if (mode !== undefined) await chmod(temp, mode & 0o777); // past the umask
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

export async function validatePolicy(
  core: GatewayCore,
  req: IncomingMessage,
  res: ServerResponse,
  role: AdminRole,
): Promise<void> {
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
  // Explaining a draft runs its conditions, and CEL has no cost bound: nested macros over a list
  // can hold the gateway's one thread for minutes. That is for those who may write a policy anyway.
  if (!roleAllows(role, 'policy_manager'))
    return sendJson(res, 403, {
      code: 'forbidden',
      error:
        'Explaining a draft runs its conditions, which needs role policy_manager; a viewer may check a draft without "explain".',
    });
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
  if (nestsDeeperThan(args, MAX_EXPLAIN_ARGS_DEPTH))
    return sendJson(res, 400, {
      error: `explain.args nests more than ${MAX_EXPLAIN_ARGS_DEPTH} levels deep; explain takes arguments nested less deeply.`,
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
