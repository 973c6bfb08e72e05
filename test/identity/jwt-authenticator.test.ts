// Proves the JWT authenticator and its configuration without a gateway in front: static PEM and JWK
// keys verify tokens (also several keys without key ids), shared-secret, unsigned and expiry-less
// tokens are refused with clear reasons, claims map to agent, servers and labels under configurable
// names, a JWKS that cannot be fetched is reported as unavailable rather than as the caller's fault,
// the protected-resource metadata and challenges follow the configured resource and scopes, and the
// config's jwt rules are checked with problems that name the path.
import { createPublicKey, createSecretKey, type webcrypto } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ConfigSchema, JWT_ALGORITHMS } from '../../src/config/schema.js';
import { validateConfig } from '../../src/config/validate.js';
import { JwtAuthenticator, type JwtConfig } from '../../src/identity/jwt.js';
import { mayUse } from '../../src/identity/grants.js';
import {
  forbiddenChallenge,
  metadataUrl,
  protectedResourceMetadata,
  unauthorizedChallenge,
} from '../../src/http/well-known.js';
import { AUDIENCE, ISSUER, mint, signingKey } from './support.js';

const SERVERS = { fx: { command: 'node', args: ['server.js'] } };

/** The jwt section as the gateway would read it, defaults filled in by the schema. */
function jwtConfig(jwt: Record<string, unknown>): JwtConfig {
  const config = ConfigSchema.parse({
    auth: { mode: 'jwt', jwt: { issuer: ISSUER, audience: AUDIENCE, ...jwt } },
    servers: SERVERS,
  });
  return config.auth.jwt!;
}

function problemsOf(raw: Record<string, unknown>): Array<{ path: string; message: string }> {
  const result = validateConfig({ servers: SERVERS, ...raw });
  return result.ok ? [] : result.problems;
}

const bearer = (token: string) => `Bearer ${token}`;

describe('JwtAuthenticator with static keys', () => {
  it('a PEM public key verifies tokens, and several keys without key ids are each tried', async () => {
    const [a, b] = await Promise.all([signingKey('a', 'RS256'), signingKey('b', 'RS256')]);
    const pem = (k: typeof a) =>
      createPublicKey({ key: k.publicJwk as webcrypto.JsonWebKey, format: 'jwk' }).export({
        type: 'spki',
        format: 'pem',
      }) as string;
    const auth = new JwtAuthenticator(jwtConfig({ keys: [pem(a), pem(b)] }));
    const outcome = await auth.authenticate(
      bearer(await mint(b, { kid: null, claims: { gatehouse_servers: ['fx'] } })),
    );
    expect(outcome).toMatchObject({ ok: true, identity: { principal: `jwt:${ISSUER}|alice` } });
  });

  it('a JWK object verifies tokens that name its key id', async () => {
    const k = await signingKey('jwk-1', 'EdDSA');
    const auth = new JwtAuthenticator(jwtConfig({ keys: [k.publicJwk] }));
    expect((await auth.authenticate(bearer(await mint(k)))).ok).toBe(true);
  });

  it('shared-secret (HS256) and unsigned (alg none) tokens are refused', async () => {
    const k = await signingKey('k');
    const auth = new JwtAuthenticator(jwtConfig({ keys: [k.publicJwk] }));
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('alice')
      .setExpirationTime('5m')
      .sign(createSecretKey(Buffer.alloc(32, 7)));
    expect(await auth.authenticate(bearer(hs))).toEqual({
      ok: false,
      reason: 'The token is signed with an algorithm this gateway does not accept.',
    });
    const unsigned = new UnsecuredJWT({}).setIssuer(ISSUER).setAudience(AUDIENCE).setSubject('a').encode();
    expect((await auth.authenticate(bearer(unsigned))).ok).toBe(false);
  });

  it('a token without expiry or without subject is refused, naming the missing claim', async () => {
    const k = await signingKey('k');
    const auth = new JwtAuthenticator(jwtConfig({ keys: [k.publicJwk] }));
    expect(await auth.authenticate(bearer(await mint(k, { noExpiry: true })))).toEqual({
      ok: false,
      reason: 'The token has no expiry ("exp").',
    });
    expect(await auth.authenticate('Basic abc')).toMatchObject({ ok: false, reason: /bearer token is required/ });
  });

  it('claims map to agent, servers and labels under configured names, dotted names reaching nested claims', async () => {
    const k = await signingKey('k');
    const auth = new JwtAuthenticator(
      jwtConfig({
        keys: [k.publicJwk],
        claims: { agent: 'client_id', servers: 'realm_access.servers', labels: 'https://example.test/labels' },
      }),
    );
    const token = await mint(k, {
      subject: 'svc-7',
      claims: {
        client_id: 'ci-runner',
        realm_access: { servers: ['fx'] },
        scp: ['mcp:server:other'],
        'https://example.test/labels': { team: 'blue', tier: 2, admin: false, nested: { no: 1 } },
      },
    });
    const outcome = await auth.authenticate(bearer(token));
    if (!outcome.ok) throw new Error(outcome.reason);
    const { identity } = outcome;
    expect(identity.principal).toBe(`jwt:${ISSUER}|svc-7`);
    expect(identity.grant).toMatchObject({
      name: 'jwt:svc-7',
      agent: 'ci-runner',
      labels: { team: 'blue', tier: '2', admin: 'false' },
    });
    expect([...identity.grant!.servers].sort()).toEqual(['fx', 'other']);
    expect(mayUse(identity, 'fx')).toBe(true);
    expect(mayUse(identity, 'elsewhere')).toBe(false);
  });

  it('a token with neither servers claim nor server scopes may use no server; "*" may use every one', async () => {
    const k = await signingKey('k');
    const auth = new JwtAuthenticator(jwtConfig({ keys: [k.publicJwk] }));
    const none = await auth.authenticate(bearer(await mint(k)));
    expect(none.ok && mayUse(none.identity, 'fx')).toBe(false);
    const all = await auth.authenticate(bearer(await mint(k, { claims: { scope: 'mcp:server:*' } })));
    expect(all.ok && mayUse(all.identity, 'anything')).toBe(true);
  });
});

