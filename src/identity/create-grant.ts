// Creating and revoking grants at run time (the CLI and the admin API share this): every check a
// config-file grant gets at load — a valid name, known servers, a policy that compiles — happens
// here before anything is stored, and the token exists only in the answer.
import { isAbsolute, resolve } from 'node:path';
import { durationSeconds } from '../config/duration.js';
import { GRANT_NAME } from '../config/schema.js';
import { readStructuredFile } from '../config/structured-file.js';
import { loadPolicy, PolicyError } from '../policy/compile.js';
import type { StateStore } from '../store/store.js';
import { hashToken, newGrantToken, statusAt, type Grant } from './grants.js';
import type { StoredGrant } from './stored-grant.js';

export interface GrantRequest {
  name: string;
  servers: string[];
  agent?: string;
  labels?: Record<string, string>;
  /** Path of a policy file (relative paths are taken from `baseDir`). */
  policy?: string;
  /** A duration (`30d`, `12h`, seconds) or a date (`2026-12-31`). */
  expires?: string | number;
}

export interface GrantContext {
  store: StateStore;
  /** Servers the config defines. */
  servers: string[];
  /** Grants the config file defines: their names are taken. */
  configGrants: Set<string>;
  baseDir: string;
  /** The gateway's auth mode: with `jwt`, callers present JWTs and no grant would ever be used. */
  authMode?: 'none' | 'grants' | 'jwt';
  now?: number;
}

export type GrantCreated = { ok: true; token: string; grant: StoredGrant };
export type GrantRefusal = { ok: false; code: 'invalid' | 'conflict'; message: string };

