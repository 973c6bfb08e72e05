// Shared by the JWT and grants tests: signing keys made in the test, a JWKS served from a real loopback HTTP
// server whose key set a test can change (rotation), tokens minted with jose, and a legacy session
// opened with a token.
import { createServer, type Server } from 'node:http';
import { expect } from 'vitest';
import { featureEntry, tempDir, type TempDir } from '../helpers/gateway.js';
import { listenLoopback } from '../helpers/http-server.js';
import { ACCEPT_BOTH } from '../helpers/wire.js';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export const ISSUER = 'https://idp.example.test';
export const AUDIENCE = 'https://gatehouse.example.test/mcp';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function signingKey(kid: string, alg = 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export interface TokenOptions {
  claims?: JWTPayload;
  issuer?: string;
  audience?: string | string[];
  subject?: string;
  /** Seconds from now; negative is in the past. Default 300. */
  expiresIn?: number;
  /** Leave out the "exp" claim. */
  noExpiry?: boolean;
  /** Override the header's kid (e.g. to name a key the JWKS does not have). */
  kid?: string | null;
}

export async function mint(key: SigningKey, opts: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: key.alg, ...(opts.kid === null ? {} : { kid: opts.kid ?? key.kid }) };
  let jwt = new SignJWT(opts.claims ?? {})
    .setProtectedHeader(header)
    .setIssuer(opts.issuer ?? ISSUER)
    .setAudience(opts.audience ?? AUDIENCE)
    .setSubject(opts.subject ?? 'alice')
    .setIssuedAt(now);
  if (!opts.noExpiry) jwt = jwt.setExpirationTime(now + (opts.expiresIn ?? 300));
  return jwt.sign(key.privateKey);
}

export interface JwksServer {
  url: string;
  /** How many times the key set was fetched. */
  fetches: number;
  /** Replaces the published keys. */
  publish(keys: SigningKey[]): void;
  close(): Promise<void>;
}

export async function serveJwks(initial: SigningKey[]): Promise<JwksServer> {
  let keys = initial;
  const state = { fetches: 0 };
  const http: Server = createServer((req, res) => {
    state.fetches++;
    const body = JSON.stringify({ keys: keys.map((k) => k.publicJwk) });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  const { origin, close } = await listenLoopback(http);
  return {
    url: `${origin}/jwks.json`,
    get fetches() {
      return state.fetches;
    },
    publish(next) {
      keys = next;
    },
    close,
  };
}

/**
 * A folder for a grants gateway's config, holding `no-echo.json`: the policy the grants tests give a
 * grant of its own (echo denied), which must sit in the config file's folder.
 */
export function grantsHome(prefix: string): TempDir {
  const home = tempDir(prefix);
  home.write('no-echo.json', {
    version: '1',
    default: 'allow',
    tools: { echo: { action: 'deny', reason: 'Not for this grant.' } },
  });
  return home;
}

/** The feature fixture in both eras under `policy`. */
export const featureWith = (policy: unknown): Record<string, unknown> => featureEntry({ policy }, 'both');

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

export { sleep } from '../helpers/wait.js';

/** A 2025 client's initialize request. */
export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'streams', version: '1' } },
};

/** Opens a legacy session on `url` with `token`: the headers of its requests. */
export async function legacySession(url: string, token: string): Promise<Record<string, string>> {
  const auth = { authorization: `Bearer ${token}` };
  const init = await fetch(url, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json', accept: ACCEPT_BOTH },
    body: JSON.stringify(INITIALIZE),
  });
  expect(init.status).toBe(200);
  await init.text();
  const session = {
    ...auth,
    'mcp-session-id': init.headers.get('mcp-session-id')!,
    'mcp-protocol-version': '2025-06-18',
  };
  const initialized = await fetch(url, {
    method: 'POST',
    headers: { ...session, 'content-type': 'application/json', accept: ACCEPT_BOTH },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  expect(initialized.status).toBe(202);
  return session;
}