describe('JwtAuthenticator with a JWKS URL', () => {
  it('a JWKS that cannot be fetched is reported as unavailable (503), not as a bad token, and logged', async () => {
    const k = await signingKey('k');
    const logged: string[] = [];
    const auth = new JwtAuthenticator(jwtConfig({ jwks_url: 'http://127.0.0.1:1/jwks.json' }), (_level, m) =>
      logged.push(m),
    );
    const outcome = await auth.authenticate(bearer(await mint(k)));
    expect(outcome).toMatchObject({ ok: false, unavailable: true, reason: /signing keys could not be loaded/ });
    expect(logged.join('\n')).toMatch(/^JWT: /);
  });
});

describe('protected-resource metadata and challenges', () => {
  it('default resource is the gateway URL + /mcp; the metadata lives at the path-inserted well-known URL', async () => {
    const k = await signingKey('k');
    const auth = new JwtAuthenticator(jwtConfig({ keys: [k.publicJwk] }));
    expect(protectedResourceMetadata(auth, 'http://127.0.0.1:8080')).toEqual({
      resource: 'http://127.0.0.1:8080/mcp',
      authorization_servers: [ISSUER],
      bearer_methods_supported: ['header'],
      resource_name: 'Gatehouse',
    });
    expect(metadataUrl(auth, 'http://127.0.0.1:8080')).toBe(
      'http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp',
    );
  });

  it('a configured resource, authorization servers and scopes are published and challenged', async () => {
    const k = await signingKey('k');
    const auth = new JwtAuthenticator(
      jwtConfig({
        keys: [k.publicJwk],
        resource: 'https://gw.example.test/mcp',
        authorization_servers: ['https://login.example.test/tenant'],
        scopes_supported: ['mcp:server:fx'],
      }),
    );
    expect(protectedResourceMetadata(auth, 'http://127.0.0.1:8080')).toMatchObject({
      resource: 'https://gw.example.test/mcp',
      authorization_servers: ['https://login.example.test/tenant'],
      scopes_supported: ['mcp:server:fx'],
    });
    const meta = 'https://gw.example.test/.well-known/oauth-protected-resource/mcp';
    expect(unauthorizedChallenge(auth, undefined, 'The "token" has\nexpired.', true)).toBe(
      `Bearer realm="gatehouse", resource_metadata="${meta}", scope="mcp:server:fx", error="invalid_token", error_description="The 'token' has expired."`,
    );
    expect(forbiddenChallenge(auth, undefined, 'fx')).toBe(
      `Bearer realm="gatehouse", error="insufficient_scope", scope="mcp:server:fx", resource_metadata="${meta}", error_description="This token may not use server 'fx'."`,
    );
  });
});