export async function createGrant(req: GrantRequest, ctx: GrantContext): Promise<GrantCreated | GrantRefusal> {
  const now = ctx.now ?? Date.now();
  const invalid = (message: string): GrantRefusal => ({ ok: false, code: 'invalid', message });
  if (typeof req.name !== 'string' || !GRANT_NAME.test(req.name))
    return invalid(`a grant name must match ${GRANT_NAME.source}`);
  if (!Array.isArray(req.servers) || req.servers.length === 0 || req.servers.some((s) => typeof s !== 'string'))
    return invalid('name at least one server the grant may use (--server NAME)');
  const unknown = req.servers.filter((s) => !ctx.servers.includes(s));
  if (unknown.length > 0)
    return invalid(
      `unknown server(s) ${unknown.map((s) => `"${s}"`).join(', ')}; configured: ${ctx.servers.join(', ')}`,
    );
  if (req.agent !== undefined && (typeof req.agent !== 'string' || req.agent.trim() === ''))
    return invalid('the agent name must not be empty');
  const labels = req.labels ?? {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels))
    return invalid('labels must be an object of key: text');
  if (Object.values(labels).some((v) => typeof v !== 'string')) return invalid('label values must be text');
  if (req.policy !== undefined && (typeof req.policy !== 'string' || req.policy === ''))
    return invalid('the policy must be the path of a policy file');
  if (req.expires !== undefined && typeof req.expires !== 'string' && typeof req.expires !== 'number')
    return invalid('expires: expected a duration like "30d" or a date like 2026-12-31');
  if (ctx.authMode === 'jwt')
    return invalid(
      'auth.mode is "jwt": callers present JWTs from the identity provider, so a grant would never be used',
    );
  let expires: number | undefined;
  if (req.expires !== undefined) {
    const seconds = durationSeconds(req.expires);
    const date = typeof req.expires === 'string' ? Date.parse(req.expires) : Number.NaN;
    if (seconds !== undefined) expires = now + seconds * 1000;
    else if (!Number.isNaN(date)) expires = date;
    else
      return invalid(`expires: expected a duration like "30d" or a date like 2026-12-31, got "${String(req.expires)}"`);
    if (expires <= now) return invalid('expires: the date is in the past');
    // Beyond what a date can hold (the year 275760): stored, such a grant could never be shown.
    if (isoDate(expires) === undefined)
      return invalid('expires: too far in the future; give a duration like "365d" or a date like 2030-12-31');
  }
  let policy: string | undefined;
  if (req.policy !== undefined) {
    policy = isAbsolute(req.policy) ? req.policy : resolve(ctx.baseDir, req.policy);
    try {
      loadPolicy(await readStructuredFile(policy));
    } catch (err) {
      if (err instanceof PolicyError) return invalid(policyProblems(policy, err));
      return invalid(`the policy ${policy} cannot be read: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (ctx.configGrants.has(req.name))
    return { ok: false, code: 'conflict', message: `a grant named "${req.name}" is defined in the config file` };
  const token = newGrantToken();
  const grant: StoredGrant = {
    name: req.name,
    token_hash: hashToken(token),
    agent: req.agent ?? req.name,
    servers: [...new Set(req.servers)],
    labels,
    ...(policy ? { policy } : {}),
    created: now,
    ...(expires !== undefined ? { expires } : {}),
  };
  if (!(await ctx.store.createGrant(grant)))
    return {
      ok: false,
      code: 'conflict',
      message: `a grant named "${req.name}" already exists (revoked grants keep their name)`,
    };
  return { ok: true, token, grant };
}

/**
 * Where a policy file is invalid, by path only. The messages quote what the file holds ("got ..."),
 * and the file is any the caller names, over the admin API too: a file of secrets beside the
 * config must not come back in an error. `gatehouse policy check` shows the whole story locally.
 */
function policyProblems(file: string, err: PolicyError): string {
  const paths = [...new Set(err.problems.map((p) => p.path || '/'))];
  return `the policy ${file} is invalid at ${paths.join(', ')}; run gatehouse policy check ${file} to see why`;
}

/** Said with a grant created while auth.mode is none, where HTTP callers are not asked for tokens. */
export const NOT_CHECKED_UNDER_NONE =
  'auth.mode is "none", so a gateway on this config does not ask HTTP callers for this token (every caller gets every server); set auth.mode: grants to require it. gatehouse stdio --grant applies it either way.';

/** A grant as lists and answers show it, from the config file or the store: never a token or its hash. */
export interface GrantListing {
  name: string;
  agent: string;
  servers: string[];
  labels: Record<string, string>;
  /** Path of the policy that replaces the servers' for this grant (stored grants). */
  policy?: string;
  created?: string;
  expires?: string;
  revoked?: string;
  status: 'active' | 'expired' | 'revoked';
  source: 'config' | 'store';
}

/** The ISO form of a time in ms, or undefined for one no date can hold. */
function isoDate(ms: number): string | undefined {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** `{ [key]: its ISO date }`, or nothing for a time that is missing or that no date can hold. */
function optionalDate<K extends string>(key: K, ms: number | undefined): Partial<Record<K, string>> {
  const iso = ms === undefined ? undefined : isoDate(ms);
  return iso === undefined ? {} : ({ [key]: iso } as Record<K, string>);
}

/**
 * A stored grant as lists show it: everything but the token's hash. A time no date can hold (a row
 * written before such expiries were refused) is left out rather than failing the whole list.
 */
export function grantView(g: StoredGrant, now = Date.now()): GrantListing {
  const status = g.revoked !== undefined ? 'revoked' : statusAt(g.expires, now);
  return {
    name: g.name,
    agent: g.agent,
    servers: g.servers,
    labels: g.labels,
    ...(g.policy ? { policy: g.policy } : {}),
    ...optionalDate('created', g.created),
    ...optionalDate('expires', g.expires),
    ...optionalDate('revoked', g.revoked),
    status,
    source: 'store',
  };
}

/** A grant of the config file as lists show it (its token stays in the config). */
export function configGrantView(g: Grant, now = Date.now()): GrantListing {
  return {
    name: g.name,
    agent: g.agent,
    servers: [...g.servers],
    labels: g.labels,
    ...(g.expiresAt !== undefined ? { expires: new Date(g.expiresAt).toISOString() } : {}),
    status: statusAt(g.expiresAt, now),
    source: 'config',
  };
}

/** Every grant: the config file's first, then the store's in the order it keeps them. */
export async function listGrants(configGrants: Grant[], store: StateStore, now = Date.now()): Promise<GrantListing[]> {
  const stored = await store.listGrants();
  return [...configGrants.map((g) => configGrantView(g, now)), ...stored.map((g) => grantView(g, now))];
}

export type GrantRevoked = { ok: true; grant: GrantListing };
export type RevokeRefusal = { ok: false; code: 'config' | 'not_found' | 'revoked'; message: string };

/**
 * Revokes a stored grant: the gateways sharing the store refuse its token from their next request
 * on, also in sessions it opened. A grant of the config file cannot be revoked here.
 */
export async function revokeGrant(
  name: string,
  ctx: Pick<GrantContext, 'store' | 'configGrants' | 'now'>,
): Promise<GrantRevoked | RevokeRefusal> {
  const now = ctx.now ?? Date.now();
  if (ctx.configGrants.has(name))
    return {
      ok: false,
      code: 'config',
      message: `grant "${name}" is defined in the config file: remove it there (and restart) to revoke it`,
    };
  const revoked = await ctx.store.revokeGrant(name, now);
  const after = (await ctx.store.listGrants()).find((g) => g.name === name);
  if (revoked && after) return { ok: true, grant: grantView(after, now) };
  return after
    ? { ok: false, code: 'revoked', message: `grant "${name}" is already revoked` }
    : { ok: false, code: 'not_found', message: `no grant named "${name}"` };
}
