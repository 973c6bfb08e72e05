// Grants in the admin API: list and read them (never a token or its hash), create one (the same
// inputs and checks as `gatehouse grants create`; the token is in the answer once and nowhere
// else), and revoke one (every gateway sharing the store refuses its token from the next request
// on, also in sessions it opened). Grants of the config file are listed, marked `source: config`,
// and are changed in the config file only. Errors are `{ error, code }`.
import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import {
  createGrant,
  grantView,
  listGrants,
  NOT_CHECKED_UNDER_NONE,
  revokeGrant,
  type GrantRequest,
} from '../identity/create-grant.js';
import type { AdminRequest } from './admin-routes.js';
import { readBody } from './body.js';
import { sendJson } from './respond.js';

type Code = 'invalid_body' | 'not_found' | 'conflict' | 'config_grant' | 'already_revoked';
const STATUS_OF: Record<Code, number> = {
  invalid_body: 400,
  not_found: 404,
  conflict: 409,
  config_grant: 409,
  already_revoked: 409,
};

function fail(res: AdminRequest['res'], code: Code, error: string): void {
  sendJson(res, STATUS_OF[code], { error, code });
}

const CREATE_KEYS = ['name', 'servers', 'agent', 'labels', 'policy', 'expires'];
const CREATE_SHAPE =
  '{"name": text, "servers": [server, ...], "agent"?: text, "labels"?: {key: text}, "policy"?: path, "expires"?: "30d" | "2026-12-31"}';

/** GET /grants: every grant, the config file's and the store's, with its status and source. */
export async function listGrantsRoute({ core, res }: AdminRequest): Promise<void> {
  sendJson(res, 200, { grants: await listGrants(core.grants.configGrants(), core.store) });
}

/** GET /grants/<name> */
export async function readGrantRoute({ core, res, params }: AdminRequest): Promise<void> {
  const grant = (await listGrants(core.grants.configGrants(), core.store)).find((g) => g.name === params.name);
  if (!grant) return fail(res, 'not_found', `No grant named "${params.name}".`);
  sendJson(res, 200, { grant });
}

/** POST /grants: `{ grant, token }` with 201; the token is shown only in this answer. */
export async function createGrantRoute({ core, req, res, maxBodyBytes }: AdminRequest): Promise<void> {
  let body: unknown;
  try {
    body = JSON.parse(await readBody(req, maxBodyBytes));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    return fail(res, 'invalid_body', `The body is not valid JSON: send ${CREATE_SHAPE}.`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return fail(res, 'invalid_body', `The body must be a JSON object: ${CREATE_SHAPE}.`);
  const unknown = Object.keys(body).filter((k) => !CREATE_KEYS.includes(k));
  if (unknown.length > 0) return fail(res, 'invalid_body', `Unknown key "${unknown[0]}": send ${CREATE_SHAPE}.`);
  const request = body as GrantRequest;
  if (typeof request.policy === 'string') {
    // Over the network a policy path is taken from the config file's folder and must stay in it:
    // the API is not a way to make the gateway read (and quote in its errors) any file on the host.
    // Compared as the files are, not as their names are: a symbolic link in the folder to a file
    // elsewhere is outside it.
    const inside = relative(realOrAsIs(core.configDir), realOrAsIs(resolve(core.configDir, request.policy)));
    if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside))
      return fail(
        res,
        'invalid_body',
        `policy: "${request.policy}" is outside the config file's folder (${core.configDir}); put the policy file there`,
      );
  }
  const created = await createGrant(request, {
    store: core.store,
    servers: Object.keys(core.pool.servers),
    configGrants: core.grants.configNames(),
    baseDir: core.configDir,
    authMode: core.authMode,
  });
  if (!created.ok) return fail(res, created.code === 'invalid' ? 'invalid_body' : 'conflict', `${created.message}.`);
  sendJson(
    res,
    201,
    {
      grant: grantView(created.grant),
      token: created.token,
      ...(core.authMode === 'none' ? { warning: NOT_CHECKED_UNDER_NONE } : {}),
    },
    { 'cache-control': 'no-store' },
  );
}

/** DELETE /grants/<name>: revokes a grant of the store; `{ grant }` as it is now. */
export async function revokeGrantRoute({ core, res, params }: AdminRequest): Promise<void> {
  let revoked: Awaited<ReturnType<typeof revokeGrant>>;
  try {
    revoked = await revokeGrant(params.name!, { store: core.store, configGrants: core.grants.configNames() });
  } finally {
    // Also when the store failed after the revocation was written (reading the grant back): a
    // check of what is open costs little, and a grant revoked must not keep its streams.
    core.grants.revoked();
  }
  if (revoked.ok) return sendJson(res, 200, { grant: revoked.grant });
  const code =
    revoked.code === 'config' ? 'config_grant' : revoked.code === 'revoked' ? 'already_revoked' : 'not_found';
  fail(res, code, `${revoked.message[0]!.toUpperCase()}${revoked.message.slice(1)}.`);
}

/** The path with every symbolic link in it followed; as it is when it does not exist (yet). */
function realOrAsIs(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
