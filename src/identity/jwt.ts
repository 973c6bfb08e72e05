// JWT mode: the gateway is an OAuth resource server. A caller presents an access token issued by
// the operator's identity provider; the token is verified against the provider's JWKS (or static
// public keys) and its claims become a grant-like identity — an agent, the servers it may use,
// labels — so that everything after authentication (mayUse, policy conditions on `grant.*`, limit
// scopes) works exactly as for configured grants.
import { createPublicKey, type JsonWebKeyInput } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  jwtVerify,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import type { GatehouseConfig } from '../config/schema.js';
import { BEARER_REQUIRED, bearerToken } from './bearer.js';
import type { AuthOutcome, Grant } from './grants.js';

export type JwtConfig = NonNullable<GatehouseConfig['auth']['jwt']>;

/** A failure that is not the caller's: the identity provider's keys could not be fetched. */
export type JwtOutcome = AuthOutcome | { ok: false; reason: string; unavailable: true };

/** The scope entries that name servers: `mcp:server:<name>`, `mcp:server:*` for all. */
export const SERVER_SCOPE_PREFIX = 'mcp:server:';

export class JwtAuthenticator {
  private readonly getKey: JWTVerifyGetKey;
  private readonly verifyOptions: JWTVerifyOptions;

  constructor(
    readonly config: JwtConfig,
    private readonly log: (level: 'warn', message: string) => void = () => undefined,
  ) {
    this.getKey = config.jwks_url
      ? createRemoteJWKSet(new URL(config.jwks_url), {
          // Unknown key ids refetch the set (that is how rotated keys are picked up without a
          // restart); the cooldown keeps tokens with made-up key ids from hammering the provider.
          cacheMaxAge: config.jwks_cache * 1000,
          cooldownDuration: config.jwks_cooldown * 1000,
          timeoutDuration: 5000,
        })
      : createLocalJWKSet(staticKeySet(config.keys ?? []));
    this.verifyOptions = {
      issuer: config.issuer,
      audience: config.audience,
      algorithms: config.algorithms,
      clockTolerance: config.clock_skew,
      // An access token without an expiry would be valid forever; one without a subject names no one.
      requiredClaims: ['exp', 'sub'],
    };
  }

  async authenticate(authorization: string | undefined): Promise<JwtOutcome> {
    const token = bearerToken(authorization);
    if (token === undefined) return { ok: false, reason: BEARER_REQUIRED };
    let payload: JWTPayload;
    try {
      payload = await this.verify(token);
    } catch (err) {
      const failure = failureOf(err);
      if ('unavailable' in failure) this.log('warn', `JWT: ${failure.reason} (${describe(err)})`);
      return failure;
    }
    return this.identityOf(payload);
  }

  private async verify(token: string): Promise<JWTPayload> {
    try {
      return (await jwtVerify(token, this.getKey, this.verifyOptions)).payload;
    } catch (err) {
      if (!hasCode(err, 'ERR_JWKS_MULTIPLE_MATCHING_KEYS')) throw err;
      // Several keys fit the header (static keys without key ids, say during a rotation): the
      // first one whose signature checks out wins.
      let last: unknown = err;
      for await (const key of err as unknown as AsyncIterable<CryptoKey>) {
        try {
          return (await jwtVerify(token, key, this.verifyOptions)).payload;
        } catch (candidateErr) {
          last = candidateErr;
        }
      }
      throw last;
    }
  }

  private identityOf(payload: JWTPayload): JwtOutcome {
    const sub = payload.sub;
    if (typeof sub !== 'string' || sub === '') return { ok: false, reason: 'The token has no subject ("sub").' };
    const claims = this.config.claims;
    const agentClaim = claimOf(payload, claims.agent);
    const agent = typeof agentClaim === 'string' && agentClaim !== '' ? agentClaim : sub;
    const servers = serversOf(claimOf(payload, claims.servers), payload);
    const grant: Grant = {
      name: `jwt:${sub}`,
      agent,
      servers: servers === 'all' ? new Set() : servers,
      ...(servers === 'all' ? { allServers: true as const } : {}),
      labels: labelsOf(claimOf(payload, claims.labels)),
      // The last moment a request with this token is accepted (jose allows clock_skew past exp):
      // what waits on the token (a held call, an open stream) ends with it, not before.
      ...(typeof payload.exp === 'number' ? { expiresAt: (payload.exp + this.config.clock_skew) * 1000 } : {}),
      fromToken: true,
    };
    // The issuer was checked against the configured one, so iss|sub names one subject of one provider.
    return { ok: true, identity: { principal: `jwt:${this.config.issuer}|${sub}`, grant } };
  }
}

/**
 * A claim by name; a dotted name that is not itself a claim walks nested objects, so that
 * `realm_access.roles` reaches into the structures some providers emit. Exact names come first
 * because namespaced claims are often URLs, which contain dots.
 */
