// Proves auth.mode jwt end to end: a real gateway verifies bearer JWTs against a JWKS served by a
// real loopback HTTP server, with keys generated here. A valid token lets the official SDK client
// call through in both eras; the token's claims reach the policy (grant.labels) and decide which
// servers it may use (403 elsewhere, absent from the /mcp aggregate); expired, wrong-audience,
// wrong-issuer and unknown-key tokens are 401; keys rotate without a restart; every 401 carries a
// resource_metadata challenge, and the protected-resource metadata document (RFC 9728) is correct.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/gateway.js';
import {
  EPHEMERAL,
  connectClient,
  featureServerCommand,
  post,
  startParsedGateway,
  type Era,
} from '../helpers/index.js';
import {
  AUDIENCE,
  ISSUER,
  bearer,
  mint,
  serveJwks,
  signingKey,
  sleep,
  type JwksServer,
  type SigningKey,
} from './support.js';

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'jwt-test', version: '1.0.0' } },
};

const JWKS_CACHE_S = 2;
const JWKS_COOLDOWN_S = 1;

describe('auth.mode jwt through a real gateway', () => {
  let jwks: JwksServer;
  let k1: SigningKey;
  let k2: SigningKey;
  let stranger: SigningKey;
  let gateway: Gateway;

  const blue = (key: SigningKey, servers: unknown = ['alpha', 'beta']) =>
    mint(key, { claims: { gatehouse_servers: servers, gatehouse_labels: { team: 'blue' } } });

  beforeAll(async () => {
    [k1, k2, stranger] = await Promise.all([signingKey('k1'), signingKey('k2', 'RS256'), signingKey('k1-stranger')]);
    jwks = await serveJwks([k1]);
    const { command, args } = featureServerCommand('stdio', 'legacy');
    gateway = await startParsedGateway({
      ...EPHEMERAL,
      auth: {
        mode: 'jwt',
        jwt: {
          issuer: ISSUER,
          audience: AUDIENCE,
          jwks_url: jwks.url,
          jwks_cache: JWKS_CACHE_S,
          jwks_cooldown: JWKS_COOLDOWN_S,
        },
      },
      servers: {
        alpha: {
          command,
          args,
          policy: {
            version: '1',
            default: 'allow',
            all_tools: {
              deny_if: [{ when: 'grant.labels.team != "blue"', reason: 'Only the blue team may use alpha.' }],
            },
          },
        },
        beta: { command, args, policy: { version: '1', default: 'allow' } },
      },
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await jwks?.close();
  });

  const mcp = (server?: string) => `${gateway.url}/mcp${server ? `/${server}` : ''}`;
  const challengeOf = (res: { headers: Headers }) => res.headers.get('www-authenticate') ?? '';
  const metadataUrl = () => `${gateway.url}/.well-known/oauth-protected-resource/mcp`;

  it.each<Era>(['legacy', 'modern'])('a valid token lets a %s SDK client list and call tools', async (era) => {
    const token = await blue(k1);
    const c = await connectClient({ era, downstream: { kind: 'http', url: mcp('alpha'), headers: bearer(token) } });
    try {
      const { tools } = await c.client.listTools();
      expect(tools.map((t) => t.name)).toContain('echo');
      expect(await c.callText('echo', { message: `hello over ${era}` })).toBe(`hello over ${era}`);
    } finally {
      await c.close();
    }
  });

  it("the token's labels reach the policy: grant.labels.team decides the call", async () => {
    const red = await mint(k1, { claims: { gatehouse_servers: '*', gatehouse_labels: { team: 'red' } } });
    const c = await connectClient({
      era: 'modern',
      downstream: { kind: 'http', url: mcp('alpha'), headers: bearer(red) },
    });
    try {
      const result = await c.client.callTool({ name: 'echo', arguments: { message: 'hi' } });
      expect(result.isError).toBe(true);
      expect(JSON.stringify(result.content)).toContain('[POLICY DENIED] Only the blue team may use alpha.');
    } finally {
      await c.close();
    }
  });

  it('the servers claim restricts servers: 403 with an insufficient_scope challenge elsewhere, absent from /mcp', async () => {
    const betaOnly = await blue(k1, ['beta']);
    const denied = await post(mcp('alpha'), INITIALIZE, bearer(betaOnly));
    expect(denied.status).toBe(403);
    expect(challengeOf(denied)).toMatch(/^Bearer .*error="insufficient_scope"/);
    expect(challengeOf(denied)).toContain(`resource_metadata="${metadataUrl()}"`);
    expect((await post(mcp('beta'), INITIALIZE, bearer(betaOnly))).status).toBe(200);

    const c = await connectClient({
      era: 'legacy',
      downstream: { kind: 'http', url: mcp(), headers: bearer(betaOnly) },
    });
    try {
      const names = (await c.client.listTools()).tools.map((t) => t.name);
      expect(names).toContain('beta__echo');
      expect(names.filter((n) => !n.startsWith('beta__'))).toEqual([]);
    } finally {
      await c.close();
    }
  });

  it('an OAuth scope entry mcp:server:<name> grants that server, and servers "*" grants every one', async () => {
    const scoped = await mint(k1, { claims: { scope: 'openid mcp:server:alpha' } });
    expect((await post(mcp('alpha'), INITIALIZE, bearer(scoped))).status).toBe(200);
    expect((await post(mcp('beta'), INITIALIZE, bearer(scoped))).status).toBe(403);
    const all = await blue(k1, '*');
    expect((await post(mcp('alpha'), INITIALIZE, bearer(all))).status).toBe(200);
    expect((await post(mcp('beta'), INITIALIZE, bearer(all))).status).toBe(200);
  });

  it('an expired token is 401 "token has expired"; one expired by less than the clock skew is accepted', async () => {
    const expired = await mint(k1, { claims: { gatehouse_servers: '*' }, expiresIn: -120 });
    const res = await post(mcp('beta'), INITIALIZE, bearer(expired));
    expect(res.status).toBe(401);
    expect(challengeOf(res)).toContain('error="invalid_token"');
    expect(challengeOf(res)).toContain('The token has expired.');
    const withinSkew = await mint(k1, { claims: { gatehouse_servers: '*' }, expiresIn: -20 });
    expect((await post(mcp('beta'), INITIALIZE, bearer(withinSkew))).status).toBe(200);
  });

  it('a token for another audience is 401 "wrong audience"', async () => {
    const token = await mint(k1, { claims: { gatehouse_servers: '*' }, audience: 'https://other.example.test/mcp' });
    const res = await post(mcp('beta'), INITIALIZE, bearer(token));
    expect(res.status).toBe(401);
    expect(challengeOf(res)).toContain('wrong audience');
    expect(JSON.stringify(res.messages[0])).toContain('wrong audience');
  });

  it('a token from another issuer is 401 "wrong issuer"', async () => {
    const token = await mint(k1, { claims: { gatehouse_servers: '*' }, issuer: 'https://evil.example.test' });
    const res = await post(mcp('beta'), INITIALIZE, bearer(token));
    expect(res.status).toBe(401);
    expect(challengeOf(res)).toContain('wrong issuer');
  });

  it('a token signed with a key the JWKS does not have is 401 "unknown signing key"', async () => {
    const unknownKid = await mint(stranger, { claims: { gatehouse_servers: '*' } });
    const res = await post(mcp('beta'), INITIALIZE, bearer(unknownKid));
    expect(res.status).toBe(401);
    expect(challengeOf(res)).toContain('unknown signing key');
    // Claiming a published key id does not help a token signed with another key.
    const forged = await mint(stranger, { claims: { gatehouse_servers: '*' }, kid: 'k1' });
    const forgedRes = await post(mcp('beta'), INITIALIZE, bearer(forged));
    expect(forgedRes.status).toBe(401);
    expect(challengeOf(forgedRes)).toContain('signature is not valid');
  });

  it('a request without a token is 401 with resource_metadata and no error code; a bad token adds error', async () => {
    const none = await post(mcp('alpha'), INITIALIZE);
    expect(none.status).toBe(401);
    expect(challengeOf(none)).toBe(`Bearer realm="gatehouse", resource_metadata="${metadataUrl()}"`);
    const bad = await post(mcp(), INITIALIZE, bearer('not.a.jwt'));
    expect(bad.status).toBe(401);
    expect(challengeOf(bad)).toContain(`resource_metadata="${metadataUrl()}"`);
    expect(challengeOf(bad)).toContain('error="invalid_token"');
    expect(challengeOf(bad)).toContain('not a well-formed JWT');
  });

  it('the protected-resource metadata is served at the challenged URL, the root and endpoint paths', async () => {
    const expected = {
      resource: `${gateway.url}/mcp`,
      authorization_servers: [ISSUER],
      bearer_methods_supported: ['header'],
      resource_name: 'Gatehouse',
    };
    for (const url of [
      metadataUrl(),
      `${gateway.url}/.well-known/oauth-protected-resource`,
      `${gateway.url}/.well-known/oauth-protected-resource/mcp/alpha`,
    ]) {
      const res = await fetch(url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('content-type'), url).toContain('application/json');
      expect(await res.json(), url).toEqual(expected);
    }
    expect((await fetch(`${gateway.url}/.well-known/oauth-protected-resource/elsewhere`)).status).toBe(404);
  });

  it("a session opened by one subject refuses another subject's token, and continues with a refreshed token", async () => {
    const alice = await mint(k1, { subject: 'alice', claims: { gatehouse_servers: '*' } });
    const init = await post(mcp('beta'), INITIALIZE, bearer(alice));
    const sid = init.headers.get('mcp-session-id')!;
    expect(sid).toBeTruthy();
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
    const session = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    const bob = await mint(k1, { subject: 'bob', claims: { gatehouse_servers: '*' } });
    expect((await post(mcp('beta'), list, { ...session, ...bearer(bob) })).status).toBe(404);
    const refreshed = await mint(k1, { subject: 'alice', claims: { gatehouse_servers: '*' }, expiresIn: 600 });
    expect(refreshed).not.toBe(alice);
    expect((await post(mcp('beta'), list, { ...session, ...bearer(refreshed) })).status).toBe(200);
  });

  it('keys rotate without a restart: new-key tokens work at once, old-key tokens fail once the old key is gone', async () => {
    const before = jwks.fetches;
    // The provider publishes the new key next to the old one; a token naming it triggers a refetch.
    jwks.publish([k1, k2]);
    await sleep(JWKS_COOLDOWN_S * 1000 + 100);
    expect((await post(mcp('beta'), INITIALIZE, bearer(await blue(k2)))).status).toBe(200);
    expect(jwks.fetches).toBeGreaterThan(before);
    expect((await post(mcp('beta'), INITIALIZE, bearer(await blue(k1)))).status).toBe(200);

    // The old key is withdrawn: once the cached set has aged out, its tokens are refused.
    jwks.publish([k2]);
    await sleep(JWKS_CACHE_S * 1000 + 100);
    const old = await post(mcp('beta'), INITIALIZE, bearer(await blue(k1)));
    expect(old.status).toBe(401);
    expect(challengeOf(old)).toContain('unknown signing key');
    expect((await post(mcp('beta'), INITIALIZE, bearer(await blue(k2)))).status).toBe(200);
  });
});