describe('config: auth.jwt', () => {
  it('fills in defaults: asymmetric algorithms, 60 s clock skew, sub / gatehouse_servers / gatehouse_labels', () => {
    const jwt = jwtConfig({ jwks_url: 'https://idp.example.test/jwks' });
    expect(jwt).toMatchObject({
      algorithms: [...JWT_ALGORITHMS],
      clock_skew: 60,
      jwks_cache: 600,
      jwks_cooldown: 30,
      claims: { agent: 'sub', servers: 'gatehouse_servers', labels: 'gatehouse_labels' },
    });
    expect(jwt.algorithms.some((a: string) => a.startsWith('HS') || a === 'none')).toBe(false);
    expect(jwtConfig({ keys: ['-----BEGIN PUBLIC KEY-----'], clock_skew: '2m' }).clock_skew).toBe(120);
  });

  it('mode jwt without auth.jwt, or auth.jwt with another mode, is refused', () => {
    expect(problemsOf({ auth: { mode: 'jwt' } })).toContainEqual({
      path: '/auth',
      message: expect.stringContaining('needs auth.jwt') as string,
    });
    expect(problemsOf({ auth: { mode: 'grants', jwt: { issuer: ISSUER, audience: AUDIENCE } } })).toContainEqual({
      path: '/auth/jwt',
      message: expect.stringContaining('only when auth.mode is "jwt"') as string,
    });
  });

  it("jwks_url over plain http:// is refused unless its host is loopback: the key set would be anyone's on the way", () => {
    const base = { issuer: ISSUER, audience: AUDIENCE };
    const at = (jwks_url: string) => problemsOf({ auth: { mode: 'jwt', jwt: { ...base, jwks_url } } });
    for (const far of ['http://idp.example.test/jwks', 'HTTP://10.0.0.5:8080/keys', 'http://[fe80::1]/jwks'])
      expect(at(far), far).toContainEqual({
        path: '/auth/jwt/jwks_url',
        message: expect.stringContaining('jwks_url must be https://') as string,
      });
    for (const near of [
      'https://idp.example.test/jwks',
      'http://127.0.0.1:9/jwks',
      'http://localhost/jwks',
      'http://[::1]:8/k',
    ])
      expect(at(near), near).toEqual([]);
  });

  it('one of jwks_url or keys is required, not both', () => {
    const base = { issuer: ISSUER, audience: AUDIENCE };
    expect(problemsOf({ auth: { mode: 'jwt', jwt: base } })).toContainEqual({
      path: '/auth/jwt',
      message: expect.stringContaining('give jwks_url') as string,
    });
    const k = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };
    expect(
      problemsOf({ auth: { mode: 'jwt', jwt: { ...base, jwks_url: 'https://idp.example.test/jwks', keys: [k] } } }),
    ).toContainEqual({ path: '/auth/jwt/keys', message: 'give jwks_url or keys, not both' });
    expect(problemsOf({ auth: { mode: 'jwt', jwt: { ...base, keys: [k] } } })).toEqual([]);
  });

  it('private keys, symmetric keys and text that is not a key are refused with the key path', () => {
    const jwt = {
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: [
        '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----',
        { kty: 'oct', k: 'c2VjcmV0' },
        'not a key',
      ],
    };
    const problems = problemsOf({ auth: { mode: 'jwt', jwt } });
    expect(problems.map((p) => p.path)).toEqual(['/auth/jwt/keys/0', '/auth/jwt/keys/1', '/auth/jwt/keys/2']);
    expect(problems[0]!.message).toContain('private key');
    expect(problems[1]!.message).toContain('symmetric');
  });

  it('HS algorithms and none are not accepted; grants beside jwt and a non-URL issuer are reported', () => {
    const problems = problemsOf({
      auth: {
        mode: 'jwt',
        jwt: { issuer: 'my-idp', audience: AUDIENCE, jwks_url: 'https://idp.example.test/jwks', algorithms: ['HS256'] },
      },
      grants: { ci: { token: 't', servers: ['fx'] } },
    });
    const paths = problems.map((p) => p.path);
    expect(paths).toContain('/auth/jwt/algorithms/0');
    expect(paths).toContain('/grants');
    expect(paths).toContain('/auth/jwt/authorization_servers');
  });
});