function claimOf(payload: JWTPayload, name: string): unknown {
  if (name in payload) return payload[name];
  let value: unknown = payload;
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/**
 * The servers a token may use: the union of the servers claim (a list of names, or a string of
 * names separated by spaces or commas; `*` for all) and the `mcp:server:<name>` entries of the OAuth
 * `scope` (space-separated string) or `scp` (list) claim. A token with neither may use no server.
 */
function serversOf(claim: unknown, payload: JWTPayload): Set<string> | 'all' {
  const names = new Set<string>(listOf(claim));
  for (const entry of [...listOf(payload['scope']), ...listOf(payload['scp'])]) {
    if (entry.startsWith(SERVER_SCOPE_PREFIX)) names.add(entry.slice(SERVER_SCOPE_PREFIX.length));
  }
  return names.has('*') ? 'all' : names;
}

function listOf(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string' && v !== '');
  return [];
}

/** Labels from an object claim; values that are not text, numbers or booleans are left out. */
function labelsOf(claim: unknown): Record<string, string> {
  if (typeof claim !== 'object' || claim === null || Array.isArray(claim)) return {};
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(claim as Record<string, unknown>)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      labels[key] = String(value);
  }
  return labels;
}

/**
 * Why a token was refused, in words safe to send back: nothing from the token is echoed except
 * which standard claim failed, and nothing about the keys.
 */
function failureOf(err: unknown): JwtOutcome & { ok: false } {
  const code = hasCode(err) ? err.code : undefined;
  const claim = (err as { claim?: unknown }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return { ok: false, reason: 'The token has expired.' };
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return { ok: false, reason: claimFailure(String(claim), (err as { reason?: unknown }).reason) };
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return { ok: false, reason: 'The token is signed with an unknown signing key.' };
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return { ok: false, reason: 'The token signature is not valid.' };
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return { ok: false, reason: 'The token is signed with an algorithm this gateway does not accept.' };
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return { ok: false, reason: 'The bearer token is not a well-formed JWT.' };
    default:
      // The key set could not be fetched or read (network, timeout, bad response): not the caller's fault.
      return { ok: false, unavailable: true, reason: "The identity provider's signing keys could not be loaded." };
  }
}

function claimFailure(claim: string, reason: unknown): string {
  if (reason === 'missing') {
    if (claim === 'exp') return 'The token has no expiry ("exp").';
    if (claim === 'sub') return 'The token has no subject ("sub").';
    return `The token lacks the "${claim}" claim.`;
  }
  switch (claim) {
    case 'aud':
      return 'The token is for another audience (wrong audience).';
    case 'iss':
      return 'The token was issued by another issuer (wrong issuer).';
    case 'nbf':
      return 'The token is not valid yet ("nbf").';
    case 'iat':
      return 'The token has an invalid issue time ("iat").';
    default:
      return `The token's "${claim}" claim is not valid.`;
  }
}

function hasCode(err: unknown, code?: string): err is { code: string } {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' && (code === undefined || c === code);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Static keys (PEM or JWK) as a JSON Web Key Set; a key that is not a public signing key throws. */
export function staticKeySet(keys: ReadonlyArray<string | Record<string, unknown>>): JSONWebKeySet {
  return {
    keys: keys.map((key, i) => {
      const problem = publicKeyProblem(key);
      if (problem) throw new Error(`auth.jwt.keys[${i}]: ${problem}`);
      return toPublicJwk(key);
    }),
  };
}

/** What is wrong with a configured key, or undefined when it is a usable public key. */
export function publicKeyProblem(key: unknown): string | undefined {
  if (typeof key === 'string') {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key))
      return 'this is a private key; give the public key (-----BEGIN PUBLIC KEY-----) instead';
    try {
      createPublicKey(key);
      return undefined;
    } catch {
      return 'not a PEM public key or certificate (expected -----BEGIN PUBLIC KEY----- or -----BEGIN CERTIFICATE-----)';
    }
  }
  if (typeof key !== 'object' || key === null || Array.isArray(key))
    return 'expected a PEM public key (text) or a JSON Web Key (object)';
  const jwk = key as Record<string, unknown>;
  if (jwk['kty'] === 'oct') return 'symmetric keys (kty "oct") are not accepted; give a public key';
  if ('d' in jwk) return 'this JSON Web Key holds private material ("d"); give the public key only';
  try {
    createPublicKey({ key: jwk, format: 'jwk' } as JsonWebKeyInput);
    return undefined;
  } catch {
    return 'not a valid public JSON Web Key';
  }
}

function toPublicJwk(key: string | Record<string, unknown>): JWK {
  if (typeof key === 'string') return createPublicKey(key).export({ format: 'jwk' }) as JWK;
  // Key id, algorithm and use are kept: they are how tokens select this key.
  const { kid, alg, use } = key as { kid?: unknown; alg?: unknown; use?: unknown };
  const material = createPublicKey({ key, format: 'jwk' } as JsonWebKeyInput).export({ format: 'jwk' }) as JWK;
  return {
    ...material,
    ...(typeof kid === 'string' ? { kid } : {}),
    ...(typeof alg === 'string' ? { alg } : {}),
    ...(typeof use === 'string' ? { use } : {}),
  };
}
